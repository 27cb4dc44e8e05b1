"""The shared reverse proxy (`devstack proxy`): one nginx that routes `<project>.localhost` to
each project's web service, kept in step with the engines' events by a watcher.

- routes.py   what a container tells us, and the routes that follow from it (pure data)
- meta.py     a project's `x-devstack.web`, read from its compose files
- render.py   nginx configuration and the devstack page, rendered with jinja2
- watcher.py  follows engines' events, reconciles, validates with `nginx -t`, reloads nginx
- api.py      the small HTTP API that push-mode agents talk to
- agent.py    `devstack proxy agent`: follows an engine next to it, pushes its routes
- control.py  `devstack proxy start|stop|status|routes`: images, containers, state
"""

from __future__ import annotations

DEFAULT_NAME = "devstack-proxy"
ROLE_LABEL = "dev.devstack.proxy.role"  # nginx | watcher
INSTANCE_LABEL = "dev.devstack.proxy.instance"  # the proxy's name (one engine may run several)
CONFIG_LABEL = "dev.devstack.proxy.config"  # a hash of the settings a container was started with
PORT_LABEL = "dev.devstack.proxy.port"
LISTEN_LABEL = "dev.devstack.proxy.listen"
DOMAIN_LABEL = "dev.devstack.proxy.domain"
IMAGE_HASH_LABEL = "dev.devstack.proxy.image-hash"
# Set on a service (compose `labels:`) to choose the web entry point or the port by hand;
# useful on engines whose compose files the proxy cannot read.
WEB_LABEL = "dev.devstack.web"
HTTP_PORT_LABEL = "dev.devstack.port"
CONF_DIR = "/etc/devstack-proxy"  # the shared volume, in both containers
API_PORT_IN_CONTAINER = 8700  # the watcher's API (not published; nginx forwards to it)
NGINX_API_PORT = 8081  # where nginx listens for the API inside its container
