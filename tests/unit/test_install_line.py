"""One install line everywhere: PyPI's `devstack` is an unrelated project, ours is devstack-compose."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from devstack import DISTRIBUTION, __version__, scaffold, stacks

ROOT = Path(__file__).resolve().parents[2]
LINE = f"pipx install {DISTRIBUTION}"
# `pip install devstack` / `pipx install devstack` / pypi.org/project/devstack/ name the wrong project.
WRONG = re.compile(r"pipx? install devstack(?![-\w])|pypi\.org/project/devstack/")


def template_sources() -> list[Path]:
    """Every README part in the templates: the stacks' own and the shared ones they include."""
    return sorted(p for p in (ROOT / "templates").rglob("*.md") if p.is_file())


def test_the_distribution_name_is_the_one_on_the_install_line():
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    assert cfg["metadata"]["name"] == DISTRIBUTION == "devstack-compose"
    assert "devstack = devstack.__main__:main" in cfg["options.entry_points"]["console_scripts"]


def test_version_names_the_package(run):
    result = run("--version")
    assert result.exit_code == 0
    assert result.out.strip() == f"devstack {__version__} (PyPI package {DISTRIBUTION}: {LINE})"


def test_project_readme_shows_the_line():
    text = (ROOT / "README.md").read_text()
    assert LINE in text
    assert not WRONG.search(text)


@pytest.mark.parametrize("stack", [s.name for s in stacks.available()])
def test_every_generated_readme_shows_the_line(stack, tmp_path):
    """Generate the stack as a user would and read the README teammates get."""
    project = scaffold.create(stack, tmp_path / "site", name="site").root
    text = (project / "README.md").read_text()
    assert LINE in text
    assert not WRONG.search(text), WRONG.search(text)


@pytest.mark.parametrize("source", template_sources(), ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_no_template_part_names_the_wrong_project(source):
    assert not WRONG.search(source.read_text())
