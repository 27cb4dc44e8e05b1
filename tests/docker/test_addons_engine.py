"""`devstack add` / `devstack remove` on a running generated drupal project, on the real engine.

One project runs for the whole module (its web image is built once). Each catalogue service in
turn: `devstack add`, `devstack up` (whose runtime link check probes web -> service by name from
inside the web container), a check in the service's own protocol from the app container with the
credentials the app was given (and for the mail catcher, a message sent from the app container
read back from its HTTP API), then `devstack remove`, `devstack up` again (the container goes),
and the files are byte for byte what they were.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import free_port, http_get, remove_project, run_cmd, skip_or_fail
from dotenv import dotenv_values

from devstack import addons

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
TRACKED = ("docker-compose.yml", ".env.example", ".env")


def devstack(site: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "DEVSTACK_COMPOSE"}
    return subprocess.run(
        [sys.executable, "-m", "devstack", *args],
        cwd=site,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def container(project: str, service: str) -> str | None:
    ids = run_cmd(
        [
            "docker",
            "ps",
            "-q",
            "--filter",
            f"label={PROJECT_LABEL}={project}",
            "--filter",
            f"label={SERVICE_LABEL}={service}",
        ]
    ).stdout.split()
    return ids[0] if ids else None


def in_web(project: str, script: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run a bash script in the app (web) container, with the environment it was given."""
    web = container(project, "web")
    assert web, "web is not running"
    return run_cmd(["docker", "exec", web, "bash", "-c", script], timeout=timeout)


def snapshot(site: Path) -> dict[str, bytes]:
    return {name: (site / name).read_bytes() for name in TRACKED}


class Site:
    def __init__(self, root: Path, project: str, port: int) -> None:
        self.root = root
        self.project = project
        self.port = port

    def env(self) -> dict[str, str | None]:
        return dotenv_values(self.root / ".env")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, test_images: None) -> Iterator[Site]:
    """A generated drupal project, up and healthy, shared by the tests of this module."""
    project = f"dstest-{uuid.uuid4().hex[:12]}"
    port = free_port()
    root = tmp_path_factory.mktemp("addons") / "site"
    result = devstack(
        root.parent, "new", "drupal", str(root), "--no-input", "--name", project, "--set", f"web_port={port}"
    )
    assert result.returncode == 0, result.stderr
    # Run the services as an ordinary uid, as for a developer (as root, devstack writes 0:0 and
    # the database images then drop to their own user, 999): files must end up owned by it.
    if os.getuid() == 0:
        with (root / ".env").open("a") as env:
            env.write("\n# devstack:keep\nHOST_UID=4242\n# devstack:keep\nHOST_GID=4242\n")
        run_cmd(["chown", "-R", "4242:4242", str(root)])
    try:
        result = devstack(root, "up")
        assert result.returncode == 0, result.stdout + result.stderr
        yield Site(root, project, port)
    finally:
        devstack(root, "down")
        leftovers = remove_project(project)
        for image in (f"{project}-web", f"{project}_web"):
            run_cmd(["docker", "image", "rm", "--force", image])
        data = root / "data"
        if data.exists():
            # The database files belong to the container's users: remove them from inside.
            run_cmd(
                [
                    "docker",
                    "run",
                    "--rm",
                    "--network",
                    "none",
                    "-v",
                    f"{data}:/mnt",
                    "devstack-test/busybox",
                    "sh",
                    "-c",
                    "rm -rf /mnt/*",
                ],
                timeout=120,
            )
        assert leftovers == []


def up(site: Site) -> dict:
    """`devstack up --json` must succeed with no error finding (rabbitmq's image EXPOSEs 5671,
    AMQP over TLS, which is off: the runtime check accepts an image port that answers)."""
    result = devstack(site.root, "up", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert not [f for f in report.get("findings", []) if f["severity"] == "error"], report["findings"]
    return report


# Service -> a check in its own protocol, run in the app container with the app's environment.
def check_redis(site: Site, name: str) -> None:
    prefix = addons.prefix_for(addons.find(name), name)
    script = f'exec 3<>"/dev/tcp/${prefix}_HOST/${prefix}_PORT"; printf "PING\\r\\n" >&3; head -c 5 <&3'
    out = in_web(site.project, script)
    assert out.returncode == 0 and out.stdout == "+PONG", out


def check_memcached(site: Site, name: str) -> None:
    out = in_web(
        site.project,
        'exec 3<>"/dev/tcp/$MEMCACHED_HOST/$MEMCACHED_PORT"; printf "version\\r\\n" >&3; head -c 8 <&3',
    )
    assert out.returncode == 0 and out.stdout == "VERSION ", out


def check_mysql_like(site: Site, name: str) -> None:
    prefix = addons.prefix_for(addons.find(name), name)
    php = (
        f'$m = new mysqli(getenv("{prefix}_HOST"), getenv("{prefix}_USER"), getenv("{prefix}_PASSWORD"), '
        f'getenv("{prefix}_DATABASE"), (int) getenv("{prefix}_PORT")); '
        'echo $m->query("SELECT CONCAT(CURRENT_USER(), \\" \\", DATABASE())")->fetch_row()[0];'
    )
    out = in_web(site.project, f"php -r '{php}'")
    env = site.env()
    assert out.returncode == 0, out
    assert out.stdout.startswith(f"{env[prefix + '_USER']}@") and out.stdout.endswith(
        f" {env[prefix + '_DATABASE']}"
    ), out


def check_postgres(site: Site, name: str) -> None:
    out = in_web(site.project, 'exec 3<>"/dev/tcp/$POSTGRES_HOST/$POSTGRES_PORT" && echo open')
    assert out.stdout.strip() == "open", out
    # The credentials the app was given work (psql is in the database's image, not the app's).
    env = site.env()
    db = container(site.project, name)
    out = run_cmd(
        [
            "docker",
            "exec",
            "-e",
            f"PGPASSWORD={env['POSTGRES_PASSWORD']}",
            db,
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            str(env["POSTGRES_USER"]),
            "-d",
            str(env["POSTGRES_DB"]),
            "-Atc",
            "SELECT current_user || ' ' || current_database()",
        ]
    )
    assert out.stdout.strip() == f"{env['POSTGRES_USER']} {env['POSTGRES_DB']}", out


def check_rabbitmq(site: Site, name: str) -> None:
    # The AMQP handshake: the broker answers a protocol header with a Connection.Start frame.
    out = in_web(
        site.project,
        'exec 3<>"/dev/tcp/$RABBITMQ_HOST/$RABBITMQ_PORT"; printf "AMQP\\x00\\x00\\x09\\x01" >&3; '
        "head -c 1 <&3 | od -An -tx1",
    )
    assert out.stdout.strip() == "01", out
    env = site.env()
    auth = base64.b64encode(f"{env['RABBITMQ_USER']}:{env['RABBITMQ_PASSWORD']}".encode()).decode()
    import urllib.request

    request = urllib.request.Request(
        f"http://127.0.0.1:{env['RABBITMQ_UI_PORT']}/api/whoami", headers={"Authorization": f"Basic {auth}"}
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + 60
    while True:
        try:
            with opener.open(request, timeout=5) as response:
                assert json.loads(response.read())["name"] == env["RABBITMQ_USER"]
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def check_maildev(site: Site, name: str) -> None:
    subject = f"devstack test {uuid.uuid4().hex[:8]}"
    message = (
        f"From: app@example.test\\r\\nTo: you@example.test\\r\\nSubject: {subject}\\r\\n\\r\\nHello.\\r\\n"
    )
    out = in_web(
        site.project,
        f'printf "{message}" | curl -sS --url "smtp://$SMTP_HOST:$SMTP_PORT" '
        "--mail-from app@example.test --mail-rcpt you@example.test --upload-file -",
    )
    assert out.returncode == 0, out
    port = site.env()["MAILDEV_UI_PORT"]
    deadline = time.monotonic() + 30
    while True:
        status, body = http_get(f"http://127.0.0.1:{port}/api/email")
        if status == 200 and subject in [m.get("subject") for m in json.loads(body)]:
            return
        assert time.monotonic() < deadline, body
        time.sleep(0.5)


def check_adminer(site: Site, name: str) -> None:
    status, body = http_get(f"http://127.0.0.1:{site.env()['ADMINER_UI_PORT']}/", timeout=60)
    assert status == 200 and "Adminer" in body, body[:500]


CHECKS = {
    "redis": check_redis,
    "valkey": check_redis,
    "postgres": check_postgres,
    "mariadb": check_mysql_like,
    "mysql": check_mysql_like,
    "memcached": check_memcached,
    "rabbitmq": check_rabbitmq,
    "maildev": check_maildev,
    "adminer": check_adminer,
}


def test_every_catalogue_entry_has_a_check():
    assert set(CHECKS) == set(addons.catalogue())


@pytest.mark.parametrize("name", list(CHECKS))
def test_add_to_a_running_project_then_remove(site: Site, name: str):
    addon = addons.find(name)
    image = addon.image
    if run_cmd(["docker", "image", "inspect", image]).returncode != 0:
        skip_or_fail(f"no image {image} here (scripts/build-test-images.sh builds the stand-ins)")
    before = snapshot(site.root)
    settings = ["--set", f"port={free_port()}"] if addon.setting("port") else []
    added = False
    try:
        result = devstack(site.root, "add", name, *settings)
        assert result.returncode == 0, result.stdout + result.stderr
        added = True
        started = time.monotonic()
        report = up(site)
        seconds = time.monotonic() - started
        states = {s["service"]: s for s in report["services"]}
        assert states[name]["state"] == "running" and states[name]["health"] == "healthy", states[name]
        assert states["web"]["health"] == "healthy"
        # The runtime link check ran web -> NAME (and NAME -> db for adminer) from inside.
        findings = report["findings"]
        assert [f for f in findings if f["severity"] == "error"] == [], findings
        assert not [f for f in findings if f["code"] in ("DS610", "DS611", "DS612")]
        CHECKS[name](site, name)
        for directory in addons._data_dirs(site.root, addons.render(addon, name, target="db").service_data):
            owner = site.env().get("HOST_UID") or "1000"
            files = list(directory.iterdir())
            assert files, f"{name} wrote nothing into {directory}"
            assert {str(f.stat().st_uid) for f in files} == {owner}
        print(f"\n{name}: add + up in {seconds:.1f} s")
    finally:
        if added:
            # Data is deleted for all but one service (which shows it is kept without --volumes).
            keep = name == "redis"
            result = devstack(site.root, "remove", name, *([] if keep else ["--volumes", "--yes"]))
            assert result.returncode == 0, result.stdout + result.stderr
    assert container(site.project, name) is None  # remove stopped it
    report = up(site)
    assert name not in {s["service"] for s in report["services"]}
    assert snapshot(site.root) == before
    data = site.root / "data" / name
    if name == "redis":
        assert any(data.iterdir()) and "kept   data/redis" in result.stdout
        shutil.rmtree(data)
    else:
        assert not data.exists()


def test_add_refuses_a_port_the_running_stack_publishes(site: Site):
    before = snapshot(site.root)
    result = devstack(site.root, "add", "adminer", "--set", f"port={site.port}")
    assert result.returncode == 1
    assert f"host port {site.port} for adminer is already published by service web" in result.stderr
    assert snapshot(site.root) == before
