"""DS3xx: variables and env files, read from each compose file as written (no merged model).

Compose only warns about an unset `${VAR}` and substitutes "": the stack then starts with an
empty password or host name. Here that is an error, found by evaluating every value of the
files with the variables Compose would use (shell over `.env`), so the finding has a line.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path

from devstack import envfile, syntax
from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.checks.context import Context
from devstack.composefile import ComposeFile, label_for, walk_strings
from devstack.interpolation import InterpolationError, MissingRequired, evaluate, substitute
from devstack.project import Project

EXAMPLE = ".env.example"
# <ALIAS>_PORT_<n>_<TCP|UDP>[_ADDR|_PORT|_PROTO]: set by Docker for v1 links only.
_LEGACY_PORT = re.compile(r"\b([A-Z][A-Z0-9_]*?)_PORT_(\d{1,5})_(TCP|UDP)(?:_(ADDR|PORT|PROTO))?\b")
_LEGACY_ENV = re.compile(r"\b([A-Z][A-Z0-9_]*?)_ENV_([A-Za-z_][A-Za-z0-9_]*)\b")
_LEGACY_PORT_VALUE = re.compile(r"(tcp|udp)://([^\s:/]+):(\d{1,5})")
_LEGACY_NAME_VALUE = re.compile(r"/[\w.-]+/[\w.-]+")
# Compose v2: `The "X" variable is not set. Defaulting to a blank string.`; v1 without quotes.
_UNSET_WARNING = r'The \\?"?([A-Za-z_][A-Za-z0-9_]*)\\?"? variable is not set'


def check_files(ctx: Context) -> list[Finding]:
    missing_from_env, findings = _example_keys(ctx.project)
    findings += _interpolation(ctx, skip=set(missing_from_env))
    findings += _tracked_dotenv(ctx.project)
    findings += _env_files(ctx)
    findings += _legacy_links(ctx)
    return findings


def check_project_files(project: Project) -> list[Finding]:
    """The checks that need no compose file (run even when one cannot be parsed)."""
    return _example_keys(project)[1] + _tracked_dotenv(project)


# -- ${VAR} ------------------------------------------------------------------------------


def _interpolation(ctx: Context, skip: set[str]) -> list[Finding]:
    unset: dict[str, list[str]] = {}
    breaking: set[str] = set()  # unset where an empty value breaks the project
    required: dict[str, tuple[MissingRequired, list[str], bool]] = {}
    findings = []
    for source in ctx.sources.files:
        env = _env_for(source, ctx)
        for key, text in walk_strings(source.data):
            if "$" not in text:
                continue
            where = source.where(*key)
            try:
                result = evaluate(text, env)
            except MissingRequired as exc:
                required.setdefault(exc.name, (exc, [], exc.name in env))[1].append(where)
                continue
            except InterpolationError as exc:
                findings.append(
                    finding(
                        "DS307",
                        exc.message,
                        "write ${NAME}, ${NAME:-default} or ${NAME:?message}; a literal $ is $$",
                        where,
                    )
                )
                continue
            for name in result.missing:
                unset.setdefault(name, []).append(where)
                if not _blank_is_fine(key):
                    breaking.add(name)
    for name in _compose_unset(ctx):
        if name not in unset:  # only Compose saw it (a file devstack could not read on its own)
            breaking.add(name)
            unset[name] = [_first_use(ctx, name) or "(Compose)"]
    for name, places in unset.items():
        if name in skip:
            continue
        if name in breaking:
            findings.append(
                finding(
                    "DS301",
                    f"${{{name}}} is not set (in the shell or .env) and has no default" + _also(places),
                    _unset_hint(name, ctx),
                    places[0],
                )
            )
        else:
            findings.append(
                finding(
                    "DS308",
                    f"${{{name}}} is not set (in the shell or .env): the value becomes empty" + _also(places),
                    f"set {name} in .env if the service needs it, or write ${{{name}:-}} to say that empty "
                    "is fine",
                    places[0],
                )
            )
    for name, (error, places, is_set) in required.items():
        if name in skip:
            continue
        state = "is empty" if is_set else "is not set"
        reason = f": {error.reason}" if error.reason else ""
        findings.append(
            finding(
                "DS302",
                f"{name} is required but {state}{reason}" + _also(places),
                f"set {name} in .env (or in the shell)",
                places[0],
            )
        )
    return findings


# Where an empty value is a legitimate value (Compose only warns): a container's environment,
# build arguments, labels. Anywhere else (image names, ports, paths, build contexts, commands)
# an unset variable is an error.
_BLANK_OK = ("environment", "labels", "annotations")


def _blank_is_fine(key: tuple[object, ...]) -> bool:
    if len(key) < 4 or key[0] != "services":
        return False
    return key[2] in _BLANK_OK or key[2:4] == ("build", "args")


def _env_for(source: ComposeFile, ctx: Context) -> Mapping[str, str]:
    """The variables a file is interpolated with: an included project also reads its own .env."""
    if source.role != "include":
        return ctx.env
    dotenv = source.path.parent / ".env"
    if not dotenv.is_file():
        return ctx.env
    return {**{k: v or "" for k, v in envfile.read_keys(dotenv).items()}, **ctx.env}


def _compose_unset(ctx: Context) -> list[str]:
    """Variables Compose warned were unset while it computed the model."""
    if "variable is not set" not in ctx.compose_warnings:
        return []
    return list(dict.fromkeys(re.findall(_UNSET_WARNING, ctx.compose_warnings)))


def _first_use(ctx: Context, name: str) -> str | None:
    from devstack.interpolation import names

    for source in ctx.sources.files:
        for key, text in walk_strings(source.data):
            if "$" in text:
                try:
                    if name in names(text):
                        return source.where(*key)
                except InterpolationError:
                    continue
    return None


def _unset_hint(name: str, ctx: Context) -> str:
    if _LEGACY_PORT.fullmatch(name):
        for _variable, hint in _legacy_uses(None, name, _aliases(ctx)):
            return f"{name} is a legacy link variable: {hint}"
    return f"set {name} in .env, or give it a default: ${{{name}:-value}}"


def _also(places: list[str]) -> str:
    return f" (used {len(places)} times)" if len(places) > 1 else ""


# -- .env and .env.example -------------------------------------------------------------


def _example_keys(project: Project) -> tuple[list[str], list[Finding]]:
    """Keys .env.example lists that .env lacks."""
    example = project.root / EXAMPLE
    if not example.is_file():
        return [], []
    try:
        keys = [e.key for e in envfile.parse_example(example.read_text("utf-8"))]
    except (OSError, UnicodeDecodeError):
        return [], []
    hint = "run `devstack env sync` (or `devstack up`, which does it first)"
    if not project.env_file.is_file():
        if not keys:
            return [], []
        message = f".env does not exist; {EXAMPLE} lists {', '.join(keys)}"
        return keys, [finding("DS303", message, hint + ": it creates .env", EXAMPLE)]
    present = project.dotenv()
    missing = [k for k in keys if k not in present]
    if not missing:
        return [], []
    message = f".env lacks {', '.join(missing)}, which {EXAMPLE} lists"
    return missing, [finding("DS303", message, hint + ": it adds them", ".env")]


def _tracked_dotenv(project: Project) -> list[Finding]:
    """`.env` committed to git: its secrets are in the history."""
    if not project.env_file.is_file() or not _in_git_work_tree(project.root):
        return []
    git = shutil.which("git")
    if git is None:
        return []
    try:
        # The one subprocess of the static checks: argument list, no shell, a fixed path.
        proc = subprocess.run(
            [git, "-C", str(project.root), "ls-files", "--error-unmatch", "--", ".env"],
            capture_output=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if proc.returncode != 0:
        return []
    return [
        finding(
            "DS305",
            ".env is tracked by git: the secrets in it are in the repository's history",
            "`git rm --cached .env`, add `.env` to .gitignore, and change the secrets it held",
            ".env",
        )
    ]


def _in_git_work_tree(directory: Path) -> bool:
    return any((d / ".git").exists() for d in (directory, *directory.parents))


# -- env_file ----------------------------------------------------------------------------


def _env_files(ctx: Context) -> list[Finding]:
    findings = []
    for source in ctx.sources.files:
        for name, service in source.services().items():
            if not isinstance(service, dict):
                continue
            for index, (raw, required) in enumerate(syntax.env_files(service)):
                path = _env_file_path(ctx, source, raw)
                if required and path is not None and not path.is_file():
                    key = ("env_file", index) if isinstance(service.get("env_file"), list) else ("env_file",)
                    findings.append(
                        finding(
                            "DS304",
                            f"service {name} reads env_file {raw}, which does not exist",
                            "create it, fix the path (relative to the project directory), or "
                            f"make it optional: env_file: [{{path: {raw}, required: false}}]",
                            source.where("services", name, *key),
                        )
                    )
    return findings


def _env_file_path(ctx: Context, source: ComposeFile, raw: str) -> Path | None:
    """Where an env_file entry points (None when its ${...} is broken: DS307 says so).

    Paths in the -f files are relative to the project directory; in a file reached through
    `extends` or `include`, to that file's directory.
    """
    try:
        text = substitute(raw, _env_for(source, ctx))
    except InterpolationError:
        return None
    base = ctx.project.root if source.role == "file" else source.path.parent
    return syntax.host_path(text, base, ctx.env.get("HOME"))


# -- legacy link variables ---------------------------------------------------------------


def _legacy_links(ctx: Context) -> list[Finding]:
    aliases = _aliases(ctx)
    findings: dict[tuple[str, str], Finding] = {}
    for service, key, text, where in _container_texts(ctx):
        for variable, hint in _legacy_uses(key, text, aliases):
            findings.setdefault(
                (service, variable),
                finding(
                    "DS306",
                    f"service {service} uses {variable}, a legacy link variable that Docker "
                    "no longer sets (only v1 `links` did)",
                    hint,
                    where,
                ),
            )
    return list(findings.values())


def _aliases(ctx: Context) -> dict[str, tuple[str, str | None]]:
    """ALIAS (as it appears in variable names) -> (host name to use, its first port)."""
    found: dict[str, tuple[str, str | None]] = {}
    for source in ctx.sources.files:
        for name, service in source.services().items():
            found.setdefault(_env_name(name), (name, None))
            if isinstance(service, dict):
                for target, alias in syntax.link_targets(service):
                    found.setdefault(_env_name(alias), (target, None))
    return found


def _env_name(name: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", name.upper())


def _container_texts(ctx: Context) -> Iterator[tuple[str, str | None, str, str | None]]:
    """(service, variable name or None, text, location) for what a container reads."""
    for source in ctx.sources.files:
        for name, service in source.services().items():
            if not isinstance(service, dict):
                continue
            for key, value in syntax.environment(service.get("environment")).items():
                where = source.where("services", name, "environment", key)
                yield name, key, value or "", where
            for field in ("command", "entrypoint", "healthcheck", "labels"):
                for key_path, text in walk_strings(service.get(field)):
                    yield name, None, text, source.where("services", name, field, *key_path)
            for raw, _required in syntax.env_files(service):
                path = _env_file_path(ctx, source, raw)
                if path is not None and path.is_file():
                    where = label_for(path, ctx.project.root)
                    for key, value in envfile.read_keys(path).items():
                        yield name, key, value or "", where


def _legacy_uses(
    key: str | None, text: str, aliases: dict[str, tuple[str, str | None]]
) -> Iterator[tuple[str, str]]:
    """(variable, hint) for each legacy link variable named in a key or used in a text."""
    for candidate in filter(None, (key, text)):
        for match in _LEGACY_PORT.finditer(candidate):
            alias, port, protocol, part = match.groups()
            host = aliases.get(alias, (alias.lower(), None))[0]
            yield match.group(), _port_hint(host, port, protocol, part)
        for match in _LEGACY_ENV.finditer(candidate):
            alias, variable = match.groups()
            if alias in aliases:
                host = aliases[alias][0]
                yield (
                    match.group(),
                    (
                        f"set {variable} on this service directly (the value {host} has), e.g. "
                        f"environment: {{{variable}: ${{{variable}}}}}"
                    ),
                )
    if key is None:
        return
    # Definitions that copy what v1 links injected: DB_PORT=tcp://db:3306, DB_NAME=/web/db.
    prefix, _, suffix = key.rpartition("_")
    value = text.strip()
    url = _LEGACY_PORT_VALUE.fullmatch(value)
    if suffix == "PORT" and prefix and url:
        host = aliases.get(prefix, (url.group(2), None))[0]
        yield (
            key,
            (
                f"{key}={value} is the v1 link format: use host `{host}` port {url.group(3)} "
                f"(e.g. separate {prefix}_HOST and {prefix}_PORT settings)"
            ),
        )
    if suffix == "NAME" and prefix in aliases and _LEGACY_NAME_VALUE.fullmatch(value):
        yield key, f"{key}={value} is the v1 link format: use host `{aliases[prefix][0]}`"


def _port_hint(host: str, port: str, protocol: str, part: str | None) -> str:
    if part == "ADDR":
        use = f"use host `{host}`"
    elif part == "PORT":
        use = f"use port {port}"
    elif part == "PROTO":
        use = f"the protocol is {protocol.lower()}"
    else:
        use = f"use {protocol.lower()}://{host}:{port}"
    return f"{use} instead: services reach each other by service name (host `{host}`, port {port})"
