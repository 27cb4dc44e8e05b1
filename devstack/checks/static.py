"""The static checks of `devstack check`: everything that can be known before `up`.

`run(project, model)` reads the project's compose files (for line numbers and for what Compose
normalises away, like short-syntax mounts), and takes Compose's own `config` output as the
model of what `up` will run. When Compose is not installed or failed, `model` is None and the
fallback in `devstack.model` stands in for it. Nothing here runs Compose.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from devstack import model as fallback
from devstack import syntax
from devstack.checks import Finding, Severity, files, links, paths, ports
from devstack.checks import env as env_checks
from devstack.composefile import ComposeFile
from devstack.model import ResolveError
from devstack.project import Project


class Context:
    """What every check family reads."""

    def __init__(
        self,
        project: Project,
        sources: list[ComposeFile],
        env: dict[str, str],
        model: dict[str, Any],
        every_service: dict[str, dict[str, Any]],
        from_compose: bool,
        active_profiles: set[str],
        problems: list[ResolveError],
    ) -> None:
        self.project = project
        self.sources = sources
        self.env = env  # the variables Compose interpolates with (shell over .env)
        self.model = model  # what `up` runs: Compose's model (or the fallback's)
        self.every_service = every_service  # all services of every profile, merged
        self.from_compose = from_compose
        self.active_profiles = active_profiles
        self.problems = problems

    @classmethod
    def create(cls, project: Project, sources: list[ComposeFile], model: Mapping[str, Any] | None) -> Context:
        env = project.interpolation_env()
        merged, problems = fallback.build(sources, project.root, env)
        every = syntax.services(merged)
        if model is not None:
            # Compose is the authority for what it returns (the active services); the
            # fallback fills in services of inactive profiles, which Compose leaves out.
            every.update(syntax.services(model))
            run_model = dict(model)
        else:
            run_model = dict(merged)
        active = syntax.active_profiles(env)
        run_model["services"] = {
            n: s for n, s in syntax.services(run_model).items() if syntax.is_active(s, active)
        }
        return cls(project, sources, env, run_model, every, model is not None, active, problems)

    @property
    def services(self) -> dict[str, dict[str, Any]]:
        """The services `up` starts (active profiles only)."""
        return syntax.services(self.model)

    def where(self, service: str | None, *key: Any) -> str | None:
        """`file:line` of ("services", service, *key), from the file that defines most of it."""
        path = ("services", service, *key) if service is not None else key
        best: tuple[int, ComposeFile] | None = None
        minimum = 2 if service is not None else 1  # the service itself, at least
        for source in self.sources:
            depth = next((n for n in range(len(path), 0, -1) if source.defines(*path[:n])), 0)
            if depth >= minimum and (best is None or depth >= best[0]):
                best = (depth, source)
        if best is None:
            return f"service {service}" if service is not None else None
        return best[1].where(*path)


FAMILIES = (files, links, env_checks, ports, paths)


def run(
    project: Project,
    model: Mapping[str, Any] | None,
    *,
    compose_error: str | None = None,
    loaded: tuple[list[ComposeFile], list[Finding]] | None = None,
) -> list[Finding]:
    """Every static finding for the project, errors first.

    `model` is Compose's `config` output, or None when Compose is unavailable or failed;
    `compose_error` is Compose's error output in the latter case: it becomes a finding when
    none of the checks here explains the failure. `loaded` is `files.load_sources(project)`
    when the caller parsed the files already.
    """
    sources, findings = loaded if loaded is not None else files.load_sources(project)
    findings = list(findings)
    if len(sources) == len(project.files):
        context = Context.create(project, sources, model)
        for family in FAMILIES:
            findings.extend(family.check(context))
    else:
        # A file that cannot be parsed leaves nothing reliable to check it against.
        findings.extend(env_checks.check_project_files(project))
    if compose_error and not any(f.severity >= Severity.ERROR for f in findings):
        findings.append(files.from_compose_error(compose_error))
    return ordered(findings)


def ordered(findings: list[Finding]) -> list[Finding]:
    """Errors first, then by code and location (line 9 before line 10); duplicates dropped."""
    return sorted(dict.fromkeys(findings), key=_order)


def _order(f: Finding) -> tuple[Any, ...]:
    place, _, line = (f.location or "").partition(":")
    number = int(line.split(":")[0]) if line.split(":")[0].isdigit() else 0
    return (-f.severity, f.code, place, number, f.location or "", f.message)
