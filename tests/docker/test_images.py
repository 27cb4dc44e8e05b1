"""The local test images honour the contract that generated projects rely on.

mariadb:11.8 and mysql:8.4 here are stand-ins built by scripts/build-test-images.sh (no
registry is reachable). These tests hold them to the official images' documented behaviour, so
a template that passes against them is wired up the way the real images expect: environment
variables, first-start-only initialisation, data directory, port, health check, clean stop.
"""

from __future__ import annotations

import base64
import gzip
import http.cookiejar
import json
import os
import re
import smtplib
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Callable, Protocol

import pytest

pytestmark = pytest.mark.usefixtures("test_images")

PROJECT_LABEL = "com.docker.compose.project"
BUSYBOX = "devstack-test/busybox:latest"
# A uid:gid that no image has in /etc/passwd, standing for the host user of a checkout.
ARBITRARY_UID = 23456


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

    def wait_until(self, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run argv in the container until it succeeds; fail early if the container exits.

        The timeout is generous: on a shared 2-core machine a first start can take a minute.
        """
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

    def wait_exit(self, timeout: float = 120) -> int:
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

    def stops_cleanly(self) -> bool:
        """docker stop; True when the main process exited 0 on the image's stop signal.

        A server that ignored the signal would be SIGKILLed after 10 s and exit 137.
        """
        self.stop()
        return self.state() == (False, 0)


def run_container(
    image: str,
    project: str,
    env: dict[str, str],
    *,
    volumes: dict[Path, str] | None = None,
    port: int | None = None,
    container_port: int = 3306,
    command: tuple[str, ...] = (),
    user: str | None = None,
    network: str | None = None,
    name: str | None = None,
    publish: dict[int, int] | None = None,
    hostname: str | None = None,
) -> Container:
    """docker run --detach, labelled for the project_name fixture's cleanup.

    port publishes container_port on 127.0.0.1:port (publish: more, container port -> host
    port); user is a compose `user:` value;
    network and name make the container reachable by name from another one.
    """
    args = ["run", "--detach", "--label", f"{PROJECT_LABEL}={project}"]
    for key, value in env.items():
        args += ["--env", f"{key}={value}"]
    for host_path, target in (volumes or {}).items():
        args += ["--volume", f"{host_path}:{target}"]
    if port is not None:
        args += ["--publish", f"127.0.0.1:{port}:{container_port}"]
    for inside, outside in (publish or {}).items():
        args += ["--publish", f"127.0.0.1:{outside}:{inside}"]
    if hostname is not None:
        args += ["--hostname", hostname]
    if user is not None:
        args += ["--user", user]
    if network is not None:
        args += ["--network", network]
    if name is not None:
        args += ["--name", name, "--network-alias", name]
    return Container(docker(*args, image, *command).stdout.strip())


def create_network(project: str) -> str:
    """A user-defined network (containers find each other by name), removed with the project."""
    name = f"{project}-net"
    docker("network", "create", "--label", f"{PROJECT_LABEL}={project}", name)
    return name


def owned_dir(path: Path) -> tuple[int, int]:
    """Make path belong to a uid:gid that no image knows (as root), else keep the caller's.

    Returns that uid and gid: what `user: "${HOST_UID}:${HOST_GID}"` passes in a project.
    """
    if os.geteuid() == 0:
        os.chown(path, ARBITRARY_UID, ARBITRARY_UID)
        return ARBITRARY_UID, ARBITRARY_UID
    return os.getuid(), os.getgid()


def proc_uids(container: Container) -> set[int]:
    """The uids of PID 1 and its children (from /proc: slim images have no ps).

    Processes that `docker exec` starts have parent 0, so the probe does not count itself.
    """
    script = (
        "for f in /proc/[0-9]*/status; do "
        "awk '/^PPid:/ { ppid = $2 } /^Pid:/ { pid = $2 } /^Uid:/ { uid = $2 } "
        'END { if (pid == 1 || ppid == 1) print uid }\' "$f" 2>/dev/null; done'
    )
    out = container.exec("sh", "-c", script).stdout
    return {int(uid) for uid in out.split()}


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

    # SIGTERM is a clean shutdown (exit 0), well before docker's SIGKILL after 10 s.
    assert first.stops_cleanly(), first.logs()[-3000:]

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
    assert second.stops_cleanly()


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


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_database_runs_as_an_arbitrary_user(
    flavour: Flavour, bind_mount_dir: Path, project_name: str
) -> None:
    # `user: "${HOST_UID}:${HOST_GID}"` with a data directory the host user owns, as the
    # official images allow: no chown, no switch to mysql, every file the host user's.
    uid, gid = owned_dir(bind_mount_dir)
    env = flavour.env(root="root-pw", database="app_db", user="app", password="app-pw")
    server = run_container(
        flavour.image, project_name, env, volumes={bind_mount_dir: "/var/lib/mysql"}, user=f"{uid}:{gid}"
    )
    server.wait_until(*flavour.health)
    assert proc_uids(server) == {uid}
    created = sql(
        server, flavour, "app", "app-pw", "CREATE TABLE t (i INT); INSERT INTO t VALUES (7)", "app_db"
    )
    assert created.returncode == 0, created.stderr
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in bind_mount_dir.rglob("*")}
    assert owners == {(uid, gid)}, owners
    assert server.stops_cleanly()

    # And again on the same data, still as that user: initialised once, the row is there.
    again = run_container(
        flavour.image, project_name, env, volumes={bind_mount_dir: "/var/lib/mysql"}, user=f"{uid}:{gid}"
    )
    again.wait_until(*flavour.health)
    assert sql(again, flavour, "app", "app-pw", "SELECT i FROM t", "app_db").stdout.strip() == "7"
    assert "init process done" not in again.logs()


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


# --- postgres:17 ---------------------------------------------------------------------------

POSTGRES = "postgres:17"
# The health check a compose file runs (over TCP: the first-start server listens on no port).
PG_HEALTH = ("sh", "-c", 'pg_isready -h 127.0.0.1 -U "$POSTGRES_USER" -d "$POSTGRES_DB"')


def psql(
    server: Container, user: str, password: str, database: str, query: str
) -> subprocess.CompletedProcess[str]:
    """Run SQL over TCP with a password, as an application container would."""
    argv = ["psql", "-h", "127.0.0.1", "-U", user, "-d", database, "-At", "-v", "ON_ERROR_STOP=1"]
    return server.exec(*argv, "-c", query, env={"PGPASSWORD": password})


def test_postgres_initialises_once_and_keeps_its_data(
    bind_mount_dir: Path, project_name: str, free_port: Callable[[], int]
) -> None:
    data = bind_mount_dir  # empty and owned by the user running the tests (root in CI)
    env = {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "it's one\\", "POSTGRES_DB": "app_db"}
    port = free_port()
    network = create_network(project_name)
    first = run_container(
        POSTGRES,
        project_name,
        env,
        volumes={data: "/var/lib/postgresql/data"},
        port=port,
        container_port=5432,
        network=network,
        name=f"{project_name}-db",
    )
    first.wait_until(*PG_HEALTH)

    # The published port answers the PostgreSQL protocol: an SSLRequest gets "N" (no TLS).
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall((8).to_bytes(4, "big") + (80877103).to_bytes(4, "big"))
        assert s.recv(1) == b"N"

    created = psql(
        first,
        "app",
        "it's one\\",
        "app_db",
        "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'kept');",
    )
    assert created.returncode == 0, created.stderr
    # From another container (not localhost, which initdb trusts, as in the official image)
    # the password is needed: scram-sha-256 in pg_hba.conf.
    client = ["run", "--rm", "--network", network, "--label", f"{PROJECT_LABEL}={project_name}", POSTGRES]
    remote = ["psql", "-h", f"{project_name}-db", "-U", "app", "-d", "app_db", "-At", "-c", "SELECT 1"]
    ok = docker(*client[:-1], "-e", "PGPASSWORD=it's one\\", POSTGRES, *remote, check=False)
    assert ok.stdout.strip() == "1", ok.stderr
    refused = docker(*client[:-1], "-e", "PGPASSWORD=wrong", POSTGRES, *remote, check=False)
    assert refused.returncode != 0 and "password authentication failed" in refused.stderr, refused.stderr
    # pg_dump, as `devstack db` or a backup script would use it.
    dump = first.exec("pg_dump", "-h", "127.0.0.1", "-U", "app", "app_db", env={"PGPASSWORD": "it's one\\"})
    assert dump.returncode == 0 and "CREATE TABLE public.notes" in dump.stdout, dump.stderr

    # Started as root: the server runs as postgres (999), which owns the bind mount.
    assert first.exec("stat", "-c", "%u %U %a", "/var/lib/postgresql/data").stdout.split() == [
        "999",
        "postgres",
        "700",
    ]
    assert proc_uids(first) == {999}

    # docker stop sends SIGINT (fast shutdown): a clean exit, not a SIGKILL.
    assert first.stops_cleanly(), first.logs()[-3000:]

    # A new container on the same data with other settings: nothing is initialised again.
    second_env = {"POSTGRES_USER": "other", "POSTGRES_PASSWORD": "two", "POSTGRES_DB": "other_db"}
    second = run_container(POSTGRES, project_name, second_env, volumes={data: "/var/lib/postgresql/data"})
    second.wait_until("pg_isready", "-h", "127.0.0.1", "-U", "app", "-d", "app_db")
    kept = psql(second, "app", "it's one\\", "app_db", "SELECT body FROM notes WHERE id = 1")
    assert kept.stdout.strip() == "kept", kept.stderr
    assert psql(second, "other", "two", "postgres", "SELECT 1").returncode != 0
    logs = second.logs()
    assert "Skipping initialization" in logs and "init process complete" not in logs
    assert second.stops_cleanly()


def test_postgres_runs_as_an_arbitrary_user(bind_mount_dir: Path, project_name: str) -> None:
    # `user: "${HOST_UID}:${HOST_GID}"` with a data directory the host user owns: the official
    # image lends the uid a passwd entry through nss_wrapper for initdb.
    uid, gid = owned_dir(bind_mount_dir)
    env = {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "app_db"}
    server = run_container(
        POSTGRES, project_name, env, volumes={bind_mount_dir: "/var/lib/postgresql/data"}, user=f"{uid}:{gid}"
    )
    server.wait_until(*PG_HEALTH)
    assert proc_uids(server) == {uid}
    created = psql(server, "app", "pw", "app_db", "CREATE TABLE t (i int); SELECT 1")
    assert created.stdout.splitlines() == ["CREATE TABLE", "1"], created.stderr
    # Every file belongs to the host user: nothing root-owned or 999-owned in the checkout.
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in bind_mount_dir.rglob("*")}
    assert owners == {(uid, gid)}, owners
    assert (bind_mount_dir / "PG_VERSION").read_text().strip() == "17"
    assert server.stops_cleanly()


def test_postgres_healthy_only_after_initialisation_and_initdb_scripts(
    tmp_path: Path, project_name: str
) -> None:
    initdb = tmp_path / "initdb"
    initdb.mkdir()
    (initdb / "01-schema.sql").write_text("CREATE TABLE seeded (word text);\n")
    with gzip.open(initdb / "02-rows.sql.gz", "wt") as f:
        f.write("INSERT INTO seeded VALUES ('hello');\n")
    # Sourced (not executable), with the official image's helper: holds the first start until
    # the test releases it.
    (initdb / "03-hold.sh").write_text(
        "docker_process_sql <<<\"INSERT INTO seeded VALUES ('from-sh')\"\n"
        "touch /tmp/initdb-started\n"
        "for i in $(seq 300); do [ -e /tmp/initdb-release ] && break; sleep 0.1; done\n"
    )
    env = {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "app_db"}
    server = run_container(POSTGRES, project_name, env, volumes={initdb: "/docker-entrypoint-initdb.d:ro"})

    server.wait_until("test", "-e", "/tmp/initdb-started")
    assert server.exec(*PG_HEALTH).returncode != 0, "healthy while still initialising"
    server.exec("touch", "/tmp/initdb-release")
    server.wait_until(*PG_HEALTH)
    rows = psql(server, "app", "pw", "app_db", "SELECT word FROM seeded ORDER BY word")
    assert rows.stdout.split() == ["from-sh", "hello"], rows.stderr


def test_postgres_first_start_needs_a_password(project_name: str) -> None:
    server = run_container(POSTGRES, project_name, {"POSTGRES_DB": "app_db"})
    assert server.wait_exit() != 0
    assert "superuser password is not specified" in server.logs()
    # POSTGRES_HOST_AUTH_METHOD=trust is the documented way around it.
    trusted = run_container(POSTGRES, project_name, {"POSTGRES_HOST_AUTH_METHOD": "trust"})
    trusted.wait_until("pg_isready", "-h", "127.0.0.1", "-U", "postgres")
    assert psql(trusted, "postgres", "", "postgres", "SELECT 1").stdout.strip() == "1"


# --- redis:8.0 and valkey/valkey:8.1 -------------------------------------------------------

KEY_VALUE_STORES = [
    pytest.param(("redis:8.0", "redis"), id="redis-8.0"),
    pytest.param(("valkey/valkey:8.1", "valkey"), id="valkey-8.1"),
]


def resp(port: int, *commands: str, timeout: float = 10) -> bytes:
    """Send inline commands to a Redis-protocol server on 127.0.0.1:port; return the replies."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall("".join(f"{c}\r\n" for c in (*commands, "QUIT")).encode())
                chunks = []
                while chunk := s.recv(4096):
                    chunks.append(chunk)
            data = b"".join(chunks)
            if data:
                return data
        except OSError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"nothing answered on 127.0.0.1:{port}")
        time.sleep(0.2)


@pytest.mark.parametrize("store", KEY_VALUE_STORES)
def test_key_value_store_serves_the_network_and_keeps_data(
    store: tuple[str, str], bind_mount_dir: Path, project_name: str, free_port: Callable[[], int]
) -> None:
    image, name = store
    port = free_port()
    server = run_container(
        image, project_name, {}, volumes={bind_mount_dir: "/data"}, port=port, container_port=6379
    )
    server.wait_until(f"{name}-cli", "ping")
    assert server.exec(f"{name}-cli", "ping").stdout.strip() == "PONG"
    # From outside the container (not loopback): protected mode is off, as in the official image.
    assert resp(port, "SET greeting kept", "SAVE") == b"+OK\r\n+OK\r\n+OK\r\n"
    # Started as root: the server runs as uid 999 and owns /data, where the snapshot lands.
    assert proc_uids(server) == {999}
    assert (bind_mount_dir / "dump.rdb").stat().st_uid == 999
    assert server.stops_cleanly()

    # Options as arguments (no config file): the entrypoint runs the server with them.
    again = run_container(
        image,
        project_name,
        {},
        volumes={bind_mount_dir: "/data"},
        port=port,
        container_port=6379,
        command=("--save", "60", "1"),
    )
    again.wait_until(f"{name}-cli", "ping")
    assert again.exec(f"{name}-cli", "get", "greeting").stdout.strip() == "kept"
    assert again.exec(f"{name}-cli", "config", "get", "save").stdout.split() == ["save", "60", "1"]


@pytest.mark.parametrize("store", KEY_VALUE_STORES)
def test_key_value_store_runs_as_an_arbitrary_user(
    store: tuple[str, str], bind_mount_dir: Path, project_name: str
) -> None:
    image, name = store
    uid, gid = owned_dir(bind_mount_dir)
    server = run_container(image, project_name, {}, volumes={bind_mount_dir: "/data"}, user=f"{uid}:{gid}")
    server.wait_until(f"{name}-cli", "ping")
    assert proc_uids(server) == {uid}
    assert server.exec(f"{name}-cli", "save").stdout.strip() == "OK"
    snapshot = (bind_mount_dir / "dump.rdb").stat()
    assert (snapshot.st_uid, snapshot.st_gid) == (uid, gid)


# --- nginx:1.26 ----------------------------------------------------------------------------

NGINX = "nginx:1.26"

# The official image's documented configuration for running as a non-root user: the pid file
# and the temp directories move to /tmp ("Running nginx as a non-root user").
NGINX_NON_ROOT_CONF = """\
worker_processes  1;
error_log  /var/log/nginx/error.log notice;
pid        /tmp/nginx.pid;
events { worker_connections  64; }
http {
    client_body_temp_path /tmp/client_temp;
    proxy_temp_path       /tmp/proxy_temp_path;
    fastcgi_temp_path     /tmp/fastcgi_temp;
    uwsgi_temp_path       /tmp/uwsgi_temp;
    scgi_temp_path        /tmp/scgi_temp;
    include       /etc/nginx/mime.types;
    access_log  /var/log/nginx/access.log;
    include /etc/nginx/conf.d/*.conf;
}
"""


def test_nginx_serves_conf_d_and_templates(
    tmp_path: Path,
    project_name: str,
    free_port: Callable[[], int],
    http_get: Callable[..., tuple[int, str]],
) -> None:
    default_port, site_port = free_port(), free_port()
    default = run_container(NGINX, project_name, {}, port=default_port, container_port=80)
    assert http_get(f"http://127.0.0.1:{default_port}/", 15)[0] == 200
    assert "Welcome to nginx!" in http_get(f"http://127.0.0.1:{default_port}/")[1]
    # Workers run as nginx (101); the master as root.
    assert proc_uids(default) == {0, 101}
    # The access log goes to the container's output.
    assert '"GET / HTTP/1.1" 200' in default.logs()
    # SIGQUIT (the image's STOPSIGNAL) is a graceful, quick stop.
    assert default.stops_cleanly()

    # A site in conf.d/ (replacing default.conf) and a template that the entrypoint renders.
    conf_d, templates, html = tmp_path / "conf.d", tmp_path / "templates", tmp_path / "html"
    for d in (conf_d, templates, html):
        d.mkdir()
    (html / "index.html").write_text("static file\n")
    (conf_d / "default.conf").write_text(
        "server {\n  listen 80;\n  root /srv/html;\n  location /hello { return 200 'conf.d $uri\\n'; }\n}\n"
    )
    (templates / "extra.conf.template").write_text(
        "server {\n  listen 8080;\n  location / { return 200 '${SITE_GREETING} $uri\\n'; }\n}\n"
    )
    site = run_container(
        NGINX,
        project_name,
        {"SITE_GREETING": "hi from env"},
        volumes={conf_d: "/etc/nginx/conf.d", templates: "/etc/nginx/templates:ro", html: "/srv/html:ro"},
        port=site_port,
        container_port=80,
    )
    assert http_get(f"http://127.0.0.1:{site_port}/", 15) == (200, "static file\n")
    assert http_get(f"http://127.0.0.1:{site_port}/hello") == (200, "conf.d /hello\n")
    # The template became conf.d/extra.conf: the variable replaced, nginx's own $uri kept.
    # (curl is in the official Debian-based image, so health checks may use it.)
    assert site.wait_until("curl", "-fsS", "http://127.0.0.1:8080/x").stdout == "hi from env /x\n"
    rendered = site.exec("cat", "/etc/nginx/conf.d/extra.conf").stdout
    assert "hi from env $uri" in rendered, rendered


def test_nginx_as_an_arbitrary_user_needs_the_documented_config(
    tmp_path: Path,
    project_name: str,
    free_port: Callable[[], int],
    http_get: Callable[..., tuple[int, str]],
) -> None:
    user = f"{ARBITRARY_UID}:{ARBITRARY_UID}"
    # As with the official image, the default nginx.conf needs root (pid file, temp dirs).
    refused = run_container(NGINX, project_name, {}, user=user)
    assert refused.wait_exit() != 0
    assert "Permission denied" in refused.logs()

    conf = tmp_path / "nginx.conf"
    conf.write_text(NGINX_NON_ROOT_CONF)
    port = free_port()
    server = run_container(
        NGINX,
        project_name,
        {},
        volumes={conf: "/etc/nginx/nginx.conf:ro"},
        user=user,
        port=port,
        container_port=80,
    )
    # Port 80 as a non-root user: Docker >= 20.10 allows unprivileged ports in containers.
    status, body = http_get(f"http://127.0.0.1:{port}/", 15)
    assert status == 200 and "Welcome to nginx!" in body
    assert proc_uids(server) == {ARBITRARY_UID}


# --- python:3.13-slim ----------------------------------------------------------------------

PYTHON = "python:3.13-slim"


def make_wheel(directory: Path, name: str = "devstack_probe", version: str = "1.0") -> Path:
    """A minimal pure-Python wheel (PEP 427), so that pip can install without any index."""
    dist_info = f"{name}-{version}.dist-info"
    files = {
        f"{name}/__init__.py": "GREETING = 'installed by pip'\n",
        f"{dist_info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: devstack-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = "".join(f"{path},,\n" for path in files) + f"{dist_info}/RECORD,,\n"
    wheel = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in files.items():
            z.writestr(path, text)
        z.writestr(f"{dist_info}/RECORD", record)
    return wheel


def test_python_runs_and_pip_installs_globally(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    script = (
        "set -e; python --version; python3 -c 'import sys; print(sys.version_info[:2])'; "
        # No PEP 668 marker: a plain `pip install` as root works, as in a Dockerfile RUN line.
        f"pip install --no-index --disable-pip-version-check -q /w/{wheel.name}; "
        "cd /tmp && python -c 'import devstack_probe; print(devstack_probe.GREETING)'; "
        "python -m venv /tmp/venv && /tmp/venv/bin/python -c 'import sys; print(sys.prefix)'"
    )
    out = docker("run", "--rm", "-v", f"{tmp_path}:/w:ro", PYTHON, "sh", "-c", script, timeout=120)
    lines = out.stdout.splitlines()
    assert lines[0].startswith("Python 3.13."), out.stdout
    assert lines[1:] == ["(3, 13)", "installed by pip", "/tmp/venv"], out.stdout + out.stderr
    # The default command is the interpreter; LANG is UTF-8 as in the official image.
    env = docker(
        "run",
        "--rm",
        PYTHON,
        "python3",
        "-c",
        "import sys, os; print(sys.getfilesystemencoding(), os.environ['LANG'])",
    )
    assert env.stdout.split() == ["utf-8", "C.UTF-8"]
    assert docker("image", "inspect", "-f", "{{json .Config.Cmd}}", PYTHON).stdout.strip() == '["python3"]'


def test_python_as_an_arbitrary_user_installs_into_its_home(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path)
    tmp_path.chmod(0o755)  # readable by the container's user
    wheel.chmod(0o644)
    script = (
        "set -e; export HOME=/tmp/home; "
        f"pip install --no-index --disable-pip-version-check /w/{wheel.name} 2>&1; "
        "python -c 'import devstack_probe, sys; print(devstack_probe.__file__.startswith(\"/tmp/home/\"))'"
    )
    user = f"{ARBITRARY_UID}:{ARBITRARY_UID}"
    out = docker(
        "run", "--rm", "--user", user, "-v", f"{tmp_path}:/w:ro", PYTHON, "sh", "-c", script, timeout=120
    )
    # As with the official image: site-packages is root's, so pip falls back to a user install.
    assert "Defaulting to user installation" in out.stdout
    assert out.stdout.splitlines()[-1] == "True"


# --- node:24-slim --------------------------------------------------------------------------

NODE = "node:24-slim"


def test_node_is_the_real_node_24_with_npm(tmp_path: Path) -> None:
    versions = docker("run", "--rm", NODE, "-p", "process.version + ' ' + process.release.lts").stdout.split()
    expected = docker("image", "inspect", "-f", "{{range .Config.Env}}{{println .}}{{end}}", NODE).stdout
    assert f"NODE_VERSION={versions[0].lstrip('v')}" in expected.split()
    assert versions[0].startswith("v24.") and versions[1] == "Krypton"  # Node 24's LTS codename

    # npm works offline on a local package: pack it, install it into an app, run the app.
    lib, app = tmp_path / "lib", tmp_path / "app"
    lib.mkdir()
    app.mkdir()
    (lib / "package.json").write_text(
        json.dumps({"name": "probe-lib", "version": "1.0.0", "main": "index.js"})
    )
    (lib / "index.js").write_text("module.exports = () => 'from a package';\n")
    (app / "app.js").write_text("console.log(require('probe-lib')());\n")
    script = (
        "set -e; cd /w/lib && npm pack --silent >/dev/null; cd /w/app && npm init -y >/dev/null; "
        "npm install --offline --no-audit --no-fund --silent ../lib/probe-lib-1.0.0.tgz; "
        "npx --version >/dev/null; yarn --version >/dev/null; corepack --version >/dev/null; "
        "node app.js"
    )
    out = docker("run", "--rm", "-v", f"{tmp_path}:/w", NODE, "sh", "-c", script, timeout=120)
    assert out.stdout.strip() == "from a package", out.stderr
    # The entrypoint runs a script file (not a command) under node, as the official image does.
    out = docker("run", "--rm", "-v", f"{app}:/app", "-w", "/app", NODE, "app.js")
    assert out.stdout.strip() == "from a package"
    # The official image's user: node, uid/gid 1000, home /home/node.
    user = docker("run", "--rm", "--user", "node", NODE, "sh", "-c", "id -u; id -g; echo $HOME").stdout
    assert user.split() == ["1000", "1000", "/home/node"]


def test_node_serves_http_as_an_arbitrary_user(
    project_name: str, free_port: Callable[[], int], http_get: Callable[..., tuple[int, str]]
) -> None:
    port = free_port()
    server_js = (
        "require('http')"
        ".createServer((q, r) => r.end('node ' + process.version + ' uid ' + process.getuid()))"
        ".listen(3000)"
    )
    run_container(
        NODE,
        project_name,
        {},
        user=f"{ARBITRARY_UID}:{ARBITRARY_UID}",
        port=port,
        container_port=3000,
        command=("-e", server_js),
    )
    status, body = http_get(f"http://127.0.0.1:{port}/", 20)
    assert status == 200 and re.fullmatch(rf"node v24\.\d+\.\d+ uid {ARBITRARY_UID}", body), body


# --- wordpress:6.8-php8.4-apache -----------------------------------------------------------

WORDPRESS = "wordpress:6.8-php8.4-apache"
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http_post(url: str, fields: dict[str, str], timeout: float = 60) -> tuple[int, str]:
    data = urllib.parse.urlencode(fields).encode()
    with _no_proxy.open(url, data=data, timeout=timeout) as response:
        return int(response.status), response.read().decode("utf-8", errors="replace")


@pytest.mark.parametrize("as_user", [False, True], ids=["root", "arbitrary-user"])
def test_wordpress_installs_against_mariadb(
    as_user: bool,
    bind_mount_dir: Path,
    project_name: str,
    free_port: Callable[[], int],
    http_get: Callable[..., tuple[int, str]],
) -> None:
    network = create_network(project_name)
    db_name = f"{project_name}-db"
    db = run_container(
        "mariadb:11.8",
        project_name,
        MARIADB.env(root="root-pw", database="wp", user="wp", password="wp-pw"),
        network=network,
        name=db_name,
    )
    if as_user:
        uid, gid = owned_dir(bind_mount_dir)
        user: str | None = f"{uid}:{gid}"
    else:
        uid, gid, user = 33, 33, None  # www-data, as in the official image
    port = free_port()
    env = {
        "WORDPRESS_DB_HOST": db_name,
        "WORDPRESS_DB_USER": "wp",
        "WORDPRESS_DB_PASSWORD": "wp-pw",
        "WORDPRESS_DB_NAME": "wp",
        "WORDPRESS_TABLE_PREFIX": "dsx_",
    }
    web = run_container(
        WORDPRESS,
        project_name,
        env,
        volumes={bind_mount_dir: "/var/www/html"},
        port=port,
        container_port=80,
        network=network,
        user=user,
    )
    db.wait_until(*MARIADB.health)

    # The install page answers only when WordPress reaches the database with those settings.
    status, body = http_get(f"http://127.0.0.1:{port}/wp-admin/install.php", 60)
    assert status == 200 and "Error establishing a database connection" not in body, body[-2000:]
    assert 'name="weblog_title"' in body, body[-2000:]
    status, body = http_post(
        f"http://127.0.0.1:{port}/wp-admin/install.php?step=2",
        {
            "weblog_title": "Stand-in Blog",
            "user_name": "admin",
            "admin_password": "a-Long-pass-123!",
            "admin_password2": "a-Long-pass-123!",
            "pw_weak": "1",
            "admin_email": "admin@example.com",
            "blog_public": "0",
            "language": "",
        },
    )
    assert status == 200 and "Success!" in body, body[-2000:]
    # WORDPRESS_TABLE_PREFIX reached the tables; the front page shows the site.
    title = sql(
        db,
        MARIADB,
        "wp",
        "wp-pw",
        "SELECT option_value FROM dsx_options WHERE option_name = 'blogname'",
        "wp",
    )
    assert title.stdout.strip() == "Stand-in Blog", title.stderr
    status, body = http_get(f"http://127.0.0.1:{port}/", 30)
    assert status == 200 and "Stand-in Blog" in body

    # WordPress was copied into the bind mount, owned by the user Apache runs as, and
    # wp-config.php was generated from the environment with fresh keys.
    config = bind_mount_dir / "wp-config.php"
    assert "getenv_docker('WORDPRESS_DB_HOST'" in config.read_text().replace(" ", "")
    assert "put your unique phrase here" not in config.read_text()
    for path in (
        config,
        bind_mount_dir / "wp-includes" / "version.php",
        bind_mount_dir / "wp-content" / "plugins",
    ):
        assert (path.stat().st_uid, path.stat().st_gid) == (uid, gid), path
    assert proc_uids(web) == ({uid} if as_user else {0, uid})
    # SIGWINCH (the image's STOPSIGNAL) is Apache's graceful stop.
    assert web.stops_cleanly(), web.logs()[-3000:]


def test_wordpress_keeps_an_existing_site(bind_mount_dir: Path, project_name: str) -> None:
    # A theme already in the site, and an existing wp-config.php: neither is overwritten.
    theme = bind_mount_dir / "wp-content" / "themes" / "twentytwentyfive"
    theme.mkdir(parents=True)
    (theme / "style.css").write_text("/* mine */\n")
    (bind_mount_dir / "wp-config.php").write_text("<?php // mine\n")
    web = run_container(
        WORDPRESS, project_name, {"WORDPRESS_DB_HOST": "nowhere"}, volumes={bind_mount_dir: "/var/www/html"}
    )
    web.wait_until("test", "-e", "/var/www/html/wp-includes/version.php")
    web.wait_until("sh", "-c", "curl -s -o /dev/null http://127.0.0.1/readme.html")
    assert (theme / "style.css").read_text() == "/* mine */\n"
    assert (bind_mount_dir / "wp-config.php").read_text() == "<?php // mine\n"
    assert "exists! (not copying the WordPress version)" in web.logs()


def test_wordpress_reads_php_ini_dir_conf_d(tmp_path: Path, project_name: str) -> None:
    """As the official image: an ini file mounted into $PHP_INI_DIR/conf.d overrides PHP's
    defaults, for the web server's PHP (mod_php) and the CLI alike."""
    conf_d = tmp_path / "conf.d"
    conf_d.mkdir()
    (conf_d / "zz-test.ini").write_text("memory_limit = 384M\n")
    conf_d.chmod(0o755)
    web = run_container(WORDPRESS, project_name, {}, volumes={conf_d: "/usr/local/etc/php/conf.d:ro"})
    assert web.exec("sh", "-c", "echo $PHP_INI_DIR").stdout.strip() == "/usr/local/etc/php"
    assert web.exec("php", "-r", 'echo ini_get("memory_limit");').stdout == "384M"
    web.wait_until("sh", "-c", "curl -sf -o /dev/null http://127.0.0.1/readme.html")
    web.exec("sh", "-c", "echo '<?php echo ini_get(\"memory_limit\");' > /var/www/html/ini.php")
    assert web.exec("curl", "-s", "http://127.0.0.1/ini.php").stdout == "384M"


# --- memcached:1.6 -------------------------------------------------------------------------

MEMCACHED = "memcached:1.6"
# What a compose health check can run in the official image (no nc, curl or wget there).
MEMCACHED_HEALTH = (
    "bash",
    "-c",
    'exec 3<>/dev/tcp/127.0.0.1/11211 && printf "stats\\r\\nquit\\r\\n" >&3 && grep -q uptime <&3',
)


def memcached_talk(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request + b"quit\r\n")
        chunks = []
        while chunk := s.recv(4096):
            chunks.append(chunk)
    return b"".join(chunks)


def test_memcached_serves_the_network(project_name: str, free_port: Callable[[], int]) -> None:
    port = free_port()
    # Options only: the entrypoint runs memcached with them.
    server = run_container(MEMCACHED, project_name, {}, port=port, container_port=11211, command=("-m", "32"))
    server.wait_until(*MEMCACHED_HEALTH)
    answer = memcached_talk(port, b"set greeting 0 0 5\r\nhello\r\nget greeting\r\nstats settings\r\n")
    assert b"STORED\r\nVALUE greeting 0 5\r\nhello\r\nEND\r\n" in answer
    assert b"STAT maxbytes 33554432\r\n" in answer
    assert proc_uids(server) == {11211}
    found = server.exec("bash", "-c", "for c in nc curl wget; do command -v $c; done; true").stdout
    assert found == "", "the official image has none of these: a health check must not need them"
    assert server.stops_cleanly()


def test_memcached_runs_as_an_arbitrary_user(project_name: str) -> None:
    server = run_container(MEMCACHED, project_name, {}, user=f"{ARBITRARY_UID}:{ARBITRARY_UID}")
    server.wait_until(*MEMCACHED_HEALTH)
    assert proc_uids(server) == {ARBITRARY_UID}


# --- rabbitmq:4.0-management ---------------------------------------------------------------

RABBITMQ = "rabbitmq:4.0-management"


def api_get(
    url: str, user: str, password: str, method: str = "GET", body: bytes | None = None
) -> tuple[int, str]:
    """An HTTP request with basic auth, straight to a published port; any status is returned."""
    request = urllib.request.Request(url, data=body, method=method)
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    request.add_header("Authorization", f"Basic {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with _no_proxy.open(request, timeout=30) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as e:
        return int(e.code), e.read().decode()


def test_rabbitmq_management_amqp_and_data_kept(
    bind_mount_dir: Path,
    project_name: str,
    free_port: Callable[[], int],
    http_get: Callable[..., tuple[int, str]],
) -> None:
    amqp, web = free_port(), free_port()
    env = {"RABBITMQ_DEFAULT_USER": "app", "RABBITMQ_DEFAULT_PASS": "s3cret"}
    # `hostname:` keeps the node name (rabbit@broker) and so its data across containers.
    broker = run_container(
        RABBITMQ,
        project_name,
        env,
        volumes={bind_mount_dir: "/var/lib/rabbitmq"},
        publish={5672: amqp, 15672: web},
        hostname="broker",
    )
    # Started as root, the CLI must not run before the broker has written its Erlang cookie:
    # a CLI run as root would write a root-owned one that the broker cannot read (the official
    # image behaves the same; with `user:` set, both run as that user and the race is gone).
    broker.wait_until("test", "-s", "/var/lib/rabbitmq/.erlang.cookie", timeout=240)
    broker.wait_until("rabbitmq-diagnostics", "-q", "ping", timeout=240)

    # The management UI and its HTTP API, with the user from the environment.
    status, page = http_get(f"http://127.0.0.1:{web}/", 60)
    assert status == 200 and "RabbitMQ Management" in page
    status, overview = api_get(f"http://127.0.0.1:{web}/api/overview", "app", "s3cret")
    assert status == 200 and json.loads(overview)["rabbitmq_version"].startswith("4.0."), overview
    assert api_get(f"http://127.0.0.1:{web}/api/overview", "guest", "guest")[0] == 401
    created = api_get(
        f"http://127.0.0.1:{web}/api/queues/%2F/jobs", "app", "s3cret", "PUT", b'{"durable": true}'
    )
    assert created[0] in (201, 204), created

    # AMQP 0-9-1 on 5672: the protocol header is answered with Connection.Start (a method frame).
    with socket.create_connection(("127.0.0.1", amqp), timeout=10) as s:
        s.sendall(b"AMQP\x00\x00\x09\x01")
        frame = s.recv(4096)
    assert frame[0] == 1 and b"PLAIN" in frame, frame[:64]

    # Started as root: the broker runs as rabbitmq (999), which owns the data directory.
    assert proc_uids(broker) == {999}
    assert (bind_mount_dir / ".erlang.cookie").stat().st_uid == 999
    assert broker.stops_cleanly(), broker.logs()[-3000:]

    again = run_container(
        RABBITMQ,
        project_name,
        {},
        volumes={bind_mount_dir: "/var/lib/rabbitmq"},
        publish={15672: web},
        hostname="broker",
    )
    again.wait_until("rabbitmq-diagnostics", "-q", "ping", timeout=240)  # the cookie is kept
    assert http_get(f"http://127.0.0.1:{web}/", 60)[0] == 200  # the management listener is up
    status, queue = api_get(f"http://127.0.0.1:{web}/api/queues/%2F/jobs", "app", "s3cret")
    assert status == 200 and json.loads(queue)["durable"] is True, queue


def test_rabbitmq_runs_as_an_arbitrary_user(bind_mount_dir: Path, project_name: str) -> None:
    # The health check runs as the same user as the broker: no cookie race, whatever the timing.
    uid, gid = owned_dir(bind_mount_dir)
    broker = run_container(
        RABBITMQ,
        project_name,
        {},
        volumes={bind_mount_dir: "/var/lib/rabbitmq"},
        user=f"{uid}:{gid}",
        hostname="broker",
    )
    broker.wait_until("rabbitmq-diagnostics", "-q", "ping", timeout=240)
    assert proc_uids(broker) == {uid}
    owners = {(p.stat().st_uid, p.stat().st_gid) for p in bind_mount_dir.rglob("*")}
    assert owners == {(uid, gid)}, owners


# --- adminer:5 -----------------------------------------------------------------------------

ADMINER = "adminer:5"


def test_adminer_logs_into_mariadb_with_the_default_server(
    project_name: str, free_port: Callable[[], int], http_get: Callable[..., tuple[int, str]]
) -> None:
    network = create_network(project_name)
    db_name = f"{project_name}-db"
    db = run_container(
        "mariadb:11.8",
        project_name,
        MARIADB.env(root="root-pw", database="app_db", user="app", password="app-pw"),
        network=network,
        name=db_name,
    )
    port = free_port()
    env = {"ADMINER_DEFAULT_SERVER": db_name, "ADMINER_DESIGN": "dracula", "ADMINER_PLUGINS": "tables-filter"}
    adminer = run_container(ADMINER, project_name, env, network=network, port=port, container_port=8080)

    status, page = http_get(f"http://127.0.0.1:{port}/", 30)
    assert status == 200 and f'name="auth[server]" value="{db_name}"' in page, page[-2000:]
    assert re.search(r"Adminer</a> <span class=.version.>5\.", page), "not Adminer 5"
    # ADMINER_DESIGN: its stylesheet is served; ADMINER_PLUGINS: the plugin is enabled.
    status, css = http_get(f"http://127.0.0.1:{port}/adminer.css")
    assert status == 200 and "color" in css
    assert adminer.exec("php", "-l", "/var/www/html/plugins-enabled/tables-filter.php").returncode == 0
    assert proc_uids(adminer) == {1000}

    # Log in as a person would (session cookie, form post) and see the database.
    db.wait_until(*MARIADB.health)
    jar = http.cookiejar.CookieJar()
    browser = urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(jar)
    )
    browser.open(f"http://127.0.0.1:{port}/", timeout=30).read()
    form = {
        "auth[driver]": "server",
        "auth[server]": db_name,
        "auth[username]": "app",
        "auth[password]": "app-pw",
        "auth[db]": "",
    }
    with browser.open(
        f"http://127.0.0.1:{port}/", data=urllib.parse.urlencode(form).encode(), timeout=30
    ) as r:
        after_login = r.read().decode()
    assert "app_db" in after_login and "Invalid credentials" not in after_login, after_login[-2000:]


# --- maildev/maildev -----------------------------------------------------------------------


def maildev_image() -> str:
    """The maildev tag build-test-images.sh builds (the npm version it pins)."""
    script = (Path(__file__).resolve().parents[2] / "scripts" / "build-test-images.sh").read_text()
    found = re.search(r"^MAILDEV_IMAGE=(\S+)$", script, re.MULTILINE)
    assert found, "MAILDEV_IMAGE is not set in build-test-images.sh"
    return found.group(1)


def test_maildev_catches_mail_and_shows_it_in_its_api(
    project_name: str, free_port: Callable[[], int], http_get: Callable[..., tuple[int, str]]
) -> None:
    image = maildev_image()
    package = json.loads(
        (Path(__file__).resolve().parents[1] / "images" / "maildev" / "package.json").read_text()
    )
    assert image == f"maildev/maildev:{package['dependencies']['maildev']}", "the tag must be the npm version"
    smtp_port, web = free_port(), free_port()
    catcher = run_container(image, project_name, {}, publish={1025: smtp_port, 1080: web})
    # The image's own HEALTHCHECK command.
    assert (
        catcher.wait_until("wget", "-q", "-O", "-", "http://localhost:1080/api/healthz").stdout.strip()
        == "true"
    )

    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = (
        "app@example.com",
        "dev@example.com",
        "Caught by the stand-in",
    )
    message.set_content("hello from the tests")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as smtp:
        smtp.send_message(message)

    status, listing = http_get(f"http://127.0.0.1:{web}/api/email", 30)
    assert status == 200, listing
    subjects = [m["subject"] for m in json.loads(listing)]
    assert subjects == ["Caught by the stand-in"]
    # The web UI, as a browser asks for it (the single-page app answers Accept: text/html).
    request = urllib.request.Request(f"http://127.0.0.1:{web}/", headers={"Accept": "text/html"})
    with _no_proxy.open(request, timeout=30) as response:
        assert response.status == 200 and "MailDev" in response.read().decode()
    assert proc_uids(catcher) == {1000}
