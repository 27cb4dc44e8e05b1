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
    (built,) = out.glob("devstack_compose-*.whl")
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


def test_wheel_runs_from_its_own_files(wheel, tmp_path):
    """The wheel's files alone (dependencies from this environment) generate a project."""
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--disable-pip-version-check",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    target = tmp_path / "mysite"
    script = (
        "import devstack, sys; print(devstack.__file__); from devstack.cli import main; main(sys.argv[1:])"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, "new", "drupal", str(target), "--no-input"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(str(site))  # the wheel's copy, not this checkout
    assert (target / "docker-compose.yml").is_file() and (target / ".env").is_file()


@pytest.mark.slow
def test_installed_wheel_generates_a_project(wheel, tmp_path):
    """A fresh virtualenv: the wheel's declared dependencies come from the package index."""
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


def test_wheel_contains_the_addon_catalogue(wheel):
    """`devstack add` reads its catalogue from package data next to devstack/addons.py."""
    names = zipfile.ZipFile(wheel).namelist()
    assert "devstack/addons.yaml" in names and "devstack/addons.py" in names


def test_wheel_contains_the_proxy_files(wheel):
    """`devstack proxy start` builds its images from files shipped in the package."""
    names = zipfile.ZipFile(wheel).namelist()
    for rel in (
        "nginx.Dockerfile",
        "watcher.Dockerfile",
        "nginx-entrypoint.sh",
        "nginx.conf.j2",
        "routes.conf.j2",
        "index.html.j2",
    ):
        assert f"devstack/proxy/files/{rel}" in names, rel
    assert "devstack/proxy/watcher.py" in names


@pytest.mark.parametrize(
    ("stack", "files"),
    [
        (
            "django",
            ["src/pages/templates/pages/index.html", "src/pages/migrations/0001_initial.py", ".dockerignore"],
        ),
        ("node", ["src/package-lock.json", "src/test/app.test.js", "docker/start", ".dockerignore"]),
    ],
)
def test_wheel_contains_the_app_stacks(wheel, stack, files):
    archive = zipfile.ZipFile(wheel)
    names = archive.namelist()
    base = f"devstack/templates/{stack}/"
    assert base + "cookiecutter.json" in names
    for rel in files:
        assert f"{base}{{{{cookiecutter.project_name}}}}/{rel}" in names, rel
    if stack == "node":
        info = archive.getinfo(f"{base}{{{{cookiecutter.project_name}}}}/docker/start")
        assert (info.external_attr >> 16) & 0o111, "the entrypoint must stay executable"
