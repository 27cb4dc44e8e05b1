"""The only module that imports the `docker` SDK (inside the functions that need it)."""

from __future__ import annotations

import json
import os
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devstack.errors import EngineUnavailable

if TYPE_CHECKING:
    import docker

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
WORKING_DIR_LABEL = "com.docker.compose.project.working_dir"  # the checkout that created it


@dataclass(frozen=True)
class PortHolder:
    """A container that publishes a host port."""

    container: str
    project: str | None
    service: str | None


_client: Any = None
# The engine names a volume that has no name of its own with 64 hex digits.
_ANONYMOUS = re.compile(r"[0-9a-f]{64}")
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
    """Ask an Engine API path over a local unix socket, without the SDK (~1 ms, no import cost).

    For the hot paths of `up` and `check` and small calls; everything else goes through the SDK.
    """
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
    return status, body


def quick_ping(timeout: float = 3.0) -> None:
    """Ask a local (unix socket) engine for /_ping without importing the SDK (~1 ms).

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


@dataclass(frozen=True)
class ContainerInfo:
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
        restart_policy=str(((data.get("HostConfig") or {}).get("RestartPolicy") or {}).get("Name") or ""),
        working_dir=labels.get(WORKING_DIR_LABEL, ""),
        anonymous_volumes=anonymous,
    )


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
