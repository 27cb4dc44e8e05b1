"""Helpers for the static checks: a project from inline files, and what `devstack check` finds.

`findings` runs the real thing, as `devstack check` does: Compose v2's merged model and the files
as written (so those tests carry the `compose` marker). `per_file_findings` is `devstack check`
on a machine without Compose: the checks of each file as written only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from check_helpers import clean_env, write_tree

from devstack import lifecycle
from devstack.checks import Finding, static
from devstack.checks.context import EngineView, NoEngine, load_sources
from devstack.compose import ComposeBinary, ComposeRunner
from devstack.project import Project


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Project]:
    """make_project({"compose.yaml": "...", ".env": "..."}, env={...}) -> Project."""

    def make(
        files: Mapping[str, str], env: Mapping[str, str] | None = None, compose_files: tuple[str, ...] = ()
    ) -> Project:
        root = tmp_path / "proj"
        root.mkdir(exist_ok=True)
        write_tree(root, files)
        return Project.load(root, files=compose_files, env=clean_env(**(env or {})))

    return make


@pytest.fixture
def check_project(compose_v2: ComposeBinary) -> Callable[..., list[Finding]]:
    """check_project(project, engine=None) -> `devstack check`'s findings (Compose v2).

    `engine` (a FakeEngine) answers the checks' questions to the engine; by default none is asked.
    """

    def run(project: Project, engine: EngineView | None = None) -> list[Finding]:
        runner = ComposeRunner(project, compose_v2)
        return lifecycle.check(project, runner, engine_view=engine or NoEngine()).findings

    return run


@pytest.fixture
def findings(
    make_project: Callable[..., Project], check_project: Callable[..., list[Finding]]
) -> Callable[..., list[Finding]]:
    """findings(files, env=...) -> what `devstack check` finds, Compose v2 included."""

    def run(
        files: Mapping[str, str], env: Mapping[str, str] | None = None, engine: EngineView | None = None
    ) -> list[Finding]:
        return check_project(make_project(files, env), engine)

    return run


@pytest.fixture
def per_file_findings(make_project: Callable[..., Project]) -> Callable[..., list[Finding]]:
    """per_file_findings(files, env=...) -> what `devstack check` finds without Compose."""

    def run(files: Mapping[str, str], env: Mapping[str, str] | None = None) -> list[Finding]:
        project = make_project(files, env)
        return static.run(project, load_sources(project), None)

    return run
