"""The local test images honour the contract that generated projects rely on.

mariadb:11.8 and mysql:8.4 here are stand-ins built by scripts/build-test-images.sh (no
registry is reachable). These tests hold them to the official images' documented behaviour, so
a template that passes against them is wired up the way the real images expect: environment
variables, first-start-only initialisation, data directory, port, health check, clean stop.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

import pytest

pytestmark = pytest.mark.usefixtures("test_images")

PROJECT_LABEL = "com.docker.compose.project"
BUSYBOX = "devstack-test/busybox:latest"


def docker(*args: str, timeout: float = 60, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the docker CLI; with check, a failure raises with its stderr."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)
    if check and result.returncode != 0:
        raise AssertionError(
            f"docker {' '.join(args)} failed (exit {result.returncode}): {result.stderr.strip()}"
        )
    return result


@dataclass
class Container:
    """A container started for one test (removed by the project_name fixture)."""

    cid: str

    def exec(self, *argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        env_args = [arg for k, v in (env or {}).items() for arg in ("-e", f"{k}={v}")]
        return docker("exec", *env_args, self.cid, *argv, check=False, timeout=30)

    def state(self) -> tuple[bool, int]:
        out = docker("inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", self.cid).stdout
        running, code = out.split()
        return running == "true", int(code)

    def logs(self) -> str:
        result = docker("logs", self.cid)
        return result.stdout + result.stderr

    def wait_until(self, *argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
        """Run argv in the container until it succeeds; fail early if the container exits."""
        deadline = time.monotonic() + timeout
        while True:
            result = self.exec(*argv)
            if result.returncode == 0:
                return result
            running, code = self.state()
            if not running:
                pytest.fail(f"container exited ({code}) while waiting for {argv}:\n{self.logs()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"{argv} still failing after {timeout} s: {result.stderr}\n{self.logs()[-3000:]}")
            time.sleep(0.2)

    def wait_exit(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running, code = self.state()
            if not running:
                return code
            time.sleep(0.2)
        pytest.fail(f"container still running after {timeout} s:\n{self.logs()[-3000:]}")

    def stop(self) -> float:
        """docker stop (SIGTERM, SIGKILL after 10 s); returns the seconds it took."""
        start = time.monotonic()
        docker("stop", "--time", "10", self.cid, timeout=30)
        return time.monotonic() - start


def run_container(
    image: str,
    project: str,
    env: dict[str, str],
    *,
    volumes: dict[Path, str] | None = None,
    port: int | None = None,
    command: tuple[str, ...] = (),
) -> Container:
    args = ["run", "--detach", "--label", f"{PROJECT_LABEL}={project}"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    for host_path, target in (volumes or {}).items():
        args += ["--volume", f"{host_path}:{target}"]
    if port is not None:
        args += ["--publish", f"127.0.0.1:{port}:3306"]
    return Container(docker(*args, image, *command).stdout.strip())


@dataclass(frozen=True)
class Flavour:
    """What a template uses of one official database image."""

    image: str
    prefix: str  # of the environment variables: MARIADB or MYSQL
    client: str  # the command-line client under the name the official image ships
    health: tuple[str, ...]  # the health check command a compose file would run
    root_password_vars: tuple[str, ...]  # the variables one of which a first start needs
    random_root: str
    empty_root: str
    extra_env: dict[str, str] = field(default_factory=dict)

    def env(self, root: str, database: str, user: str, password: str) -> dict[str, str]:
        p = self.prefix
        return {
            f"{p}_ROOT_PASSWORD": root,
            f"{p}_DATABASE": database,
            f"{p}_USER": user,
            f"{p}_PASSWORD": password,
        }


MARIADB = Flavour(
    image="mariadb:11.8",
    prefix="MARIADB",
    client="mariadb",
    health=("healthcheck.sh", "--connect", "--innodb_initialized"),
    root_password_vars=(
        "MARIADB_ROOT_PASSWORD",
        "MARIADB_ALLOW_EMPTY_ROOT_PASSWORD",
        "MARIADB_RANDOM_ROOT_PASSWORD",
    ),
    random_root="MARIADB_RANDOM_ROOT_PASSWORD",
    empty_root="MARIADB_ALLOW_EMPTY_ROOT_PASSWORD",
)
MYSQL = Flavour(
    image="mysql:8.4",
    prefix="MYSQL",
    client="mysql",
    # As in a compose file:
    #   test: ["CMD-SHELL", "mysqladmin ping -h 127.0.0.1 -uroot -p$$MYSQL_ROOT_PASSWORD"]
    health=("sh", "-c", 'mysqladmin ping -h 127.0.0.1 -uroot -p"$MYSQL_ROOT_PASSWORD"'),
    root_password_vars=("MYSQL_ROOT_PASSWORD", "MYSQL_ALLOW_EMPTY_PASSWORD", "MYSQL_RANDOM_ROOT_PASSWORD"),
    random_root="MYSQL_RANDOM_ROOT_PASSWORD",
    empty_root="MYSQL_ALLOW_EMPTY_PASSWORD",
)
FLAVOURS = [pytest.param(MARIADB, id="mariadb-11.8"), pytest.param(MYSQL, id="mysql-8.4")]


def sql(
    server: Container, flavour: Flavour, user: str, password: str, query: str, database: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run SQL over TCP as an application container would (host 127.0.0.1, not the socket)."""
    argv = [flavour.client, "-h", "127.0.0.1", "-u", user, "--batch", "--skip-column-names"]
    if database:
        argv.append(database)
    return server.exec(*argv, "-e", query, env={"MYSQL_PWD": password})


def server_greeting(port: int, timeout: float = 10) -> bytes:
    """The first packet a MySQL-protocol server sends on the published port."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                data = s.recv(256)
            if data:
                return data
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"nothing answered on 127.0.0.1:{port}")
        time.sleep(0.2)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_database_is_initialised_once_and_keeps_its_data(
    flavour: Flavour, bind_mount_dir: Path, project_name: str, free_port: Callable[[], int]
) -> None:
    data = bind_mount_dir  # empty and owned by the user running the tests (root in CI)
    first_env = flavour.env(root="root-one", database="app_db", user="app", password="it's one\\")
    port = free_port()
    first = run_container(flavour.image, project_name, first_env, volumes={data: "/var/lib/mysql"}, port=port)
    first.wait_until(*flavour.health)

    # Listens on every interface: the published port reaches it (protocol version 10 handshake).
    greeting = server_greeting(port)
    assert greeting[4] == 10, greeting

    created = sql(
        first,
        flavour,
        "app",
        "it's one\\",
        "CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(40)); INSERT INTO notes VALUES (1, 'kept');",
        database="app_db",
    )
    assert created.returncode == 0, created.stderr
    assert sql(first, flavour, "root", "root-one", "SELECT 1").stdout.strip() == "1"

    # The server runs as mysql (uid 999, as in the official images), owning the bind mount.
    assert first.exec("stat", "-c", "%u %U", "/var/lib/mysql/mysql").stdout.split() == ["999", "mysql"]
    assert "Uid:\t999\t" in first.exec("cat", "/proc/1/status").stdout
    if flavour is MARIADB:
        cnf = first.exec("cat", "/var/lib/mysql/.my-healthcheck.cnf").stdout
        assert "user=healthcheck" in cnf

    # SIGTERM is a clean, quick shutdown: well under docker's 10 s before SIGKILL.
    seconds = first.stop()
    assert seconds < 5, f"docker stop took {seconds:.1f} s"
    assert first.state() == (False, 0)

    # A new container on the same data with other settings: nothing is initialised again.
    second_env = flavour.env(root="root-two", database="other_db", user="app", password="two")
    second = run_container(flavour.image, project_name, second_env, volumes={data: "/var/lib/mysql"})
    second.wait_until(*flavour.health)
    kept = sql(second, flavour, "app", "it's one\\", "SELECT body FROM notes WHERE id = 1", database="app_db")
    assert kept.stdout.strip() == "kept", kept.stderr
    refused = sql(second, flavour, "app", "two", "SELECT 1")
    assert refused.returncode != 0 and "Access denied" in refused.stderr
    assert sql(second, flavour, "root", "root-one", "SELECT 1").returncode == 0
    assert sql(second, flavour, "root", "root-two", "SELECT 1").returncode != 0
    databases = sql(second, flavour, "root", "root-one", "SHOW DATABASES").stdout.split()
    assert "app_db" in databases and "other_db" not in databases
    assert "init process done" not in second.logs()
    assert second.stop() < 5


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_healthy_only_after_initialisation_and_initdb_scripts(
    flavour: Flavour, tmp_path: Path, project_name: str
) -> None:
    initdb = tmp_path / "initdb"
    initdb.mkdir()
    (initdb / "01-seed.sql").write_text(
        "CREATE TABLE seeded (word VARCHAR(10)); INSERT INTO seeded VALUES ('hello');\n"
    )
    # Sourced (not executable): holds the first start until the test releases it.
    (initdb / "02-hold.sh").write_text(
        "touch /tmp/initdb-started\n"
        "for i in $(seq 300); do [ -e /tmp/initdb-release ] && break; sleep 0.1; done\n"
    )
    env = flavour.env(root="root-pw", database="app_db", user="app", password="app-pw")
    server = run_container(
        flavour.image, project_name, env, volumes={initdb: "/docker-entrypoint-initdb.d:ro"}
    )

    server.wait_until("test", "-e", "/tmp/initdb-started")
    assert server.exec(*flavour.health).returncode != 0, "healthy while still initialising"
    server.exec("touch", "/tmp/initdb-release")
    server.wait_until(*flavour.health)

    # .sql files run in the configured database; the user sees their result.
    seeded = sql(server, flavour, "app", "app-pw", "SELECT word FROM seeded", database="app_db")
    assert seeded.stdout.strip() == "hello", seeded.stderr


ROOT_CASES = [
    pytest.param(MARIADB, "random", id="mariadb-random-root"),
    pytest.param(MARIADB, "empty", id="mariadb-empty-root"),
    pytest.param(MARIADB, "mysql-aliases", id="mariadb-MYSQL_-aliases"),
    pytest.param(MARIADB, "missing", id="mariadb-no-root-option"),
    pytest.param(MYSQL, "random", id="mysql-random-root"),
    pytest.param(MYSQL, "empty", id="mysql-empty-root"),
    pytest.param(MYSQL, "missing", id="mysql-no-root-option"),
]


@pytest.mark.parametrize(("flavour", "case"), ROOT_CASES)
def test_root_password_options(flavour: Flavour, case: str, project_name: str) -> None:
    env = {
        "random": {flavour.random_root: "1"},
        "empty": {flavour.empty_root: "1"},
        # The official mariadb image still reads the MYSQL_* names.
        "mysql-aliases": {
            "MYSQL_ROOT_PASSWORD": "alias-root",
            "MYSQL_DATABASE": "alias_db",
            "MYSQL_USER": "alias",
            "MYSQL_PASSWORD": "alias-pw",
        },
        "missing": {f"{flavour.prefix}_DATABASE": "app_db"},
    }[case]
    server = run_container(flavour.image, project_name, env)

    if case == "missing":
        assert server.wait_exit() != 0
        logs = server.logs()
        assert "password option is not specified" in logs
        assert all(var in logs for var in flavour.root_password_vars), logs
        return

    # Up when the server answers over TCP, whatever the credentials.
    if flavour is MARIADB:
        server.wait_until("healthcheck.sh", "--connect")
    else:
        server.wait_until("mysqladmin", "ping", "-h", "127.0.0.1")
    if case == "random":
        found = re.search(r"GENERATED ROOT PASSWORD: (\S+)", server.logs())
        assert found, server.logs()
        assert sql(server, flavour, "root", found.group(1), "SELECT 1").returncode == 0
    elif case == "empty":
        assert sql(server, flavour, "root", "", "SELECT 1").returncode == 0
    else:
        assert sql(server, flavour, "root", "alias-root", "SELECT 1").returncode == 0
        used = sql(server, flavour, "alias", "alias-pw", "CREATE TABLE t (i INT)", database="alias_db")
        assert used.returncode == 0, used.stderr


COMMANDS = ("mariadb", "mariadb-admin", "mariadb-dump", "healthcheck.sh", "mysql", "mysqladmin", "mysqldump")


def commands_in(image: str) -> set[str]:
    script = f"for c in {' '.join(COMMANDS)}; do command -v $c >/dev/null && echo $c; done; true"
    return set(docker("run", "--rm", "--entrypoint", "sh", image, "-c", script).stdout.split())


def test_clients_have_the_official_images_names() -> None:
    # The official mariadb image dropped the mysql* names in 11.0: a health check using
    # mysqladmin is unhealthy forever there, so it must fail here too.
    assert commands_in("mariadb:11.8") == {"mariadb", "mariadb-admin", "mariadb-dump", "healthcheck.sh"}
    # The official mysql image has no healthcheck.sh. (The stand-in also has the mariadb*
    # names, being MariaDB; the real image does not, so templates must not use them.)
    found = commands_in("mysql:8.4")
    assert {"mysql", "mysqladmin", "mysqldump"} <= found
    assert "healthcheck.sh" not in found


def test_busybox_serves_http_and_tcp(
    project_name: str, free_port: Callable[[], int], http_get: Callable[..., tuple[int, str]]
) -> None:
    web_port, tcp_port = free_port(), free_port()
    label = ["--label", f"{PROJECT_LABEL}={project_name}"]
    docker(
        "run",
        "-d",
        *label,
        "-p",
        f"127.0.0.1:{web_port}:8080",
        BUSYBOX,
        "httpd",
        "-f",
        "-p",
        "8080",
        "-h",
        "/www",
    )
    docker(
        "run",
        "-d",
        *label,
        "-p",
        f"127.0.0.1:{tcp_port}:9000",
        BUSYBOX,
        "sh",
        "-c",
        "echo pong | nc -l -p 9000",
    )

    assert http_get(f"http://127.0.0.1:{web_port}/", 10) == (200, "devstack test image\n")
    assert server_greeting(tcp_port) == b"pong\n"
    size = int(docker("image", "inspect", "-f", "{{.Size}}", BUSYBOX).stdout)
    assert size < 5_000_000


class ComposeCommand(Protocol):
    """The part of conftest's ComposeVariant used here."""

    def command(self, *args: str) -> list[str]: ...


def test_busybox_under_compose(
    compose_variant: ComposeCommand,
    project_name: str,
    tmp_path: Path,
    free_port: Callable[[], int],
    http_get: Callable[..., tuple[int, str]],
) -> None:
    port = free_port()
    (tmp_path / "compose.yml").write_text(
        "services:\n"
        "  web:\n"
        f"    image: {BUSYBOX}\n"
        "    command: [httpd, -f, -p, '8080', -h, /www]\n"
        "    ports:\n"
        f"      - '127.0.0.1:{port}:8080'\n"
    )
    up = subprocess.run(
        compose_variant.command("-p", project_name, "-f", str(tmp_path / "compose.yml"), "up", "-d"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert up.returncode == 0, up.stderr
    assert http_get(f"http://127.0.0.1:{port}/", 10) == (200, "devstack test image\n")
    labelled = docker("ps", "-q", "--filter", f"label={PROJECT_LABEL}={project_name}").stdout.split()
    assert len(labelled) == 1
