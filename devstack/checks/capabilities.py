"""DS71x: what the project asks of the engine that this engine cannot give.

Healthcheck `start_interval` (how often to probe while a service starts) needs Docker Engine
25+. Older engines ignore it: the first probe then waits a whole `interval`, and `up` waits
that much longer for every service with a healthcheck.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.checks.context import Context

START_INTERVAL_SINCE = 25


def engine_major(version: str | None) -> int | None:
    """26 for "26.1.5+dfsg1"; None when unknown."""
    match = re.match(r"\s*v?(\d+)\.", version or "")
    return int(match.group(1)) if match else None


def ignores_start_interval(version: str | None) -> bool:
    major = engine_major(version)
    return major is not None and major < START_INTERVAL_SINCE


def start_interval_users(services: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The healthchecks (by service) that set `start_interval`."""
    return {
        str(name): service["healthcheck"]
        for name, service in services.items()
        if isinstance(service, dict)
        and isinstance(service.get("healthcheck"), dict)
        and "start_interval" in service["healthcheck"]
    }


def check(ctx: Context) -> list[Finding]:
    users = start_interval_users(ctx.services)
    if not users:
        return []
    version = ctx.engine.version()  # asked only when a service uses start_interval
    if not ignores_start_interval(version):
        return []
    return [
        finding(
            "DS711",
            f"service {name}: healthcheck `start_interval` needs Docker Engine "
            f"{START_INTERVAL_SINCE}+ (this one is {version}): the first check waits the whole "
            f"interval ({check.get('interval') or '30s'})",
            f"upgrade Docker Engine to {START_INTERVAL_SINCE} or newer, or shorten `interval` while "
            "on this engine",
            ctx.where(name, "healthcheck", "start_interval"),
        )
        for name, check in users.items()
    ]
