"""What a container tells the router, and the routes that follow from it. Pure data, no I/O.

A Compose project answers at `<project>.<domain>` (its web entry point) and each of its HTTP
services at `<service>.<project>.<domain>`. The web entry point is, in order: `x-devstack.web` in
the project's compose file, a service labelled `dev.devstack.web=true`, else the service that
exposes the most likely web port (80, 8080, 3000, 8000 in that order; ties go to a service named
web, app, nginx or frontend, then to the first by name).

Containers of the proxy's own engine are reached over their project's network (the proxy joins
it); containers of other engines through the ports they publish there.
"""

from __future__ import annotations

import ipaddress
import re
import signal as signals
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from devstack.proxy import HTTP_PORT_LABEL, ROLE_LABEL, WEB_LABEL

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
ONEOFF_LABEL = "com.docker.compose.oneoff"
CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"

HTTP_PORTS = (80, 8080, 3000, 8000)
_PREFERRED_NAMES = ("web", "app", "nginx", "frontend")
_HOST_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*")
_UNREACHABLE_BINDS = ("127.0.0.1", "::1")
_ANY_BINDS = ("", "0.0.0.0", "::")
# A `kill` event with one of these signals means the container is being stopped (docker stop,
# compose stop/down): its route goes at once, before it dies and before Compose removes its
# network (which fails while the proxy is still attached to it).
_STOP_SIGNALS = {
    "15",
    "9",
    "2",
    "3",
    "SIGTERM",
    "SIGKILL",
    "SIGINT",
    "SIGQUIT",
    "TERM",
    "KILL",
    "INT",
    "QUIT",
}
NO_HTTP_SERVICE = (
    "no HTTP service: no service exposes port 80, 8080, 3000 or 8000 "
    "(declare the entry point with `x-devstack: {web: SERVICE}` in the compose file)"
)


@dataclass(frozen=True)
class EngineRef:
    """An engine the router follows."""

    name: str  # "local", or a name derived from the URL / given by an agent
    url: str
    local: bool  # the proxy's own engine: its containers are reached over project networks
    address: str | None = None  # where the ports published on this engine are reached


@dataclass(frozen=True)
class ContainerView:
    """What the router needs from `docker inspect` of one Compose container."""

    id: str
    name: str
    project: str
    service: str
    running: bool
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    networks: tuple[tuple[str, str], ...] = ()  # (network name, IPv4 address)
    exposed: tuple[int, ...] = ()  # container TCP ports (image EXPOSE, compose expose/ports)
    published: tuple[tuple[str, int, int], ...] = ()  # (host ip, host port, container port), TCP
    web_label: str | None = None
    port_label: str | None = None
    config_files: tuple[str, ...] = ()
    working_dir: str = ""
    stop_signal: str = ""
    proxy_role: str | None = None  # set on the proxy's own containers

    @classmethod
    def from_inspect(cls, data: Mapping[str, Any]) -> ContainerView | None:
        """The view of an inspected container; None unless it belongs to a Compose project."""
        config = data.get("Config") or {}
        labels = config.get("Labels") or {}
        project = labels.get(PROJECT_LABEL)
        role = labels.get(ROLE_LABEL)
        if not project and not role:
            return None
        if str(labels.get(ONEOFF_LABEL, "")).lower() == "true":
            return None  # `compose run`: a one-off command, not a service
        state = data.get("State") or {}
        settings = data.get("NetworkSettings") or {}
        networks = tuple(
            sorted(
                (str(name), str((net or {}).get("IPAddress") or ""))
                for name, net in (settings.get("Networks") or {}).items()
            )
        )
        exposed: set[int] = set()
        for spec in config.get("ExposedPorts") or {}:
            number, _, proto = str(spec).partition("/")
            if proto in ("", "tcp") and number.isdigit():
                exposed.add(int(number))
        published = []
        for spec, bindings in (settings.get("Ports") or {}).items():
            number, _, proto = str(spec).partition("/")
            if proto not in ("", "tcp") or not number.isdigit():
                continue
            exposed.add(int(number))
            for binding in bindings or []:
                host_port = str((binding or {}).get("HostPort") or "")
                if host_port.isdigit():
                    published.append((str(binding.get("HostIp") or ""), int(host_port), int(number)))
        files = str(labels.get(CONFIG_FILES_LABEL) or "")
        return cls(
            id=str(data.get("Id", "")),
            name=str(data.get("Name", "")).lstrip("/"),
            project=str(project or ""),
            service=str(labels.get(SERVICE_LABEL) or ""),
            running=bool(state.get("Running")) and not state.get("Paused") and not state.get("Restarting"),
            health=str((state.get("Health") or {}).get("Status") or ""),
            networks=networks,
            exposed=tuple(sorted(exposed)),
            published=tuple(sorted(published)),
            web_label=labels.get(WEB_LABEL),
            port_label=labels.get(HTTP_PORT_LABEL),
            config_files=tuple(f for f in files.split(",") if f),
            working_dir=str(labels.get(WORKING_DIR_LABEL) or ""),
            stop_signal=str(config.get("StopSignal") or ""),
            proxy_role=role,
        )

    @property
    def ready(self) -> bool:
        return self.running and self.health in ("", "healthy")


@dataclass(frozen=True)
class WebSpec:
    """`x-devstack.web`: the service a browser opens, and optionally its port."""

    service: str
    port: int | None = None


@dataclass(frozen=True)
class Backend:
    address: str
    port: int
    container: str
    network: str | None = None  # the network the proxy must join to reach it (own engine only)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "port": self.port,
            "container": self.container,
            "network": self.network,
        }


@dataclass(frozen=True)
class Route:
    host: str  # without the domain: "shop", or "api.shop"
    project: str
    service: str
    engine: str
    backends: tuple[Backend, ...]
    web: bool = False  # the project's entry point

    def fqdn(self, domain: str) -> str:
        return f"{self.host}.{domain}"

    def to_dict(self, domain: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "host": self.fqdn(domain) if domain else self.host,
            "project": self.project,
            "service": self.service,
            "engine": self.engine,
            "web": self.web,
            "backends": [b.to_dict() for b in self.backends],
        }
        return out


@dataclass(frozen=True)
class Unrouted:
    """A project (or one of its services) that has no route, and why."""

    project: str
    engine: str
    reason: str
    service: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "engine": self.engine,
            "service": self.service,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Table:
    routes: tuple[Route, ...] = ()
    unrouted: tuple[Unrouted, ...] = ()
    networks: frozenset[str] = field(default_factory=frozenset)  # the proxy joins these

    def projects(self) -> list[str]:
        return sorted({r.project for r in self.routes if r.web})


def is_stop_signal(signal_attr: str, stop_signal: str = "") -> bool:
    """Whether a `kill` event's signal stops the container (docker stop, compose down)."""
    sig = str(signal_attr).strip().upper()
    if sig in _STOP_SIGNALS or f"SIG{sig}" in _STOP_SIGNALS:
        return True
    if stop_signal:
        wanted = stop_signal.strip().upper()
        if sig == wanted or f"SIG{sig}" == wanted:
            return True
        try:
            return sig.isdigit() and int(sig) == int(
                getattr(signals, wanted if wanted.startswith("SIG") else f"SIG{wanted}")
            )
        except (AttributeError, ValueError):
            return False
    return False


def valid_host_label(text: str) -> bool:
    return bool(_HOST_LABEL.fullmatch(text))


def valid_address(text: str) -> bool:
    """An IP literal or a DNS host name (what may go into an nginx `server` line)."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return bool(_HOSTNAME.fullmatch(text)) and len(text) <= 253


def _service_port(service: str, containers: Sequence[ContainerView], spec: WebSpec | None) -> int | None:
    for c in containers:
        if c.port_label and c.port_label.strip().isdigit():
            return int(c.port_label.strip())
    if spec is not None and spec.service == service and spec.port:
        return spec.port
    ports: set[int] = set()
    for c in containers:
        ports.update(c.exposed)
    for port in HTTP_PORTS:
        if port in ports:
            return port
    if spec is not None and spec.service == service and ports:
        return min(ports)  # declared the web entry point: its (lowest) port is the web port
    return None


def _web_service(
    ports: Mapping[str, int], by_service: Mapping[str, Sequence[ContainerView]], spec: WebSpec | None
) -> str | None:
    if spec is not None and spec.service in by_service:
        return spec.service
    for name in sorted(by_service):
        if any(str(c.web_label or "").lower() in ("true", "1", "yes") for c in by_service[name]):
            return name
    if not ports:
        return None

    def rank(name: str) -> tuple[int, int, str]:
        port = ports[name]
        by_port = HTTP_PORTS.index(port) if port in HTTP_PORTS else len(HTTP_PORTS)
        by_name = _PREFERRED_NAMES.index(name) if name in _PREFERRED_NAMES else len(_PREFERRED_NAMES)
        return by_port, by_name, name

    return min(ports, key=rank)


def _network(container: ContainerView) -> tuple[str, str] | None:
    """The network (and address) the proxy reaches a container on: the project's default first."""
    usable = [(n, ip) for n, ip in container.networks if ip and n not in ("host", "none")]
    if not usable:
        return None
    default = f"{container.project}_default"
    for name, ip in usable:
        if name == default:
            return name, ip
    return usable[0]


def _backends(
    engine: EngineRef, containers: Sequence[ContainerView], port: int
) -> tuple[list[Backend], str | None]:
    """Backends for the ready containers of one service, or the reason there are none."""
    backends: list[Backend] = []
    reason = None
    for c in containers:
        if engine.local:
            found = _network(c)
            if found is None:
                reason = f"{c.service} has no network the proxy can join (network_mode: host or none?)"
                continue
            backends.append(Backend(found[1], port, c.name, found[0]))
            continue
        binds = [(ip, hport) for ip, hport, cport in c.published if cport == port]
        if not binds:
            reason = (
                f"{c.service} does not publish port {port} on engine {engine.name} "
                "(containers of other engines are reached through the ports they publish)"
            )
            continue
        chosen = None
        for ip, hport in binds:
            if ip in _ANY_BINDS and engine.address:
                chosen = (engine.address, hport)
                break
            if ip not in _ANY_BINDS and ip not in _UNREACHABLE_BINDS:
                chosen = (ip, hport)
                break
        if chosen is None:
            if all(ip in _UNREACHABLE_BINDS for ip, _ in binds):
                reason = (
                    f"{c.service} publishes port {port} only on {binds[0][0]} of engine {engine.name}: "
                    "publish it on 0.0.0.0 (or the host's address) for the proxy to reach it"
                )
            else:
                reason = f"engine {engine.name} has no address for its published ports (give one)"
            continue
        backends.append(Backend(chosen[0], chosen[1], c.name))
    return backends, (None if backends else reason)


def _not_ready_reason(service: str, containers: Sequence[ContainerView], stopping: Collection[str]) -> str:
    if any(c.id in stopping for c in containers):
        return f"{service} is stopping"
    running = [c for c in containers if c.running]
    if not running:
        return f"{service} is stopped"
    health = running[0].health
    if health == "unhealthy":
        return f"{service} is unhealthy"
    return f"{service} is starting (health: {health or 'starting'})"


def compute(
    engine: EngineRef,
    containers: Iterable[ContainerView],
    specs: Mapping[str, WebSpec | None] | None = None,
    stopping: Collection[str] = (),
) -> Table:
    """The routes of one engine's containers."""
    specs = specs or {}
    projects: dict[str, dict[str, list[ContainerView]]] = {}
    for c in containers:
        if c.proxy_role or not c.project or not c.service:
            continue
        projects.setdefault(c.project, {}).setdefault(c.service, []).append(c)
    routes: list[Route] = []
    unrouted: list[Unrouted] = []
    networks: set[str] = set()
    for project in sorted(projects):
        by_service = {s: sorted(cs, key=lambda c: c.name) for s, cs in projects[project].items()}
        if not valid_host_label(project):
            unrouted.append(
                Unrouted(project, engine.name, f"the project name {project!r} is not a host name")
            )
            continue
        spec = specs.get(project)
        ports = {s: p for s in by_service if (p := _service_port(s, by_service[s], spec)) is not None}
        web = _web_service(ports, by_service, spec)
        if web is not None and web not in ports:
            unrouted.append(
                Unrouted(
                    project,
                    engine.name,
                    f"the web service {web} exposes no port "
                    "(add `expose:`, or write `x-devstack: {web: {service: NAME, port: PORT}}`)",
                    web,
                )
            )
        if not ports:
            if web is None:
                unrouted.append(Unrouted(project, engine.name, NO_HTTP_SERVICE))
            continue
        for service in sorted(ports):
            port = ports[service]
            ready = [c for c in by_service[service] if c.ready and c.id not in stopping]
            if not ready:
                unrouted.append(
                    Unrouted(
                        project,
                        engine.name,
                        _not_ready_reason(service, by_service[service], stopping),
                        service,
                    )
                )
                continue
            backends, reason = _backends(engine, ready, port)
            if not backends:
                unrouted.append(
                    Unrouted(project, engine.name, reason or f"{service} cannot be reached", service)
                )
                continue
            networks.update(b.network for b in backends if b.network)
            if service == web:
                routes.append(Route(project, project, service, engine.name, tuple(backends), web=True))
            label = service.lower()
            if valid_host_label(label):
                routes.append(Route(f"{label}.{project}", project, service, engine.name, tuple(backends)))
            else:
                unrouted.append(
                    Unrouted(
                        project, engine.name, f"the service name {service!r} is not a host name", service
                    )
                )
    return Table(tuple(routes), tuple(unrouted), frozenset(networks))


def merge(tables: Iterable[Table]) -> Table:
    """One table from several engines' (in priority order): the first to claim a host keeps it."""
    routes: list[Route] = []
    unrouted: list[Unrouted] = []
    networks: set[str] = set()
    owner: dict[str, Route] = {}
    for table in tables:
        for route in table.routes:
            first = owner.get(route.host)
            if first is None:
                owner[route.host] = route
                routes.append(route)
                networks.update(b.network for b in route.backends if b.network)
            elif first.engine != route.engine:
                unrouted.append(
                    Unrouted(
                        route.project,
                        route.engine,
                        f"{route.host} is already served by engine {first.engine}",
                        route.service,
                    )
                )
        unrouted.extend(table.unrouted)
    return Table(tuple(routes), tuple(unrouted), frozenset(networks))
