"""Files in the project belong to the developer: as an ordinary user in the docker group.

The test creates that user (when it runs as root; otherwise it is the current user) and runs
devstack as them:
- with the ownership convention (`user: "${HOST_UID}:${HOST_GID}"`), what the database and web
  containers write belongs to the user, who deletes data/db without sudo;
- a project made before the convention (no `user:`, files owned by 999): `up` says how to
  migrate, `db reset` deletes the files through the engine (no sudo), and `db chown` hands them
  over so the database keeps its rows as the user.
"""

from __future__ import annotations

import grp
import os
import pwd
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docker.conftest import remove_project

MARIADB = """
  db:
    image: mariadb:11.8{user}
    volumes:
      - ./data/db:/var/lib/mysql
    environment:
      MARIADB_DATABASE: app
      MARIADB_USER: app
      MARIADB_PASSWORD: ${{DB_PASSWORD:?set DB_PASSWORD}}
      MARIADB_ROOT_PASSWORD: root-password
    healthcheck:
      test: ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"]
      interval: 30s
      start_interval: 500ms
      start_period: 90s
      timeout: 5s
"""
HOST_USER = '\n    user: "${HOST_UID:-1000}:${HOST_GID:-1000}"'
WEB = """
  web:
    image: devstack-test/busybox:latest
    user: "${HOST_UID:-1000}:${HOST_GID:-1000}"
    init: true
    volumes:
      - ./src:/app
    command: ["sh", "-c", "mkdir -p /app/uploads && echo hello > /app/uploads/file.txt && exec sleep 3600"]
"""


@dataclass
class User:
    uid: int
    gid: int
    prefix: list[str]
    home: Path

    def run(
        self, *args: str, cwd: Path, project: str, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """`devstack ARGS...` as this user."""
        return self.raw([sys.executable, "-m", "devstack", *args], cwd=cwd, project=project, timeout=timeout)

    def raw(
        self, argv: list[str], cwd: Path, project: str = "", timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k in ("PATH", "LANG", "DOCKER_HOST", "CI")}
        env.update(HOME=str(self.home), COMPOSE_PROJECT_NAME=project)
        # The interpreter is exec'd by setpriv itself, not through `env`: see ordinary_user.
        return subprocess.run(
            [*self.prefix, *argv],
            cwd=cwd, env=env, input="", capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip


def _free_uid() -> int:
    taken = {p.pw_uid for p in pwd.getpwall()} | {g.gr_gid for g in grp.getgrall()}
    while True:
        uid = random.randint(45000, 59999)
        if uid not in taken:
            return uid


@pytest.fixture(scope="module")
def ordinary_user(docker_engine: str) -> Iterator[User]:
    """A user created for the test, in the group of the engine's socket; removed afterwards."""
    home = Path(tempfile.mkdtemp(prefix="dsdata-home-"))
    if os.getuid() != 0:
        yield User(os.getuid(), os.getgid(), [], home)
        shutil.rmtree(home, ignore_errors=True)
        return
    socket = "/var/run/docker.sock"
    if not os.path.exists(socket) or os.stat(socket).st_gid == 0:
        pytest.skip("needs a local engine socket owned by a docker group")
    if not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs useradd and setpriv (util-linux)")
    group = grp.getgrgid(os.stat(socket).st_gid).gr_name
    name = f"dsdata{uuid.uuid4().hex[:6]}"
    uid = _free_uid()
    subprocess.run(
        ["useradd", "--uid", str(uid), "--user-group", "--groups", group, "--no-create-home",
         "--home-dir", str(home), "--shell", "/bin/sh", name],
        check=True, capture_output=True,
    )  # fmt: skip
    os.chown(home, uid, uid)
    try:
        gid = pwd.getpwnam(name).pw_gid
        # setpriv, not runuser, and the interpreter exec'd by setpriv directly: on the test
        # machines this run's interpreter may live under /root, which only that first exec reaches.
        yield User(uid, gid, ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--init-groups", "--"], home)
    finally:
        subprocess.run(["userdel", name], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def workdir(ordinary_user: User, test_images: None) -> Iterator[tuple[Path, str]]:
    """A project directory the user owns, and a Compose project name; both cleaned up."""
    base = Path(tempfile.mkdtemp(prefix="dsdata-owner-"))
    os.chmod(base, 0o755)
    root = base / "site"
    root.mkdir()
    os.chown(root, ordinary_user.uid, ordinary_user.gid)
    name = f"dstest-{uuid.uuid4().hex[:12]}"
    try:
        yield root, name
    finally:
        remove_project(name)
        subprocess.run(
            ["docker", "run", "--rm", "--network", "none", "-v", f"{base}:/mnt",
             "devstack-test/busybox:latest", "rm", "-rf", "/mnt/site"],
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def write(root: Path, user: User, relative: str, text: str) -> None:
    path = root / relative
    path.write_text(textwrap.dedent(text).lstrip())
    os.chown(path, user.uid, user.gid)


def mkdir(root: Path, user: User, relative: str) -> None:
    """What `devstack up` does for bind-mount sources: the user creates them."""
    path = root
    for part in Path(relative).parts:
        path = path / part
        if not path.exists():
            path.mkdir()
            os.chown(path, user.uid, user.gid)


def owners(path: Path) -> set[int]:
    found = {path.stat().st_uid}
    for directory, dirs, files in os.walk(path):
        for name in dirs + files:
            found.add(os.lstat(os.path.join(directory, name)).st_uid)
    return found


def env_for(user: User) -> str:
    return f"DB_PASSWORD=first-password\nHOST_UID={user.uid}\nHOST_GID={user.gid}\n"


def sql(root: Path, project: str, statement: str) -> str:
    proc = subprocess.run(
        ["docker", "compose", "-p", project, "exec", "-T", "-e", "MYSQL_PWD=first-password", "db",
         "mariadb", "-uapp", "-N", "-B", "app", "-e", statement],
        cwd=root, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


def wait_ready(root: Path, project: str) -> None:
    import time

    deadline = time.monotonic() + 120
    while True:
        probe = subprocess.run(
            ["docker", "compose", "-p", project, "exec", "-T", "-e", "MYSQL_PWD=first-password", "db",
             "mariadb", "-uapp", "app", "-e", "SELECT 1"],
            cwd=root, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if probe.returncode == 0:
            return
        assert time.monotonic() < deadline, probe.stderr
        time.sleep(0.3)


def test_what_the_containers_write_belongs_to_the_user(ordinary_user, workdir):
    root, project = workdir
    user = ordinary_user
    write(root, user, "docker-compose.yml", "services:" + MARIADB.format(user=HOST_USER) + WEB)
    write(root, user, ".env", env_for(user))
    mkdir(root, user, "data/db")
    mkdir(root, user, "src")
    result = user.run("up", "--timeout", "240", cwd=root, project=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert owners(root / "data" / "db") == {user.uid}
    assert owners(root / "src" / "uploads") == {user.uid}
    assert "DS81" not in result.stdout + result.stderr
    assert user.run("down", cwd=root, project=project).returncode == 0
    removed = user.raw(["rm", "-rf", str(root / "data" / "db"), str(root / "src" / "uploads")], cwd=root)
    assert removed.returncode == 0, removed.stderr
    assert not (root / "data" / "db").exists()


def test_a_legacy_project_is_reset_without_sudo(ordinary_user, workdir):
    root, project = workdir
    user = ordinary_user
    write(root, user, "docker-compose.yml", "services:" + MARIADB.format(user=""))
    write(root, user, ".env", env_for(user))
    mkdir(root, user, "data/db")
    result = user.run("up", "--timeout", "240", cwd=root, project=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 999 in owners(root / "data" / "db")  # the image's mysql user wrote them
    denied = user.raw(["rm", "-rf", str(root / "data" / "db")], cwd=root)
    assert denied.returncode != 0 and "Permission denied" in denied.stderr

    # Files the user cannot read: snapshot and restore go through the engine, still no sudo.
    sql(root, project, "CREATE TABLE kept (v varchar(9)); INSERT INTO kept VALUES ('before');")
    result = user.run("db", "snapshot", "legacy", cwd=root, project=project)
    assert result.returncode == 0, result.stdout + result.stderr
    wait_ready(root, project)
    sql(root, project, "UPDATE kept SET v = 'after';")
    result = user.run("db", "restore", "legacy", cwd=root, project=project)
    assert result.returncode == 0, result.stdout + result.stderr
    wait_ready(root, project)
    assert sql(root, project, "SELECT v FROM kept;") == "before"
    assert sorted(p.name for p in (root / "data").iterdir()) == ["db"]

    result = user.run("db", "reset", "--yes", cwd=root, project=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert list((root / "data" / "db").iterdir()) == []
    removed = user.raw(["rm", "-rf", str(root / "data" / "db")], cwd=root)
    assert removed.returncode == 0, removed.stderr


def test_a_legacy_project_is_migrated_and_keeps_its_rows(ordinary_user, workdir):
    root, project = workdir
    user = ordinary_user
    write(root, user, "docker-compose.yml", "services:" + MARIADB.format(user=""))
    write(root, user, ".env", env_for(user))
    mkdir(root, user, "data/db")
    assert user.run("up", "--timeout", "240", cwd=root, project=project).returncode == 0
    sql(root, project, "CREATE TABLE kept (v varchar(9)); INSERT INTO kept VALUES ('survived');")

    up = user.run("up", cwd=root, project=project)
    assert "DS810" in up.stdout + up.stderr and "db chown" in up.stdout + up.stderr

    # The migration the hint describes: `user:` in the compose file, then `devstack db chown`.
    write(root, user, "docker-compose.yml", "services:" + MARIADB.format(user=HOST_USER))
    result = user.run("db", "chown", cwd=root, project=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert owners(root / "data" / "db") == {user.uid}
    result = user.run("up", "--timeout", "240", cwd=root, project=project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sql(root, project, "SELECT v FROM kept;") == "survived"
    assert owners(root / "data" / "db") == {user.uid}
