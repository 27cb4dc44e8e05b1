"""The Compose model computed without Compose: the fallback when no Compose binary answers.

`build` does what `docker compose config` does, to the extent checks rely on it: interpolate
each file, resolve `extends` (same file and other files) and `include:`, merge the `-f` files
in order with Compose's merge rules (mappings merge, `command`/`entrypoint` replace,
`ports`/`volumes`/`environment` merge by their key, `!reset`/`!override`), then normalise
services into the long syntax of `config --format json`. It keeps every service, whatever its profiles (the
caller filters with `syntax.is_active`). Compose itself stays the authority: this runs only
when it cannot.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from devstack import syntax
from devstack.composefile import RESET, ComposeFile, ComposeFileError, Override, Reset, load, plain
from devstack.envfile import read_keys
from devstack.interpolation import InterpolationError, interpolate_tree, substitute

_REPLACED = {"command", "entrypoint"}
_SEQUENCE_MERGED = {
    "dns",
    "dns_opt",
    "dns_search",
    "env_file",
    "tmpfs",
    "extra_hosts",
    "cap_add",
    "cap_drop",
    "expose",
    "external_links",
    "security_opt",
    "devices",
    "group_add",
    "label_file",
}
_MAPPING_MERGED = {"environment", "labels", "annotations", "sysctls", "depends_on", "networks"}


class ResolveError(Exception):
    """An `extends` or `include` that cannot be resolved.

    kind: "service" (extends names an undefined service), "file" (extends names a missing
    file), "loop" (extends loops), "include" (an included file is missing or unreadable).
    """

    def __init__(self, message: str, path: Path, service: str, kind: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path  # the file with the `extends` (or `include`)
        self.service = service  # "" for `include`
        self.kind = kind


def build(
    sources: Sequence[ComposeFile], root: Path, env: Mapping[str, str], _depth: int = 0
) -> tuple[dict[str, Any], list[ResolveError]]:
    """The merged, interpolated, normalised model, and the problems met on the way."""
    problems: list[ResolveError] = []
    merged: dict[str, Any] = {}
    included: list[dict[str, Any]] = []
    for source in sources:
        data = interpolate_tree(source.data, env)
        services = data.get("services")
        if isinstance(services, dict):
            data["services"] = _resolve_extends(services, source.path, env, problems, [])
        if "include" in data and _depth < 5:
            included += _include(data.pop("include"), source.path, env, problems, _depth)
        merged = _merge(merged, data, ()) if merged else data
    merged = plain(merged)
    services = merged.get("services")
    if isinstance(services, dict):
        for name, service in services.items():
            if isinstance(service, dict):
                services[name] = normalise_service(service, root, env)
    for sub in included:  # already normalised against their own directory
        for kind in ("services", "networks", "volumes", "secrets", "configs"):
            if isinstance(sub.get(kind), dict):
                target = merged.setdefault(kind, {})
                if isinstance(target, dict):
                    for name, value in sub[kind].items():
                        target.setdefault(name, value)
    return merged, problems


def _include(
    raw: Any, path: Path, env: Mapping[str, str], problems: list[ResolveError], depth: int
) -> list[dict[str, Any]]:
    """The models of `include:`d files (each relative to its own directory)."""
    models = []
    for entry in raw if isinstance(raw, list) else []:
        spec = entry if isinstance(entry, dict) else {"path": entry}
        paths = spec.get("path")
        paths = paths if isinstance(paths, list) else [paths]
        files = [(path.parent / str(p)).resolve() for p in paths if isinstance(p, str)]
        if not files:
            continue
        directory = spec.get("project_directory")
        root = (path.parent / str(directory)).resolve() if directory else files[0].parent
        try:
            sources = [load(f, root) for f in files]
        except ComposeFileError as exc:
            problems.append(ResolveError(f"include: {exc.message}", path, "", "include"))
            continue
        sub_env = dict(env)
        dotenv = root / ".env"
        if dotenv.is_file():
            sub_env = {**{k: v or "" for k, v in read_keys(dotenv).items()}, **env}
        model, sub_problems = build(sources, root, sub_env, depth + 1)
        problems += sub_problems
        models.append(model)
    return models


# -- extends -------------------------------------------------------------------------------


def _resolve_extends(
    services: dict[str, Any],
    path: Path,
    env: Mapping[str, str],
    problems: list[ResolveError],
    chain: list[tuple[Path, str]],
) -> dict[str, Any]:
    resolved: dict[str, Any] = {}
    for name in services:
        try:
            resolved[name] = _extended(services, name, path, env, chain)
        except ResolveError as exc:
            problems.append(exc)
            service = services[name]
            resolved[name] = (
                {k: v for k, v in service.items() if k != "extends"} if isinstance(service, dict) else service
            )
    return resolved


def _extended(
    services: dict[str, Any],
    name: str,
    path: Path,
    env: Mapping[str, str],
    chain: list[tuple[Path, str]],
) -> Any:
    service = services.get(name)
    if not isinstance(service, dict) or "extends" not in service:
        return service
    if (path, name) in chain:
        loop = " -> ".join(n for _, n in [*chain, (path, name)])
        raise ResolveError(f"`extends` loops: {loop}", path, name, "loop")
    spec = service["extends"]
    base_name = spec.get("service") if isinstance(spec, dict) else spec
    base_file = spec.get("file") if isinstance(spec, dict) else None
    if not isinstance(base_name, str):
        raise ResolveError(f"service {name}: `extends` needs a service name", path, name, "service")
    chain = [*chain, (path, name)]
    if base_file:
        other = (path.parent / str(base_file)).resolve()
        if not other.is_file():
            message = f"service {name} extends a service in {base_file}, which does not exist"
            raise ResolveError(message, path, name, "file")
        try:
            data = interpolate_tree(load(other).data, env)
        except ComposeFileError as exc:
            message = f"service {name} extends a service in {base_file}: {exc.message}"
            raise ResolveError(message, path, name, "file") from exc
        other_services = data.get("services")
        if not isinstance(other_services, dict) or base_name not in other_services:
            message = f"service {name} extends `{base_name}`, which {base_file} does not define"
            raise ResolveError(message, path, name, "service")
        base = _extended(other_services, base_name, other, env, chain)
        if other.parent != path.parent:
            base = _rebase(base, other.parent)
    else:
        if base_name not in services:
            message = f"service {name} extends `{base_name}`, which is not defined in this file"
            raise ResolveError(message, path, name, "service")
        base = _extended(services, base_name, path, env, chain)
    if not isinstance(base, dict):
        message = f"service {name} extends `{base_name}`, which is not a mapping"
        raise ResolveError(message, path, name, "service")
    child = {k: v for k, v in service.items() if k != "extends"}
    result = _merge(copy.deepcopy(base), child, ("services", name))
    return {k: v for k, v in result.items() if k != "extends"}


def _rebase(service: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Relative paths of a service taken from another directory's file, made absolute."""

    def fix(value: Any) -> Any:
        if isinstance(value, str) and value.startswith("."):
            return str((directory / value).resolve())
        return value

    service = copy.deepcopy(service)
    build = service.get("build")
    if isinstance(build, str) and not syntax.is_remote(build):
        service["build"] = fix(build)
    elif isinstance(build, dict) and isinstance(build.get("context"), str):
        if not syntax.is_remote(build["context"]):
            build["context"] = fix(build["context"])
    env_files = service.get("env_file")
    if isinstance(env_files, str):
        service["env_file"] = fix(env_files)
    elif isinstance(env_files, list):
        service["env_file"] = [
            {**e, "path": fix(e.get("path"))} if isinstance(e, dict) else fix(e) for e in env_files
        ]
    volumes = service.get("volumes")
    if isinstance(volumes, list):
        fixed: list[Any] = []
        for entry in volumes:
            if isinstance(entry, str):
                source, sep, rest = entry.partition(":")
                entry = fix(source) + sep + rest if sep and source.startswith(".") else entry
            elif isinstance(entry, dict) and entry.get("type") == "bind":
                entry = {**entry, "source": fix(entry.get("source"))}
            fixed.append(entry)
        service["volumes"] = fixed
    return service


# -- merge ---------------------------------------------------------------------------------


def _merge(base: Any, other: Any, key: tuple[str, ...]) -> Any:
    """`other` (a later file, or the extending service) merged over `base`, as Compose does."""
    if isinstance(other, Reset):
        return RESET
    if isinstance(other, Override):
        return other.value
    if other is None:
        return base
    field = key[2] if len(key) == 3 and key[0] == "services" else None
    if field in _REPLACED or key[-2:] == ("healthcheck", "test") and key[0] == "services":
        return other
    if field == "build":
        base = {"context": base} if isinstance(base, str) else base
        other = {"context": other} if isinstance(other, str) else other
    if field in _MAPPING_MERGED or key[-2:] == ("build", "args"):
        base_map = _as_mapping(base, field)
        return _merge_mappings(base_map, _as_mapping(other, field), key)
    if field in ("ports", "volumes", "secrets", "configs") and isinstance(base, list):
        return _merge_unique(base, other if isinstance(other, list) else [other], field)
    if field in _SEQUENCE_MERGED and isinstance(base, list):
        return base + (other if isinstance(other, list) else [other])
    if isinstance(base, dict) and isinstance(other, dict):
        return _merge_mappings(base, other, key)
    if isinstance(base, list) and isinstance(other, list):
        return base + other
    return other


def _merge_mappings(base: dict[str, Any], other: dict[str, Any], key: tuple[str, ...]) -> dict[str, Any]:
    result = dict(base)
    for name, value in other.items():
        if isinstance(value, Reset):
            result.pop(name, None)
        elif name not in result or name.startswith("x-"):
            result[name] = plain(value) if isinstance(value, Override) else value
        else:
            result[name] = _merge(result[name], value, (*key, name))
    return result


def _as_mapping(value: Any, field: str | None) -> dict[str, Any]:
    """A list-or-mapping field (`environment`, `depends_on`, `networks`, ...) as a mapping."""
    if isinstance(value, dict):
        return dict(value)
    if not isinstance(value, list):
        return {}
    if field in ("depends_on",):
        return {str(v): {"condition": "service_started", "required": True} for v in value}
    if field in ("networks",):
        return {str(v): None for v in value}
    found: dict[str, Any] = {}
    for entry in value:
        k, sep, v = str(entry).partition("=")
        found[k] = v if sep else None
    return found


def _merge_unique(base: list[Any], other: list[Any], field: str) -> list[Any]:
    """Later entries replace earlier ones with the same key (mount target, port spec)."""
    result = list(base)
    index = {_unique_key(e, field): i for i, e in enumerate(result)}
    for entry in other:
        k = _unique_key(entry, field)
        if k in index:
            result[index[k]] = entry
        else:
            index[k] = len(result)
            result.append(entry)
    return result


def _unique_key(entry: Any, field: str) -> Any:
    if field == "volumes":
        mount = syntax.parse_mount(entry)
        return mount.target if mount else repr(entry)
    if field in ("secrets", "configs"):
        if isinstance(entry, dict):
            return entry.get("target") or entry.get("source")
        return entry
    if isinstance(entry, dict):
        return (
            entry.get("host_ip"),
            str(entry.get("published")),
            entry.get("target"),
            entry.get("protocol") or "tcp",
        )
    return str(entry)


# -- normalise -----------------------------------------------------------------------------


def normalise_service(service: dict[str, Any], root: Path, env: Mapping[str, str]) -> dict[str, Any]:
    """Long syntax, absolute paths, env_file folded into environment (as `config` prints)."""
    out = dict(service)
    if "build" in out:
        out["build"] = _build(out["build"], root, env)
    environment = _environment(out, root, env)
    out.pop("env_file", None)
    if environment or "environment" in service:
        out["environment"] = environment
    if isinstance(out.get("ports"), list):
        out["ports"] = _ports(out["ports"])
    if isinstance(out.get("volumes"), list):
        out["volumes"] = [_volume(v, root, env) for v in out["volumes"]]
    depends = _depends_on(out)
    if depends:
        out["depends_on"] = depends
    return out


def resolve_path(path: str, root: Path, env: Mapping[str, str]) -> str:
    if path.startswith("~"):
        home = env.get("HOME") or os.path.expanduser("~")
        path = home + path[1:]
    return os.path.normpath(os.path.join(root, path))


def _build(build: Any, root: Path, env: Mapping[str, str]) -> Any:
    if isinstance(build, str):
        build = {"context": build}
    if not isinstance(build, dict):
        return build
    build = dict(build)
    context = str(build.get("context") or ".")
    build["context"] = context if syntax.is_remote(context) else resolve_path(context, root, env)
    if "dockerfile_inline" not in build:
        build.setdefault("dockerfile", "Dockerfile")
    if "args" in build:
        args: dict[str, str] = {}
        for key, value in syntax.environment(build["args"]).items():
            if value is None:
                if key in env:
                    args[key] = env[key]
            else:
                args[key] = value
        build["args"] = args
    return build


def _environment(service: Mapping[str, Any], root: Path, env: Mapping[str, str]) -> dict[str, str | None]:
    result: dict[str, str | None] = {}
    for entry in env_files(service):
        path = Path(resolve_path(entry[0], root, env))
        if not path.is_file():
            continue
        for key, value in read_keys(path).items():
            if value is None:
                result[key] = env.get(key)
            else:
                known = {k: v for k, v in result.items() if v is not None}
                try:
                    result[key] = substitute(value, {**env, **known})
                except InterpolationError:
                    result[key] = value
    for key, value in syntax.environment(service.get("environment")).items():
        result[key] = env.get(key) if value is None else value
    return result


def env_files(service: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(path, required) for each `env_file:` entry, in order."""
    raw = service.get("env_file")
    entries = raw if isinstance(raw, list) else [raw] if raw is not None else []
    found = []
    for entry in entries:
        if isinstance(entry, str):
            found.append((entry, True))
        elif isinstance(entry, dict) and isinstance(entry.get("path"), str):
            found.append((entry["path"], entry.get("required", True) not in (False, "false")))
    return found


def _ports(entries: list[Any]) -> list[Any]:
    out: list[Any] = []
    for entry in entries:
        try:
            bindings = syntax.parse_port(entry)
        except syntax.SyntaxProblem:
            out.append(entry)  # left as written: the ports check reports it
            continue
        if not bindings:
            out.append(_unpublished(entry))
            continue
        for b in bindings:
            port: dict[str, Any] = {"mode": "ingress"}
            if b.host_ip:
                port["host_ip"] = b.host_ip
            port["target"] = b.target
            port["published"] = str(b.published) + (f"-{b.published_last}" if b.is_pick_range else "")
            port["protocol"] = b.protocol
            out.append(port)
    return out


def _unpublished(entry: Any) -> Any:
    if isinstance(entry, dict):
        return entry
    spec, _, protocol = str(entry).partition("/")
    host_ip, _, target = spec.rpartition(":")
    host_ip = host_ip.rstrip(":").strip("[]")
    port: dict[str, Any] = {"mode": "ingress"}
    if host_ip:
        port["host_ip"] = host_ip
    port["target"] = int(target) if target.isdigit() else target
    port["protocol"] = protocol or "tcp"
    return port


def _volume(entry: Any, root: Path, env: Mapping[str, str]) -> Any:
    mount = syntax.parse_mount(entry)
    if mount is None:
        return entry
    out: dict[str, Any] = dict(entry) if isinstance(entry, dict) else {}
    out["type"] = mount.type
    if mount.source is not None:
        source = mount.source
        if mount.type == "bind":
            source = resolve_path(source, root, env)
        out["source"] = source
    out["target"] = mount.target
    if mount.read_only:
        out["read_only"] = True
    if mount.short and mount.type == "bind":
        out["bind"] = {"create_host_path": True}
    elif mount.short and mount.type == "volume":
        out["volume"] = {}
    return out


def _depends_on(service: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for dep in syntax.dependencies(service):
        result[dep.service] = {"condition": dep.condition, "required": dep.required}
    implicit = [name for name, _ in syntax.link_targets(service)]
    implicit += [name for kind, name in syntax.volumes_from(service) if kind == "service"]
    shared = syntax.network_service(service)
    if shared:
        implicit.append(shared)
    for name in implicit:
        result.setdefault(name, {"condition": "service_started", "restart": True, "required": True})
    return result


def active_model(model: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, dict[str, Any]]:
    """The services that `up` would start with the profiles active in env."""
    active = syntax.active_profiles(env)
    return {n: s for n, s in syntax.services(model).items() if syntax.is_active(s, active)}
