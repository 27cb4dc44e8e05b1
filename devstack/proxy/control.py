"""`devstack proxy start|stop|status|routes`: the proxy's images, containers, volume and network.

Two containers, both with the restart policy `unless-stopped`, so the proxy keeps running after
the terminal closes and comes back with the engine:

- `NAME` (nginx) publishes the proxy's port (and the agents' API when asked); it mounts the
  configuration volume read-only and holds no Docker socket;
- `NAME-watcher` holds the Docker socket, publishes no port, writes the configuration and
  reloads nginx through the engine's API.

Both images are built here, from Dockerfiles shipped in this package, `FROM debian:trixie-slim`;
the watcher's image carries devstack's own code, copied from the installed package.
"""

from __future__ import annotations

import errno
import hashlib
import ipaddress
import json
import shutil
import socket
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from devstack.errors import DevstackError, EngineRequestFailed, EngineUnavailable, ProxyError, UsageError
from devstack.proxy import (
    CONF_DIR,
    CONFIG_LABEL,
    DEFAULT_NAME,
    DOMAIN_LABEL,
    IMAGE_HASH_LABEL,
    INSTANCE_LABEL,
    LISTEN_LABEL,
    NGINX_API_PORT,
    PORT_LABEL,
    ROLE_LABEL,
)
from devstack.proxy.routes import valid_address
from devstack.proxy.watcher import EngineSpec, Settings

FILES = Path(__file__).resolve().parent / "files"
START_TIMEOUT = 30.0
Progress = Callable[[str], None]


def _quiet(_line: str) -> None:
    return None


# -- options -----------------------------------------------------------------------------------


def parse_engine(text: str) -> EngineSpec:
    """`--engine URL[?address=HOST&name=NAME]`: unix:///path.sock, tcp://host:port, ssh://user@host."""
    url, _, query = text.strip().partition("?")
    parsed = urllib.parse.urlsplit(url)
    params = urllib.parse.parse_qs(query, keep_blank_values=True)
    unknown = sorted(set(params) - {"address", "name"})
    if unknown:
        raise UsageError(
            f"--engine {text!r}: unknown option {unknown[0]!r}", hint="options are ?address=HOST&name=NAME"
        )
    address: str | None = (params.get("address") or [""])[0] or None
    name: str | None = (params.get("name") or [""])[0] or None
    if parsed.scheme == "unix":
        if not parsed.path.startswith("/"):
            raise UsageError(f"--engine {text!r}: write unix:///absolute/path.sock")
        default_name = parsed.path
    elif parsed.scheme in ("tcp", "http", "https", "ssh"):
        if not parsed.hostname:
            raise UsageError(f"--engine {text!r}: no host", hint="e.g. tcp://192.168.1.20:2375")
        try:
            parsed.port  # noqa: B018 (raises on a port that is not a number)
        except ValueError:
            raise UsageError(f"--engine {text!r}: the port is not a number") from None
        address = address or parsed.hostname
        default_name = parsed.netloc.rpartition("@")[2]
    else:
        raise UsageError(
            f"--engine {text!r} is not an engine address",
            hint="write unix:///path/to/docker.sock or tcp://HOST:PORT (or ssh://USER@HOST)",
        )
    if address is not None and not valid_address(address):
        raise UsageError(f"--engine {text!r}: address {address!r} is not an IP address or host name")
    final = name or default_name
    if final == "local":
        raise UsageError("--engine: the name 'local' is the proxy's own engine; choose another (?name=...)")
    return EngineSpec(url, final, address)


def _check_listen(listen: str) -> None:
    try:
        ipaddress.ip_address(listen)
    except ValueError:
        raise UsageError(
            f"--listen {listen!r} is not an IP address", hint="e.g. 127.0.0.1 or 0.0.0.0"
        ) from None


def parse_api(text: str | None) -> tuple[str, int] | None:
    """`--api [ADDRESS:]PORT` (ADDRESS defaults to 127.0.0.1)."""
    if not text:
        return None
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "127.0.0.1", text
    host = host.strip("[]") or "127.0.0.1"
    _check_listen(host)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--api {text!r}: write [ADDRESS:]PORT, e.g. 127.0.0.1:8081")
    return host, int(port)


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class StartOptions:
    port: int = 80
    listen: str = "127.0.0.1"
    domain: str = "localhost"
    engines: tuple[str, ...] = ()
    api: str | None = None
    token: str | None = field(default=None, repr=False)
    grace: float = 30.0
    projects: str = "*"
    name: str = DEFAULT_NAME


def settings_for(options: StartOptions, socket_path: str) -> Settings:
    """Validated settings for the watcher; UsageError names the option that is wrong."""
    from devstack.proxy.routes import valid_host_label

    if not 0 < options.port < 65536:
        raise UsageError(f"--port {options.port} is not a port number (1-65535)")
    _check_listen(options.listen)
    labels = options.domain.split(".")
    if not options.domain or not all(valid_host_label(label) for label in labels):
        raise UsageError(
            f"--domain {options.domain!r} is not a domain name", hint="e.g. localhost or dev.test"
        )
    if not valid_host_label(options.name):
        raise UsageError(f"--name {options.name!r}: use lowercase letters, digits, '-' and '_'")
    if options.grace < 0:
        raise UsageError("--grace must be zero or more seconds")
    api = parse_api(options.api)
    if api is not None and not _is_loopback(api[0]) and not options.token:
        raise UsageError(
            f"refusing to publish the agents' API on {api[0]} without a token",
            hint="pass --token TOKEN (or set DEVSTACK_PROXY_TOKEN); agents send the same token",
        )
    if api is not None and api[1] == options.port and api[0] == options.listen:
        raise UsageError("--api needs a port of its own (not the proxy's --port)")
    engines = tuple(parse_engine(text) for text in options.engines)
    names = [e.name for e in engines]
    if len(set(names)) != len(names):
        raise UsageError("two --engine options have the same name", hint="tell them apart with ?name=NAME")
    return Settings(
        name=options.name,
        domain=options.domain,
        port=options.port,
        listen=options.listen,
        api=f"{api[0]}:{api[1]}" if api else None,
        grace=options.grace,
        projects=options.projects or "*",
        engines=engines,
        local_url="unix:///var/run/docker.sock",
        token=options.token,
    )


# -- images --------------------------------------------------------------------------------------


def _package_root() -> Path:
    import devstack

    return Path(devstack.__file__).resolve().parent


def _copy_package(target: Path) -> None:
    """devstack's code for the watcher's image: the installed package without templates or caches."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "templates", "schemas")
    shutil.copytree(_package_root(), target / "devstack", ignore=ignore)


def _context_hash(context: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(context)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def _build_context(kind: str, target: Path) -> None:
    target.mkdir(parents=True)
    shutil.copy(FILES / f"{kind}.Dockerfile", target / "Dockerfile")
    if kind == "nginx":
        shutil.copy(FILES / "nginx-entrypoint.sh", target / "nginx-entrypoint.sh")
    else:
        _copy_package(target)


def ensure_images(engine: Any, progress: Progress = _quiet) -> dict[str, str]:
    """Tags of the nginx and watcher images, built now unless an image of the same content exists."""
    tags = {}
    with tempfile.TemporaryDirectory(prefix="devstack-proxy-") as tmp:
        for kind in ("nginx", "watcher"):
            context = Path(tmp) / kind
            _build_context(kind, context)
            digest = _context_hash(context)
            tag = f"devstack-proxy-{kind}:{digest}"
            if engine.image_labels(tag) is None:
                if engine.image_labels("debian:trixie-slim") is None:
                    raise ProxyError(
                        f"cannot build the proxy's {kind} image: there is no debian:trixie-slim here",
                        hint="`docker pull debian:trixie-slim` (or build it locally), then retry",
                    )
                progress(f"building {tag} (once; Debian packages are downloaded)")
                started = time.monotonic()
                engine.build_image(str(context), tag, {IMAGE_HASH_LABEL: digest})
                progress(f"built {tag} in {time.monotonic() - started:.0f} s")
            tags[kind] = tag
    return tags


# -- state of the running proxy ------------------------------------------------------------------


@dataclass
class Part:
    """One of the proxy's two containers, as `proxy status` shows it."""

    role: str
    name: str
    image: str
    state: str
    restart_policy: str
    published: list[str]
    networks: list[str]
    docker_socket: str | None
    restarts: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ProxyStatus:
    name: str
    engine: str
    nginx: Part | None
    watcher: Part | None
    state: dict[str, Any] | None  # what the watcher last wrote (state.json)
    settings: dict[str, Any]

    @property
    def running(self) -> bool:
        return bool(
            self.nginx and self.nginx.state == "running" and self.watcher and self.watcher.state == "running"
        )

    @property
    def url(self) -> str | None:
        if not self.settings:
            return None
        port = int(self.settings.get("port") or 80)
        return f"http://{self.settings.get('domain', 'localhost')}{'' if port == 80 else f':{port}'}/"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "engine": self.engine,
            "running": self.running,
            "url": self.url,
            "nginx": self.nginx.to_dict() if self.nginx else None,
            "watcher": self.watcher.to_dict() if self.watcher else None,
            "settings": self.settings,
            "state": self.state,
        }


def _part(data: dict[str, Any]) -> Part:
    config = data.get("Config") or {}
    host = data.get("HostConfig") or {}
    labels = config.get("Labels") or {}
    published = []
    for spec, binds in ((data.get("NetworkSettings") or {}).get("Ports") or {}).items():
        for bind in binds or []:
            published.append(
                f"{bind.get('HostIp') or '0.0.0.0'}:{bind.get('HostPort')}->{spec.split('/')[0]}"
            )
    sock = None
    for mount in data.get("Mounts") or []:
        if str(mount.get("Destination", "")).endswith("docker.sock"):
            sock = str(mount.get("Source"))
    return Part(
        role=str(labels.get(ROLE_LABEL, "?")),
        name=str(data.get("Name", "")).lstrip("/"),
        image=str(config.get("Image", "")),
        state=str((data.get("State") or {}).get("Status", "")),
        restart_policy=str((host.get("RestartPolicy") or {}).get("Name") or "no"),
        published=sorted(published),
        networks=sorted(((data.get("NetworkSettings") or {}).get("Networks") or {}).keys()),
        docker_socket=sock,
        restarts=int(data.get("RestartCount") or 0),
    )


def _instance_containers(engine: Any, name: str) -> dict[str, dict[str, Any]]:
    found = {}
    for summary in engine.containers(filters={"label": [f"{INSTANCE_LABEL}={name}"]}, all=True):
        data = engine.inspect_container(str(summary["Id"]))
        if data:
            role = (data.get("Config") or {}).get("Labels", {}).get(ROLE_LABEL)
            found[str(role)] = data
    return found


def _read_state(engine: Any, watcher: str) -> dict[str, Any] | None:
    try:
        code, output = engine.exec(watcher, ["cat", f"{CONF_DIR}/state.json"])
    except DevstackError:
        return None
    if code != 0:
        return None
    try:
        data = json.loads(output)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def status(name: str = DEFAULT_NAME, engine: Any = None) -> ProxyStatus:
    from devstack import engine as engines

    engine = engine or engines.Engine()
    parts = _instance_containers(engine, name)
    nginx = _part(parts["nginx"]) if "nginx" in parts else None
    watcher = _part(parts["watcher"]) if "watcher" in parts else None
    state = _read_state(engine, watcher.name) if watcher and watcher.state == "running" else None
    settings: dict[str, Any] = {}
    if "watcher" in parts:
        for item in (parts["watcher"].get("Config") or {}).get("Env") or []:
            key, _, value = str(item).partition("=")
            if key == "DEVSTACK_PROXY_SETTINGS":
                try:
                    settings = json.loads(value)
                except ValueError:
                    settings = {}
    return ProxyStatus(name, engine.url, nginx, watcher, state, settings)


# -- start / stop --------------------------------------------------------------------------------


def _socket_path() -> str:
    """The engine's socket on the engine's own host (what the watcher mounts)."""
    from devstack.engine import docker_host

    host = docker_host()
    return host[len("unix://") :] if host.startswith("unix://") else "/var/run/docker.sock"


def _engine_is_here() -> bool:
    from devstack.engine import docker_host

    return docker_host().startswith("unix://")


def port_owner(port: int, listen: str) -> str | None:
    """Who holds the port on this host (a container, a process), or None when it is free."""
    from devstack import engine as engines
    from devstack.checks.ports import processes_holding

    family = socket.AF_INET6 if ":" in listen else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((listen, port))
            return None
        except OSError as exc:
            if exc.errno == errno.EACCES:
                return None  # not ours to bind below 1024; the engine may well be allowed to
            if exc.errno != errno.EADDRINUSE:
                return None
    try:
        holders = engines.containers_publishing(port)
    except EngineUnavailable:
        holders = []
    if holders:
        return ", ".join(
            f"container {h.container}" + (f" (project {h.project}, service {h.service})" if h.project else "")
            for h in holders
        )
    processes = list(processes_holding(port))
    if processes:
        return ", ".join(f"{comm} (pid {pid})" for pid, comm in processes[:3])
    return "another process (not visible from here)"


def _port_error(port: int, listen: str, owner: str | None, detail: str = "") -> ProxyError:
    other = 8080 if port != 8080 else 8081
    if owner is not None:
        return ProxyError(
            f"port {port} on {listen} is in use by {owner}",
            hint=f"stop it, or run the proxy on another port: `devstack proxy start --port {other}`",
        )
    return ProxyError(
        f"the engine may not publish port {port} on {listen}" + (f": {detail}" if detail else ""),
        hint=(
            f"run the proxy on a port above 1023: `devstack proxy start --port {other}`"
            + (
                " (rootless Docker: or allow low ports with `sysctl net.ipv4.ip_unprivileged_port_start=80`)"
                if port < 1024
                else ""
            )
        ),
    )


def _settings_hash(settings: Settings, images: dict[str, str], socket_path: str) -> str:
    blob = json.dumps([settings.to_dict(), settings.token or "", images, socket_path], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass
class StartResult:
    status: ProxyStatus
    already_running: bool
    warnings: list[str]


def _wait(
    what: str, check: Callable[[], bool], timeout: float, on_timeout: Callable[[], DevstackError]
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise on_timeout()
        time.sleep(0.1)


def _answers(listen: str, port: int) -> bool:
    host = "127.0.0.1" if listen in ("0.0.0.0", "::") else listen
    try:
        with socket.create_connection((host, port), timeout=1) as conn:
            conn.sendall(b"GET /_devstack/routes.json HTTP/1.0\r\nHost: localhost\r\n\r\n")
            return conn.recv(12).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def start(options: StartOptions, progress: Progress = _quiet, engine: Any = None) -> StartResult:
    """Start the proxy (or leave it running when its settings did not change)."""
    from devstack import engine as engines

    socket_path = _socket_path()
    settings = settings_for(options, socket_path)
    engine = engine or engines.Engine()
    engine.ping()
    warnings = []
    for spec in settings.engines:
        probe = engines.Engine(spec.url, timeout=3)
        try:
            probe.ping()
        except DevstackError as exc:
            warnings.append(f"{exc.message}; the watcher keeps retrying it with backoff")
        finally:
            probe.close()
        if spec.address is None:
            warnings.append(
                f"engine {spec.name} has no ?address=: only containers that publish on a specific "
                "address are routed; add ?address=HOST (where its published ports are reached)"
            )
    images = ensure_images(engine, progress)
    settings = replace(settings, meta_image=images["watcher"])
    digest = _settings_hash(settings, images, socket_path)
    parts = _instance_containers(engine, settings.name)
    current = {
        role: (data.get("Config") or {}).get("Labels", {}).get(CONFIG_LABEL) for role, data in parts.items()
    }
    running = all(
        (parts.get(role) or {}).get("State", {}).get("Running") and current.get(role) == digest
        for role in ("nginx", "watcher")
    )
    if running:
        return StartResult(status(settings.name, engine), True, warnings)
    if parts:
        progress("replacing the running proxy (its settings changed)")
        _remove(engine, settings)
    if _engine_is_here():
        owner = port_owner(settings.port, settings.listen)
        if owner is not None:
            raise _port_error(settings.port, settings.listen, owner)
        api = parse_api(settings.api)
        if api is not None:
            owner = port_owner(api[1], api[0])
            if owner is not None:
                raise ProxyError(
                    f"port {api[1]} on {api[0]} (for --api) is in use by {owner}",
                    hint="choose another: --api ADDRESS:PORT",
                )
    common = {INSTANCE_LABEL: settings.name, CONFIG_LABEL: digest}
    engine.ensure_network(settings.network, {INSTANCE_LABEL: settings.name})
    volume = f"{settings.name}-conf"
    engine.ensure_volume(volume, {INSTANCE_LABEL: settings.name})
    binds = [f"{socket_path}:/var/run/docker.sock", f"{volume}:{CONF_DIR}"]
    binds += [
        f"{e.url[len('unix://') :]}:{e.url[len('unix://') :]}"
        for e in settings.engines
        if e.url.startswith("unix://")
    ]
    environment = {"DEVSTACK_PROXY_SETTINGS": json.dumps(settings.to_dict())}
    if settings.token:
        environment["DEVSTACK_PROXY_TOKEN"] = settings.token
    progress(f"starting {settings.watcher_container} (follows the engine's events; no published port)")
    engine.run_container(
        settings.watcher_container,
        images["watcher"],
        environment=environment,
        labels={**common, ROLE_LABEL: "watcher"},
        binds=binds,
        network=settings.network,
    )

    def watcher_failed() -> DevstackError:
        log = engine.logs_tail(settings.watcher_container, 15)
        return ProxyError(
            "the proxy's watcher did not write its first configuration",
            hint="`docker logs " + settings.watcher_container + "` says why",
            details=log.rstrip() or None,
        )

    def configured() -> bool:
        data = engine.inspect_container(settings.watcher_container)
        if not data or not (data.get("State") or {}).get("Running"):
            raise watcher_failed()
        code, _ = engine.exec(settings.watcher_container, ["test", "-e", f"{CONF_DIR}/live/nginx.conf"])
        return code == 0

    _wait("watcher", configured, START_TIMEOUT, watcher_failed)
    ports = {80: (settings.listen, settings.port)}
    api = parse_api(settings.api)
    if api is not None:
        ports[NGINX_API_PORT] = api
    progress(
        f"starting {settings.nginx_container} (nginx on {settings.listen}:{settings.port}; no Docker socket)"
    )
    try:
        engine.run_container(
            settings.nginx_container,
            images["nginx"],
            labels={
                **common,
                ROLE_LABEL: "nginx",
                PORT_LABEL: str(settings.port),
                LISTEN_LABEL: settings.listen,
                DOMAIN_LABEL: settings.domain,
            },
            binds=[f"{volume}:{CONF_DIR}:ro"],
            ports=ports,
            network=settings.network,
        )
    except EngineRequestFailed as exc:
        _remove(engine, settings)
        text = exc.message
        if any(
            s in text
            for s in ("already allocated", "address already in use", "privileged port", "permission denied")
        ):
            owner = port_owner(settings.port, settings.listen) if _engine_is_here() else None
            raise _port_error(settings.port, settings.listen, owner, text.split(": ", 1)[-1][:200]) from None
        raise

    def nginx_up() -> bool:
        data = engine.inspect_container(settings.nginx_container) or {}
        state = data.get("State") or {}
        if not state.get("Running") and state.get("Status") in ("exited", "dead"):
            raise ProxyError(
                "the proxy's nginx exited at start",
                hint=f"`docker logs {settings.nginx_container}` says why",
                details=engine.logs_tail(settings.nginx_container, 15).rstrip() or None,
            )
        if not state.get("Running"):
            return False
        return _answers(settings.listen, settings.port) if _engine_is_here() else True

    _wait(
        "nginx",
        nginx_up,
        START_TIMEOUT,
        lambda: ProxyError(
            f"the proxy does not answer on {settings.listen}:{settings.port}",
            hint=f"`docker logs {settings.nginx_container}` says why",
        ),
    )

    def routed() -> bool:
        state = _read_state(engine, settings.watcher_container) or {}
        local = [e for e in state.get("engines") or [] if e.get("kind") == "local"]
        served = state.get("served_generation")
        return bool(
            local and local[0].get("state") == "connected" and served and served == state.get("generation")
        )

    try:  # return once nginx serves the routes of what runs now
        _wait("routes", routed, START_TIMEOUT, lambda: ProxyError("no routes yet"))
    except ProxyError:
        warnings.append(
            f"the watcher has not confirmed its routes yet (`docker logs {settings.watcher_container}`)"
        )
    _prune_images(engine, images)
    return StartResult(status(settings.name, engine), False, warnings)


def _prune_images(engine: Any, current: dict[str, str]) -> None:
    """Images of earlier devstack versions go; one still used by another proxy stays."""
    for kind, tag in current.items():
        for old in engine.image_tags(f"devstack-proxy-{kind}"):
            if old != tag:
                engine.remove_image(old)


def _remove(engine: Any, settings: Settings) -> bool:
    found = engine.remove_container(settings.watcher_container, timeout=5)
    found = engine.remove_container(settings.nginx_container, timeout=5) or found
    return found


def stop(name: str = DEFAULT_NAME, engine: Any = None) -> bool:
    """Remove the proxy's containers, network and configuration volume; False when none ran."""
    from devstack import engine as engines

    engine = engine or engines.Engine()
    settings = Settings(name=name)
    found = _remove(engine, settings)
    for summary in engine.containers(filters={"label": [f"{INSTANCE_LABEL}={name}"]}, all=True):
        engine.remove_container(str(summary["Id"]), timeout=5)  # left over by an older version
        found = True
    engine.remove_network(settings.network)
    engine.remove_volume(f"{name}-conf")
    return found
