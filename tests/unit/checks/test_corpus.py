"""Real-world-style projects (tests/corpus/) and generated ones, against Compose itself.

- `devstack check` finds no errors where Compose accepts the project (`config -q`), with Compose
  and without it (the checks of each file as written).
- Differential: what the checks read from Compose's model (through `devstack.syntax`) is the
  same whether Compose printed it as JSON or as YAML (the fallback for Compose's own printing
  bugs), and the same from Compose v1 where v1 reads the project.

DS402 (a host port in use) depends on what else runs on this machine, not on the project, so
the "no errors" assertions leave it out; tests/unit/checks/test_check_ports.py covers it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from check_helpers import clean_env

from devstack import scaffold, syntax
from devstack.checks import Finding, Severity, static
from devstack.checks.context import load_sources
from devstack.checks.links import _edges
from devstack.compose import ComposeFailed, ComposeRunner
from devstack.project import Project

CORPUS = Path(__file__).resolve().parents[2] / "corpus"
PROJECTS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())
# Projects checked again with their optional profiles switched on.
VARIANTS = [(name, {}) for name in PROJECTS] + [
    ("profiles", {"COMPOSE_PROFILES": "tools,debug"}),
    ("extends-files", {"COMPOSE_PROFILES": "test"}),
]
IDS = [f"{n}{'+' if e else ''}" for n, e in VARIANTS]
# Compose 2.26 cannot print these as JSON (its own bug): YAML only.
JSON_BROKEN = {"ssh-build"}


def errors(found: list[Finding]) -> list[Finding]:
    return [f for f in found if f.severity >= Severity.ERROR and f.code != "DS402"]


def corpus(name: str, env: dict[str, str]) -> Project:
    return Project.load(CORPUS / name, env=clean_env(**env))


def test_corpus_is_varied():
    assert len(PROJECTS) >= 12
    assert {"extends-files", "shared-base", "include-stack", "override-env", "ssh-build"} <= set(PROJECTS)


@pytest.mark.parametrize(("name", "env"), VARIANTS, ids=IDS)
def test_corpus_has_no_errors(name, env, check_project, compose_v2):
    project = corpus(name, env)
    valid = ComposeRunner(project, compose_v2).run("config", "-q", check=False)
    assert valid.returncode == 0, valid.stderr  # Compose itself accepts every corpus project
    assert errors(check_project(project)) == []


@pytest.mark.parametrize(("name", "env"), VARIANTS, ids=IDS)
def test_corpus_has_no_errors_without_compose(name, env):
    project = corpus(name, env)
    found = static.run(project, load_sources(project), None)
    assert errors(found) == []
    assert [f.code for f in found if f.code == "DS108"] == ["DS108"]


@pytest.fixture(params=["mariadb", "mysql"])
def drupal(request, tmp_path) -> Project:
    target = tmp_path / "site"
    scaffold.create("drupal", target, settings={"db": request.param})
    return Project.load(target, env=clean_env())


def test_generated_drupal_has_no_errors(drupal, check_project):
    found = check_project(drupal)
    # ./data/db does not exist before the first start: information, nothing more
    assert [f.code for f in found if f.code != "DS402"] == ["DS504"]


def test_generated_drupal_without_compose(drupal):
    found = static.run(drupal, load_sources(drupal), None)
    assert [f.code for f in found] == ["DS108"]


# -- differential: the model as JSON, as YAML, and from Compose v1 ------------------------------


def comparable(model: dict[str, Any]) -> dict[str, Any]:
    """The parts the checks read, through the functions they read them with."""
    out = {}
    for name, service in syntax.services(model).items():
        build = service.get("build")
        if isinstance(build, str):
            build = {"context": build}
        out[name] = {
            "image": service.get("image"),
            "build": (build.get("context"), build.get("dockerfile") or "Dockerfile", build.get("target"))
            if build
            else None,
            "environment": {k: v for k, v in syntax.environment(service.get("environment")).items()},
            "ports": sorted(b for _, b in syntax.ports(service)),
            "volumes": sorted(tuple(str(x) for x in m[:3]) for _, m in syntax.mounts(service)),
            # Compose v2 adds volumes_from/links targets to depends_on; the checks read them all
            "edges": sorted(_edges(service)),
            "healthy": sorted(
                d.service for d in syntax.dependencies(service) if d.condition == "service_healthy"
            ),
            "profiles": syntax.profiles_of(service),
            "healthcheck": bool(service.get("healthcheck")),
        }
    return out


@pytest.mark.parametrize("name", PROJECTS)
def test_json_and_yaml_models_agree(name, compose_v2):
    runner = ComposeRunner(corpus(name, {}), compose_v2)
    from_yaml, _ = runner.config("--format", "yaml")
    if name in JSON_BROKEN:
        with pytest.raises(ComposeFailed, match="MarshalJSON"):
            runner.config()
        answer = runner.model()
        assert answer.workaround and answer.rejected is None
        assert answer.data is not None and comparable(answer.data) == comparable(from_yaml)
        return
    from_json, _ = runner.config()
    assert comparable(from_json) == comparable(from_yaml)


@pytest.mark.parametrize("name", PROJECTS)
def test_compose_v1_model_agrees_where_v1_reads_the_project(name, compose_v1, compose_v2):
    project = corpus(name, {})
    try:
        v1, _ = ComposeRunner(project, compose_v1).config()
    except ComposeFailed:
        pytest.skip(f"Compose v1 does not read {name} (newer Compose file features)")
    v2, _ = ComposeRunner(project, compose_v2).config()
    assert comparable(v1) == comparable(v2)


def test_v1_reads_some_of_the_corpus(compose_v1):
    readable = [n for n in PROJECTS if _v1_reads(n)]
    assert {"legacy-v3", "v2-format"} <= set(readable)


def _v1_reads(name: str) -> bool:
    proc = subprocess.run(["docker-compose", "config", "-q"], cwd=CORPUS / name, capture_output=True)
    return proc.returncode == 0


# -- what the issue found: each case, through Compose's model ----------------------------------


def test_extends_from_another_directory_builds_from_there(check_project):
    """`build: node` in shared/base.yml means shared/node (it was reported as ./node, missing)."""
    found = check_project(corpus("shared-base", {}))
    assert not [f for f in found if f.code in ("DS501", "DS502", "DS304")]


def test_ssh_build_is_valid_with_an_info(check_project):
    found = check_project(corpus("ssh-build", {}))
    assert [(f.code, str(f.severity)) for f in found if f.code != "DS402"] == [("DS109", "info")]


def test_override_environment_keeps_the_base_files_required_variables(compose_v2):
    """`up` reads required variables from Compose's merged model before interpolation."""
    from devstack.checks.runtime import required_variables

    runner = ComposeRunner(corpus("override-env", {}), compose_v2)
    raw = runner.model("--no-interpolate").data
    assert required_variables(syntax.services(raw)) == {
        "app": ["DATABASE_PASSWORD"],
        "db": ["POSTGRES_PASSWORD"],
    }


# -- locations -----------------------------------------------------------------------------


def test_locations_point_at_the_line(tmp_path, check_project):
    root = tmp_path / "webapp"
    shutil.copytree(CORPUS / "webapp-stack", root)
    compose = root / "compose.yaml"
    text = compose.read_text().replace("- ./db/init.sql:", "- ./db/missing.sql:")
    text = text.replace('"127.0.0.1:${WEB_PORT:-27080}:8000"', '"27080:8000"')
    compose.write_text(text)
    project = Project.load(root, env=clean_env())
    found = {f.code: f for f in check_project(project)}
    lines = compose.read_text().splitlines()
    mount_line = int(found["DS505"].location.split(":")[1])
    assert "./db/missing.sql" in lines[mount_line - 1]
