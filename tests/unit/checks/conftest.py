"""Helpers for the static checks: a project from inline files, its findings, Compose if any."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from check_helpers import clean_env, write_tree

from devstack.checks import Finding, static
from devstack.project import Project


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Project]:
    """make_project({"compose.yaml": "...", ".env": "..."}, env={...}) -> Project."""

    def make(files: Mapping[str, str], env: Mapping[str, str] | None = None,
             compose_files: tuple[str, ...] = ()) -> Project:
        root = tmp_path / "proj"
        root.mkdir(exist_ok=True)
        write_tree(root, files)
        return Project.load(root, files=compose_files, env=clean_env(**(env or {})))

    return make


@pytest.fixture
def findings(make_project: Callable[..., Project]) -> Callable[..., list[Finding]]:
    """findings(files, env=..., model=...) -> the static findings (fallback model by default)."""

    def run(files: Mapping[str, str], env: Mapping[str, str] | None = None,
            model: dict[str, Any] | None = None, **kw: Any) -> list[Finding]:
        return static.run(make_project(files, env), model, **kw)

    return run
