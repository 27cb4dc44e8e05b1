"""The only module that imports the `docker` SDK (lazily: it costs ~100 ms to import)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devstack.errors import EngineUnavailable

if TYPE_CHECKING:
    import docker

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"


@dataclass(frozen=True)
class PortHolder:
    """A container that publishes a host port."""

    container: str
    project: str | None
    service: str | None


_client: Any = None


def client() -> docker.DockerClient:
    """A connected client; raises EngineUnavailable with the reason when there is none."""
    global _client
    if _client is not None:
        return _client
    import docker
    from docker.errors import DockerException

    try:
        _client = docker.from_env(timeout=30)
    except DockerException as exc:
        raise EngineUnavailable(
            f"the Docker engine is not reachable: {_reason(exc)}", hint=_hint(exc)
        ) from exc
    return _client


def _reason(exc: Exception) -> str:
    text = str(exc)
    if "Permission denied" in text:
        return "permission denied on the Docker socket"
    if "No such file or directory" in text or "Connection refused" in text:
        return "the daemon is not running"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _hint(exc: Exception) -> str:
    import os

    text = str(exc)
    if "Permission denied" in text:
        return "add your user to the docker group (then log in again), or use rootless Docker"
    if os.environ.get("DOCKER_HOST"):
        return f"DOCKER_HOST={os.environ['DOCKER_HOST']} does not answer: fix or unset it"
    return "start Docker (Docker Desktop, or `sudo systemctl start docker`), then retry"


def containers_publishing(port: int, protocol: str = "tcp") -> list[PortHolder]:
    """Running containers that publish `port` on the host (any project)."""
    from docker.errors import DockerException

    try:
        found = client().containers.list(filters={"publish": f"{port}/{protocol}"})
    except DockerException as exc:
        raise EngineUnavailable(f"the Docker engine failed: {_reason(exc)}", hint=_hint(exc)) from exc
    holders = []
    for container in found:
        labels = container.labels or {}
        holders.append(
            PortHolder(container.name, labels.get(PROJECT_LABEL), labels.get(SERVICE_LABEL))
        )
    return holders
