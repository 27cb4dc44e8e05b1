"""Helpers for the static-check tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
from collections.abc import Mapping
from pathlib import Path

import pytest

from devstack.checks import Finding


def clean_env(**extra: str) -> dict[str, str]:
    """A shell environment without the developer's variables (they would change findings)."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/nonexistent")}
    env.update(extra)
    return env


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    """Files from {relative path: text (dedented) or bytes}; a path ending in / is a directory."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir(parents=True, exist_ok=True)
        elif isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(textwrap.dedent(text), encoding="utf-8")


class FakeEngine:
    """The engine as checks see it (checks.context.EngineView), with answers a test chooses."""

    def __init__(self, version: str | None = None, missing: set[tuple[str, str]] = frozenset()) -> None:
        self._version = version
        self.missing = set(missing)
        self.asked: list[tuple[str, str]] = []

    def version(self) -> str | None:
        return self._version

    def exists(self, kind: str, name: str) -> bool | None:
        self.asked.append((kind, name))
        return (kind, name) not in self.missing


def codes(found: list[Finding]) -> list[str]:
    return [f.code for f in found]


def compose_v2() -> list[str] | None:
    """`docker compose` when the v2 plugin answers; skip (or fail under CI) otherwise."""
    if shutil.which("docker"):
        proc = subprocess.run(
            ["docker", "compose", "version", "--short"], capture_output=True, text=True, check=False
        )
        if proc.returncode == 0 and not proc.stdout.strip().lstrip("v").startswith("1."):
            return ["docker", "compose"]
    if os.environ.get("CI"):
        pytest.fail("Compose v2 (`docker compose`) is missing under CI")
    pytest.skip("Compose v2 (`docker compose`) is not installed")
    return None
