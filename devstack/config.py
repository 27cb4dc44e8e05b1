"""devstack's own settings (not Compose's): values a person sets once, and where each came from.

Precedence, highest first: a command-line flag > a `DEVSTACK_*` environment variable > the
project (`x-devstack.config` in the compose file, for the keys a project may set) > the user's
config file (`config.toml` in the user config directory: `~/.config/devstack/` on Linux, or
`$DEVSTACK_CONFIG`) > the built-in default.

Every key has an environment variable: `DEVSTACK_` + the key in capitals, dots as `_`
(`proxy.port` -> `DEVSTACK_PROXY_PORT`). Default answers for `devstack new` live under
`new.answers` (any stack that has the setting) and `new.answers.STACK` (one stack).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from pathlib import Path
from typing import Any, NamedTuple

from devstack.errors import DevstackError, InvalidValue

CONFIG_ENV = "DEVSTACK_CONFIG"  # a config file other than the user's default one
FILE_NAME = "config.toml"

# Where a value came from, highest precedence first.
FLAG, ENVIRONMENT, PROJECT, USER, BUILT_IN = "flag", "environment", "project", "user", "built-in"
SOURCES = (FLAG, ENVIRONMENT, PROJECT, USER, BUILT_IN)


class ConfigError(DevstackError):
    """The user's config file cannot be read or parsed (exit 2: a usage error)."""

    exit_code = InvalidValue.exit_code


class Setting(NamedTuple):
    """One key devstack reads, its type, default and meaning."""

    key: str
    kind: str  # "port", "seconds", "text", "choice", "directory"
    default: Any
    help: str
    project: bool = False  # whether a project may set it (x-devstack.config)
    choices: tuple[str, ...] = ()

    @property
    def env(self) -> str:
        return env_name(self.key)


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "progress",
        "choice",
        "auto",
        "how up/down/db/proxy show progress: auto (live on a terminal, plain lines otherwise), "
        "live, plain, quiet",
        choices=("auto", "live", "plain", "quiet"),
    ),
    Setting("up.timeout", "seconds", 300, "seconds `up` waits for every service to be ready", project=True),
    Setting("proxy.port", "port", 80, "port `devstack proxy start` publishes"),
    Setting("proxy.domain", "text", "localhost", "projects answer at PROJECT.DOMAIN through the proxy"),
    Setting(
        "new.certs",
        "directory",
        None,
        "a directory of extra CA certificates (*.crt, PEM) copied into new projects' docker/certs/",
    ),
)
_BY_KEY = {s.key: s for s in SETTINGS}
ANSWERS = "new.answers"  # new.answers.KEY and new.answers.STACK.KEY


def env_name(key: str) -> str:
    """The environment variable of a key: DEVSTACK_ + capitals, dots and dashes as `_`."""
    return "DEVSTACK_" + key.upper().replace(".", "_").replace("-", "_")


def setting(key: str) -> Setting:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise InvalidValue(
            f"unknown setting {key!r}",
            hint=f"known: {', '.join(_BY_KEY)}, {ANSWERS}.KEY, {ANSWERS}.STACK.KEY (`devstack config`)",
        ) from None


class Value(NamedTuple):
    """An effective value and where it came from."""

    key: str
    value: Any
    source: str  # one of SOURCES
    where: str = ""  # the flag, variable or file that set it

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "value": self.value, "source": self.source, "where": self.where}


def user_file(environ: Mapping[str, str] | None = None) -> Path:
    """The user's config file: $DEVSTACK_CONFIG, else config.toml in the user config directory."""
    env = os.environ if environ is None else environ
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    if sys.platform.startswith("linux"):
        # What platformdirs answers on Linux (the XDG base directory rule), without its 10 ms
        # of imports on every `up`; other systems ask platformdirs.
        base = os.environ.get("XDG_CONFIG_HOME", "").strip() or os.path.expanduser("~/.config")
        return Path(base) / "devstack" / FILE_NAME
    from platformdirs import user_config_path

    return user_config_path("devstack") / FILE_NAME


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        import tomllib
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{path} is not valid TOML: {exc}",
            hint="fix that line (or `devstack config unset KEY`); TOML strings need quotes",
        ) from None


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flatten(value, full + "."))
        else:
            flat[full] = value
    return flat


def convert(item: Setting, raw: Any, where: str) -> Any:
    """A value for `item` from a file, variable or flag; InvalidValue naming `where` otherwise."""

    def bad(wanted: str) -> InvalidValue:
        return InvalidValue(f"{where}: {item.key} must be {wanted}, not {raw!r}", hint=item.help)

    text = str(raw).strip() if not isinstance(raw, bool) else ""
    if item.kind == "port":
        if isinstance(raw, bool) or not text.isdigit() or not 1 <= int(text) <= 65535:
            raise bad("a port number (1-65535)")
        return int(text)
    if item.kind == "seconds":
        try:
            number = float(text)
        except ValueError:
            raise bad("a number of seconds") from None
        if isinstance(raw, bool) or not number > 0:
            raise bad("a number of seconds above 0")
        return int(number) if number.is_integer() else number
    if item.kind == "choice":
        if text not in item.choices:
            raise bad("one of " + ", ".join(item.choices))
        return text
    if item.kind == "directory":
        if not text:
            raise bad("a directory")
        return str(Path(text).expanduser())
    if isinstance(raw, (Mapping, list)) or not text:
        raise bad("a text value")
    return text


class Config:
    """The environment and the user's file, read once; ask it for effective values."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        path: Path | None = None,
        project: Mapping[str, Any] | None = None,
        project_where: str = "x-devstack.config",
    ) -> None:
        self.environ = dict(os.environ if environ is None else environ)
        self.path = path or user_file(self.environ)
        self.user = _flatten(_read_toml(self.path))
        self.project = _flatten(project or {})
        self.project_where = project_where

    @classmethod
    def for_model(cls, model: Mapping[str, Any] | None, **kwargs: Any) -> Config:
        """With the project level taken from a Compose model's `x-devstack.config`."""
        block = (model or {}).get("x-devstack")
        project = block.get("config") if isinstance(block, Mapping) else None
        return cls(project=project if isinstance(project, Mapping) else None, **kwargs)

    def get(self, key: str, flag: Any = None, flag_name: str = "") -> Value:
        """The effective value of a key: flag > environment > project > user > built-in."""
        item = setting(key)
        if flag is not None:
            return Value(key, convert(item, flag, flag_name or "option"), FLAG, flag_name)
        raw = self.environ.get(item.env)
        if raw is not None and raw.strip() != "":
            return Value(key, convert(item, raw, item.env), ENVIRONMENT, item.env)
        if key in self.project:
            if not item.project:
                pass  # machine-wide keys are not the project's to set (`devstack config` says so)
            else:
                where = self.project_where
                return Value(key, convert(item, self.project[key], where), PROJECT, where)
        if key in self.user:
            return Value(key, convert(item, self.user[key], str(self.path)), USER, str(self.path))
        return Value(key, item.default, BUILT_IN)

    def answers(self, stack: str, names: Iterable[str]) -> dict[str, Value]:
        """Default answers for `devstack new STACK` that are configured (flags are --set)."""
        found: dict[str, Value] = {}
        for name in names:
            for env in (env_name(f"{ANSWERS}.{stack}.{name}"), env_name(f"{ANSWERS}.{name}")):
                raw = self.environ.get(env)
                if raw is not None:
                    found[name] = Value(f"{ANSWERS}.{name}", raw, ENVIRONMENT, env)
                    break
            else:
                for key in (f"{ANSWERS}.{stack}.{name}", f"{ANSWERS}.{name}"):
                    if key in self.user and not isinstance(self.user[key], (Mapping, list)):
                        raw = self.user[key]
                        text = str(raw).lower() if isinstance(raw, bool) else str(raw)
                        found[name] = Value(key, text, USER, str(self.path))
                        break
        return found

    def values(self) -> list[Value]:
        """Every key's effective value, then the configured answers for `new`."""
        shown = [self.get(item.key) for item in SETTINGS]
        for key, raw in sorted(self.user.items()):
            if key.startswith(ANSWERS + "."):
                shown.append(Value(key, raw, USER, str(self.path)))
        prefix = env_name(ANSWERS) + "_"
        for env, raw in sorted(self.environ.items()):
            if env.startswith(prefix):
                shown.append(Value(f"{ANSWERS}.{env[len(prefix) :].lower()}", raw, ENVIRONMENT, env))
        return shown

    def problems(self) -> list[str]:
        """What in the user's file or the project's block devstack does not know (it is ignored)."""
        found = []
        for key in sorted(self.user):
            if key not in _BY_KEY and not key.startswith(ANSWERS + "."):
                found.append(f"{self.path}: unknown key {key!r} (ignored)")
        for key in sorted(self.project):
            item = _BY_KEY.get(key)
            if item is None:
                found.append(f"{self.project_where}: unknown key {key!r} (ignored)")
            elif not item.project:
                found.append(f"{self.project_where}: {key} is set per user, not per project (ignored)")
        for env in sorted(self.environ):
            if (
                env.startswith("DEVSTACK_")
                and env not in _KNOWN_ENV
                and not env.startswith(env_name(ANSWERS) + "_")
            ):
                found.append(f"environment: {env} is not a devstack setting (ignored)")
        return found


# Variables devstack reads that are not settings of this module (they keep their own meaning).
_KNOWN_ENV = {s.env for s in SETTINGS} | {
    CONFIG_ENV,
    "DEVSTACK_DEBUG",
    "DEVSTACK_COMPOSE",
    "DEVSTACK_PROXY_NAME",
    "DEVSTACK_PROXY_TOKEN",
    "DEVSTACK_PROXY_SETTINGS",
}


# -- writing the user's file (`devstack config set/unset`) ------------------------------------


def _check_key(key: str) -> Setting | None:
    if key in _BY_KEY:
        return _BY_KEY[key]
    parts = key.split(".")
    if key.startswith(ANSWERS + ".") and len(parts) in (3, 4) and all(parts):
        return None  # an answer for `new`: the stack validates it when it is used
    setting(key)  # raises with the known keys
    return None


def set_value(key: str, raw: str, path: Path | None = None) -> Value:
    """Write KEY = VALUE into the user's file (comments and order kept); the value is checked."""
    import tomlkit

    item = _check_key(key)
    path = path or user_file()
    value: Any = convert(item, raw, "devstack config set") if item is not None else raw
    document = tomlkit.parse(path.read_text("utf-8")) if path.is_file() else tomlkit.document()
    table: Any = document
    *parents, last = key.split(".")
    for part in parents:
        if part not in table:
            table[part] = tomlkit.table()
        table = table[part]
        if not isinstance(table, Mapping):
            raise ConfigError(f"{path}: {part} is a value, not a table", hint="fix the file by hand")
    table[last] = value
    _write(path, tomlkit.dumps(document))
    return Value(key, value, USER, str(path))


def unset_value(key: str, path: Path | None = None) -> bool:
    """Remove KEY from the user's file; False when it was not set there."""
    import tomlkit

    path = path or user_file()
    if not path.is_file():
        return False
    document = tomlkit.parse(path.read_text("utf-8"))
    table: Any = document
    *parents, last = key.split(".")
    for part in parents:
        table = table.get(part) if isinstance(table, Mapping) else None
    if not isinstance(table, MutableMapping) or last not in table:
        return False
    del table[last]
    _write(path, tomlkit.dumps(document))
    return True


def _write(path: Path, text: str) -> None:
    """Replace the file atomically (a crash never leaves half a config)."""
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".config-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
