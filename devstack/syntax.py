"""Read a service's ports, mounts, dependencies and environment in any syntax Compose accepts.

A service can come from Compose v2 (`config --format json`: long syntax everywhere), Compose v1
(`config` YAML: short strings kept) or from a compose file as written. Checks read them only
through these functions, so they never care which one they got. Malformed entries raise
SyntaxProblem (a port) or are skipped (the schema check reports them).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@|github\.com/)", re.IGNORECASE)
_WINDOWS_PATH = re.compile(r"^[A-Za-z]:[\\/]")
_COMMON_IPS = {"", "127.0.0.1", "0.0.0.0", "::", "::1"}


class SyntaxProblem(ValueError):
    """An entry Compose would reject (e.g. a port that is not a port)."""


class PortBinding(NamedTuple):
    """One published host port (or a range Docker picks one free port from)."""

    host_ip: str  # "" when published on every interface
    published: int  # first host port
    published_last: int  # last host port of a pick-any range; == published otherwise
    target: int
    protocol: str  # tcp, udp or sctp

    @property
    def all_interfaces(self) -> bool:
        return self.host_ip in ("", "0.0.0.0", "::")

    @property
    def is_pick_range(self) -> bool:
        return self.published_last != self.published

    @property
    def label(self) -> str:
        ip = f"[{self.host_ip}]" if ":" in self.host_ip else self.host_ip
        port = str(self.published) + (f"-{self.published_last}" if self.is_pick_range else "")
        return f"{ip}:{port}" if ip else port


class Mount(NamedTuple):
    """One entry of a service's `volumes:`."""

    type: str  # bind, volume, tmpfs, npipe, image, cluster
    source: str | None  # host path (bind) or volume name (volume); None when anonymous
    target: str
    read_only: bool = False
    create_host_path: bool = False  # short syntax (or create_host_path: true)


class Dependency(NamedTuple):
    service: str
    condition: str = "service_started"
    required: bool = True


def services(model: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """The model's services that are mappings (anything else is the schema check's business)."""
    raw = (model or {}).get("services")
    if not isinstance(raw, dict):
        return {}
    return {str(name): svc for name, svc in raw.items() if isinstance(svc, dict)}


def names_of(value: Any) -> list[str]:
    """Keys of a `networks:`/`depends_on:`-style value written as a list or a mapping."""
    if isinstance(value, dict):
        return [str(k) for k in value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, (str, int))]
    return []


def profiles_of(service: Mapping[str, Any]) -> list[str]:
    raw = service.get("profiles")
    return [str(p) for p in raw] if isinstance(raw, list) else []


def active_profiles(env: Mapping[str, str]) -> set[str]:
    return {p.strip() for p in env.get("COMPOSE_PROFILES", "").split(",") if p.strip()}


def is_active(service: Mapping[str, Any], active: set[str]) -> bool:
    wanted = profiles_of(service)
    return not wanted or "*" in active or bool(active.intersection(wanted))


# -- ports -------------------------------------------------------------------------------


def ports(service: Mapping[str, Any]) -> Iterator[tuple[int, PortBinding]]:
    """(index in `ports:`, binding) for every published port; raises SyntaxProblem."""
    raw = service.get("ports")
    if not isinstance(raw, list):
        return
    for index, entry in enumerate(raw):
        for binding in parse_port(entry):
            yield index, binding


def parse_port(entry: Any) -> list[PortBinding]:
    """Bindings of one `ports:` entry; [] when it publishes nothing (container port only)."""
    if isinstance(entry, bool):
        raise SyntaxProblem(f"{entry!r} is not a port")
    if isinstance(entry, int):
        _check_port(entry)
        return []
    if isinstance(entry, dict):
        return _long_port(entry)
    if isinstance(entry, str):
        return _short_port(entry)
    raise SyntaxProblem(f"{entry!r} is not a port mapping")


def _long_port(entry: Mapping[str, Any]) -> list[PortBinding]:
    protocol = str(entry.get("protocol") or "tcp").lower()
    target = entry.get("target")
    if target is None:
        raise SyntaxProblem("a long-syntax port needs `target`")
    targets = _range(str(target))
    published = entry.get("published")
    if published in (None, ""):
        return []
    first, last = _range(str(published))
    host_ip = _host_ip(str(entry.get("host_ip") or ""))
    return _pair(host_ip, (first, last), targets, protocol)


def _short_port(text: str) -> list[PortBinding]:
    spec, _, protocol = text.strip().partition("/")
    protocol = (protocol or "tcp").lower()
    host_ip = ""
    if spec.startswith("["):
        close = spec.find("]")
        if close < 0 or spec[close + 1 : close + 2] != ":":
            raise SyntaxProblem(f"{text!r}: unclosed [IPv6] address")
        host_ip, spec = spec[1:close], spec[close + 2 :]
        parts = spec.split(":")
        if len(parts) != 2:
            raise SyntaxProblem(f"{text!r} is not [IP]:HOST:CONTAINER")
    else:
        parts = spec.split(":")
        if len(parts) > 3:
            if _is_ip(":".join(parts[:-2])):
                raise SyntaxProblem(
                    f"{text!r}: an IPv6 address in a port mapping needs brackets, e.g. [::1]:8080:80"
                )
            raise SyntaxProblem(f"{text!r} is not [IP:]HOST:CONTAINER")
        if len(parts) == 3:
            host_ip = parts.pop(0)
    targets = _range(parts[-1])
    if len(parts) == 1 or parts[0] == "":
        return []
    return _pair(_host_ip(host_ip), _range(parts[0]), targets, protocol)


def _pair(
    host_ip: str, published: tuple[int, int], targets: tuple[int, int], protocol: str
) -> list[PortBinding]:
    if protocol not in ("tcp", "udp", "sctp"):
        raise SyntaxProblem(f"unknown protocol {protocol!r} (use tcp, udp or sctp)")
    p_first, p_last = published
    t_first, t_last = targets
    if t_first == t_last:  # one container port: a host range means "any free one of these"
        return [PortBinding(host_ip, p_first, p_last, t_first, protocol)]
    if p_last - p_first != t_last - t_first:
        raise SyntaxProblem(
            f"host range {p_first}-{p_last} and container range {t_first}-{t_last} differ in size"
        )
    return [
        PortBinding(host_ip, p, p, t, protocol)
        for p, t in zip(range(p_first, p_last + 1), range(t_first, t_last + 1))
    ]


def _range(text: str) -> tuple[int, int]:
    match = _RANGE.fullmatch(text.strip())
    if not match:
        raise SyntaxProblem(f"{text!r} is not a port or port range")
    first = int(match.group(1))
    last = int(match.group(2)) if match.group(2) else first
    _check_port(first)
    _check_port(last)
    if last < first:
        raise SyntaxProblem(f"{text!r}: the range ends before it starts")
    return first, last


def _check_port(port: int) -> None:
    if not 0 < port <= 65535:
        raise SyntaxProblem(f"{port} is not a port number (1-65535)")


def _host_ip(text: str) -> str:
    text = text.strip().strip("[]")
    if text in _COMMON_IPS:
        return text
    if not _is_ip(text):
        raise SyntaxProblem(f"{text!r} is not an IP address")
    import ipaddress

    return str(ipaddress.ip_address(text))


def _is_ip(text: str) -> bool:
    import ipaddress  # rarely needed: the common addresses are known

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# -- volumes -----------------------------------------------------------------------------


def mounts(service: Mapping[str, Any]) -> Iterator[tuple[int, Mount]]:
    """(index in `volumes:`, mount) for every well-formed entry."""
    raw = service.get("volumes")
    if not isinstance(raw, list):
        return
    for index, entry in enumerate(raw):
        mount = parse_mount(entry)
        if mount is not None:
            yield index, mount


def parse_mount(entry: Any) -> Mount | None:
    if isinstance(entry, str):
        return parse_short_volume(entry)
    if not isinstance(entry, dict) or not isinstance(entry.get("target"), str):
        return None
    kind = str(entry.get("type") or "volume")
    source = entry.get("source")
    bind = entry.get("bind")
    bind = bind if isinstance(bind, dict) else {}
    return Mount(
        kind,
        str(source) if source not in (None, "") else None,
        entry["target"],
        read_only=entry.get("read_only") in (True, "true"),
        create_host_path=bind.get("create_host_path") in (True, "true"),
    )


def parse_short_volume(text: str) -> Mount | None:
    """`[SOURCE:]TARGET[:MODE]`; a SOURCE that looks like a path is a bind mount."""
    parts = _split_volume(text)
    if not 1 <= len(parts) <= 3 or not all(parts[:2]):
        return None
    if len(parts) == 1:
        return Mount("volume", None, parts[0])
    source, target = parts[0], parts[1]
    read_only = len(parts) == 3 and "ro" in parts[2].split(",")
    if is_path(source):
        return Mount("bind", source, target, read_only, create_host_path=True)
    return Mount("volume", source, target, read_only)


def _split_volume(text: str) -> list[str]:
    """Split on ':' but keep a Windows drive (`C:\\x`) in one piece."""
    parts: list[str] = []
    rest = text
    while True:
        cut = rest.find(":", 2 if _WINDOWS_PATH.match(rest) else 0)
        if cut < 0:
            parts.append(rest)
            return parts
        parts.append(rest[:cut])
        rest = rest[cut + 1 :]


def is_path(source: str) -> bool:
    """A bind-mount source (a path) rather than a named volume."""
    return source.startswith((".", "/", "~", "\\")) or bool(_WINDOWS_PATH.match(source))


def is_remote(context: str) -> bool:
    """A build context Docker fetches (git or URL), not a local directory."""
    return bool(_REMOTE.match(context)) or context.endswith(".git")


# -- dependencies and environment -------------------------------------------------------


def dependencies(service: Mapping[str, Any]) -> list[Dependency]:
    raw = service.get("depends_on")
    if isinstance(raw, list):
        return [Dependency(str(name)) for name in raw if isinstance(name, str)]
    if not isinstance(raw, dict):
        return []
    found = []
    for name, spec in raw.items():
        spec = spec if isinstance(spec, dict) else {}
        required = spec.get("required", True) not in (False, "false")
        found.append(Dependency(str(name), str(spec.get("condition") or "service_started"), required))
    return found


def link_targets(service: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(service, alias) for each `links:` entry."""
    raw = service.get("links")
    if not isinstance(raw, list):
        return []
    found = []
    for entry in raw:
        if isinstance(entry, str) and entry:
            name, _, alias = entry.partition(":")
            found.append((name, alias or name))
    return found


def volumes_from(service: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(kind, name) for each `volumes_from:` entry: kind "service" or "container"."""
    raw = service.get("volumes_from")
    if not isinstance(raw, list):
        return []
    found = []
    for entry in raw:
        if not isinstance(entry, str) or not entry:
            continue
        if entry.startswith("container:"):
            found.append(("container", entry[len("container:") :].split(":")[0]))
        else:
            found.append(("service", entry.removeprefix("service:").split(":")[0]))
    return found


def network_service(service: Mapping[str, Any]) -> str | None:
    mode = service.get("network_mode")
    if isinstance(mode, str) and mode.startswith("service:"):
        return mode[len("service:") :]
    return None


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


def host_path(text: str, base: Path, home: str | None = None) -> Path:
    """A path as Compose resolves it: `~` is the home directory, a relative path is under base."""
    if text.startswith("~"):
        text = (home or os.path.expanduser("~")) + text[1:]
    return Path(os.path.normpath(os.path.join(base, text)))


def environment(value: Any) -> dict[str, str | None]:
    """An `environment:` (list or mapping) as a mapping; a bare `KEY` maps to None."""
    found: dict[str, str | None] = {}
    if isinstance(value, dict):
        for key, raw in value.items():
            found[str(key)] = None if raw is None else scalar_text(raw)
    elif isinstance(value, list):
        for entry in value:
            if not isinstance(entry, str):
                continue
            key, sep, raw = entry.partition("=")
            found[key] = raw if sep else None
    return found


def scalar_text(value: Any) -> str:
    """A YAML scalar as Compose turns it into a string (Go's formatting)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isinf(value):
            return "+Inf" if value > 0 else "-Inf"
        if math.isnan(value):
            return "NaN"
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return str(value)
