"""Project tools for `devstack run`: declared in the compose file, run in a service's container.

A project declares them in its committed compose file, under the top-level extension
`x-devstack.tools` (Compose ignores `x-` keys):

    x-devstack:
      tools:
        npm: {service: app, command: [npm], workdir: /app, description: "Node packages"}

`service` is required; `command` (a list, or a string split like a shell would) defaults to the
tool's name; `workdir` defaults to the container's working directory. A tool runs with
`compose exec` in the service's running container, as the service's `user:`.

Reading the block is fast: the compose files are parsed here (libyaml when available) and the
blocks merged as Compose merges them (mappings key by key, later files win). Compose's own model
(`config --format json`) is asked only when that could differ: a tool field that interpolates a
variable, an `include:`, or YAML that only Compose reads (custom tags such as `!reset`). What the
files said is kept in the user's cache directory, keyed by the files' paths, sizes and mtimes,
so a `devstack run` on unchanged files does not even import the YAML parser.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from devstack.errors import DevstackError, UsageError
from devstack.project import Project

FIELDS = ("service", "command", "workdir", "description")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:+-]*")


class Tool(NamedTuple):
    name: str
    service: str
    command: tuple[str, ...]
    workdir: str | None = None
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service": self.service,
            "command": list(self.command),
            "workdir": self.workdir,
            "description": self.description,
        }


class Declared(NamedTuple):
    """The tools of a project, and where they were read from (for messages)."""

    tools: dict[str, Tool]
    services: frozenset[str]  # the services the project defines (empty when not known)
    source: str  # "docker-compose.yml", or "Compose's merged model"


class InvalidTools(DevstackError):
    """`x-devstack.tools` is not what `devstack run` understands."""


class _NeedsCompose(Exception):
    """The files say something only Compose can resolve."""


def declared(project: Project) -> Declared:
    """The project's tools: from its compose files, or from Compose when only it can tell."""
    key = _cache_key(project)
    cached = _cache_read(key) if key else None
    if cached is not None:
        return cached
    try:
        found = _from_files(project)
    except _NeedsCompose:
        return _from_compose(project)
    if key:
        _cache_write(key, found)
    return found


def find(project: Project, name: str) -> Tool:
    """The tool called `name`; a usage error listing the declared tools when there is none."""
    found = declared(project)
    tool = found.tools.get(name)
    if tool is None:
        if found.tools:
            raise UsageError(
                f"unknown tool {name!r}; this project's tools: {', '.join(sorted(found.tools))}",
                hint="`devstack run` lists them with what they do",
            )
        raise UsageError(
            f"unknown tool {name!r}: this project declares no tools",
            hint="declare them in the compose file under x-devstack.tools (see the README)",
        )
    if found.services and tool.service not in found.services:
        raise InvalidTools(
            f"tool {name} runs in service {tool.service!r}, which {found.source} does not define",
            hint=f"fix x-devstack.tools.{name}.service; services: {', '.join(sorted(found.services))}",
        )
    return tool


def exec_args(tool: Tool, args: Sequence[str], *, tty: bool) -> list[str]:
    """`compose exec` arguments that run `tool` with `args` passed on verbatim."""
    argv = ["exec"]
    if not tty:
        argv.append("-T")
    if tool.workdir:
        argv += ["--workdir", tool.workdir]
    return [*argv, "--", tool.service, *tool.command, *args]


def ensure_running(project: Project, tool: Tool) -> None:
    """Raise with the way out when the tool's service has no running container."""
    from devstack import engine

    states = engine.service_states(project.name, tool.service)
    if "running" in states:
        return
    again = f"devstack run {tool.name} ..."
    if not states:
        raise DevstackError(
            f"service {tool.service} is not running, so tool {tool.name} cannot run",
            hint=f"start the project with `devstack up` (or `devstack up {tool.service}`), then `{again}`",
        )
    state = ", ".join(sorted(set(states)))
    raise DevstackError(
        f"service {tool.service} is not running ({state}), so tool {tool.name} cannot run",
        hint=f"see `devstack logs {tool.service}`; `devstack up` starts it again, then `{again}`",
    )


# -- reading the block -----------------------------------------------------------------------


def _from_files(project: Project) -> Declared:
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    block: dict[str, Any] = {}
    services: set[str] = set()
    for path in project.files:
        try:
            data = yaml.load(path.read_text("utf-8"), Loader=loader)  # a safe loader
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            raise _NeedsCompose from None  # Compose reads it, or says precisely what is wrong
        if data is None:
            continue
        if not isinstance(data, dict) or "include" in data:
            raise _NeedsCompose
        if isinstance(data.get("services"), dict):
            services.update(str(name) for name in data["services"])
        extension = data.get("x-devstack")
        if extension is None:
            continue
        if not isinstance(extension, dict):
            raise InvalidTools(
                f"x-devstack in {path.name} is not a mapping",
                hint="write it as `x-devstack:` followed by indented keys (stack, web, tools)",
            )
        block = _merged(block, extension)
    if _interpolates(block.get("tools")):
        raise _NeedsCompose
    source = project.files[0].name if len(project.files) == 1 else "the compose files"
    return Declared(parse(block.get("tools"), source), frozenset(services), source)


def _from_compose(project: Project) -> Declared:
    from devstack.compose import ComposeRunner

    model, _warnings = ComposeRunner(project).config()  # every profile's services count
    block = model.get("x-devstack")
    source = "Compose's merged model"
    if block is not None and not isinstance(block, dict):
        raise InvalidTools(
            "x-devstack is not a mapping", hint="write it as `x-devstack:` followed by indented keys"
        )
    services = model.get("services")
    names = frozenset(str(s) for s in services) if isinstance(services, dict) else frozenset()
    return Declared(parse((block or {}).get("tools"), source), names, source)


def _cache_key(project: Project) -> list[list[Any]] | None:
    import os

    key: list[list[Any]] = []
    for path in project.files:
        try:
            stat = os.stat(path)
        except OSError:
            return None
        key.append([str(path), stat.st_mtime_ns, stat.st_size])
    return key


def _cache_path(key: list[list[Any]]) -> Path:
    import os
    import zlib

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    names = "\0".join(str(entry[0]) for entry in key).encode("utf-8", "surrogateescape")
    return Path(base, "devstack", "tools", f"{zlib.crc32(names):08x}{zlib.adler32(names):08x}.json")


def _cache_read(key: list[list[Any]]) -> Declared | None:
    import json

    try:
        data = json.loads(_cache_path(key).read_text("utf-8"))
        if data.get("version") != _CACHE_VERSION or data.get("key") != key:
            return None
        tools = {
            name: Tool(name, t["service"], tuple(t["command"]), t["workdir"], t["description"])
            for name, t in data["tools"].items()
        }
        return Declared(tools, frozenset(data["services"]), str(data["source"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # no cache, or one from another version: read the files


def _cache_write(key: list[list[Any]], found: Declared) -> None:
    import json
    import os
    import tempfile

    data = {
        "version": _CACHE_VERSION,
        "key": key,
        "tools": {name: tool.to_dict() for name, tool in found.tools.items()},
        "services": sorted(found.services),
        "source": found.source,
    }
    path = _cache_path(key)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return  # a read-only home: no cache, no harm
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except OSError:
        Path(tmp).unlink(missing_ok=True)


_CACHE_VERSION = 1


def _merged(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Compose's merge for extension mappings: key by key, recursively; anything else replaced."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


def parse(raw: Any, source: str) -> dict[str, Tool]:
    """The tools of an `x-devstack.tools` block; InvalidTools says what is wrong with it."""
    if raw is None:
        return {}
    where = f"x-devstack.tools in {source}"
    if not isinstance(raw, dict):
        raise InvalidTools(f"{where} is not a mapping", hint=_FORMAT_HINT)
    tools = {}
    for name, spec in raw.items():
        name = str(name)
        if not _NAME.fullmatch(name):
            raise InvalidTools(
                f"{where}: {name!r} is not a tool name", hint="use letters, digits, '.', '_', '-'"
            )
        tools[name] = _tool(name, spec, f"x-devstack.tools.{name} in {source}")
    return tools


_FORMAT_HINT = "e.g. `npm: {service: app, command: [npm], workdir: /app, description: Node packages}`"


def _tool(name: str, spec: Any, where: str) -> Tool:
    if not isinstance(spec, dict):
        raise InvalidTools(f"{where} is not a mapping", hint=_FORMAT_HINT)
    unknown = sorted(str(key) for key in spec if key not in FIELDS)
    if unknown:
        raise InvalidTools(f"{where}: unknown key {unknown[0]!r}", hint=f"a tool has {', '.join(FIELDS)}")
    service = spec.get("service")
    if not isinstance(service, str) or not service:
        raise InvalidTools(
            f"{where}: `service` is missing", hint="name the service whose container runs the tool"
        )
    command = spec.get("command", [name])
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as exc:
            raise InvalidTools(f"{where}: command {command!r}: {exc}", hint="write it as a list") from None
    if (
        not isinstance(command, list)
        or not command
        or not all(isinstance(part, (str, int, float)) and not isinstance(part, bool) for part in command)
    ):
        raise InvalidTools(f"{where}: `command` must be a non-empty list of strings", hint=_FORMAT_HINT)
    workdir = spec.get("workdir")
    if workdir is not None and (not isinstance(workdir, str) or not workdir.startswith("/")):
        raise InvalidTools(f"{where}: `workdir` must be an absolute path in the container", hint="e.g. /app")
    description = spec.get("description", "")
    if not isinstance(description, (str, int, float)):
        raise InvalidTools(f"{where}: `description` must be text", hint=_FORMAT_HINT)
    return Tool(name, service, tuple(str(part) for part in command), workdir, str(description or ""))


def _interpolates(raw: Any) -> bool:
    """Whether a tool's fields, as written, use `$` (a variable, or `$$`): Compose resolves those.

    Looks only at the fields a tool has (never walks anything else, so an alias bomb costs nothing).
    """
    if not isinstance(raw, dict):
        return False
    for spec in raw.values():
        if not isinstance(spec, dict):
            continue
        for key in ("service", "workdir", "command"):
            value = spec.get(key)
            parts = value if isinstance(value, list) else [value]
            if any(isinstance(part, str) and "$" in part for part in parts):
                return True
    return False
