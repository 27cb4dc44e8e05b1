"""`devstack proxy agent --to URL`: follows the engine next to it and pushes its routes to a proxy.

The agent runs on the host of a remote engine. It follows that engine's events exactly as the
watcher does, computes the routes (containers are reached through the ports they publish, at the
agent's address), and PUTs the whole set to the proxy's API on every change and every `interval`
seconds as a heartbeat. A proxy that does not answer is retried with backoff; a proxy that
refuses the token ends the agent with an error (retrying cannot help).
"""

from __future__ import annotations

import ipaddress
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from devstack.errors import ProxyError, UsageError
from devstack.proxy.api import payload_from_table, valid_agent_name
from devstack.proxy.meta import SpecCache, read_direct
from devstack.proxy.routes import EngineRef, Table, valid_address
from devstack.proxy.watcher import MAX_BACKOFF_SECONDS, EngineLike, Follower, Hub, Settings

# Requests go straight to the proxy, never through an HTTP proxy from the environment.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class TokenRejected(ProxyError):
    """The proxy answered 401/403: the token is missing or wrong."""


class ProxyUnreachable(ProxyError):
    """The proxy's API does not answer (yet)."""


@dataclass(frozen=True)
class AgentSettings:
    to: str  # the proxy's API, e.g. http://10.0.0.1:8081
    token: str | None = field(default=None, repr=False)
    engine_url: str = "unix:///var/run/docker.sock"
    address: str | None = None  # where the proxy reaches this host's published ports
    name: str | None = None
    interval: float = 5.0  # heartbeat
    grace: float = 30.0  # routes of a lost engine are kept this long


def is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost.localdomain") or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_settings(settings: AgentSettings) -> AgentSettings:
    """Validated settings, with the address and name filled in; UsageError otherwise."""
    parsed = urllib.parse.urlsplit(settings.to)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(
            f"--to {settings.to!r} is not an http(s) URL", hint="e.g. --to http://192.168.1.10:8081"
        )
    if not settings.token and not is_loopback(parsed.hostname):
        raise UsageError(
            f"refusing to push routes to {parsed.hostname} without a token",
            hint="pass --token (or DEVSTACK_PROXY_TOKEN), the one `devstack proxy start --api ...` was given",
        )
    if settings.interval <= 0:
        raise UsageError("--interval must be positive")
    address = settings.address or detect_address(parsed.hostname, parsed.port or 80)
    if not valid_address(address):
        raise UsageError(f"--address {address!r} is not an IP address or host name")
    name = settings.name or socket.gethostname().split(".")[0] or "agent"
    if not valid_agent_name(name):
        raise UsageError(f"--name {name!r}: use letters, digits, '.', '_' and '-'")
    return AgentSettings(
        settings.to.rstrip("/"),
        settings.token,
        settings.engine_url,
        address,
        name,
        settings.interval,
        settings.grace,
    )


def detect_address(host: str, port: int) -> str:
    """The local address this host uses to reach the proxy: the proxy reaches us back on it."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    except OSError as exc:
        raise UsageError(f"cannot resolve {host}: {exc}", hint="check --to, or give --address") from None
    family, _, _, _, sockaddr = infos[0]
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(sockaddr)  # UDP: no packet is sent, the kernel only picks a route
        except OSError as exc:
            raise UsageError(f"no route to {host}: {exc}", hint="check --to, or give --address") from None
        return str(probe.getsockname()[0])


class Client:
    """Talks to the proxy's API."""

    def __init__(self, base: str, token: str | None, timeout: float = 5.0) -> None:
        self.base = base.rstrip("/")
        self.token = token
        self.timeout = timeout

    def request(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with _opener.open(req, timeout=self.timeout) as response:
                text = response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace")
            try:
                detail = str(json.loads(detail).get("error") or detail)
            except (ValueError, AttributeError):
                pass
            if exc.code in (401, 403):
                raise TokenRejected(
                    f"the proxy at {self.base} refused the token (HTTP {exc.code}: {detail.strip()[:120]})",
                    hint="use the token the proxy was started with (`--token`, or DEVSTACK_PROXY_TOKEN)",
                ) from None
            raise ProxyError(
                f"the proxy at {self.base} answered HTTP {exc.code}: {detail.strip()[:200]}"
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ProxyUnreachable(f"the proxy at {self.base} does not answer: {reason}") from None
        try:
            answer = json.loads(text) if text.strip() else {}
        except ValueError:
            raise ProxyError(f"{self.base} answered something that is not the devstack proxy API") from None
        return answer if isinstance(answer, dict) else {}


def run(
    settings: AgentSettings,
    report: Callable[[str], None],
    stop: threading.Event,
    connect: Callable[[str], EngineLike] | None = None,
) -> None:
    """Follow the engine and push routes until `stop` is set; raises TokenRejected at once."""
    from devstack import engine as engines

    assert settings.address and settings.name  # check_settings() filled them in
    client = Client(settings.to, settings.token)
    ref = EngineRef(settings.name, settings.engine_url, local=False, address=settings.address)
    hub = Hub(Settings(name=f"agent-{settings.name}", grace=settings.grace))
    hub.add_engine(ref, "agent", SpecCache(read_direct, synchronous=True))
    connect = connect or (lambda url: engines.Engine(url, timeout=10))
    follower = Follower(hub, ref, connect, report, stop)

    backoff = 1.0
    while not stop.is_set():  # the proxy must accept us before anything else happens
        try:
            client.request("GET", "/v1/health")
            break
        except ProxyUnreachable as exc:
            report(f"{exc.message}; retrying in {backoff:g} s")
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
    if stop.is_set():
        return
    report(f"proxy at {settings.to} accepted agent {settings.name} (address {settings.address})")
    follower.start()
    sent: Table | None = None
    last_push = 0.0
    seen = -1
    backoff = 1.0
    try:
        while not stop.is_set():
            with hub.lock:
                if hub.version == seen:
                    hub.changed.wait(min(settings.interval, 1.0))
                version = hub.version
            table = hub.table()
            now = time.monotonic()
            if table == sent and version == seen and now - last_push < settings.interval:
                continue
            if table == sent and now - last_push < settings.interval:
                seen = version
                continue
            try:
                client.request(
                    "PUT",
                    f"/v1/agents/{settings.name}",
                    payload_from_table(settings.address, settings.engine_url, table),
                )
            except ProxyUnreachable as exc:
                report(f"{exc.message}; retrying in {backoff:g} s")
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                continue
            if table != sent:
                report(
                    f"pushed {len(table.routes)} route(s): "
                    + (", ".join(r.host for r in table.routes) or "none")
                )
            sent, last_push, seen, backoff = table, now, version, 1.0
    finally:
        stop.set()
        try:
            client.request("DELETE", f"/v1/agents/{settings.name}")
        except ProxyError:
            pass  # the proxy drops our routes after the grace period anyway
