"""The small HTTP API push-mode agents talk to (served by the watcher, reached through nginx).

    GET    /v1/health           who answers (checks the token too)
    GET    /v1/routes           the route table
    PUT    /v1/agents/NAME      an agent's full set of routes (sent on every change, and as a heartbeat)
    DELETE /v1/agents/NAME      an agent that stops: its routes go at once

Every request carries `Authorization: Bearer TOKEN` when the proxy has a token (it must have one
when the API is published on an address other than loopback). An agent's routes live for the
grace period after its last PUT.
"""

from __future__ import annotations

import hmac
import json
import re
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from devstack.proxy import API_PORT_IN_CONTAINER
from devstack.proxy.routes import Backend, Route, Table, Unrouted, valid_address, valid_host_label

if TYPE_CHECKING:
    from devstack.proxy.watcher import Hub, Settings

MAX_BODY = 1 << 20
MAX_ROUTES = 2000
_AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
_TEXT = re.compile(r"[^\x20-\x7e]")


class PayloadError(ValueError):
    """A request body that is not a valid set of routes."""


def authorized(header: str | None, token: str | None) -> bool:
    """Whether an Authorization header carries the token (always, when there is no token)."""
    if not token:
        return True
    if not header or not header.startswith("Bearer "):
        return False
    return hmac.compare_digest(header[len("Bearer ") :].strip().encode(), token.encode())


def valid_agent_name(name: str) -> bool:
    return bool(_AGENT_NAME.fullmatch(name))


def _text(value: Any, limit: int = 300) -> str:
    return _TEXT.sub("?", str(value))[:limit]


def _host(value: Any) -> str:
    host = str(value)
    labels = host.split(".")
    if len(labels) > 2 or not all(valid_host_label(label) for label in labels):
        raise PayloadError(f"not a route host: {_text(host, 80)!r} (expected PROJECT or SERVICE.PROJECT)")
    return host


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise PayloadError(f"not a port: {_text(value, 20)!r}")
    return value


def table_from_payload(agent: str, payload: Any) -> tuple[str, str, Table]:
    """(address, engine URL, table) from an agent's PUT body; PayloadError when it is invalid."""
    if not isinstance(payload, dict):
        raise PayloadError("the body must be a JSON object")
    address = str(payload.get("address") or "")
    if not valid_address(address):
        raise PayloadError(f"not an address: {_text(address, 80)!r}")
    raw_routes = payload.get("routes") or []
    if not isinstance(raw_routes, list) or len(raw_routes) > MAX_ROUTES:
        raise PayloadError(f"`routes` must be a list of at most {MAX_ROUTES} routes")
    routes = []
    seen: set[str] = set()
    for item in raw_routes:
        if not isinstance(item, dict):
            raise PayloadError("each route must be an object")
        host = _host(item.get("host"))
        project = str(item.get("project") or "")
        if not valid_host_label(project) or host.split(".")[-1] != project:
            raise PayloadError(f"route {host}: `project` must be the last label of the host")
        backends = []
        for raw in item.get("backends") or []:
            if not isinstance(raw, dict):
                raise PayloadError(f"route {host}: each backend must be an object")
            backend_address = str(raw.get("address") or address)
            if not valid_address(backend_address):
                raise PayloadError(f"route {host}: not an address: {_text(backend_address, 80)!r}")
            backends.append(
                Backend(backend_address, _port(raw.get("port")), _text(raw.get("container", ""), 120))
            )
        if not backends:
            raise PayloadError(f"route {host}: no backends")
        if host in seen:
            raise PayloadError(f"route {host} is listed twice")
        seen.add(host)
        routes.append(
            Route(
                host,
                project,
                _text(item.get("service", ""), 63),
                agent,
                tuple(backends),
                bool(item.get("web")),
            )
        )
    unrouted = []
    for item in payload.get("unrouted") or []:
        if isinstance(item, dict) and item.get("project"):
            service = item.get("service")
            unrouted.append(
                Unrouted(
                    _text(item["project"], 63),
                    agent,
                    _text(item.get("reason", "")),
                    _text(service, 63) if service else None,
                )
            )
    engine_url = _text(payload.get("engine", ""), 200)
    return address, engine_url, Table(tuple(routes), tuple(unrouted[:MAX_ROUTES]))


def payload_from_table(address: str, engine_url: str, table: Table) -> dict[str, Any]:
    """What an agent sends: its routes and why the rest are not routed."""
    return {
        "schema_version": 1,
        "address": address,
        "engine": engine_url,
        "routes": [
            {
                "host": r.host,
                "project": r.project,
                "service": r.service,
                "web": r.web,
                "backends": [
                    {"address": b.address, "port": b.port, "container": b.container} for b in r.backends
                ],
            }
            for r in table.routes
        ],
        "unrouted": [u.to_dict() for u in table.unrouted],
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    hub: Hub
    token: str | None
    log: Callable[[str], None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None  # requests are not logged; changes are, by the hub

    def _send(self, status: int, body: Mapping[str, Any]) -> None:
        data = (json.dumps(body) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorized(self) -> bool:
        if authorized(self.headers.get("Authorization"), self.server.token):
            return True
        self._send(401, {"error": "missing or wrong token"})
        return False

    def _agent(self) -> str | None:
        parts = self.path.split("?", 1)[0].strip("/").split("/")
        if len(parts) == 3 and parts[:2] == ["v1", "agents"]:
            if valid_agent_name(parts[2]):
                return parts[2]
            self._send(400, {"error": "agent names are letters, digits, '.', '_' and '-'"})
            return ""
        self._send(404, {"error": f"no such endpoint: {self.command} {_text(self.path, 80)}"})
        return ""

    def do_GET(self) -> None:
        if not self._authorized():
            return
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/health":
            self._send(200, {"ok": True, "proxy": self.server.hub.settings.name})
        elif path == "/v1/routes":
            table = self.server.hub.table()
            self._send(
                200,
                {
                    "routes": [r.to_dict(self.server.hub.settings.domain) for r in table.routes],
                    "unrouted": [u.to_dict() for u in table.unrouted],
                },
            )
        else:
            self._send(404, {"error": f"no such endpoint: GET {_text(path, 80)}"})

    def do_PUT(self) -> None:
        if not self._authorized():
            return
        agent = self._agent()
        if not agent:
            return
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            self._send(
                413 if length > MAX_BODY else 400, {"error": f"send a JSON body of at most {MAX_BODY} bytes"}
            )
            return
        try:
            payload = json.loads(self.rfile.read(length))
            address, engine_url, table = table_from_payload(agent, payload)
        except (ValueError, PayloadError) as exc:
            self._send(400, {"error": str(exc)})
            return
        hub = self.server.hub
        first = agent not in hub.agents
        hub.agent_push(agent, address, engine_url, table)
        if first:
            self.server.log(f"agent {agent} ({address}): {len(table.routes)} route(s)")
        self._send(200, {"accepted": len(table.routes), "grace": hub.settings.grace})

    def do_DELETE(self) -> None:
        if not self._authorized():
            return
        agent = self._agent()
        if not agent:
            return
        found = self.server.hub.agent_remove(agent)
        self.server.log(f"agent {agent} signed off")
        self._send(200, {"removed": found})


def make_server(
    hub: Hub, token: str | None, log: Callable[[str], None], port: int = API_PORT_IN_CONTAINER
) -> _Server:
    server = _Server(("0.0.0.0", port), _Handler)
    server.hub = hub
    server.token = token
    server.log = log
    return server


def serve(hub: Hub, settings: Settings, log: Callable[[str], None], stop: threading.Event) -> _Server:
    """Serve the API in a thread until `stop` is set."""
    server = make_server(hub, settings.token, log)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, daemon=True).start()

    def shutdown() -> None:
        stop.wait()
        server.shutdown()

    threading.Thread(target=shutdown, daemon=True).start()
    log(f"API listening on port {API_PORT_IN_CONTAINER}" + (" (token required)" if settings.token else ""))
    return server
