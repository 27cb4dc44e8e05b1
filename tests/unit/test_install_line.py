"""One install line everywhere: PyPI's `devstack` is an unrelated project, ours is devstack-compose."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest

from devstack import DISTRIBUTION, __version__

ROOT = Path(__file__).resolve().parents[2]
LINE = f"pipx install {DISTRIBUTION}"
# `pip install devstack` / `pipx install devstack` / pypi.org/project/devstack/ name the wrong project.
WRONG = re.compile(r"pipx? install devstack(?![-\w])|pypi\.org/project/devstack/")


def template_readmes() -> list[Path]:
    """Every README a generated project gets, and the shared parts templates include."""
    found = sorted((ROOT / "templates").glob("*/{{cookiecutter.project_name}}/**/README*.md"))
    found = [p for p in found if "docker/certs" not in str(p)]
    found += sorted((ROOT / "templates").glob("_*/**/*README*"))
    return found


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


@pytest.mark.parametrize("readme", template_readmes(), ids=lambda p: str(p.relative_to(ROOT / "templates")))
def test_every_generated_readme_shows_the_line(readme):
    text = readme.read_text()
    if "devstack" in text and "Generated with" in text:
        assert LINE in text, readme
    assert not WRONG.search(text), WRONG.search(text)


def test_there_are_generated_readmes():
    stacks = {p.relative_to(ROOT / "templates").parts[0] for p in template_readmes()}
    assert {"drupal", "django", "node"} <= stacks
