"""nginx configuration and the devstack page for a route table, rendered with jinja2.

Every value that lands in the nginx configuration passes a filter that lets through only what
that position allows (host names, addresses, numbers): routes may come from a remote agent, and
a stray `;` or `}` must never reach nginx.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.proxy import API_PORT_IN_CONTAINER, CONF_DIR, NGINX_API_PORT
from devstack.proxy.routes import Table, valid_address

FILES = Path(__file__).resolve().parent / "files"
_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,252}")
_COMMENT_UNSAFE = re.compile(r"[^A-Za-z0-9_.:/@+-]")


class RenderError(ValueError):
    """A value that cannot be put into an nginx configuration."""


@dataclass(frozen=True)
class Site:
    """What the rendering needs to know about the proxy itself."""

    domain: str = "localhost"
    port: int = 80  # the published port, for links on the page
    api: bool = False
    watcher_host: str = "devstack-proxy-watcher"


def nginx_name(value: Any) -> str:
    text = str(value)
    if not _NAME.fullmatch(text):
        raise RenderError(f"not a host name: {text!r}")
    return text


def nginx_address(value: Any) -> str:
    text = str(value)
    if not valid_address(text):
        raise RenderError(f"not an address: {text!r}")
    try:
        if ipaddress.ip_address(text).version == 6:
            return f"[{text}]"
    except ValueError:
        pass
    return text


def nginx_comment(value: Any) -> str:
    return _COMMENT_UNSAFE.sub("_", str(value))[:120]


def _environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(FILES)),
        undefined=jinja2.StrictUndefined,
        autoescape=jinja2.select_autoescape(enabled_extensions=("html.j2",), default=False),
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(nginx_name=nginx_name, nginx_address=nginx_address, nginx_comment=nginx_comment)
    return env


def url(host: str, site: Site) -> str:
    suffix = "" if site.port == 80 else f":{site.port}"
    return f"http://{host}.{site.domain}{suffix}/"


def routes_document(table: Table, site: Site, generation: int) -> dict[str, Any]:
    """What `/_devstack/routes.json` says (and `devstack proxy routes --json`)."""
    return {
        "schema_version": 1,
        "generation": generation,
        "domain": site.domain,
        "port": site.port,
        "routes": [dict(r.to_dict(site.domain), url=url(r.host, site)) for r in table.routes],
        "unrouted": [u.to_dict() for u in table.unrouted],
    }


def render(table: Table, site: Site, generation: int) -> dict[str, str]:
    """The files of one generation: nginx.conf, routes.conf, index.html, routes.json."""
    import jinja2

    env = _environment()
    nginx_name(site.domain)
    own_names = ["localhost", "127.0.0.1"] + ([site.domain] if site.domain != "localhost" else [])
    projects = []
    for route in table.routes:
        if not route.web:
            continue
        services = [
            {"name": r.service, "url": url(r.host, site)}
            for r in table.routes
            if not r.web and r.project == route.project and r.engine == route.engine
        ]
        projects.append({"name": route.project, "url": url(route.host, site), "services": services})
    unrouted = [u for u in table.unrouted if u.service is None] + [
        u for u in table.unrouted if u.service is not None
    ]
    context = {
        "generation": generation,
        "conf_dir": CONF_DIR,
        "domain": site.domain,
        "own_names": own_names,
        "api": site.api,
        "api_port": NGINX_API_PORT,
        "watcher_host": nginx_name(site.watcher_host),
        "watcher_port": API_PORT_IN_CONTAINER,
        "routes": table.routes,
        "projects": projects,
        "unrouted": unrouted,
        "port_suffix": "" if site.port == 80 else f":{site.port}",
    }
    try:
        return {
            "nginx.conf": env.get_template("nginx.conf.j2").render(context),
            "routes.conf": env.get_template("routes.conf.j2").render(context),
            "index.html": env.get_template("index.html.j2").render(context),
            "routes.json": json.dumps(routes_document(table, site, generation), indent=2) + "\n",
        }
    except jinja2.TemplateError as exc:  # a bug in a template: say which
        raise RenderError(f"cannot render the proxy configuration: {exc}") from exc
