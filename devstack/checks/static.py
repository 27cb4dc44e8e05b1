"""The static checks of `devstack check` (and of `up`'s pre-flight): what is known before `up`.

`run` takes the compose files as written (`context.load_sources`) and Compose's answer to one
`config` call (`ComposeRunner.model`). The checks that need no merged model (YAML, duplicate
keys, the schema, `${VAR}` references, `.env`) always run; the checks that need the merged
project (references, ports, paths, health, profiles) run on Compose's model, and are skipped,
with one INFO finding saying why, when there is none. Nothing here runs Compose.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from devstack import syntax
from devstack.checks import Finding, Severity, capabilities, databases, extension, files, links, paths, ports
from devstack.checks import env as env_checks
from devstack.checks.codes import finding
from devstack.checks.context import Context, EngineView, NoEngine, Sources

if TYPE_CHECKING:
    from devstack.compose import ComposeModel
    from devstack.project import Project

Check = Callable[[Context], list[Finding]]
# Checks of each file as written: they run with or without Compose.
PER_FILE: tuple[Check, ...] = (
    files.check,
    env_checks.check_files,
    links.check_extends,
    ports.check_files,
    paths.check_files,
)
# Checks of the merged project: they need Compose's model.
MERGED: tuple[Check, ...] = (
    files.check_images,
    links.check,
    ports.check,
    paths.check,
    capabilities.check,
    databases.check,
    extension.check,
)


def run(
    project: Project,
    sources: Sources,
    compose: ComposeModel | None,
    *,
    engine: EngineView | None = None,
    no_compose: str = "Docker Compose is not installed",
) -> list[Finding]:
    """Every static finding for the project, errors first.

    `compose` is Compose's answer (None when Compose is not installed: `no_compose` says why).
    When Compose rejected the project, its error becomes a finding unless a check here
    explains the problem more exactly.
    """
    env = project.interpolation_env()
    model = compose.data if compose is not None and sources.complete else None
    context = Context(
        project,
        sources,
        env,
        model,
        frozenset(syntax.active_profiles(env)),
        engine or NoEngine(),
        compose.warnings if compose is not None else "",
    )
    findings = list(sources.findings)
    if not sources.complete:
        # A -f file that cannot be parsed leaves nothing reliable to check it against.
        findings += env_checks.check_project_files(project)
        return ordered(findings)
    for check in PER_FILE:
        findings += check(context)
    if model is not None:
        for check in MERGED:
            findings += check(context)
    else:
        findings.append(_skipped(compose, no_compose))
    if compose is not None and compose.workaround:
        findings.append(finding("DS109", compose.workaround, None, None))
    if compose is not None and compose.rejected and not _has_error(findings):
        findings.append(files.from_compose_error(compose.rejected, context))
    return ordered(findings)


def _skipped(compose: ComposeModel | None, no_compose: str) -> Finding:
    what = "the checks that need the merged project (references, ports, paths, health) were skipped"
    if compose is None:
        return finding(
            "DS108",
            f"{no_compose}: {what}",
            "install the Compose v2 plugin (https://docs.docker.com/compose/install/), then run "
            "`devstack check` again",
        )
    if compose.rejected:
        return finding(
            "DS108",
            f"Compose rejects the project: {what}",
            "fix the errors above, then run `devstack check` again",
        )
    return finding("DS108", f"{compose.unavailable or 'Compose gave no answer'}: {what}", None)


def _has_error(findings: list[Finding]) -> bool:
    return any(f.severity >= Severity.ERROR for f in findings)


def ordered(findings: list[Finding]) -> list[Finding]:
    """Errors first, then by code and location (line 9 before line 10); duplicates dropped."""
    return sorted(dict.fromkeys(findings), key=_order)


def _order(f: Finding) -> tuple[Any, ...]:
    place, _, line = (f.location or "").partition(":")
    number = int(line.split(":")[0]) if line.split(":")[0].isdigit() else 0
    return (-f.severity, f.code, place, number, f.location or "", f.message)
