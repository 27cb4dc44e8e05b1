"""For `devstack up`: the project's URLs through the shared proxy, when one runs.

Cheap on purpose (it runs after every `up`): one request to the engine's local socket to find
the proxy's nginx, then its `/_devstack/routes.json`; no Docker SDK, no jinja2.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any, NamedTuple

from devstack.errors import DevstackError
from devstack.proxy import DEFAULT_NAME, DOMAIN_LABEL, INSTANCE_LABEL, LISTEN_LABEL, PORT_LABEL, ROLE_LABEL


class ProjectLink(NamedTuple):
    urls: tuple[str, ...]  # the project's URL first, then its services'
    note: str | None = None  # why there is no URL (no HTTP service, not ready yet)


def project_link(project: str, wait: float = 3.0) -> ProjectLink | None:
    """The project's URLs through the proxy, or None when no proxy runs. Never raises."""
    from devstack import engine as engines

    try:
        found = engines.containers_labelled(f"{ROLE_LABEL}=nginx")
    except DevstackError:
        return None
    found = [c for c in found if str(c.get("State")) == "running"]
    if not found:
        return None
    found.sort(key=lambda c: (c.get("Labels") or {}).get(INSTANCE_LABEL) != DEFAULT_NAME)
    labels = found[0].get("Labels") or {}
    try:
        port = int(labels.get(PORT_LABEL) or 80)
    except ValueError:
        return None
    listen = str(labels.get(LISTEN_LABEL) or "127.0.0.1")
    domain = str(labels.get(DOMAIN_LABEL) or "localhost")
    guess = f"http://{project}.{domain}{'' if port == 80 else f':{port}'}/"
    if not engines.docker_host().startswith("unix://"):
        return ProjectLink((guess,))  # the proxy runs on another machine: its page is not ours to ask
    deadline = time.monotonic() + wait
    note = None
    while True:
        document = fetch_routes(listen, port)
        if document is not None:
            mine = [r for r in document.get("routes", []) if r.get("project") == project]
            urls = [r["url"] for r in mine if r.get("web")] + [r["url"] for r in mine if not r.get("web")]
            if urls:
                return ProjectLink(tuple(urls))
            reasons = [u for u in document.get("unrouted", []) if u.get("project") == project]
            note = reasons[0].get("reason") if reasons else None
            if note and "no HTTP service" in note:
                return ProjectLink((), note)
        if time.monotonic() > deadline:
            return ProjectLink((), note or "not routed yet (`devstack proxy routes` shows why)")
        time.sleep(0.1)


def fetch_routes(listen: str, port: int) -> dict[str, Any] | None:
    """The proxy's `/_devstack/routes.json`, or None when it does not answer."""
    host = "127.0.0.1" if listen in ("0.0.0.0", "::") else listen
    try:
        with socket.create_connection((host, port), timeout=2) as conn:
            conn.sendall(b"GET /_devstack/routes.json HTTP/1.0\r\nHost: localhost\r\n\r\n")
            chunks = []
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    except OSError:
        return None
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
