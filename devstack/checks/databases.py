"""Database services whose files the project does not expect (DS810, DS811): see dbcheck.py."""

from __future__ import annotations

from devstack import db, dbcheck
from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.checks.context import Context
from devstack.errors import UsageError


def check(ctx: Context) -> list[Finding]:
    """Files of a database's bind-mounted data directory owned by an unexpected uid; a
    malformed `x-devstack.databases` (DS219, as the db commands would refuse it)."""
    try:
        databases = db.discover(ctx.model or {})
    except UsageError as exc:
        return [finding("DS219", exc.message, exc.hint, ctx.where(None, "x-devstack", "databases"))]
    return dbcheck.legacy_ownership([d for d in databases if d.service in ctx.services])
