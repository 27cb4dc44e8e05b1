"""The project's `.env`: created from `.env.example`, secrets generated, existing values kept.

Convention: in `.env.example`, a key whose comment (the comment lines just above it, or an
inline comment) contains `devstack:secret` is a secret. Its example value stays empty; devstack
generates a fresh random value for it in `.env`.

Per-checkout values: when the project's compose files use `${HOST_UID}` / `${HOST_GID}` (the
services that write into bind mounts run as `user: "${HOST_UID:-1000}:${HOST_GID:-1000}"`),
`.env` gets the uid and gid that files in bind mounts must belong to: the invoking user's, or
0:0 where the engine runs as that user (rootless Docker or Podman, Docker Desktop), because
container root is the host user there. These two keys never go into `.env.example`; devstack
keeps them current, unless the line (or the comment line above it) says `devstack:keep`.
"""

from __future__ import annotations

import io
import os
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

SECRET_MARK = "devstack:secret"
KEEP_MARK = "devstack:keep"
HOST_KEYS = ("HOST_UID", "HOST_GID")
# `$HOST_UID`, `${HOST_UID}`, `${HOST_UID:-1000}`..., but not the literal `$$HOST_UID`.
_HOST_REFERENCE = re.compile(r"(?<!\$)(?:\$\$)*\$\{?(?:HOST_UID|HOST_GID)\b")
_HOST_COMMENT = (
    "# Owner of the files that containers write into bind mounts (data/, src/): the user who runs\n"
    "# devstack in this checkout, or 0 where the engine runs as that user (rootless, Docker\n"
    "# Desktop). devstack keeps these current; write devstack:keep above a line to pin it.\n"
)
_NEW_HEADER = "# Local settings for this checkout. Never commit this file.\n"
_ALPHABET = string.ascii_letters + string.digits
_KEY_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=")


class ExampleEntry(NamedTuple):
    """One key of .env.example, with its comments."""

    key: str
    line: str  # the line as written in .env.example
    comments: tuple[str, ...]  # comment lines directly above it
    secret: bool


class HostUser(NamedTuple):
    """The uid:gid that files in bind mounts must belong to, and why."""

    uid: int
    gid: int
    reason: str

    @property
    def values(self) -> dict[str, str]:
        return {"HOST_UID": str(self.uid), "HOST_GID": str(self.gid)}


@dataclass
class SyncResult:
    """What `env sync` did to .env."""

    path: Path
    created: bool = False
    added: list[str] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)
    # Secrets not generated, and why: a database already initialised with the old value.
    held: dict[str, str] = field(default_factory=dict)
    # HOST_UID/HOST_GID: what they were set to (None when the project does not use them) and
    # the keys whose existing value was replaced, as (key, old value, new value).
    host_user: HostUser | None = None
    updated: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.created or bool(self.added) or bool(self.updated)


def generate_secret(length: int = 32) -> str:
    """Letters and digits only: safe unquoted in .env, YAML, shell and SQL."""
    import secrets

    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def read_keys(path: Path) -> dict[str, str | None]:
    """Keys and values of a .env file (or a service's env_file), as Compose reads them."""
    return parse(path.read_text("utf-8", errors="replace"))


# Compose's .env grammar (compose-go's dotenv parser): `KEY=value`, `export KEY=value`, the
# YAML-like `KEY: value`; names of letters, digits and `_.-[]`.
_ASSIGNMENT = re.compile(r"(?:export[ \t]+)?([\w.\-\[\]]+)[ \t]*(?:([=:])[ \t\v\f]*(.*))?", re.DOTALL)
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)


def parse(text: str) -> dict[str, str | None]:
    """Keys and values of .env text as Compose reads them, without interpolating `${VAR}`.

    Quoted values may span lines; in double quotes `\\n`, `\\t`, `\\r`, `\\a`, `\\b`, `\\f`,
    `\\v` are control characters and `\\\\`, `\\"`, `\\$` the character itself (other backslashes
    stay); in single quotes only the quote can be escaped. An unquoted value ends at
    the line's end or at ` #`. A bare `KEY` takes the shell's value: None here. A line Compose
    would refuse (a name with other characters, an unclosed quote) is skipped: Compose itself
    reports it when it reads the file.
    """
    values: dict[str, str | None] = {}
    lines = text.removeprefix("\ufeff").replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        line = lines[index].lstrip()
        index += 1
        match = _ASSIGNMENT.fullmatch(line)
        if not line or line.startswith("#") or not match:
            continue
        key, sign, rest = match.groups()
        if not sign:
            values[key] = None
        elif rest[:1] in ("'", '"'):
            value, index = _quoted(rest, lines, index)
            if value is not None:
                values[key] = value
        else:
            values[key] = rest.partition(" #")[0].rstrip()
    return values


def _quoted(rest: str, lines: list[str], index: int) -> tuple[str | None, int]:
    """The quoted value that starts `rest` (continued on the following lines if it must) and the
    index of the line after it; None when the quote is never closed."""
    quote, text = rest[0], rest[1:]
    while True:
        end = _closing_quote(text, quote)
        if end >= 0:
            break
        if index >= len(lines):
            return None, index
        text += "\n" + lines[index]
        index += 1
    raw = text[:end]
    if quote == "'":
        return raw.replace("\\'", "'"), index
    return _ESCAPE.sub(_double_quoted_escape, raw), index


def _closing_quote(text: str, quote: str) -> int:
    escaped = False
    for position, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == quote:
            return position
    return -1


_DOUBLE_QUOTED_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", '"': '"', "$": "$",
}  # fmt: skip


def _double_quoted_escape(match: re.Match[str]) -> str:
    return _DOUBLE_QUOTED_ESCAPES.get(match.group(1), match.group(0))


def parse_example(text: str) -> list[ExampleEntry]:
    entries: list[ExampleEntry] = []
    comments: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comments.append(line)
            continue
        match = _KEY_LINE.match(line)
        if match:
            secret = SECRET_MARK in line or any(SECRET_MARK in c for c in comments)
            entries.append(ExampleEntry(match.group(1), line, tuple(comments), secret))
        comments = []
    return entries


def _secret_line(key: str) -> str:
    return f"{key}={generate_secret()}"


Hold = Callable[[Sequence[str]], Mapping[str, str]]


def _held_line(key: str, reason: str) -> str:
    """What .env gets instead of a secret that must not be generated (see `sync`'s `hold`)."""
    return (
        f"# {key} was not generated: {reason}.\n"
        f"# Put that value here (and remove the '#'), or run `devstack db reset` to start afresh:\n"
        f"# {key}="
    )


def sync(
    project_dir: Path,
    example: str = ".env.example",
    target: str = ".env",
    *,
    compose_files: Sequence[Path] | None = None,
    host: Callable[[Mapping[str, str | None]], HostUser] | None = None,
    hold: Hold | None = None,
) -> SyncResult:
    """Create `.env` from `.env.example`, or add the keys it lacks; never change a set value.

    Then HOST_UID/HOST_GID, when `compose_files` (default: the compose files found in
    `project_dir`) use them; `host` decides their values (default: `host_user`).

    `hold` is asked (once, only when secrets are about to be generated) which of them must not
    be: a database initialised with the old value would refuse a fresh one. Those keys get a
    comment instead of a value and are listed in `SyncResult.held` with the reason.
    """
    result = _sync_example(project_dir, example, target, hold)
    if references_host_user(compose_files if compose_files is not None else _compose_files(project_dir)):
        _sync_host_user(result, host or host_user)
    return result


def _sync_example(project_dir: Path, example: str, target: str, hold: Hold | None) -> SyncResult:
    example_path = project_dir / example
    env_path = project_dir / target
    result = SyncResult(env_path)
    if not example_path.is_file():
        return result
    example_text = example_path.read_text("utf-8")
    entries = parse_example(example_text)
    present_now = read_keys(env_path) if env_path.exists() else {}
    to_generate = [e.key for e in entries if e.secret and e.key not in present_now]
    if hold is not None and to_generate:
        result.held = dict(hold(to_generate))
    if not env_path.exists():
        secret_keys = {e.key for e in entries if e.secret}
        out = io.StringIO()
        out.write("# Local settings and secrets for this checkout. Never commit this file.\n")
        out.write(f"# Created by devstack from {example}; add new keys there too.\n\n")
        for line in _without_header(example_text).splitlines():
            match = _KEY_LINE.match(line)
            if match and match.group(1) in result.held:
                line = _held_line(match.group(1), result.held[match.group(1)])
            elif match and match.group(1) in secret_keys:
                line = _secret_line(match.group(1))
                result.generated.append(match.group(1))
            out.write(line + "\n")
        _write_private(env_path, out.getvalue())
        result.created = True
        result.added = [e.key for e in entries if e.key not in result.held]
        return result
    present = read_keys(env_path)
    current = env_path.read_text("utf-8")
    # A held key already explained in .env (an earlier sync) is not explained again.
    missing = [
        e
        for e in entries
        if e.key not in present and not (e.key in result.held and f"# {e.key} was not generated:" in current)
    ]
    if not missing:
        return result
    out = io.StringIO(current)
    out.seek(0, io.SEEK_END)
    if current and not current.endswith("\n"):
        out.write("\n")
    out.write(f"\n# Added by devstack from {example}:\n")
    for entry in missing:
        for comment in entry.comments:
            out.write(comment + "\n")
        if entry.key in result.held:
            out.write(_held_line(entry.key, result.held[entry.key]) + "\n")
            continue
        if entry.secret:
            out.write(_secret_line(entry.key) + "\n")
            result.generated.append(entry.key)
        else:
            out.write(entry.line + "\n")
        result.added.append(entry.key)
    _write_private(env_path, out.getvalue())
    return result


def references_host_user(files: Iterable[Path]) -> bool:
    """Whether any of the compose files interpolates HOST_UID or HOST_GID (a text search)."""
    for path in files:
        try:
            text = path.read_text("utf-8", errors="replace")
        except OSError:
            continue
        if _HOST_REFERENCE.search(text):
            return True
    return False


def _compose_files(project_dir: Path) -> list[Path]:
    from devstack.project import COMPOSE_FILENAMES, OVERRIDE_FILENAMES

    names = [*COMPOSE_FILENAMES, *OVERRIDE_FILENAMES.values()]
    return [project_dir / name for name in names if (project_dir / name).is_file()]


def host_user(current: Mapping[str, str | None] | None = None) -> HostUser:
    """The owner that files in bind mounts must have: the invoking user, or 0:0 (see module doc).

    `current` holds the values `.env` has now. The usual case costs a stat of the engine's
    socket; the engine is asked (`/info`) only when its socket belongs to this user and `.env`
    does not already say 0:0.
    """
    if not hasattr(os, "getuid"):
        return HostUser(0, 0, "Docker Desktop maps container root to you")
    uid, gid = os.getuid(), os.getgid()
    if uid == 0:
        return HostUser(0, 0, "you are root")
    from devstack import engine

    if not engine.socket_owned_by_current_user():
        return HostUser(uid, gid, "your user")
    current = current or {}
    if current.get("HOST_UID") == "0" and current.get("HOST_GID") == "0":
        return HostUser(0, 0, "the engine runs as you")  # found so before; nothing to re-ask
    if engine.container_root_is_host_user():
        return HostUser(0, 0, "the engine runs as you (rootless or Docker Desktop)")
    return HostUser(uid, gid, "your user")


def without_host_user(text: str) -> str:
    """`.env` text without the HOST_UID/HOST_GID block that `sync` added, when it is intact.

    For `devstack remove`: when no compose file uses them any more, the block goes as it came
    (and a `.env` that sync created for it alone is left with only its header line).
    """
    lines = text.splitlines(keepends=True)
    comment = _HOST_COMMENT.splitlines(keepends=True)
    for start in range(len(lines) - len(comment) - 1):
        if lines[start : start + len(comment)] != comment:
            continue
        keys = [_KEY_LINE.match(line) for line in lines[start + len(comment) : start + len(comment) + 2]]
        if [m.group(1) if m else None for m in keys] != list(HOST_KEYS):
            continue
        begin = start - 1 if start and lines[start - 1].strip() == "" else start
        rest = lines[:begin] + lines[start + len(comment) + 2 :]
        if "".join(rest) == _NEW_HEADER:
            return ""
        return "".join(rest)
    return text


def _sync_host_user(result: SyncResult, decide: Callable[[Mapping[str, str | None]], HostUser]) -> None:
    env_path = result.path
    present = read_keys(env_path) if env_path.is_file() else {}
    wanted = decide(present)
    result.host_user = wanted
    text = env_path.read_text("utf-8") if env_path.is_file() else ""
    lines = text.splitlines()
    missing = [key for key in HOST_KEYS if key not in present]
    for index, line in enumerate(lines):
        match = _KEY_LINE.match(line)
        if not match or match.group(1) not in HOST_KEYS or match.group(1) in missing:
            continue
        key = match.group(1)
        old = present.get(key) or ""
        new = wanted.values[key]
        above = lines[index - 1] if index and lines[index - 1].lstrip().startswith("#") else ""
        if old == new or KEEP_MARK in line or KEEP_MARK in above:
            continue
        prefix = "export " if line.lstrip().startswith("export") else ""
        lines[index] = f"{prefix}{key}={new}"
        result.updated.append((key, old, new))
    if not missing and not result.updated:
        return
    out = "\n".join(lines)
    if not text:
        out = _NEW_HEADER
    elif out:
        out += "\n"
    if missing:
        out += "\n" + _HOST_COMMENT
        out += "".join(f"{key}={wanted.values[key]}\n" for key in missing)
        result.added += missing
        result.created = result.created or not text
    _write_private(env_path, out)


def _without_header(text: str) -> str:
    """Drop the example's opening comment block: it describes .env.example, not .env."""
    lines = text.splitlines()
    start = 0
    while start < len(lines) and lines[start].lstrip().startswith("#"):
        start += 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    return "\n".join(lines[start:]) if start < len(lines) else text


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 (the file holds secrets)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".env.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
