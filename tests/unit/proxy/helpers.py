"""Inspect data as the engine returns it, for the router's unit tests."""

from __future__ import annotations

from typing import Any

from devstack.proxy.routes import ContainerView


def inspect(
    project: str = "shop",
    service: str = "web",
    *,
    ident: str | None = None,
    running: bool = True,
    health: str | None = None,
    networks: dict[str, str] | None = None,
    exposed: tuple[int, ...] = (80,),
    published: dict[int, list[tuple[str, int]]] | None = None,
    labels: dict[str, str] | None = None,
    number: int = 1,
    stop_signal: str | None = None,
) -> dict[str, Any]:
    """`docker inspect` of one Compose container (the fields the router reads)."""
    ident = ident or f"{project}-{service}-{number}-id"
    state: dict[str, Any] = {"Running": running, "Status": "running" if running else "exited"}
    if health is not None:
        state["Health"] = {"Status": health}
    all_labels = {
        "com.docker.compose.project": project,
        "com.docker.compose.service": service,
        "com.docker.compose.project.config_files": f"/src/{project}/compose.yaml",
        "com.docker.compose.project.working_dir": f"/src/{project}",
        **(labels or {}),
    }
    ports: dict[str, Any] = {f"{p}/tcp": None for p in exposed}
    for port, binds in (published or {}).items():
        ports[f"{port}/tcp"] = [{"HostIp": ip, "HostPort": str(hp)} for ip, hp in binds]
    nets = networks if networks is not None else {f"{project}_default": f"172.30.0.{number + 1}"}
    config: dict[str, Any] = {"Labels": all_labels, "ExposedPorts": {f"{p}/tcp": {} for p in exposed}}
    if stop_signal:
        config["StopSignal"] = stop_signal
    return {
        "Id": ident,
        "Name": f"/{project}-{service}-{number}",
        "State": state,
        "Config": config,
        "NetworkSettings": {
            "Networks": {name: {"IPAddress": ip} for name, ip in nets.items()},
            "Ports": ports if running else {},
        },
    }


def view(*args: Any, **kwargs: Any) -> ContainerView:
    found = ContainerView.from_inspect(inspect(*args, **kwargs))
    assert found is not None
    return found
