"""The only module that imports the `docker` SDK (inside the functions that need it)."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from devstack.errors import DevstackError, EngineUnavailable

if TYPE_CHECKING:
    import docker

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"  # the checkout that created it


class PortHolder(NamedTuple):
    """A container that publishes a host port."""

    container: str
    project: str | None
    service: str | None


_client: Any = None
# The engine names a volume that has no name of its own with 64 hex digits.
_ANONYMOUS = re.compile(r"[0-9a-f]{64}")
_SERVER_HEADER = re.compile(rb"^Server: *Docker/([0-9][^\s(]*)", re.IGNORECASE | re.MULTILINE)
DEFAULT_HOST = "unix:///var/run/docker.sock"


def docker_host(environ: Mapping[str, str] | None = None) -> str:
    """The engine the docker CLI would talk to: DOCKER_HOST, else the current context, else the socket."""
    env = os.environ if environ is None else environ
    if env.get("DOCKER_HOST"):
        return env["DOCKER_HOST"]
    config_dir = Path(env.get("DOCKER_CONFIG") or Path(env.get("HOME", "~")).expanduser() / ".docker")
    name = env.get("DOCKER_CONTEXT")
    if not name:
        try:
            name = json.loads((config_dir / "config.json").read_text("utf-8")).get("currentContext")
        except (OSError, ValueError, AttributeError):
            name = None
    if name and name != "default":
        import hashlib

        meta = config_dir / "contexts" / "meta" / hashlib.sha256(name.encode()).hexdigest() / "meta.json"
        try:
            host = json.loads(meta.read_text("utf-8"))["Endpoints"]["docker"]["Host"]
            if host:
                return str(host)
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return DEFAULT_HOST


class _NotLocal(Exception):
    """The engine is not on a local unix socket: use the SDK."""


def _local_get(path: str, timeout: float = 5.0, method: str = "GET") -> tuple[int, bytes]:
    """Ask an Engine API path over a local unix socket, without the SDK (no import of it).

    For the hot paths of `up` and `check` and small calls; everything else goes through the SDK.
    """
    status, _, body = _local_request(path, timeout, method)
    return status, body


def _local_request(path: str, timeout: float = 5.0, method: str = "GET") -> tuple[int, bytes, bytes]:
    """_local_get with the response's header lines too: (status, headers, body)."""
    host = docker_host()
    if not host.startswith("unix://"):
        raise _NotLocal(host)
    sock_path = host[len("unix://") :]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(sock_path)
        sock.sendall(f"{method} {path} HTTP/1.0\r\nHost: docker\r\n\r\n".encode())
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    raw = b"".join(chunks)
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].split()
    status = int(status_line[1]) if len(status_line) > 1 and status_line[1].isdigit() else 0
    return status, head, body


def quick_ping(timeout: float = 3.0) -> None:
    """Ask a local (unix socket) engine for /_ping without importing the SDK.

    Remote engines (tcp://, ssh://) are pinged through the SDK instead.
    """
    host = docker_host()
    if not host.startswith("unix://"):
        ping()
        return
    path = host[len("unix://") :]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            answer = sock.recv(64)
    except FileNotFoundError:
        raise EngineUnavailable(
            f"the Docker engine is not running (no socket at {path})", hint=_hint(Exception())
        ) from None
    except PermissionError:
        raise EngineUnavailable(
            f"permission denied on the Docker socket {path}",
            hint=_hint(Exception("Permission denied")),
        ) from None
    except OSError as exc:
        raise EngineUnavailable(
            f"the Docker engine does not answer on {path}: {exc.strerror or exc}",
            hint=_hint(Exception()),
        ) from None
    if not answer.startswith(b"HTTP/") or b" 200 " not in answer.split(b"\r\n", 1)[0] + b" ":
        raise EngineUnavailable(f"the Docker engine on {path} answered {answer[:40]!r}")


def socket_owned_by_current_user(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the engine's local socket belongs to this (non-root) user: a stat, no request.

    True for rootless Docker and Podman and for Docker Desktop, whose daemons run as the user;
    also for a rootful socket someone chowned, which `container_root_is_host_user` tells apart.
    """
    if not hasattr(os, "getuid") or os.getuid() == 0:
        return False
    host = docker_host(environ)
    if not host.startswith("unix://"):
        return False
    try:
        return os.stat(host[len("unix://") :]).st_uid == os.getuid()
    except OSError:
        return False


def container_root_is_host_user() -> bool:
    """Whether root in a container is the invoking user on the host (asks the engine's /info).

    Rootless engines say `name=rootless` in SecurityOptions; Docker Desktop maps container root
    to the user who runs it. False when the engine cannot be asked.
    """
    try:
        status, body = _local_get("/info")
        data = json.loads(body) if status == 200 else {}
    except _NotLocal:
        try:
            data = info()
        except EngineUnavailable:
            return False
    except (OSError, ValueError):
        return False
    if not isinstance(data, dict):
        return False
    options = data.get("SecurityOptions") or []
    if any("name=rootless" in str(option).split(",") for option in options):
        return True
    return "docker desktop" in str(data.get("OperatingSystem") or "").lower()


def client() -> docker.DockerClient:
    """A connected client; raises EngineUnavailable with the reason when there is none."""
    global _client
    if _client is not None:
        return _client
    import docker
    from docker.errors import DockerException

    try:
        host = docker_host()
        if host == DEFAULT_HOST or os.environ.get("DOCKER_HOST"):
            _client = docker.from_env(timeout=30)
        else:
            _client = docker.DockerClient(base_url=host, timeout=30)
    except DockerException as exc:
        raise EngineUnavailable(
            f"the Docker engine is not reachable: {_reason(exc)}", hint=_hint(exc)
        ) from exc
    return _client


def _sdk_errors() -> tuple[type[BaseException], ...]:
    """What the SDK raises when the engine fails: its own errors and requests' connection errors."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    return (DockerException, RequestException)


def _reason(exc: BaseException) -> str:
    text = str(exc)
    if "Permission denied" in text:
        return "permission denied on the Docker socket"
    if "No such file or directory" in text or "Connection refused" in text:
        return "the daemon is not running"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _hint(exc: BaseException) -> str:
    text = str(exc)
    if "Permission denied" in text:
        return "add your user to the docker group (then log in again), or use rootless Docker"
    if os.environ.get("DOCKER_HOST"):
        return f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer: fix or unset it"
    return "start Docker (Docker Desktop, or `sudo systemctl start docker`), then retry"


def containers_publishing(port: int, protocol: str = "tcp") -> list[PortHolder]:
    """Running containers that publish `port` on the host (any project)."""
    from urllib.parse import quote

    query = quote(json.dumps({"publish": [f"{port}/{protocol}"]}))
    try:
        status, body = _local_get(f"/containers/json?filters={query}")
        if status == 200:
            return [
                PortHolder(
                    str((c.get("Names") or ["?"])[0]).lstrip("/"),
                    (c.get("Labels") or {}).get(PROJECT_LABEL),
                    (c.get("Labels") or {}).get(SERVICE_LABEL),
                )
                for c in json.loads(body)
            ]
    except (_NotLocal, OSError, ValueError):
        pass  # not local, or the socket failed: the SDK says why
    try:
        found = client().containers.list(filters={"publish": f"{port}/{protocol}"})
    except _sdk_errors() as exc:
        raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc
    holders = []
    for container in found:
        labels = container.labels or {}
        holders.append(PortHolder(container.name, labels.get(PROJECT_LABEL), labels.get(SERVICE_LABEL)))
    return holders


class HealthProbe(NamedTuple):
    """One run of a container's healthcheck, as the engine keeps it (State.Health.Log: the last 5)."""

    exit_code: int
    output: str
    end: str  # RFC 3339


class ContainerInfo(NamedTuple):
    """What devstack needs to know about one container of a project."""

    id: str
    name: str
    service: str
    state: str  # running, exited, restarting, created, paused, dead
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    exit_code: int
    started_at: str
    restart_count: int
    env: dict[str, str]
    ports: tuple[tuple[str, int, int, str], ...]  # (host ip, host port, container port, proto)
    exposed: tuple[int, ...]  # container TCP ports the image or compose declare
    oom_killed: bool = False
    healthcheck: tuple[str, ...] = ()  # the test command (["CMD-SHELL", "..."]), empty without one
    health_log: tuple[HealthProbe, ...] = ()  # the last runs of the healthcheck, oldest first
    restart_policy: str = ""  # "", no, always, unless-stopped, on-failure
    working_dir: str = ""  # the project directory of the checkout that created it (Compose label)
    anonymous_volumes: tuple[str, ...] = ()  # volumes mounted without a name (an image's VOLUME)


def ping() -> None:
    """Raise EngineUnavailable unless the daemon answers."""
    try:
        client().ping()
    except _sdk_errors() as exc:
        raise EngineUnavailable(
            f"the Docker engine is not reachable: {_reason(exc)}", hint=_hint(exc)
        ) from exc


def project_containers(project: str) -> list[ContainerInfo]:
    """All containers of a Compose project, found by label (names differ in v1 and v2)."""
    try:
        return _project_containers_local(project)
    except _NotLocal:
        pass
    except (OSError, ValueError) as exc:
        raise EngineUnavailable(
            f"the Docker engine is not reachable: {_reason(exc)}", hint=_hint(exc)
        ) from exc
    return _project_containers_sdk(project)


def service_states(project: str, service: str) -> list[str]:
    """States (running, exited, ...) of one Compose service's containers: one request, no inspect."""
    from urllib.parse import quote

    labels = [f"{PROJECT_LABEL}={project}", f"{SERVICE_LABEL}={service}"]
    try:
        status, body = _local_get(f"/containers/json?all=1&filters={quote(json.dumps({'label': labels}))}")
    except _NotLocal:
        try:
            found = client().api.containers(all=True, filters={"label": labels})
        except _sdk_errors() as exc:
            raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc
        return [str(c.get("State", "")) for c in found]
    except OSError:
        quick_ping()  # says precisely why (no socket, permission, not answering)
        raise EngineUnavailable("the Docker engine is not reachable", hint=_hint(Exception())) from None
    if status != 200:
        raise EngineUnavailable(f"the Docker engine answered HTTP {status} to a container listing")
    try:
        return [str(c.get("State", "")) for c in json.loads(body)]
    except (ValueError, AttributeError) as exc:
        raise EngineUnavailable(f"the Docker engine answered a container listing with {exc}") from None


def _project_containers_local(project: str) -> list[ContainerInfo]:
    from urllib.parse import quote

    query = quote(json.dumps({"label": [f"{PROJECT_LABEL}={project}"]}))
    status, body = _local_get(f"/containers/json?all=1&filters={query}")
    if status != 200:
        raise EngineUnavailable(f"the Docker engine answered HTTP {status} to a container listing")
    infos = []
    for summary in json.loads(body):
        status, body = _local_get(f"/containers/{summary['Id']}/json")
        if status == 404:
            continue  # removed while we looked
        if status != 200:
            raise EngineUnavailable(f"the Docker engine answered HTTP {status} to an inspect")
        infos.append(_info(json.loads(body)))
    return sorted(infos, key=lambda i: (i.service, i.name))


def _project_containers_sdk(project: str) -> list[ContainerInfo]:
    from docker.errors import NotFound

    api = client().api
    try:
        summaries = api.containers(all=True, filters={"label": f"{PROJECT_LABEL}={project}"})
    except _sdk_errors() as exc:
        raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc
    infos = []
    for summary in summaries:
        try:
            data = api.inspect_container(summary["Id"])
        except NotFound:
            continue  # removed while we looked
        except _sdk_errors() as exc:
            raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc
        infos.append(_info(data))
    return sorted(infos, key=lambda i: (i.service, i.name))


def _info(data: dict[str, Any]) -> ContainerInfo:
    state = data.get("State") or {}
    config = data.get("Config") or {}
    labels = config.get("Labels") or {}
    env = {}
    for item in config.get("Env") or []:
        key, _, value = item.partition("=")
        env[key] = value
    ports = []
    for spec, bindings in ((data.get("NetworkSettings") or {}).get("Ports") or {}).items():
        number, _, proto = spec.partition("/")
        for binding in bindings or []:
            if binding.get("HostPort"):
                ports.append((binding.get("HostIp") or "", int(binding["HostPort"]), int(number), proto))
    # Compose writes `expose:` entries without a protocol ("6379"); images say "6379/tcp".
    exposed = sorted(
        {
            int(number)
            for number, _, proto in (spec.partition("/") for spec in (config.get("ExposedPorts") or {}))
            if proto in ("", "tcp") and number.isdigit()
        }
    )
    anonymous = tuple(
        str(m.get("Name"))
        for m in data.get("Mounts") or []
        if m.get("Type") == "volume" and _ANONYMOUS.fullmatch(str(m.get("Name") or ""))
    )
    return ContainerInfo(
        id=data["Id"],
        name=str(data.get("Name", "")).lstrip("/"),
        service=labels.get(SERVICE_LABEL, ""),
        state=str(state.get("Status", "")),
        health=str((state.get("Health") or {}).get("Status", "")),
        exit_code=int(state.get("ExitCode") or 0),
        started_at=str(state.get("StartedAt", "")),
        restart_count=int(data.get("RestartCount") or 0),
        env=env,
        ports=tuple(ports),
        exposed=tuple(exposed),
        oom_killed=bool(state.get("OOMKilled")),
        healthcheck=tuple(str(part) for part in (config.get("Healthcheck") or {}).get("Test") or ()),
        health_log=tuple(
            HealthProbe(
                int(entry.get("ExitCode") or 0), str(entry.get("Output") or ""), str(entry.get("End") or "")
            )
            for entry in (state.get("Health") or {}).get("Log") or ()
            if isinstance(entry, dict)
        ),
        restart_policy=str(((data.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or ""),
        working_dir=labels.get(WORKING_DIR_LABEL, ""),
        anonymous_volumes=anonymous,
    )


def log_tail(container_id: str, lines: int = 15) -> str:
    """The last lines a container wrote (stdout and stderr, in order); "" when it cannot be read.

    A local engine is asked over its socket (no SDK import: this runs when `up` fails).
    """
    path = f"/containers/{container_id}/logs?stdout=1&stderr=1&tail={int(lines)}"
    try:
        status, body = _local_get(path, timeout=10.0)
        return _demultiplex(body).decode("utf-8", "replace") if status == 200 else ""
    except _NotLocal:
        pass
    except OSError:
        return ""
    try:
        data = client().api.logs(container_id, stdout=True, stderr=True, tail=int(lines))
    except EngineUnavailable:
        return ""
    except _sdk_errors():
        return ""
    return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)


def _demultiplex(body: bytes) -> bytes:
    """The engine's log stream without its frame headers (containers without a TTY; with one
    the stream is raw). Each frame: stream byte, 3 zero bytes, 4-byte big-endian size, payload."""
    if len(body) < 8 or body[0] not in (0, 1, 2) or body[1:4] != b"\0\0\0":
        return body
    out = []
    pos = 0
    while pos + 8 <= len(body):
        size = int.from_bytes(body[pos + 4 : pos + 8], "big")
        out.append(body[pos + 8 : pos + 8 + size])
        pos += 8 + size
    return b"".join(out)


def exec_in(container_id: str, argv: list[str]) -> tuple[int, str]:
    """Run argv inside a running container; return (exit code, combined output)."""
    from docker.errors import APIError

    api = client().api
    try:
        handle = api.exec_create(container_id, argv, stdout=True, stderr=True)
        output = api.exec_start(handle["Id"])
        code = api.exec_inspect(handle["Id"]).get("ExitCode")
    except APIError as exc:
        return 126, str(exc.explanation or exc)
    except _sdk_errors() as exc:
        raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output)
    return (int(code) if code is not None else 126), text


def info() -> dict[str, Any]:
    """`docker info` as a dict (server version, root dir, storage driver...)."""
    try:
        return dict(client().info())
    except _sdk_errors() as exc:
        raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc


def version() -> str | None:
    """The engine's version ("26.1.5"), or None when it cannot be asked. A local engine is asked
    over its socket (no SDK import)."""
    try:
        # Docker names its version in every answer's Server header: /_ping takes 0.5 ms where
        # /version (which asks containerd and runc for theirs) takes 6.
        status, head, _ = _local_request("/_ping", timeout=3.0)
        server = _SERVER_HEADER.search(head) if status == 200 else None
        if server:
            return server.group(1).decode("ascii", "replace")
        status, body = _local_get("/version", timeout=3.0)
        if status == 200:
            return str(json.loads(body).get("Version") or "") or None
        return None
    except _NotLocal:
        pass
    except (OSError, ValueError):
        return None
    try:
        return server_version()
    except EngineUnavailable:
        return None


def exists(kind: str, name: str) -> bool | None:
    """Whether a network or volume ("network" / "volume") of that name exists; None when unknown."""
    from urllib.parse import quote

    try:
        status, _ = _local_get(f"/{kind}s/{quote(name, safe='')}", timeout=3.0)
        return True if status == 200 else False if status == 404 else None
    except _NotLocal:
        pass
    except (OSError, ValueError):
        return None
    try:
        collection = client().networks if kind == "network" else client().volumes
        collection.get(name)
        return True
    except EngineUnavailable:
        return None
    except _sdk_errors() as exc:
        from docker.errors import NotFound

        return False if isinstance(exc, NotFound) else None


def remove_volume(name: str) -> bool | None:
    """Delete a volume: True when gone, False when still in use, None when the engine failed."""
    from urllib.parse import quote

    try:
        status, _ = _local_get(f"/volumes/{quote(name, safe='')}", method="DELETE")
        return True if status in (204, 404) else False if status == 409 else None
    except _NotLocal:
        pass
    except OSError:
        return None
    from docker.errors import APIError, NotFound

    try:
        client().volumes.get(name).remove()
        return True
    except NotFound:
        return True
    except APIError as exc:
        return False if exc.status_code == 409 else None
    except EngineUnavailable:
        return None
    except _sdk_errors():
        return None


def server_version() -> str:
    try:
        return str(client().version().get("Version", "?"))
    except _sdk_errors() as exc:
        raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc


# -- Engines by address: events, networks, images, containers (`devstack events`, `devstack proxy`) --
#
# Everything below serves the router (devstack/proxy/) and `devstack events`. It talks to any engine
# by URL (unix://, tcp://, ssh://), not only to the one the docker CLI would use, and translates the
# SDK's errors at this boundary: EngineUnavailable when the engine does not answer,
# EngineRequestFailed when it answers with an error.

EVENT_FILTER_CONTAINERS = {"type": ["container"]}


class Engine:
    """One Docker engine, addressed by URL; every SDK call of the router goes through here."""

    def __init__(self, url: str | None = None, timeout: float = 30.0) -> None:
        self.url = url or docker_host()
        self.timeout = timeout
        self._api: Any = None

    def __repr__(self) -> str:
        return f"Engine({self.url!r})"

    @property
    def api(self) -> Any:
        """The SDK's low-level client, connected on first use."""
        if self._api is None:
            import docker

            try:
                self._api = docker.APIClient(base_url=self.url, version="auto", timeout=self.timeout)
            except _sdk_errors() as exc:
                raise self._unavailable(exc) from exc
            except ValueError as exc:  # a malformed URL ("tcp://host:port:extra")
                from devstack.errors import UsageError

                raise UsageError(f"not an engine address: {self.url} ({exc})") from exc
        return self._api

    def close(self) -> None:
        if self._api is not None:
            try:
                self._api.close()
            except Exception:  # closing a broken connection: nothing left to do
                pass
            self._api = None

    # -- errors --------------------------------------------------------------------------

    def _unavailable(self, exc: BaseException) -> EngineUnavailable:
        where = "" if self.url == docker_host() else f" at {self.url}"
        return EngineUnavailable(
            f"the Docker engine{where} does not answer: {_reason(exc)}",
            hint=_hint(exc) if not where else "check the address, and that the engine listens there",
        )

    def _call(self, what: str, fn: Callable[[], Any], missing_ok: bool = False) -> Any:
        """Run an SDK call; NotFound gives None when `missing_ok`, other failures raise ours."""
        from docker.errors import APIError, NotFound

        from devstack.errors import EngineRequestFailed

        try:
            return fn()
        except NotFound:
            if missing_ok:
                return None
            raise EngineRequestFailed(f"cannot {what}: not found", status=404) from None
        except APIError as exc:
            text = str(exc.explanation or exc).strip()
            raise EngineRequestFailed(f"cannot {what}: {text}", status=exc.status_code) from exc
        except _sdk_errors() as exc:
            raise self._unavailable(exc) from exc

    # -- reading -------------------------------------------------------------------------

    def ping(self) -> None:
        self._call("ping the engine", lambda: self.api.ping())

    def version(self) -> dict[str, Any]:
        return dict(self._call("ask the engine its version", lambda: self.api.version()))

    def containers(self, filters: Mapping[str, Any] | None = None, all: bool = False) -> list[dict[str, Any]]:
        """Container summaries (`docker ps`), filtered by the engine."""
        found = self._call(
            "list containers", lambda: self.api.containers(all=all, filters=dict(filters or {}))
        )
        return list(found or [])

    def inspect_container(self, ident: str) -> dict[str, Any] | None:
        """`docker inspect` of a container, or None when there is no such container."""
        data = self._call("inspect a container", lambda: self.api.inspect_container(ident), missing_ok=True)
        return dict(data) if data is not None else None

    def inspect_network(self, ident: str) -> dict[str, Any] | None:
        data = self._call("inspect a network", lambda: self.api.inspect_network(ident), missing_ok=True)
        return dict(data) if data is not None else None

    def image_labels(self, tag: str) -> dict[str, str] | None:
        """The labels of a local image, or None when there is no such image."""
        data = self._call("inspect an image", lambda: self.api.inspect_image(tag), missing_ok=True)
        if data is None:
            return None
        return dict((data.get("Config") or {}).get("Labels") or {})

    def events(self, filters: Mapping[str, Any] | None = None, since: float | None = None) -> EventStream:
        """The engine's event stream (decoded dicts); close() from any thread ends it."""
        stream = self._call(
            "follow the engine's events",
            lambda: self.api.events(decode=True, filters=dict(filters or {}), since=since),
        )
        return EventStream(self, stream)

    def logs_tail(self, ident: str, lines: int = 20) -> str:
        data = self._call("read a container's log", lambda: self.api.logs(ident, tail=lines), missing_ok=True)
        return data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data or "")

    # -- changing ------------------------------------------------------------------------

    def connect_network(self, network: str, container: str, gateway_priority: int | None = None) -> bool:
        """Join a container to a network; False when it was joined already.

        `gateway_priority` (engines with API 1.48+, Docker 28) ranks the network for the
        container's default gateway; older engines rank networks by name.
        """
        from docker.utils import version_gte

        def connect() -> None:
            if gateway_priority is not None and version_gte(self.api.api_version, "1.48"):
                url = self.api._url("/networks/{0}/connect", network)
                body = {"Container": container, "EndpointConfig": {"GwPriority": gateway_priority}}
                self.api._raise_for_status(self.api._post_json(url, data=body))
            else:
                self.api.connect_container_to_network(container, network)

        try:
            self._call(f"connect {container} to network {network}", connect)
        except Exception as exc:
            if "already exists" in str(exc) or "already attached" in str(exc):
                return False
            raise
        return True

    def disconnect_network(self, network: str, container: str) -> bool:
        """Leave a network; False when the network or the endpoint was gone already."""
        try:
            self._call(
                f"disconnect {container} from network {network}",
                lambda: self.api.disconnect_container_from_network(container, network, force=True),
            )
        except Exception as exc:
            text = str(exc)
            if "not found" in text or "is not connected" in text or "No such" in text:
                return False
            raise
        return True

    def exec(self, container: str, argv: Sequence[str]) -> tuple[int, str]:
        """Run argv in a running container: (exit code, combined output)."""

        def run() -> tuple[int, str]:
            handle = self.api.exec_create(container, list(argv), stdout=True, stderr=True)
            output = self.api.exec_start(handle["Id"])
            code = self.api.exec_inspect(handle["Id"]).get("ExitCode")
            text = output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output)
            return (int(code) if code is not None else 126), text

        result: tuple[int, str] = self._call(f"run {argv[0]} in {container}", run)
        return result

    def build_image(
        self,
        context_dir: str,
        tag: str,
        labels: Mapping[str, str],
        on_line: Callable[[str], None] | None = None,
    ) -> None:
        """`docker build` of a local directory; the build's own error is raised as ours."""
        from devstack.errors import EngineRequestFailed

        build_args = {
            key: os.environ[key]
            for key in ("http_proxy", "https_proxy", "no_proxy", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY")
            if os.environ.get(key)
        }

        def run() -> None:
            last = ""
            for chunk in self.api.build(
                path=context_dir,
                tag=tag,
                labels=dict(labels),
                rm=True,
                forcerm=True,
                decode=True,
                buildargs=build_args or None,
            ):
                if "error" in chunk:
                    detail = str(chunk.get("error") or "").strip()
                    raise EngineRequestFailed(f"building {tag} failed: {detail or last}")
                text = str(chunk.get("stream") or "").rstrip()
                if text:
                    last = text.splitlines()[-1]
                    if on_line is not None:
                        for line in text.splitlines():
                            on_line(line)

        self._call(f"build {tag}", run)

    def image_tags(self, repository: str) -> list[str]:
        """Tags of the local images of one repository (`name:tag`)."""
        found = self._call("list images", lambda: self.api.images(name=repository))
        tags = {tag for image in found or [] for tag in image.get("RepoTags") or []}
        return sorted(t for t in tags if t.startswith(f"{repository}:"))

    def remove_image(self, tag: str) -> bool:
        """Remove an image; False when it is in use or gone (nothing to do either way)."""
        try:
            self._call(f"remove image {tag}", lambda: self.api.remove_image(tag), missing_ok=True)
        except DevstackError:
            return False
        return True

    def ensure_network(self, name: str, labels: Mapping[str, str]) -> None:
        if self.inspect_network(name) is None:
            self._call(
                f"create network {name}",
                lambda: self.api.create_network(name, driver="bridge", labels=dict(labels)),
            )

    def remove_network(self, name: str) -> None:
        self._call(f"remove network {name}", lambda: self.api.remove_network(name), missing_ok=True)

    def ensure_volume(self, name: str, labels: Mapping[str, str]) -> None:
        self._call(f"create volume {name}", lambda: self.api.create_volume(name=name, labels=dict(labels)))

    def remove_volume(self, name: str) -> None:
        self._call(f"remove volume {name}", lambda: self.api.remove_volume(name, force=True), missing_ok=True)

    def run_container(
        self,
        name: str,
        image: str,
        *,
        command: Sequence[str] | None = None,
        environment: Mapping[str, str] | None = None,
        labels: Mapping[str, str] | None = None,
        binds: Sequence[str] = (),
        ports: Mapping[int, tuple[str, int]] | None = None,
        network: str | None = None,
        restart: str | None = "unless-stopped",
        network_disabled: bool = False,
    ) -> str:
        """Create and start a detached container; its id."""

        def run() -> str:
            host_config = self.api.create_host_config(
                binds=list(binds) or None,
                port_bindings={f"{p}/tcp": [bind] for p, bind in (ports or {}).items()} or None,
                restart_policy={"Name": restart} if restart else None,
                network_mode=network or ("none" if network_disabled else None),
            )
            created = self.api.create_container(
                image,
                command=list(command) if command is not None else None,
                name=name,
                detach=True,
                environment=dict(environment or {}),
                labels=dict(labels or {}),
                ports=[(p, "tcp") for p in (ports or {})] or None,
                host_config=host_config,
                use_config_proxy=False,
            )
            ident = str(created["Id"])
            try:
                self.api.start(ident)
            except Exception:
                self.api.remove_container(ident, force=True)
                raise
            return ident

        result: str = self._call(f"start container {name}", run)
        return result

    def run_to_completion(
        self,
        image: str,
        command: Sequence[str],
        read_only_paths: Sequence[str] = (),
        timeout: float = 30.0,
        entrypoint: Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> tuple[int, str]:
        """Run a throwaway container without network; (exit code, stdout). Always removed.

        `read_only_paths` are host paths mounted read-only at the same place; a path that does
        not exist is an error (a `-v` bind would create it as an empty root-owned directory).
        """
        from docker.types import Mount

        def run() -> tuple[int, str]:
            mounts = [Mount(p, p, type="bind", read_only=True) for p in read_only_paths]
            host_config = self.api.create_host_config(mounts=mounts or None, network_mode="none")
            created = self.api.create_container(
                image,
                command=list(command),
                entrypoint=list(entrypoint) if entrypoint is not None else None,
                labels=dict(labels or {}),
                host_config=host_config,
                use_config_proxy=False,
            )
            ident = str(created["Id"])
            try:
                self.api.start(ident)
                status = self.api.wait(ident, timeout=timeout)
                output = self.api.logs(ident, stdout=True, stderr=False)
            finally:
                self.api.remove_container(ident, force=True)
            text = output.decode("utf-8", "replace") if isinstance(output, bytes) else str(output)
            return int(status.get("StatusCode", 1)), text

        result: tuple[int, str] = self._call(f"run a {image} container", run)
        return result

    def remove_container(self, ident: str, timeout: int = 10) -> bool:
        """Stop and remove a container; False when there was none."""
        if self.inspect_container(ident) is None:
            return False
        self._call(f"stop {ident}", lambda: self.api.stop(ident, timeout=timeout), missing_ok=True)
        self._call(f"remove {ident}", lambda: self.api.remove_container(ident, force=True), missing_ok=True)
        return True


class EventStream:
    """An engine's event stream: iterate it for decoded events; close() ends it from any thread."""

    def __init__(self, engine: Engine, stream: Any) -> None:
        self.engine = engine
        self._stream = stream

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for event in self._stream:
                if isinstance(event, dict):
                    yield event
        except _sdk_errors() as exc:
            raise self.engine._unavailable(exc) from exc
        except (OSError, ValueError, AttributeError) as exc:
            # A closed stream (close() from another thread) or a cut connection.
            raise self.engine._unavailable(exc) from exc

    def close(self) -> None:
        try:
            self._stream.close()
        except Exception:  # already closed or broken: the reader ends either way
            pass


def containers_labelled(label: str, all: bool = False) -> list[dict[str, Any]]:
    """Container summaries carrying a label (`key` or `key=value`); a local socket answers in ~1 ms."""
    from urllib.parse import quote

    query = quote(json.dumps({"label": [label]}))
    try:
        status, body = _local_get(f"/containers/json?all={int(all)}&filters={query}")
        if status == 200:
            return list(json.loads(body))
    except (_NotLocal, OSError, ValueError):
        pass  # not local, or the socket failed: the SDK says why
    return Engine().containers(filters={"label": [label]}, all=all)


# -- data: devstack db, snapshots, restart (issue 8, helper "data") ---------------------------
# Kept in one block at the end so parallel merges do not collide.


def exec_env(
    container_id: str, argv: list[str], env: Mapping[str, str] | None = None, user: str = ""
) -> tuple[int, str, str]:
    """Run argv in a running container with extra environment; (exit code, stdout, stderr).

    Secrets go in `env` (the exec's environment), never on a command line. `user` empty means
    the container's own user (the service's `user:`).
    """
    from docker.errors import APIError

    api = client().api
    try:
        handle = api.exec_create(
            container_id, argv, stdout=True, stderr=True, environment=dict(env or {}), user=user
        )
        out, err = api.exec_start(handle["Id"], demux=True)
        code = api.exec_inspect(handle["Id"]).get("ExitCode")
    except APIError as exc:
        return 126, "", str(exc.explanation or exc)
    except _sdk_errors() as exc:
        raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc
    return (
        int(code) if code is not None else 126,
        (out or b"").decode("utf-8", "replace"),
        (err or b"").decode("utf-8", "replace"),
    )


def get_archive(container_id: str, path: str, chunk: int = 1 << 20) -> Iterator[bytes]:
    """A tar stream of `path` in a container (a stopped one too: its volumes are mounted for it).

    The archive's top entry is the basename of `path`, as with `docker cp`.
    """
    from docker.errors import APIError, NotFound

    try:
        stream, _stat = client().api.get_archive(container_id, path, chunk_size=chunk)
    except NotFound as exc:
        raise EngineUnavailable(f"{path} does not exist in the container: {exc.explanation}") from exc
    except APIError as exc:
        raise EngineUnavailable(f"the engine cannot archive {path}: {exc.explanation or exc}") from exc
    except _sdk_errors() as exc:
        raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc
    try:
        yield from stream
    except _sdk_errors() as exc:
        raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc


def put_archive(container_id: str, path: str, data: Iterable[bytes]) -> None:
    """Extract a tar stream into `path` of a container (stopped ones too); owners are kept."""
    from docker.errors import APIError

    try:
        ok = client().api.put_archive(container_id, path, data)
    except APIError as exc:
        raise EngineUnavailable(f"the engine cannot extract into {path}: {exc.explanation or exc}") from exc
    except _sdk_errors() as exc:
        raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc
    if not ok:
        raise EngineUnavailable(f"the engine refused to extract into {path}")


def image_env(image: str) -> dict[str, str]:
    """The ENV of a local image ({} when the image is not here or the engine cannot say)."""
    from urllib.parse import quote

    try:
        status, body = _local_get(f"/images/{quote(image, safe='/:@')}/json")
        data = json.loads(body) if status == 200 else {}
    except _NotLocal:
        try:
            data = client().api.inspect_image(image)
        except Exception:
            return {}
    except (OSError, ValueError):
        return {}
    env: dict[str, str] = {}
    for item in ((data or {}).get("Config") or {}).get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    return env


def _local_post(path: str, timeout: float = 300.0) -> int:
    """POST an Engine API path without a body over the local unix socket; the HTTP status."""
    host = docker_host()
    if not host.startswith("unix://"):
        raise _NotLocal(host)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(host[len("unix://") :])
        sock.sendall(f"POST {path} HTTP/1.0\r\nHost: docker\r\nContent-Length: 0\r\n\r\n".encode())
        head = b""
        while b"\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                break
            head += chunk
    status = head.split(b"\r\n", 1)[0].split()
    return int(status[1]) if len(status) > 1 and status[1].isdigit() else 0


def stop_container(container_id: str, timeout: int = 120) -> None:
    """Stop a container (its stop signal, then SIGKILL after `timeout` seconds), like compose stop."""
    _post_or_sdk(f"/containers/{container_id}/stop?t={timeout}", timeout + 30, "stop", container_id, timeout)


def start_container(container_id: str) -> None:
    """Start a stopped container, like compose start."""
    _post_or_sdk(f"/containers/{container_id}/start", 60, "start", container_id, None)


def _post_or_sdk(path: str, wait: float, action: str, container_id: str, timeout: int | None) -> None:
    try:
        status = _local_post(path, wait)
    except _NotLocal:
        try:
            api = client().api
            if action == "stop":
                api.stop(container_id, timeout=timeout)
            else:
                api.start(container_id)
        except _sdk_errors() as exc:
            raise EngineUnavailable(
                f"the Docker engine failed to {action} the container: {_reason(exc)}"
            ) from exc
        return
    except OSError as exc:
        raise EngineUnavailable(
            f"the Docker engine is not reachable: {_reason(exc)}", hint=_hint(exc)
        ) from exc
    if status not in (204, 304):  # 304: already stopped / already started
        raise EngineUnavailable(f"the Docker engine answered HTTP {status} to {action} the container")
