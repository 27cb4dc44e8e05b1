"""Turn results into text for people, or JSON for machines. Never prints."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devstack.checks import Finding
    from devstack.lifecycle import ServiceStatus, UpResult
    from devstack.scaffold import CreateResult
    from devstack.stacks import Stack

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
        return "\n".join(lines)
    lines.append(
        f"Created {result.stack.name} project {result.name!r} in {cwd_relative} "
        f"({len(result.written)} files)."
    )
    if result.kept:
        lines.append("Kept existing files (not overwritten): " + ", ".join(result.kept))
    if result.env and result.env.generated:
        lines.append("Generated secrets in .env (git-ignored): " + ", ".join(result.env.generated))
    lines.append("")
    lines.append("Next:")
    if cwd_relative not in (".", ""):
        lines.append(f"  cd {cwd_relative}")
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


def status_table(statuses: Sequence[ServiceStatus]) -> str:
    if not statuses:
        return "No containers: the stack is not running (`devstack up` starts it)."
    rows = [("SERVICE", "STATE", "HEALTH", "URL", "READY")]
    for s in statuses:
        ready = f"{s.ready_seconds:.1f}s" if s.ready_seconds is not None else "-"
        rows.append((s.service, s.state, s.health or "-", " ".join(s.urls) or "-", ready))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def up_summary(result: UpResult) -> str:
    from devstack.checks import Severity

    lines = [status_table(result.services)]
    problems = [f for f in result.findings + result.runtime if f.severity > Severity.INFO]
    if problems:
        lines.append("")
        lines.append(findings_text(problems))
    if result.proxy is not None:  # the shared proxy runs (devstack proxy)
        lines.append("Proxy: " + (" ".join(result.proxy.urls) or str(result.proxy.note)))
    lines.append(f"{result.project} is up ({result.seconds:.1f} s).")
    return "\n".join(lines)
