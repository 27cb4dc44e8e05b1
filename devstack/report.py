"""Turn results into text for people, or JSON for machines. Never prints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from devstack.addons import Addon, Plan, Result
    from devstack.checks import Finding
    from devstack.config import Value
    from devstack.lifecycle import DownResult, ServiceStatus, UpResult
    from devstack.scaffold import CreateResult
    from devstack.stacks import Stack
    from devstack.tools import Tool

JSON_SCHEMA_VERSION = 1


def stacks_table(stacks: list[Stack]) -> str:
    width = max((len(s.name) for s in stacks), default=0)
    return "\n".join(f"{s.name.ljust(width)}  {s.description}" for s in stacks)


def created(result: CreateResult, cwd_relative: str) -> str:
    lines = []
    if result.dry_run:
        lines.append(f"Would create {result.stack.name} project {result.name!r} in {cwd_relative}:")
        lines += [f"  write  {rel}" for rel in result.written]
        lines += [f"  keep   {rel} (exists)" for rel in result.kept]
        lines += [f"note: {note}" for note in result.notes]
        return "\n".join(lines)
    lines.append(
        f"Created {result.stack.name} project {result.name!r} in {cwd_relative} "
        f"({len(result.written)} files)."
    )
    if result.kept:
        lines.append("Kept existing files (not overwritten): " + ", ".join(result.kept))
    if result.env and result.env.generated:
        lines.append("Generated secrets in .env (git-ignored): " + ", ".join(result.env.generated))
    if result.certs:
        names = ", ".join(rel.rsplit("/", 1)[-1] for rel in result.certs)
        lines.append(f"Copied CA certificates into docker/certs/ (trusted by the image build): {names}")
    lines += [f"note: {note}" for note in result.notes]
    lines.append("")
    lines.append("Next:")
    if cwd_relative not in (".", ""):
        import shlex

        lines.append(f"  cd {shlex.quote(cwd_relative)}")
    lines.append("  devstack up")
    port = result.answers.get("web_port")
    if port:
        lines.append(f"  open http://localhost:{port}/")
    return "\n".join(lines)


def error(message: str, hint: str | None, details: str | None = None) -> str:
    text = f"error: {message}"
    if hint:
        text += f"\n  hint: {hint}"
    if details:
        text += "\n" + "\n".join(f"  | {line}" for line in details.splitlines())
    return text


def findings_text(findings: Sequence[Finding], *, verbose: bool = False) -> str:
    from devstack.checks import Severity

    shown = [f for f in findings if verbose or f.severity > Severity.INFO]
    if not shown:
        return "No problems found."
    order = sorted(shown, key=lambda f: (-int(f.severity), f.code, f.location or ""))
    lines = []
    for f in order:
        where = f" [{f.location}]" if f.location else ""
        lines.append(f"{str(f.severity).upper():7} {f.code} {f.message}{where}")
        if f.hint:
            lines.append(f"        hint: {f.hint}")
    errors = sum(1 for f in shown if f.severity >= Severity.ERROR)
    warnings = sum(1 for f in shown if f.severity == Severity.WARNING)
    lines.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(lines)


def as_json(kind: str, payload: dict[str, Any]) -> str:
    import json

    return json.dumps({"schema_version": JSON_SCHEMA_VERSION, "kind": kind, **payload}, indent=2)


def findings_json(findings: Sequence[Finding]) -> str:
    from devstack.checks import Severity

    return as_json(
        "check",
        {
            "findings": [f.to_dict() for f in findings],
            "errors": sum(1 for f in findings if f.severity >= Severity.ERROR),
        },
    )


def status_table(statuses: Sequence[ServiceStatus], *, uptime: bool = False) -> str:
    """SERVICE STATE HEALTH URL and READY (`up`: seconds until ready) or UPTIME (`status`)."""
    if not statuses:
        return "No containers: the stack is not running (`devstack up` starts it)."
    rows = [("SERVICE", "STATE", "HEALTH", "URL", "UPTIME" if uptime else "READY")]
    for s in statuses:
        state = s.state
        if s.exit_code is not None:
            state += f" ({s.exit_code})"
        if s.restarts and s.state != "not created":
            state += f", {s.restarts} restarts"
        seconds = s.uptime_seconds if uptime else s.ready_seconds
        rows.append((s.service, state, s.health or "-", " ".join(s.urls) or "-", _duration(seconds)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours < 48 else f"{hours // 24}d"


def down_summary(project: str, volumes: bool, result: DownResult) -> str:
    text = f"{project} is down" + (" (named volumes deleted)" if volumes else "; data is kept")
    if result.removed_anonymous:
        text += f"; {result.removed_anonymous} anonymous volume(s) removed with their containers"
    if result.kept_anonymous:
        names = " ".join(result.kept_anonymous)
        text += (
            f".\n{len(result.kept_anonymous)} anonymous volume(s) are still used by containers outside the "
            f"project; when those are gone: docker volume rm {names}"
        )
    return text + "."


def up_summary(result: UpResult) -> str:
    from devstack.checks import Severity

    lines = [status_table(result.services)]
    problems = [f for f in result.findings + result.runtime if f.severity > Severity.INFO]
    if problems:
        lines.append("")
        lines.append(findings_text(problems))
    if result.proxy is not None:  # the shared proxy runs (devstack proxy)
        lines.append("Proxy: " + (" ".join(result.proxy.urls) or str(result.proxy.note)))
    failed = sum(1 for f in result.runtime if f.severity >= Severity.ERROR)
    if failed:  # one verdict, after the evidence
        lines.append(
            f"{result.project} started, but {failed} runtime check(s) failed ({result.seconds:.1f} s): "
            "fix them and run `devstack up` again."
        )
    else:
        lines.append(f"{result.project} is up ({result.seconds:.1f} s).")
    return "\n".join(lines)


def tools_table(tools: Sequence[Tool]) -> str:
    """`devstack run`: name, service, description."""
    if not tools:
        return (
            "This project declares no tools.\n"
            "Declare them in the compose file under x-devstack.tools, e.g.\n"
            "  x-devstack:\n"
            "    tools:\n"
            "      npm: {service: app, command: [npm], workdir: /app, description: Node packages}"
        )
    rows = [("TOOL", "SERVICE", "DESCRIPTION")] + [(t.name, t.service, t.description) for t in tools]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{a.ljust(widths[0])}  {b.ljust(widths[1])}  {c}".rstrip() for a, b, c in rows]
    return "\n".join(lines + ["", "Run one: devstack run TOOL [ARGS...]"])


# -- add / remove (issue 11) -------------------------------------------------------------------


def addons_table(entries: Sequence[Addon]) -> str:
    width = max((len(a.name) for a in entries), default=0)
    lines = [f"{a.name.ljust(width)}  {a.summary}  [{a.image}]" for a in entries]
    lines.append("")
    lines.append("Add one with `devstack add SERVICE` (--as NAME, --to APP, --set KEY=VALUE, --dry-run).")
    return "\n".join(lines)


def data_of(plan: Plan) -> list[str]:
    """What `remove --volumes` would delete, as a person reads it."""
    import os

    found = [
        os.path.relpath(d, plan.project.root) + "/" for d in plan.data_dirs if d.is_dir() and any(d.iterdir())
    ]
    return found + [f"volume {v}" for v in plan.named_volumes]


def added(result: Result) -> str:
    plan = result.plan
    verb = "Would add" if result.dry_run else "Added"
    image = f" ({plan.image})" if plan.image else ""
    if plan.addon is not None and plan.addon.kind == "tool":
        wired = f", serving {plan.apps[0]}" if plan.apps else ""
    else:
        wired = f", wired into {', '.join(plan.apps)}" if plan.apps else ""
    lines = [f"{verb} {plan.name}{image}{wired}."]
    for change in plan.changes:
        lines.append(f"  {'write' if result.dry_run else 'wrote'}  {change.label}")
    if plan.wire_keys and plan.apps and (plan.addon is None or plan.addon.kind == "service"):
        lines.append(f"  environment of {', '.join(plan.apps)}: {', '.join(plan.wire_keys)}")
    if result.env_added:
        generated = f" (generated: {', '.join(result.generated)})" if result.generated else ""
        lines.append(f"  .env: {', '.join(result.env_added)}{generated}")
    for directory in result.created_dirs:
        lines.append(f"  created {directory}")
    lines += [f"note: {note}" for note in result.warnings or (plan.notes if result.dry_run else [])]
    if not result.dry_run:
        web = [u for u in plan.urls if u.startswith("http")]
        clients = [u for u in plan.urls if not u.startswith("http")]
        then = f"; then open {', '.join(web)}" if web else ""
        then += f"; clients on this machine connect to {', '.join(clients)}" if clients else ""
        lines.append("")
        lines.append(f"Start it with `devstack up`{then}.")
    return "\n".join(lines)


def removed(result: Result) -> str:
    plan = result.plan
    verb = "Would remove" if result.dry_run else "Removed"
    unwired = f", unwired from {', '.join(plan.apps)}" if plan.apps else ""
    lines = [f"{verb} {plan.name}{unwired}."]
    for label in result.written:
        lines.append(f"  {'write' if result.dry_run else 'wrote'}  {label}")
    if result.dry_run:
        doomed = data_of(plan)
        if doomed:
            lines.append(("  delete " if plan.delete_data else "  keep   ") + ", ".join(doomed))
    for item in result.deleted:
        lines.append(f"  deleted {item}")
    for item in result.kept:
        lines.append(
            f"  kept   {item} (`devstack remove {plan.name} --volumes` deletes it; add it again to use it)"
        )
    lines += [f"note: {note}" for note in result.warnings or (plan.notes if result.dry_run else [])]
    if not result.dry_run and plan.apps:
        lines.append("")
        lines.append(f"Run `devstack up` to restart {', '.join(plan.apps)} without it.")
    return "\n".join(lines)


def config_table(values: Sequence[Value], path: Path, problems: Sequence[str]) -> str:
    """`devstack config`: each key, its effective value, and where that value came from."""
    rows = [("KEY", "VALUE", "FROM")]
    for v in values:
        shown = "-" if v.value is None else str(v.value)
        rows.append((v.key, shown, f"{v.source} ({v.where})" if v.where else v.source))
    widths = [max(len(r[i]) for r in rows) for i in range(2)]
    lines = [f"{r[0].ljust(widths[0])}  {r[1].ljust(widths[1])}  {r[2]}".rstrip() for r in rows]
    state = "" if path.is_file() else " (not created yet: `devstack config set KEY VALUE` creates it)"
    lines += [
        "",
        f"User config file: {path}{state}",
        "Precedence: flag > environment (DEVSTACK_*) > project (x-devstack.config) > user file > built-in.",
    ]
    lines += [f"warning: {problem}" for problem in problems]
    return "\n".join(lines)
