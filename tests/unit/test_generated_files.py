"""Every generated PHP stack passes the official validators and keeps the catalogue's promises.

Validators: the compose-spec schema, Compose itself (`docker compose config -q`), hadolint,
`php -l`, `sh -n`, `devstack check`. Promises (issue 7, the brief's conventions): ports on
127.0.0.1 only, secrets only in `.env`, fast healthchecks with `service_healthy` dependencies,
services that write into bind mounts run as the host user, configuration mounted read-only from
`docker/`, an `x-devstack` block whose tools name real services, the extra-CA mechanism in every
built image, and no template text left unrendered.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from devstack import envfile, scaffold, stacks

BIN = Path(sys.executable).parent
HOST_USER = "${HOST_UID:-1000}:${HOST_GID:-1000}"
# (stack, --set db=...): every stack with each database it offers.
PHP_STACKS = {"drupal", "lamp", "lemp", "laravel", "wordpress"}
# The PHP stacks; django and node have their own file (test_app_templates.py).
VARIANTS = [
    (stack.name, db)
    for stack in stacks.available()
    if stack.name in PHP_STACKS
    for db in (stack.variable("db").choices if any(v.name == "db" for v in stack.variables) else ("",))
]
TOOLS = {
    "drupal": {"composer", "drush", "php"},
    "lamp": {"composer", "php"},
    "lemp": {"composer", "php"},
    "laravel": {"artisan", "composer", "php"},
    "wordpress": {"composer", "php"},
}


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if not found:
        pytest.fail(f"{name} is not installed: run `pip install -e .[test]`")
    return found


@pytest.fixture(scope="module", params=VARIANTS, ids=[f"{s}-{d}" if d else s for s, d in VARIANTS])
def project(request, tmp_path_factory) -> Path:
    stack, db = request.param
    target = tmp_path_factory.mktemp(stack) / "site"
    scaffold.create(stack, target, settings={"db": db} if db else {})
    return target


def compose_file(project: Path) -> dict:
    return yaml.safe_load((project / "docker-compose.yml").read_text())


def stack_of(project: Path) -> str:
    return yaml.safe_load((project / ".devstack.yml").read_text())["stack"]


def test_the_catalogue_lists_every_stack_and_not_the_shared_parts():
    names = [s.name for s in stacks.available()]
    assert set(names) >= PHP_STACKS
    assert "_shared" not in names
    for stack in stacks.available():
        assert stack.description, stack.name


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
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_compose_accepts_the_file(project, compose_v2):
    """Generated projects target Compose v2 (`devstack up` says so on a machine with only v1)."""
    proc = subprocess.run(
        [*compose_v2.argv, "config", "-q"], cwd=project, capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert "WARN" not in proc.stderr and "not set" not in proc.stderr, proc.stderr


def test_compose_refuses_to_run_without_env(project, tmp_path, compose_v2):
    """Without .env the required variables stop Compose with our message, not an empty password."""
    clone = tmp_path / "clone"
    shutil.copytree(project, clone)
    (clone / ".env").unlink()
    proc = subprocess.run(
        [*compose_v2.argv, "config", "-q"], cwd=clone, capture_output=True, text=True, check=False
    )
    assert proc.returncode != 0
    assert "in .env" in proc.stderr, proc.stderr


def test_devstack_check_is_clean(project, run, monkeypatch):
    monkeypatch.chdir(project)
    result = run("check")
    assert result.exit_code == 0, result.out + result.err
    assert "No problems found." in result.out, result.out


def test_dockerfiles_pass_hadolint(project):
    dockerfiles = sorted(project.rglob("Dockerfile"))
    assert dockerfiles
    for dockerfile in dockerfiles:
        proc = subprocess.run(
            [tool("hadolint"), "--failure-threshold", "warning", str(dockerfile)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, f"{dockerfile}:\n{proc.stdout}{proc.stderr}"


def test_php_files_are_valid_php(project):
    php = shutil.which("php")
    if not php:
        pytest.skip("php is not installed on the host (the docker e2e tests run it for real)")
    for path in sorted(project.rglob("*.php")):
        proc = subprocess.run([php, "-l", str(path)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{path}: {proc.stdout}{proc.stderr}"


def test_shell_scripts_parse_and_are_executable(project):
    scripts = [
        p for p in (project / "docker").iterdir() if p.is_file() and p.read_bytes().startswith(b"#!/bin/sh")
    ]
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} is not executable"
        proc = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, f"{script}: {proc.stderr}"


def test_nothing_is_left_unrendered(project):
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text("utf-8", errors="replace")
            assert "{{" not in text and "{%" not in text and "cookiecutter" not in text, path


def test_ports_are_published_on_loopback_only(project):
    for name, service in compose_file(project)["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name}: {port}"


def test_secrets_live_only_in_env(project):
    example = (project / ".env.example").read_text()
    secrets = [e.key for e in envfile.parse_example(example) if e.secret]
    assert "DB_PASSWORD" in secrets and "DB_ROOT_PASSWORD" in secrets
    example_values = dotenv_values(project / ".env.example")
    env = dotenv_values(project / ".env")
    for key in secrets:
        assert example_values[key] == "", key
        assert env[key] and len(env[key]) >= 32, key
    assert "HOST_UID" not in example_values and "HOST_GID" not in example_values
    gitignore = (project / ".gitignore").read_text().splitlines()
    assert ".env" in gitignore and "/data/*" in gitignore


def test_healthchecks_are_fast_and_cheap(project):
    """start_interval while starting, a relaxed interval after: `up` is ready in seconds."""
    services = compose_file(project)["services"]
    for name, service in services.items():
        check = service.get("healthcheck")
        if name in ("queue", "scheduler"):
            assert check is None, f"{name}: workers have no endpoint to check"
            continue
        assert check, f"{name} has no healthcheck"
        assert check["interval"] == "30s", name
        assert check["start_interval"] == "500ms", name
        assert check["start_period"] and check["timeout"] == "5s", name
        test = " ".join(check["test"])
        # The web healthcheck asks a dedicated address that the server answers without PHP,
        # the database or the access log.
        if name == "web" and "curl" in test:
            assert "/.devstack/health" in test, test


def test_dependencies_wait_for_health(project):
    services = compose_file(project)["services"]
    for name, service in services.items():
        for dep, spec in (service.get("depends_on") or {}).items():
            assert spec["condition"] == "service_healthy", f"{name} -> {dep}"
            assert "healthcheck" in services[dep], f"{name} waits for {dep}, which has no healthcheck"


def test_services_writing_into_bind_mounts_run_as_the_host_user(project):
    for name, service in compose_file(project)["services"].items():
        writable = [v for v in service.get("volumes", []) if v.startswith("./") and not v.endswith(":ro")]
        if writable:
            assert service.get("user") == HOST_USER, f"{name} writes into {writable} as {service.get('user')}"


def test_configuration_is_mounted_read_only_from_docker(project):
    services = compose_file(project)["services"]
    mounts = [v for s in services.values() for v in s.get("volumes", []) if v.startswith("./docker/")]
    assert mounts, "no configuration is mounted from docker/"
    for mount in mounts:
        source = mount.split(":", 1)[0]
        assert mount.endswith(":ro"), mount
        assert (project / source).is_file(), f"{source} is mounted but not generated"
    assert any("php.ini:/usr/local/etc/php/conf.d/" in m for m in mounts)
    assert any(m.startswith(("./docker/apache-site.conf:", "./docker/nginx.conf:")) for m in mounts)


def test_apache_is_quiet(project):
    site = project / "docker/apache-site.conf"
    if not site.exists():
        pytest.skip("no Apache in this stack")
    text = site.read_text()
    assert re.search(r"^ServerName ", text, re.M), "Apache would log the ServerName warning"
    assert "env=!devstack_health" in text


def test_x_devstack_block(project):
    compose = compose_file(project)
    meta = compose["x-devstack"]
    stack = stack_of(project)
    assert meta["stack"] == stack
    web = compose["services"][meta["web"]]
    assert any(str(p).endswith(":80") for p in web["ports"])
    assert set(meta["tools"]) == TOOLS[stack]
    for name, spec in meta["tools"].items():
        assert spec["service"] in compose["services"], name
        assert isinstance(spec["command"], list) and spec["command"], name
        assert spec["workdir"].startswith("/"), name
        assert spec["description"], name


def test_every_built_image_trusts_the_extra_cas_and_has_a_home(project):
    for dockerfile in project.rglob("Dockerfile"):
        text = dockerfile.read_text()
        assert "COPY docker/certs/ /usr/local/share/ca-certificates/devstack/" in text
        assert "RUN update-ca-certificates" in text
        assert "COMPOSER_HOME=" in text and "chmod 1777" in text
    assert any((project / "docker/certs").glob("README.md"))


def test_dockerignore_lets_in_exactly_what_the_dockerfile_copies(project):
    dockerfile = (project / "Dockerfile").read_text()
    copied = {m.group(1).rstrip("/") for m in re.finditer(r"^COPY (?!--from)(\S+) ", dockerfile, re.M)}
    ignore = (project / ".dockerignore").read_text().splitlines()
    assert "*" in ignore, "the build context is a whitelist"
    allowed = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    assert copied == allowed


def test_the_page_names_its_services(project):
    stack = stack_of(project)
    pages = [p for p in project.rglob("*.php") if "all services reachable" in p.read_text()]
    assert len(pages) == 1, pages
    text = pages[0].read_text()
    expected = {"db"} | ({"redis", "queue", "scheduler"} if stack == "laravel" else set())
    for service in expected:
        assert f"'{service}'" in text or f"devstack:heartbeat:{service}" in text, service


def test_readme_covers_the_stack(project):
    readme = (project / "README.md").read_text()
    stack = stack_of(project)
    assert f"devstack new {stack}" in readme
    for heading in (
        "## Start",
        "## Tools",
        "## Where things live",
        "## Configuration",
        "## Reset the database",
        "## Without devstack",
        "## Behind a TLS-intercepting proxy",
    ):
        assert heading in readme, heading
    for name in TOOLS[stack]:
        assert f"devstack run {name}" in readme, name


def test_shared_parts_are_identical_across_stacks(tmp_path):
    """A part that several stacks share comes out the same in each (no drifting copies)."""
    rendered = {}
    for stack in sorted(PHP_STACKS):
        target = tmp_path / stack
        scaffold.create(stack, target, name="same")
        rendered[stack] = target
    first = rendered["drupal"]
    for other in rendered.values():
        assert (other / "docker/certs/README.md").read_text() == (
            first / "docker/certs/README.md"
        ).read_text()
        assert (other / "docker/php.ini").read_text() == (first / "docker/php.ini").read_text()
    base = re.compile(r"^ENV DEBIAN_FRONTEND.*?rm -rf /var/lib/apt/lists/\*$", re.S | re.M)
    layers = {
        base.search((p / "Dockerfile").read_text()).group(0) for s, p in rendered.items() if s != "wordpress"
    }
    assert len(layers) == 1, "the PHP images no longer share their first layer"
    assert (rendered["lemp"] / "docker/php-fpm.conf").read_text() == (
        rendered["laravel"] / "docker/php-fpm.conf"
    ).read_text()
