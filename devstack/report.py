"""Turn results into text for people (and, where asked, JSON for machines). Never prints."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devstack.scaffold import CreateResult
    from devstack.stacks import Stack


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
        lines.append(
            "Generated secrets in .env (git-ignored): " + ", ".join(result.env.generated)
        )
    lines.append("")
    lines.append("Next:")
    if cwd_relative not in (".", ""):
        lines.append(f"  cd {cwd_relative}")
    lines.append("  devstack up")
    port = result.answers.get("web_port")
    if port:
        lines.append(f"  open http://localhost:{port}/")
    return "\n".join(lines)


def error(message: str, hint: str | None) -> str:
    text = f"error: {message}"
    if hint:
        text += f"\n  hint: {hint}"
    return text
