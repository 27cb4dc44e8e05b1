"""The wheel ships the templates: build it, install it into a fresh virtualenv, run `devstack new`."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    (built,) = out.glob("devstack-*.whl")
    return built


def test_wheel_contains_templates(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    base = "devstack/templates/drupal/"
    assert base + "cookiecutter.json" in names
    for rel in (
        "docker-compose.yml",
        ".env.example",
        ".gitignore",
        ".dockerignore",
        "Dockerfile",
        "src/web/index.php",
        "data/.gitkeep",
        "docker/apache-foreground",
    ):
        assert f"{base}{{{{cookiecutter.project_name}}}}/{rel}" in names, rel
    # The parts the stacks share, and every stack of the catalogue.
    assert "devstack/templates/_shared/docker/certs/README.md" in names
    for stack in ("lamp", "lemp", "laravel", "wordpress"):
        assert f"devstack/templates/{stack}/cookiecutter.json" in names, stack


def test_installed_wheel_generates_a_project(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    pip_env = dict(os.environ)
    # Reuse the real pip cache: the test's HOME is a fresh temporary directory.
    pip_env["PIP_CACHE_DIR"] = os.path.join(
        os.path.expanduser("~" + os.environ.get("USER", "")), ".cache", "pip"
    )
    pip_env.pop("PYTHONPATH", None)
    subprocess.run(
        [str(env_dir / "bin/pip"), "install", "-q", "--disable-pip-version-check", str(wheel)],
        check=True,
        env=pip_env,
        capture_output=True,
        text=True,
    )
    target = tmp_path / "outside" / "mysite"
    proc = subprocess.run(
        [str(env_dir / "bin/devstack"), "new", "drupal", str(target), "--no-input"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=pip_env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert (target / "docker-compose.yml").is_file()
    assert (target / "src/web/index.php").is_file()
    assert (target / ".env").is_file()
