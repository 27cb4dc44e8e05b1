"""The django and node stacks, really built and started, by a non-root user in the docker group.

For each stack: `devstack new`, the host's extra CA certificates copied into docker/certs/ (the
builds fetch from PyPI and npm through this network's TLS-intercepting proxy, so this proves the
corporate-proxy feature), `devstack up` (build included), the page on 127.0.0.1 with `all
services reachable`, a database row that survives `down`/`up`, `devstack run` (output, exit
code, standard input, a terminal when there is one), every file the containers and tools wrote
into the bind mounts owned by that user, who deletes data/db without sudo, and a teardown that
leaves nothing. Compose v2 only: generated templates target it (`start_interval`).

devstack runs as a subprocess here: as an ordinary uid (via setpriv, with the docker socket's
group) when the tests run as root, as the current user otherwise.
"""

from __future__ import annotations

import os
import pty
import re
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from dotenv import dotenv_values

PROJECT_LABEL = "com.docker.compose.project"
HOST_CAS = Path("/usr/local/share/ca-certificates")
# An ordinary uid with no passwd entry, as a developer's uid is inside the containers.
TEST_UID = 43117


def docker(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=False)


def leftovers(project: str) -> list[str]:
    found = []
    for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
        ids = docker(*kind, "-q", "--filter", f"label={PROJECT_LABEL}={project}").stdout.split()
        found += [f"{kind[0]} {i}" for i in ids]
    return found


def container_of(project: str, service: str) -> str:
    out = docker(
        "ps", "-q", "--filter", f"label={PROJECT_LABEL}={project}",
        "--filter", f"label=com.docker.compose.service={service}",
    ).stdout.split()  # fmt: skip
    assert len(out) == 1, f"expected one running {service} container, got {out}"
    return out[0]


@dataclass
class User:
    """Who runs devstack in these tests: uid, gid, and how to become them."""

    uid: int
    gid: int
    prefix: list[str]  # argv prefix that switches to them ([] when we already are them)
    home: Path

    def run(
        self,
        *args: str,
        cwd: Path,
        input: str | None = None,
        timeout: float = 900,
        env: dict[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """`devstack ARGS...` as this user, stdin from `input` (else nothing), output captured."""
        return subprocess.run(
            [*self.prefix, sys.executable, "-m", "devstack", *args],
            cwd=cwd,
            input=input if input is not None else "",
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env or self.env(),
            check=False,
        )

    def env(self) -> dict[str, str]:
        keep = ("PATH", "LANG", "LC_ALL", "DOCKER_HOST", "CI", "TMPDIR")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env["HOME"] = str(self.home)
        return env

    def on_a_terminal(self, *args: str, cwd: Path, timeout: float = 120) -> tuple[int, str]:
        """`devstack ARGS...` with stdin and stdout on a pseudo-terminal; (exit code, output)."""
        primary, secondary = pty.openpty()
        proc = subprocess.Popen(
            [*self.prefix, sys.executable, "-m", "devstack", *args],
            cwd=cwd,
            stdin=secondary,
            stdout=secondary,
            stderr=secondary,
            env=self.env() | {"TERM": "dumb"},
            close_fds=True,
        )
        os.close(secondary)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 0.5)
            if ready:
                try:
                    data = os.read(primary, 4096)
                except OSError:  # the terminal closed: the process is done
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None:
                break
        os.close(primary)
        code = proc.wait(timeout=30)
        return code, b"".join(chunks).decode("utf-8", "replace")


@pytest.fixture
def devstack_user(docker_engine) -> Iterator[User]:
    """An ordinary user who may use the engine: ourselves, or TEST_UID in the socket's group."""
    work = Path(tempfile.mkdtemp(prefix="devstack-apps-home-"))
    try:
        if os.getuid() != 0:
            yield User(os.getuid(), os.getgid(), [], work)
            return
        socket_gid = os.stat("/var/run/docker.sock").st_gid if os.path.exists("/var/run/docker.sock") else 0
        if not shutil.which("setpriv"):
            pytest.skip("setpriv (util-linux) is needed to run devstack as an ordinary user")
        os.chown(work, TEST_UID, TEST_UID)
        prefix = ["setpriv", f"--reuid={TEST_UID}", f"--regid={TEST_UID}", f"--groups={socket_gid}", "--"]
        yield User(TEST_UID, TEST_UID, prefix, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@dataclass
class Site:
    root: Path
    port: int
    name: str


@pytest.fixture
def app_site(devstack_user, project_name, free_port, test_images) -> Iterator[Callable[[str], Site]]:
    """`make(stack)`: a generated project, owned by the test user, in a directory they can reach."""
    parent = Path(tempfile.mkdtemp(prefix="devstack-apps-"))
    os.chmod(parent, 0o755)  # pytest's own tmp directory is 0700 to anyone but root
    os.chown(parent, devstack_user.uid, devstack_user.gid)
    made: list[Site] = []

    def make(stack: str) -> Site:
        port = free_port()
        root = parent / "site"
        result = devstack_user.run(
            "new", stack, str(root), "--no-input", "--name", project_name, "--set", f"web_port={port}",
            cwd=parent,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        for cert in HOST_CAS.glob("*.crt"):
            target = root / "docker/certs" / cert.name
            shutil.copyfile(cert, target)
            os.chown(target, devstack_user.uid, devstack_user.gid)
        site = Site(root, port, project_name)
        made.append(site)
        return site

    try:
        yield make
    finally:
        for site in made:
            subprocess.run(
                [sys.executable, "-m", "devstack", "down"], cwd=site.root, capture_output=True, timeout=120
            )
        for suffix in ("-web", "-app"):
            docker("image", "rm", "--force", f"{project_name}{suffix}")
        shutil.rmtree(parent, ignore_errors=True)


def owners(root: Path) -> set[int]:
    """Every owner of every file and directory under root (root itself included)."""
    found = {root.lstat().st_uid}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            found.add(os.lstat(os.path.join(dirpath, name)).st_uid)
    return found


def page(site: Site, http_get) -> str:
    status, body = http_get(f"http://127.0.0.1:{site.port}/", timeout=60)
    assert status == 200, body
    assert "all services reachable" in body, body
    assert 'data-service="db" data-status="ok"' in body, body
    return body


def visits(body: str) -> int:
    match = re.search(r"(\d+) visits recorded", body)
    assert match, body
    return int(match.group(1))


def psql(site: Site, statement: str) -> str:
    env = dotenv_values(site.root / ".env")
    proc = docker(
        "exec", container_of(site.name, "db"),
        "psql", "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1",
        "-U", str(env["DB_USER"]), "-d", str(env["DB_NAME"]), "-c", statement,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


STACKS = {
    # stack: (web service, tool runs that check output, exit code and stdin)
    "django": "web",
    "node": "app",
}


@pytest.mark.parametrize("stack", sorted(STACKS))
def test_app_stack_end_to_end(stack, app_site, devstack_user, project_name, http_get, monkeypatch):
    monkeypatch.delenv("DEVSTACK_COMPOSE", raising=False)
    site = app_site(stack)
    user = devstack_user
    env = dotenv_values(site.root / ".env")
    assert (env["HOST_UID"], env["HOST_GID"]) == (str(user.uid), str(user.gid))

    started = time.monotonic()
    result = user.run("up", cwd=site.root)
    first_up = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"http://localhost:{site.port}/" in result.stdout
    body = page(site, http_get)
    first = visits(body)

    # Files the containers wrote into bind mounts belong to the user, never root or 999.
    assert owners(site.root / "data/db") == {user.uid}
    assert (site.root / "data/db/PG_VERSION").read_text().strip() == "17"
    if stack == "node":
        assert (site.root / "src/node_modules/express/package.json").is_file()
        assert owners(site.root / "src/node_modules") == {user.uid}

    _tools(stack, site, user)

    # A row survives down/up; the app's own writes too.
    psql(site, "CREATE TABLE notes (id int PRIMARY KEY, body text); INSERT INTO notes VALUES (1, 'kept');")
    result = user.run("down", cwd=site.root)
    assert result.returncode == 0, result.stderr
    assert docker("ps", "-aq", "--filter", f"label={PROJECT_LABEL}={project_name}").stdout.strip() == ""
    result = user.run("up", cwd=site.root)
    assert result.returncode == 0, result.stdout + result.stderr
    assert psql(site, "SELECT body FROM notes WHERE id = 1") == "kept"
    assert visits(page(site, http_get)) > first
    assert user.run("up", cwd=site.root).returncode == 0  # idempotent on a running stack

    assert user.run("down", cwd=site.root).returncode == 0
    assert leftovers(project_name) == []
    # The user deletes the database files without sudo.
    rm = subprocess.run(
        [*user.prefix, "rm", "-rf", str(site.root / "data/db")], capture_output=True, text=True
    )
    assert rm.returncode == 0, rm.stderr
    assert not (site.root / "data/db").exists()
    print(f"\n[{stack}] first up as uid {user.uid} (build included): {first_up:.1f} s")


def _tools(stack: str, site: Site, user: User) -> None:
    """`devstack run`: listing, output, exit code, stdin, a terminal, files owned by the user."""
    service = STACKS[stack]
    listing = user.run("run", cwd=site.root)
    assert listing.returncode == 0, listing.stderr
    unknown = user.run("run", "nosuchtool", cwd=site.root)
    assert unknown.returncode == 2
    assert "unknown tool 'nosuchtool'; this project's tools:" in unknown.stderr
    if stack == "django":
        assert "manage.py" in listing.stdout and "web" in listing.stdout
        out = user.run("run", "manage.py", "showmigrations", "pages", cwd=site.root)
        assert out.returncode == 0, out.stderr
        assert "[X] 0001_initial" in out.stdout
        # Arguments that look like options reach the tool.
        out = user.run("run", "manage.py", "--version", cwd=site.root)
        assert out.stdout.strip().startswith("5.2."), out.stdout + out.stderr
        code = user.run("run", "python", "-c", "import sys; sys.exit(7)", cwd=site.root)
        echo = user.run(
            "run", "python", "-c", "import sys; print(sys.stdin.read().upper(), end='')",
            cwd=site.root, input="piped through\n",
        )  # fmt: skip
        written = user.run("run", "manage.py", "startapp", "blog", cwd=site.root)
        assert written.returncode == 0, written.stderr
        made = site.root / "src/blog"
        tty_probe = ["python", "-c", "import sys; print('tty', sys.stdin.isatty(), sys.stdout.isatty())"]
    else:
        assert "npm" in listing.stdout and "npx" in listing.stdout and "app" in listing.stdout
        out = user.run("run", "npm", "--version", cwd=site.root)
        assert out.returncode == 0, out.stderr
        assert re.fullmatch(r"\d+\.\d+\.\d+", out.stdout.strip()), out.stdout
        out = user.run("run", "npm", "ls", "express", "--depth=0", cwd=site.root)
        assert "express@5." in out.stdout, out.stdout + out.stderr
        code = user.run("run", "node", "-e", "process.exit(7)", cwd=site.root)
        upper = "process.stdin.on('data', (d) => process.stdout.write(String(d).toUpperCase()))"
        echo = user.run("run", "node", "-e", upper, cwd=site.root, input="piped through\n")
        written = user.run("run", "npm", "test", cwd=site.root)
        assert written.returncode == 0, written.stdout + written.stderr
        assert "# pass 1" in written.stdout or "pass 1" in written.stdout, written.stdout
        written = user.run(
            "run",
            "node",
            "-e",
            "require('fs').mkdirSync('made-by-a-tool/inner', {recursive: true})",
            cwd=site.root,
        )
        made = site.root / "src/made-by-a-tool"
        tty_probe = [
            "node",
            "-e",
            "console.log(`tty ${Boolean(process.stdin.isTTY)} ${Boolean(process.stdout.isTTY)}`)",
        ]
    assert code.returncode == 7, code.stderr
    assert echo.returncode == 0 and echo.stdout == "PIPED THROUGH\n", echo.stdout + echo.stderr
    assert written.returncode == 0, written.stderr
    assert made.is_dir() and owners(made) == {user.uid}
    # Not a terminal here: no TTY for the tool; on a terminal: a TTY.
    plain = user.run("run", *tty_probe, cwd=site.root)
    assert re.search(r"tty (False|false) (False|false)", plain.stdout), plain.stdout + plain.stderr
    code_on_tty, shown = user.on_a_terminal("run", *tty_probe, cwd=site.root)
    assert code_on_tty == 0, shown
    assert re.search(r"tty (True|true) (True|true)", shown), shown
    assert service in listing.stdout
