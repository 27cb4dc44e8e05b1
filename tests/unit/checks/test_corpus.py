"""Real-world-style projects (tests/corpus/) and generated ones: no errors, and the fallback
model agrees with Compose's own.

DS402 (a host port in use) depends on what else runs on this machine, not on the project, so
the "no errors" assertions leave it out; tests/unit/checks/test_check_ports.py covers it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from check_helpers import clean_env, compose_v2

from devstack import model as fallback
from devstack import scaffold, syntax
from devstack.checks import Finding, Severity, static
from devstack.compose import ComposeBinary, ComposeRunner
from devstack.composefile import load
from devstack.project import Project

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
PROJECTS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
# Projects checked again with their optional profiles switched on.
VARIANTS = [(name, {}) for name in PROJECTS] + [
    ("profiles", {"COMPOSE_PROFILES": "tools,debug"}),
    ("extends-files", {"COMPOSE_PROFILES": "test"}),
]
V2 = ComposeBinary(("docker", "compose"), "2", v1=False)


def errors(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.severity >= Severity.ERROR and f.code != "DS402"]


def compose_model(project: Project) -> dict[str, Any]:
    compose_v2()
    return ComposeRunner(project, V2).config()


def test_corpus_is_varied():
    assert len(PROJECTS) >= 8


@pytest.mark.parametrize(("name", "env"), VARIANTS, ids=[f"{n}{'+' if e else ''}" for n, e in VARIANTS])
def test_corpus_has_no_errors_without_compose(name, env):
    project = Project.load(CORPUS / name, env=clean_env(**env))
    assert errors(static.run(project, None)) == []


@pytest.mark.parametrize(("name", "env"), VARIANTS, ids=[f"{n}{'+' if e else ''}" for n, e in VARIANTS])
def test_corpus_has_no_errors_with_composes_model(name, env):
    project = Project.load(CORPUS / name, env=clean_env(**env))
    assert errors(static.run(project, compose_model(project))) == []


@pytest.fixture(params=["mariadb", "mysql"])
def drupal(request, tmp_path) -> Project:
    target = tmp_path / "site"
    scaffold.create("drupal", target, settings={"db": request.param})
    return Project.load(target, env=clean_env())


def test_generated_drupal_has_no_errors(drupal):
    found = static.run(drupal, None)
    assert errors(found) == []
    # ./data/db does not exist before the first start: information, nothing more
    assert [f.code for f in found if f.code != "DS402"] == ["DS504"]


def test_generated_drupal_has_no_errors_with_composes_model(drupal):
    found = static.run(drupal, compose_model(drupal))
    assert [f.code for f in found if f.code != "DS402"] == ["DS504"]


# -- the fallback against Compose ----------------------------------------------------------


def comparable(model: dict[str, Any]) -> dict[str, Any]:
    """The parts checks rely on, in one shape (`$$` is how Compose prints a literal `$`)."""
    out = {}
    for name, service in syntax.services(model).items():
        build = service.get("build")
        out[name] = {
            "image": service.get("image"),
            "build": {k: build.get(k) for k in ("context", "dockerfile", "args", "target")}
            if isinstance(build, dict) else build,
            "environment": {
                k: v.replace("$$", "$") if isinstance(v, str) else v
                for k, v in (service.get("environment") or {}).items()
            },
            "ports": sorted(
                (p.get("host_ip", ""), str(p.get("published", "")), p.get("target"),
                 p.get("protocol")) for p in service.get("ports") or []
            ),
            "volumes": [tuple(m) for _, m in syntax.mounts(service)],
            "depends_on": {k: v.get("condition") for k, v in (service.get("depends_on") or {}).items()},
        }
    return out


@pytest.mark.parametrize(("name", "env"), VARIANTS, ids=[f"{n}{'+' if e else ''}" for n, e in VARIANTS])
def test_fallback_agrees_with_compose(name, env):
    project = Project.load(CORPUS / name, env=clean_env(**env))
    theirs = compose_model(project)
    sources = [load(path, project.root) for path in project.files]
    merged, problems = fallback.build(sources, project.root, project.interpolation_env())
    ours = {"services": fallback.active_model(merged, project.interpolation_env())}
    assert problems == []
    assert comparable(ours) == comparable(theirs)


# -- locations -----------------------------------------------------------------------------


def test_locations_point_at_the_line(tmp_path):
    import shutil

    root = tmp_path / "webapp"
    shutil.copytree(CORPUS / "webapp-stack", root)
    compose = root / "compose.yaml"
    text = compose.read_text().replace("published: \"${WEB_PORT:-27080}\"", "published: 80808")
    text = text.replace("- ./db/init.sql:", "- ./db/missing.sql:")
    compose.write_text(text)
    project = Project.load(root, env=clean_env())
    found = {f.code: f for f in static.run(project, None)}
    lines = compose.read_text().splitlines()
    port_line = int(found["DS403"].location.split(":")[1])
    assert "target: 8000" in lines[port_line - 1]
    mount_line = int(found["DS505"].location.split(":")[1])
    assert "./db/missing.sql" in lines[mount_line - 1]
