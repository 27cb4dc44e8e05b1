"""The django and node stacks: generated files valid for the official validators and at the
drupal stack's standard (127.0.0.1 ports, secrets in .env, host-user services, fast healthchecks,
x-devstack tools). The real-engine runs are in tests/docker/test_app_stacks_e2e.py."""

from __future__ import annotations

import json
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from devstack import scaffold, tools
from devstack.project import Project

BIN = Path(sys.executable).parent
STACKS = {
    # stack: (web service, container port, tools)
    "django": ("web", 8000, {"manage.py": ("python", "manage.py"), "python": ("python",), "pip": ("pip",)}),
    "node": ("app", 3000, {"npm": ("npm",), "npx": ("npx",), "node": ("node",)}),
}


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `pip install -e .[test]`")
    return found


def compose_v2() -> list[str]:
    argv = ["docker", "compose"]
    if not shutil.which("docker") or subprocess.run([*argv, "version"], capture_output=True).returncode:
        pytest.skip("docker compose (v2) is not installed")
    return argv


@pytest.fixture(params=sorted(STACKS))
def stack(request) -> str:
    return str(request.param)


@pytest.fixture
def project(stack, tmp_path) -> Path:
    target = tmp_path / "site"
    scaffold.create(stack, target, settings={"web_port": "18080", "db_name": "shop", "db_user": "shopper"})
    return target


def compose_of(project: Path) -> dict:
    return yaml.safe_load((project / "docker-compose.yml").read_text())


def test_compose_file_matches_compose_spec_schema(project):
    proc = subprocess.run(
        [
            tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(project / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_accepts_the_file(project):
    proc = subprocess.run([*compose_v2(), "config", "-q"], cwd=project, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "WARN" not in proc.stderr and "not set" not in proc.stderr, proc.stderr


def test_compose_keeps_the_x_devstack_block(project, stack):
    proc = subprocess.run(
        [*compose_v2(), "config", "--format", "json"], cwd=project, capture_output=True, text=True
    )
    model = json.loads(proc.stdout)
    assert model["x-devstack"]["stack"] == stack
    assert model["x-devstack"]["web"] == STACKS[stack][0]


def test_compose_refuses_to_run_without_env(project):
    (project / ".env").unlink()
    proc = subprocess.run([*compose_v2(), "config", "-q"], cwd=project, capture_output=True, text=True)
    # Compose names one of the missing variables (which one depends on its map order).
    assert proc.returncode != 0 and re.search(r"set (DB_\w+|DJANGO_SECRET_KEY) in \.env", proc.stderr), (
        proc.stderr
    )


def test_dockerfile_passes_hadolint(project):
    proc = subprocess.run(
        [tool("hadolint"), "--failure-threshold", "info", str(project / "Dockerfile")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_devstack_check_is_clean(project, run, monkeypatch):
    compose_v2()
    monkeypatch.chdir(project)
    result = run("check", "--json")
    assert result.exit_code == 0, result.out + result.err
    findings = json.loads(result.out)["findings"]
    # Only the note that data/db does not exist yet (`devstack up` creates it).
    assert [f["code"] for f in findings if f["severity"] != "info"] == []


def test_standard_of_the_stack(project, stack):
    web_name, port, _tools = STACKS[stack]
    compose = compose_of(project)
    services = compose["services"]
    assert set(services) == {web_name, "db"}
    web, db = services[web_name], services["db"]
    assert web["ports"] == [f"127.0.0.1:${{WEB_PORT:-{port}}}:{port}"]
    assert "ports" not in db
    assert web["depends_on"] == {"db": {"condition": "service_healthy"}}
    assert db["image"] == "postgres:17"
    assert "./data/db:/var/lib/postgresql/data" in db["volumes"] and "./src:/app" in web["volumes"]
    for name, service in services.items():
        # Writes into a bind mount, so runs as the host user.
        assert service["user"] == "${HOST_UID:-1000}:${HOST_GID:-1000}", name
        check = service["healthcheck"]
        assert check["start_interval"] == "500ms" and check["interval"] == "30s", name
        assert check["start_period"] == "120s" and check["timeout"] == "5s", name
        assert service["restart"] == "unless-stopped"
    assert web["init"] is True  # the server is not PID 1: `down` does not wait 10 s for it


def test_env_has_secrets_host_user_and_example_has_neither(project, stack):
    env = dotenv_values(project / ".env")
    example = dotenv_values(project / ".env.example")
    secrets = ["DB_PASSWORD"] + (["DJANGO_SECRET_KEY"] if stack == "django" else [])
    for key in secrets:
        assert example[key] == ""
        assert len(env[key]) == 32 and env[key].isalnum()
    assert env["DB_NAME"] == "shop" and env["DB_USER"] == "shopper" and env["WEB_PORT"] == "18080"
    assert env["HOST_UID"].isdigit() and env["HOST_GID"].isdigit()
    assert "HOST_UID" not in example and "HOST_GID" not in example
    assert ".env" in (project / ".gitignore").read_text().splitlines()
    assert "/data/*" in (project / ".gitignore").read_text().splitlines()


def test_tools_are_declared(project, stack):
    found = tools.declared(Project.load(project, env={}))
    expected = STACKS[stack][2]
    assert {name: t.command for name, t in found.tools.items()} == expected
    for t in found.tools.values():
        assert t.service == STACKS[stack][0] and t.workdir == "/app" and t.description


def test_readme_names_the_tools_and_the_url(project, stack):
    readme = (project / "README.md").read_text()
    assert "http://localhost:18080/" in readme
    for name in STACKS[stack][2]:
        assert f"devstack run {name}" in readme
    assert "{{" not in readme and "cookiecutter" not in readme


def test_dockerfile_trusts_extra_certificates(project, stack):
    dockerfile = (project / "Dockerfile").read_text()
    assert "COPY docker/certs/ /usr/local/share/ca-certificates/devstack/" in dockerfile
    assert "RUN update-ca-certificates" in dockerfile
    if stack == "django":
        assert (
            "FROM python:3.13-slim" in dockerfile
            and "PIP_CERT=/etc/ssl/certs/ca-certificates.crt" in dockerfile
        )
    else:
        assert (
            "FROM node:24-slim" in dockerfile
            and "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt" in dockerfile
        )
    # The build context holds what the Dockerfile copies and nothing of src/ beyond it.
    ignored = (project / ".dockerignore").read_text().splitlines()
    assert ".env" in ignored and "data" in ignored and "src/*" in ignored


def test_django_sources(tmp_path):
    project = tmp_path / "site"
    scaffold.create("django", project, name="my-shop")
    src = project / "src"
    for path in src.rglob("*.py"):
        py_compile.compile(str(path), cfile=str(tmp_path / "pyc"), doraise=True)
    settings = (src / "config/settings.py").read_text()
    assert 'PROJECT_NAME = "my-shop"' in settings
    assert 'SECRET_KEY = os.environ["DJANGO_SECRET_KEY"]' in settings
    # Django's own template syntax is copied, not rendered by cookiecutter.
    page = (src / "pages/templates/pages/index.html").read_text()
    assert "{{ project }}" in page and "all services reachable" in page
    assert (src / "pages/migrations/0001_initial.py").is_file()
    requirements = (src / "requirements.txt").read_text()
    assert "Django~=5.2" in requirements and "psycopg[binary]" in requirements
    assert "runserver 0.0.0.0:8000" in compose_of(project)["services"]["web"]["command"][-1]
    assert "migrate --noinput" in compose_of(project)["services"]["web"]["command"][-1]


def test_node_sources(tmp_path):
    project = tmp_path / "site"
    scaffold.create("node", project, name="my-shop")
    src = project / "src"
    package = json.loads((src / "package.json").read_text())
    lock = json.loads((src / "package-lock.json").read_text())
    assert package["name"] == lock["name"] == lock["packages"][""]["name"] == "my-shop"
    assert package["dependencies"] == lock["packages"][""]["dependencies"]
    assert set(package["dependencies"]) == {"express", "pg"}
    assert lock["packages"]["node_modules/express"]["version"].startswith("5.")
    assert all(
        entry.get("resolved", "").startswith("https://registry.npmjs.org/") and entry.get("integrity")
        for key, entry in lock["packages"].items()
        if key
    )
    assert "all services reachable" in (src / "server.js").read_text()
    start = project / "docker/start"
    assert start.stat().st_mode & 0o111, "the entrypoint must be executable"
    node = shutil.which("node")
    if node:
        for path in (src / "server.js", src / "test/app.test.js"):
            proc = subprocess.run([node, "--check", str(path)], capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
    sh = subprocess.run(["sh", "-n", str(start)], capture_output=True, text=True)
    assert sh.returncode == 0, sh.stderr
    assert compose_of(project)["services"]["app"]["command"] == ["node", "--watch", "server.js"]


def test_stacks_lists_the_app_stacks(run):
    lines = run("stacks").out.splitlines()
    assert any(line.startswith("django ") and "Django 5.2 LTS" in line for line in lines)
    assert any(line.startswith("node ") and "Node.js 24 LTS" in line for line in lines)
