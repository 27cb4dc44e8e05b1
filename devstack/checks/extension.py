"""The `x-devstack` block (DS219): what `devstack run` and `devstack db` will read.

Compose ignores `x-` keys, so a mistake there passes `docker compose config` and shows up only
when a teammate runs `devstack run TOOL` or `devstack db`. `check` reads the block the way
those commands do and says what is wrong with it, with its line.
"""

from __future__ import annotations

from devstack import tools
from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.checks.context import Context
from devstack.errors import DevstackError


def check(ctx: Context) -> list[Finding]:
    block = (ctx.model or {}).get("x-devstack")
    if block is None:
        return []
    if not isinstance(block, dict):
        return [
            finding(
                "DS219",
                "x-devstack is not a mapping",
                "write it as `x-devstack:` followed by indented keys (stack, web, tools, databases)",
                ctx.where(None, "x-devstack"),
            )
        ]
    return _tools(ctx, block) + _databases(ctx, block)


def _tools(ctx: Context, block: dict) -> list[Finding]:
    try:
        files = ctx.project.files
        declared = tools.parse(block.get("tools"), files[0].name if len(files) == 1 else "the compose files")
    except DevstackError as exc:
        return [finding("DS219", exc.message, exc.hint, ctx.where(None, "x-devstack", "tools"))]
    findings = []
    for name, tool in sorted(declared.items()):
        if tool.service not in ctx.every_service:
            known = ", ".join(sorted(ctx.every_service)) or "none"
            findings.append(
                finding(
                    "DS219",
                    f"tool {name} runs in service {tool.service!r}, which the project does not define",
                    f"fix x-devstack.tools.{name}.service; services: {known}",
                    ctx.where(None, "x-devstack", "tools", name, "service"),
                )
            )
    return findings


def _databases(ctx: Context, block: dict) -> list[Finding]:
    """Services `x-devstack.databases` names that do not exist (its settings: databases.py)."""
    declared = block.get("databases")
    names = declared if isinstance(declared, list) else list(declared) if isinstance(declared, dict) else []
    known = ", ".join(sorted(ctx.every_service)) or "none"
    return [
        finding(
            "DS219",
            f"x-devstack.databases names service {name!r}, which the project does not define",
            f"name one of the services: {known}",
            ctx.where(None, "x-devstack", "databases", name),
        )
        for name in map(str, names)
        if name not in ctx.every_service
    ]
