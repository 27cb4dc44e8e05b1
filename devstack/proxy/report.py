"""`devstack proxy status|routes` as text for people. Never prints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from devstack.proxy.control import ProxyStatus, StartResult


def _table(rows: Sequence[Sequence[str]], indent: str = "") -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [indent + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def _engine_line(engine: dict[str, Any]) -> list[str]:
    state = str(engine.get("state"))
    text = f"{engine.get('name')} ({engine.get('url')}): {state}"
    if engine.get("kind") == "local":
        text += ", over the projects' networks"
    elif engine.get("address"):
        text += f", published ports at {engine.get('address')}"
    if engine.get("containers") is not None and engine.get("state") == "connected":
        text += f", {engine.get('containers')} Compose containers"
    lines = [text]
    if engine.get("error") and engine.get("state") != "connected":
        retry = engine.get("retry_in")
        lines.append(f"    {engine['error']}" + (f" (retry in {retry:g} s)" if retry is not None else ""))
    return lines


def status_text(status: ProxyStatus) -> str:
    if status.nginx is None and status.watcher is None:
        return f"The proxy {status.name!r} is not running (`devstack proxy start` starts it)."
    lines = [
        f"proxy {status.name}: {'running' if status.running else 'NOT running'}"
        + (f" at {status.url}" if status.url else "")
        + f" (engine {status.engine})"
    ]
    for part in (status.nginx, status.watcher):
        if part is None:
            continue
        where = ", ".join(part.published) if part.published else "no published port"
        sock = f"Docker socket {part.docker_socket}" if part.docker_socket else "no Docker socket"
        lines.append(
            f"  {part.role:8} {part.name}: {part.state}, restart {part.restart_policy}"
            + (f" ({part.restarts} restarts)" if part.restarts else "")
        )
        lines.append(f"           image {part.image}; {where}; {sock}")
        if part.role == "nginx":
            lines.append(f"           networks: {', '.join(part.networks) or 'none'}")
    state = status.state
    if state is None:
        lines.append("  The watcher's state is not available (is it running? `docker logs NAME-watcher`).")
        return "\n".join(lines)
    lines.append("  engines:")
    for engine in state.get("engines") or []:
        lines += ["    " + line for line in _engine_line(engine)]
    for agent in state.get("agents") or []:
        if not lines[-1].startswith("  agents"):
            lines.append("  agents (push mode):")
        expired = " (expired: routes dropped)" if agent.get("expired") else ""
        lines.append(
            f"    {agent.get('name')} ({agent.get('address')}): "
            f"last push {agent.get('last_seen_seconds')} s ago, {agent.get('routes')} route(s){expired}"
        )
    settings = state.get("settings") or {}
    if settings.get("api"):
        lines.append(f"  agents' API: http://{settings['api']}/ (nginx forwards it to the watcher)")
    routes = state.get("routes") or []
    lines.append(
        f"  {len(routes)} route(s), generation {state.get('generation')}"
        + (f", last reload {state['last_reload']}" if state.get("last_reload") else "")
        + " (`devstack proxy routes` lists them)"
    )
    if state.get("last_error"):
        lines.append(f"  last error: {state['last_error']}")
    return "\n".join(lines)


def routes_text(status: ProxyStatus) -> str:
    if not status.running and status.state is None:
        return f"The proxy {status.name!r} is not running (`devstack proxy start` starts it)."
    state = status.state or {}
    routes = state.get("routes") or []
    lines = []
    if routes:
        rows = [("URL", "PROJECT", "SERVICE", "ENGINE", "BACKENDS")]
        for route in routes:
            backends = " ".join(f"{b['address']}:{b['port']}" for b in route.get("backends") or [])
            rows.append((route["url"], route["project"], route["service"], route["engine"], backends))
        lines += _table(rows)
    else:
        lines.append("No routes yet: start a project with an HTTP service (`devstack up`).")
    unrouted = state.get("unrouted") or []
    if unrouted:
        lines.append("")
        lines.append("Not routed:")
        for item in unrouted:
            where = f" (engine {item['engine']})" if item.get("engine") != "local" else ""
            lines.append(f"  {item['project']}{where}: {item['reason']}")
    return "\n".join(lines)


def started_text(result: StartResult) -> str:
    status = result.status
    lines = [f"warning: {w}" for w in result.warnings]
    verb = "is already running" if result.already_running else "started"
    lines.append(f"The proxy {verb}: {status.url}")
    lines.append(
        f"Projects answer at http://PROJECT.{status.settings.get('domain', 'localhost')}"
        + (f":{status.settings.get('port')}" if int(status.settings.get("port") or 80) != 80 else "")
        + "/ (`devstack proxy routes` lists them)."
    )
    return "\n".join(lines)
