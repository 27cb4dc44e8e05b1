"""Database services whose files the project does not expect (DS810, DS811): see dbcheck.py."""

from __future__ import annotations

from devstack.checks import Finding
from devstack.checks.context import Context


def check(ctx: Context) -> list[Finding]:
    """Files of a database's bind-mounted data directory owned by an unexpected uid."""
    from devstack import db, dbcheck
    from devstack.errors import UsageError

    try:
        databases = db.discover(ctx.model or {})
    except UsageError:
        return []  # a malformed x-devstack.databases is reported by the db commands
    return dbcheck.legacy_ownership([d for d in databases if d.service in ctx.services])
