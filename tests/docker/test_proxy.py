"""`devstack proxy` and `devstack events` on a real engine (and on a second one, started here).

Every proxy a test starts has its own name, a free port on 127.0.0.1 and `--projects` limited to
the test's own projects, so it never touches another project's network on a shared engine. The
second engine is a real `dockerd` in its own network namespace (veth to the host), with its own
socket, data root, exec root, pidfile and bridge; it is torn down whatever happens.
"""

from __future__ import annotations

import http.client
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

DEVSTACK = [sys.executable, "-m", "devstack"]
BUSYBOX_IMAGE = "devstack-test/busybox:latest"  # built by the test_images fixture (conftest.py)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def skip_or_fail(reason: str) -> None:
    if in_ci():
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)", pytrace=False)
    pytest.skip(reason)


def run_cmd(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def devstack(
    *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*DEVSTACK, *args], capture_output=True, text=True, timeout=timeout, check=False, env=full_env
    )


def get(
    port: int, host: str, path: str = "/", timeout: float = 3.0, at: str = "127.0.0.1"
) -> tuple[int, str]:
    """One request to the proxy (on 127.0.0.1) with a Host header; (0, error) when nothing answers."""
    try:
        conn = http.client.HTTPConnection(at, port, timeout=timeout)
        conn.request("GET", path, headers={"Host": host})
        answer = conn.getresponse()
        body = answer.read().decode("utf-8", "replace")
        conn.close()
        return answer.status, body
    except (OSError, http.client.HTTPException) as exc:
        return 0, repr(exc)


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.1)


def answers(port: int, host: str, text: str, at: str = "127.0.0.1") -> Callable[[], bool]:
    def check() -> bool:
        status, body = get(port, host, at=at)
        return status == 200 and text in body

    return check


def not_routed(port: int, host: str) -> Callable[[], bool]:
    def check() -> bool:
        status, body = get(port, host)
        return status == 404 and "devstack proxy" in body

    return check


def web_service(text: str, port: int = 80, extra: str = "") -> str:
    """A busybox httpd service answering `text`."""
    return textwrap.dedent(
        f"""\
          image: {BUSYBOX_IMAGE}
          command: ["sh", "-c", "echo {text} > /www/index.html; exec httpd -f -p {port} -h /www"]
          expose: ["{port}"]
        """
    ) + textwrap.dedent(extra)


@dataclass
class Project:
    name: str
    root: Path
    docker_host: str | None = None

    def compose(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ)
        if self.docker_host:
            env["DOCKER_HOST"] = self.docker_host
        done = subprocess.run(
            ["docker", "compose", "-p", self.name, *args],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env=env,
        )
        if check and done.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)} failed: {done.stderr[-800:]}")
        return done


@dataclass
class Router:
    """The test's projects and proxies; everything is removed afterwards."""

    prefix: str
    tmp: Path
    projects: list[Project] = field(default_factory=list)
    proxies: list[str] = field(default_factory=list)
    proxy_env: dict[str, dict[str, str]] = field(default_factory=dict)  # a proxy on another engine

    def project(
        self, suffix: str, services: dict[str, str], top: str = "", docker_host: str | None = None
    ) -> Project:
        name = f"{self.prefix}-{suffix}"
        root = self.tmp / name
        root.mkdir()
        body = "services:\n" + "".join(
            f"  {svc}:\n" + textwrap.indent(text, "    ") for svc, text in services.items()
        )
        (root / "compose.yaml").write_text(body + top)
        project = Project(name, root, docker_host)
        self.projects.append(project)
        return project

    def start(self, *args: str, port: int | None = None) -> tuple[str, int]:
        """Start a proxy for this test's projects; (its name, its port)."""
        name = f"{self.prefix}-proxy"
        port = port or free_port()
        result = devstack(
            "proxy", "start", "--name", name, "--port", str(port), "--projects", f"{self.prefix}-*", *args
        )
        self.proxies.append(name)
        assert result.returncode == 0, result.stdout + result.stderr
        assert f"http://localhost:{port}/" in result.stdout
        return name, port

    def cleanup(self) -> list[str]:
        problems = []
        for name in self.proxies:
            env = self.proxy_env.get(name)
            done = devstack("proxy", "stop", "--name", name, timeout=120, env=env)
            if env:
                continue  # on the second engine, which goes with its fixture
            if done.returncode != 0:
                problems.append(f"proxy stop {name}: {done.stderr}")
            leftovers = run_cmd(
                ["docker", "ps", "-aq", "--filter", f"label=dev.devstack.proxy.instance={name}"]
            )
            if leftovers.stdout.strip():
                problems.append(f"proxy {name} left containers {leftovers.stdout.split()}")
        for project in self.projects:
            done = project.compose("down", "-v", "-t", "1", "--remove-orphans", check=False)
            left = run_cmd(
                ["docker", "ps", "-aq", "--filter", f"label=com.docker.compose.project={project.name}"]
            )
            if not project.docker_host and (done.returncode != 0 or left.stdout.strip()):
                problems.append(f"project {project.name} was not removed: {done.stderr[-300:]}")
        return problems


@pytest.fixture
def router(test_images: None, tmp_path: Path) -> Iterator[Router]:
    r = Router(f"dstest-rt{uuid.uuid4().hex[:8]}", tmp_path)
    try:
        yield r
    finally:
        problems = r.cleanup()
        if problems:
            raise RuntimeError("; ".join(problems))


def state(name: str) -> dict:
    done = devstack("proxy", "status", "--json", "--name", name)
    return json.loads(done.stdout)


# -- one engine ---------------------------------------------------------------------------------


def test_two_projects_route_by_host_stop_and_start(router: Router) -> None:
    # x-devstack.web names admin; without it, web (port 80) would be the entry point
    a = router.project(
        "a",
        {"web": web_service("web-of-a"), "admin": web_service("hello-from-a", 8080)},
        top="x-devstack:\n  web: admin\n",
    )
    b = router.project(
        "b",
        {
            "app": web_service(
                "hello-from-b",
                3000,
                """\
                healthcheck:
                  test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:3000/"]
                  interval: 30s
                  start_interval: 500ms
                  start_period: 10s
                """,
            )
        },
        top="x-devstack:\n  web: app\n",
    )
    a.compose("up", "-d")
    b.compose("up", "-d")
    name, port = router.start()

    wait_for(answers(port, f"{a.name}.localhost", "hello-from-a"), 30, "project a through the proxy")
    wait_for(answers(port, f"{b.name}.localhost", "hello-from-b"), 30, "project b through the proxy")
    assert get(port, f"web.{a.name}.localhost") == (200, "web-of-a\n")
    # with the port, as browsers send it
    assert get(port, f"app.{b.name}.localhost:{port}") == (200, "hello-from-b\n")

    # an unknown host: the devstack page, listing what is routed
    status, page = get(port, f"nope.{router.prefix}.localhost")
    assert status == 404 and "devstack proxy" in page and f"http://{a.name}.localhost:{port}/" in page
    assert f"nope.{router.prefix}.localhost" in page  # the host that was asked for

    routes = devstack("proxy", "routes", "--name", name)
    assert routes.returncode == 0
    assert f"http://{a.name}.localhost:{port}/" in routes.stdout
    assert f"http://web.{a.name}.localhost:{port}/" in routes.stdout

    # stop one: its route goes, the other keeps answering
    b.compose("stop", "-t", "1")
    wait_for(not_routed(port, f"{b.name}.localhost"), 10, "b's route to go")
    assert get(port, f"{a.name}.localhost") == (200, "hello-from-a\n")
    routes = devstack("proxy", "routes", "--name", name)
    assert f"{b.name}: app is stopped" in routes.stdout

    # start it again: routed again (once healthy)
    b.compose("start")
    wait_for(answers(port, f"{b.name}.localhost", "hello-from-b"), 20, "b to be routed again")

    # down: the proxy leaves the project's network, so Compose can remove it
    b.compose("down", "-t", "1")
    networks = run_cmd(
        ["docker", "network", "ls", "-q", "--filter", f"name=^{b.name}_default$"]
    ).stdout.split()
    assert networks == [], "the proxy kept b's network alive"

    status_text = devstack("proxy", "status", "--name", name).stdout
    assert "no Docker socket" in status_text and "Docker socket /var/run/docker.sock" in status_text
    doc = state(name)
    assert doc["running"] is True
    assert doc["nginx"]["docker_socket"] is None and doc["nginx"]["restart_policy"] == "unless-stopped"
    assert doc["watcher"]["published"] == [] and doc["watcher"]["restart_policy"] == "unless-stopped"


def test_watcher_killed_and_restarted_while_projects_change(router: Router) -> None:
    a = router.project("a", {"web": web_service("a-answers")})
    b = router.project("b", {"web": web_service("b-answers")})
    a.compose("up", "-d")
    name, port = router.start()
    wait_for(answers(port, f"{a.name}.localhost", "a-answers"), 30, "a routed")

    # the watcher crashes (killed from outside); meanwhile a stops and b starts
    pid = run_cmd(["docker", "inspect", "-f", "{{.State.Pid}}", f"{name}-watcher"]).stdout.strip()
    os.kill(int(pid), signal.SIGKILL)
    a.compose("stop", "-t", "1")
    b.compose("up", "-d")
    # the restart policy brings it back; it reconciles from the engine's current state
    wait_for(answers(port, f"{b.name}.localhost", "b-answers"), 30, "b routed after the watcher restarted")
    wait_for(not_routed(port, f"{a.name}.localhost"), 10, "a's stale route to go")
    restarts = run_cmd(["docker", "inspect", "-f", "{{.RestartCount}}", f"{name}-watcher"]).stdout.strip()
    assert int(restarts) >= 1

    # stopped by hand for a while (no events seen at all), then started again
    run_cmd(["docker", "stop", f"{name}-watcher"])
    a.compose("start")
    b.compose("stop", "-t", "1")
    status, page = get(port, f"nope.{router.prefix}.localhost")
    assert status == 404 and "devstack proxy" in page  # nginx serves on without its watcher
    run_cmd(["docker", "start", f"{name}-watcher"])
    wait_for(answers(port, f"{a.name}.localhost", "a-answers"), 30, "a routed again")
    wait_for(not_routed(port, f"{b.name}.localhost"), 10, "b unrouted")


def test_project_without_http_service_and_the_up_hook(router: Router, run, monkeypatch) -> None:
    quiet = router.project("quiet", {"worker": f'image: {BUSYBOX_IMAGE}\ncommand: ["sleep", "600"]\n'})
    site = router.project("site", {"web": web_service("site-answers")})
    name, port = router.start()

    monkeypatch.chdir(site.root)
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", site.name)
    result = run("up", "--timeout", "60")
    assert result.exit_code == 0, result.err
    assert f"http://{site.name}.localhost:{port}/" in result.out  # `up` prints the proxy URL
    assert get(port, f"{site.name}.localhost") == (200, "site-answers\n")

    monkeypatch.chdir(quiet.root)
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", quiet.name)
    result = run("up", "--timeout", "60")
    assert result.exit_code == 0, result.err
    assert "no HTTP service" in result.out
    routes = devstack("proxy", "routes", "--name", name).stdout
    assert f"{quiet.name}: no HTTP service" in routes and "x-devstack" in routes
    status, page = get(port, f"{quiet.name}.localhost")
    assert status == 404 and "no HTTP service" in page
    assert get(port, f"{site.name}.localhost") == (200, "site-answers\n")  # still serving the others


def test_port_taken_names_the_owner_and_the_option(router: Router) -> None:
    with socket.socket() as held:
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = devstack("proxy", "start", "--name", f"{router.prefix}-proxy", "--port", str(port))
    router.proxies.append(f"{router.prefix}-proxy")
    assert result.returncode == 1
    assert f"error: port {port} on 127.0.0.1 is in use by python" in result.stderr
    assert f"(pid {os.getpid()})" in result.stderr and "--port" in result.stderr
    assert "Traceback" not in result.stderr


def test_default_port_80_taken(router: Router) -> None:
    """The default port: whoever holds 80 is named, with the option to choose another."""
    holder = None
    if os.geteuid() == 0:
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            holder.bind(("127.0.0.1", 80))
            holder.listen()
        except OSError:
            holder.close()
            holder = None  # someone else holds it: they are named instead
    try:
        result = devstack("proxy", "start", "--name", f"{router.prefix}-proxy", "--projects", "none")
    finally:
        if holder is not None:
            holder.close()
    router.proxies.append(f"{router.prefix}-proxy")
    if result.returncode == 0:
        pytest.skip("port 80 was free and could not be held by the test (not root)")
    assert result.returncode == 1, result.stderr
    assert "port 80" in result.stderr and "--port 8080" in result.stderr
    assert "Traceback" not in result.stderr


def test_unreachable_engine_is_a_warning_and_routes_keep_working(router: Router) -> None:
    a = router.project("a", {"web": web_service("a-answers")})
    a.compose("up", "-d")
    dead = free_port()  # nothing listens there
    name, port = router.start("--engine", f"tcp://127.0.0.1:{dead}", "--grace", "2")
    wait_for(answers(port, f"{a.name}.localhost", "a-answers"), 30, "a routed")
    start_output = devstack("proxy", "status", "--name", name).stdout
    assert f"127.0.0.1:{dead}" in start_output
    assert "lost" in start_output and "retry in" in start_output
    engines = {e["name"]: e for e in state(name)["state"]["engines"]}
    assert engines[f"127.0.0.1:{dead}"]["error"]


def test_events_stream_and_ctrl_c(router: Router) -> None:
    a = router.project("a", {"web": web_service("a-answers")})
    proc = subprocess.Popen(
        [*DEVSTACK, "events", "--json", "-p", a.name],
        cwd=a.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.5)  # subscribed
        a.compose("up", "-d")
        a.compose("stop", "-t", "1")
        seen: list[dict] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not {"stop", "die"} <= {e["event"] for e in seen}:
            line = proc.stdout.readline() if proc.stdout else ""
            if line:
                seen.append(json.loads(line))
        kinds = [e["event"] for e in seen]
        assert kinds[:2] == ["create", "start"] and sorted(kinds[2:]) == ["die", "stop"], kinds
        assert all(e["project"] == a.name and e["service"] == "web" for e in seen)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=10) == 130
        assert "Traceback" not in (proc.stderr.read() if proc.stderr else "")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_route_changes_under_load_fail_no_request(router: Router) -> None:
    """Bounded: 20 req/s for 6 s at one project while another stops and starts three times."""
    # "moving" sorts before the proxy's name: a proxy network named after the proxy would hand its
    # published port to moving's network each time it joins it (connections reset).
    a = router.project("steady", {"web": web_service("steady")})
    b = router.project("moving", {"web": web_service("moving")})
    a.compose("up", "-d")
    b.compose("up", "-d")
    _, port = router.start()
    wait_for(answers(port, f"{a.name}.localhost", "steady"), 30, "a routed")
    import threading

    failures: list[str] = []
    done = threading.Event()
    count = [0]

    def load() -> None:
        next_at = time.monotonic()
        end = next_at + 6
        while time.monotonic() < end:
            status, body = get(port, f"{a.name}.localhost")
            count[0] += 1
            if status != 200 or body != "steady\n":
                failures.append(f"{status} {body[:80]}")
            next_at += 0.05
            time.sleep(max(0.0, next_at - time.monotonic()))
        done.set()

    worker = threading.Thread(target=load)
    worker.start()
    for _ in range(3):
        b.compose("stop", "-t", "0")
        b.compose("start")
    worker.join(30)
    assert done.is_set() and count[0] >= 60
    assert failures == []


# -- a second engine ----------------------------------------------------------------------------


@dataclass
class SecondEngine:
    root: Path
    netns: str
    veth: str
    host_side: str  # the host's address on the veth
    address: str  # the engine's host address (in its namespace)
    bridge_cidr: str
    process: subprocess.Popen[bytes] | None = None

    @property
    def sock(self) -> str:
        return str(self.root / "docker.sock")

    @property
    def unix_url(self) -> str:
        return f"unix://{self.sock}"

    @property
    def tcp_url(self) -> str:
        return f"tcp://{self.address}:2375"

    def docker(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return run_cmd(["docker", "-H", self.unix_url, *args], timeout=timeout)

    def start(self) -> None:
        log = open(self.root / "dockerd.log", "ab")  # the daemon writes to it for its whole life
        self.process = subprocess.Popen(
            [
                "nsenter",
                f"--net=/var/run/netns/{self.netns}",
                "dockerd",
                "--data-root",
                str(self.root / "data"),
                "--exec-root",
                str(self.root / "exec"),
                "--pidfile",
                str(self.root / "docker.pid"),
                "-H",
                self.unix_url,
                "-H",
                self.tcp_url,
                "--tls=false",
                "--bip",
                self.bridge_cidr,
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while self.docker("info", "--format", "{{.ServerVersion}}").returncode != 0:
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.root / "dockerd.log").read_text(errors="replace")[-1500:]
                raise RuntimeError(f"the second dockerd did not start:\n{tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def _free_subnet() -> int:
    routes = run_cmd(["ip", "-4", "route"]).stdout + run_cmd(["ip", "-4", "addr"]).stdout
    for _ in range(50):
        n = random.randint(1, 250)
        if f"10.231.{n}." not in routes and f"10.232.{n}." not in routes:
            return n
    raise RuntimeError("no free 10.231.x.0/30 subnet for the second engine")


def _teardown_engine(engine: SecondEngine) -> None:
    try:
        engine.stop()
    finally:
        root = str(engine.root)
        # Anything the daemon left (containerd shims, mounts) goes too.
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
                except OSError:
                    continue
                if root in cmdline:
                    try:
                        os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
        mounts = [line.split()[1] for line in Path("/proc/mounts").read_text().splitlines()]
        for mount in sorted((m for m in mounts if m.startswith(root)), key=len, reverse=True):
            run_cmd(["umount", "-l", mount])
        run_cmd(["ip", "netns", "del", engine.netns])
        run_cmd(["ip", "link", "del", engine.veth])
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def second_engine(docker_engine: str) -> Iterator[SecondEngine]:
    if os.geteuid() != 0 or not shutil.which("dockerd") or not shutil.which("nsenter"):
        skip_or_fail("a second engine needs root, dockerd and nsenter")
    n = _free_subnet()
    tag = uuid.uuid4().hex[:6]
    root = Path(tempfile.mkdtemp(prefix="dsrt-", dir="/tmp"))  # short: unix socket paths are limited
    engine = SecondEngine(
        root=root,
        netns=f"dsrt-{tag}",
        veth=f"dsrt{tag}h",
        host_side=f"10.231.{n}.1",
        address=f"10.231.{n}.2",
        bridge_cidr=f"10.232.{n}.1/24",
    )
    try:
        peer = f"dsrt{tag}n"
        for argv in (
            ["ip", "netns", "add", engine.netns],
            ["ip", "link", "add", engine.veth, "type", "veth", "peer", "name", peer],
            ["ip", "link", "set", peer, "netns", engine.netns],
            ["ip", "addr", "add", f"{engine.host_side}/30", "dev", engine.veth],
            ["ip", "link", "set", engine.veth, "up"],
            ["ip", "netns", "exec", engine.netns, "ip", "addr", "add", f"{engine.address}/30", "dev", peer],
            ["ip", "netns", "exec", engine.netns, "ip", "link", "set", peer, "up"],
            ["ip", "netns", "exec", engine.netns, "ip", "link", "set", "lo", "up"],
            ["ip", "netns", "exec", engine.netns, "ip", "route", "add", "default", "via", engine.host_side],
        ):
            done = run_cmd(argv)
            if done.returncode != 0:
                raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
        engine.start()
        # The second engine has no images (and no registry): load the test image into it.
        save = subprocess.Popen(["docker", "save", BUSYBOX_IMAGE], stdout=subprocess.PIPE)
        loaded = subprocess.run(
            ["docker", "-H", engine.unix_url, "load"], stdin=save.stdout, capture_output=True, timeout=120
        )
        if save.stdout is not None:
            save.stdout.close()
        if save.wait(timeout=60) != 0 or loaded.returncode != 0:
            raise RuntimeError(f"loading {BUSYBOX_IMAGE} into the second engine failed: {loaded.stderr!r}")
        yield engine
    except RuntimeError as exc:
        _teardown_engine(engine)
        if in_ci():
            raise
        pytest.skip(f"no second engine here: {exc}")
    finally:
        _teardown_engine(engine)


def _far_project(router: Router, engine: SecondEngine, suffix: str, text: str) -> tuple[Project, int]:
    published = free_port()
    project = router.project(
        suffix,
        {"web": web_service(text, 80, f'ports: ["0.0.0.0:{published}:80"]\nrestart: unless-stopped\n')},
        docker_host=engine.unix_url,
    )
    project.compose("up", "-d")
    return project, published


def test_pull_mode_follows_a_second_engine(router: Router, second_engine: SecondEngine) -> None:
    local = router.project("here", {"web": web_service("here-answers")})
    local.compose("up", "-d")
    far, _ = _far_project(router, second_engine, "far", "far-answers")
    name, port = router.start("--engine", second_engine.tcp_url, "--grace", "3")
    wait_for(answers(port, f"{local.name}.localhost", "here-answers"), 30, "the local project")
    wait_for(answers(port, f"{far.name}.localhost", "far-answers"), 30, "the second engine's project")
    route = [r for r in state(name)["state"]["routes"] if r["project"] == far.name and r["web"]][0]
    assert route["engine"] == f"{second_engine.address}:2375"
    assert route["backends"][0]["address"] == second_engine.address  # through its published port

    far.compose("stop", "-t", "1")
    wait_for(not_routed(port, f"{far.name}.localhost"), 10, "the far route to go")
    far.compose("start")
    wait_for(answers(port, f"{far.name}.localhost", "far-answers"), 20, "the far route back")

    # the engine goes away: its routes stay for the grace period, then go; it is retried
    second_engine.stop()

    def dropped() -> bool:
        return all(r["project"] != far.name for r in state(name)["state"]["routes"])

    wait_for(dropped, 15, "routes dropped after the grace period")
    engines = {e["name"]: e for e in state(name)["state"]["engines"]}
    lost = engines[f"{second_engine.address}:2375"]
    assert lost["state"] == "lost (routes dropped)" and lost["error"]
    assert get(port, f"{local.name}.localhost") == (200, "here-answers\n")

    # it comes back (its container has a restart policy): followed again
    second_engine.start()
    wait_for(answers(port, f"{far.name}.localhost", "far-answers"), 60, "the far route after a restart")


def test_push_mode_agent_with_token(router: Router, second_engine: SecondEngine) -> None:
    if second_engine.process is None or second_engine.process.poll() is not None:
        second_engine.start()
    far, _ = _far_project(router, second_engine, "pushed", "pushed-answers")
    token = uuid.uuid4().hex
    api_port = free_port()
    name, port = router.start(
        "--api", f"{second_engine.host_side}:{api_port}", "--token", token, "--grace", "3"
    )
    api = f"http://{second_engine.host_side}:{api_port}"
    in_netns = ["nsenter", f"--net=/var/run/netns/{second_engine.netns}"]

    # a wrong token: a clear error at once, and the proxy keeps serving
    wrong = subprocess.run(
        [*in_netns, *DEVSTACK, "proxy", "agent", "--to", api, "--token", "nope"]
        + ["--engine", second_engine.unix_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert wrong.returncode == 1
    assert "error: the proxy at" in wrong.stderr and "refused the token (HTTP 401" in wrong.stderr
    assert "Traceback" not in wrong.stderr

    agent = subprocess.Popen(
        [
            *in_netns,
            *DEVSTACK,
            "proxy",
            "agent",
            "--to",
            api,
            "--engine",
            second_engine.unix_url,
            "--interval",
            "1",
            "--name",
            "far-box",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "DEVSTACK_PROXY_TOKEN": token},
    )
    try:
        wait_for(answers(port, f"{far.name}.localhost", "pushed-answers"), 30, "the pushed route")
        agents = state(name)["state"]["agents"]
        assert [(a["name"], a["address"]) for a in agents] == [("far-box", second_engine.address)]
        far.compose("stop", "-t", "1")
        wait_for(not_routed(port, f"{far.name}.localhost"), 10, "the pushed route to go")
        far.compose("start")
        wait_for(answers(port, f"{far.name}.localhost", "pushed-answers"), 20, "the pushed route back")
        # the agent dies without signing off: its routes go after the grace period
        agent.kill()
        agent.wait(timeout=10)
        wait_for(not_routed(port, f"{far.name}.localhost"), 15, "routes of a dead agent to expire")
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    # an agent refuses to push off loopback without a token
    refused = subprocess.run(
        [*in_netns, *DEVSTACK, "proxy", "agent", "--to", api, "--engine", second_engine.unix_url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={k: v for k, v in os.environ.items() if k != "DEVSTACK_PROXY_TOKEN"},
    )
    assert refused.returncode == 2 and "without a token" in refused.stderr


def test_proxy_comes_back_with_its_engine(router: Router, second_engine: SecondEngine) -> None:
    """The proxy runs on the second engine; that engine restarts (a reboot): routes come back."""
    if second_engine.process is None or second_engine.process.poll() is not None:
        second_engine.start()
    from devstack import engine as engines
    from devstack.proxy.control import ensure_images

    # The second engine reaches no registry and no Debian mirror: it gets the proxy's images.
    tags = ensure_images(engines.Engine())
    save = subprocess.Popen(["docker", "save", *tags.values()], stdout=subprocess.PIPE)
    loaded = subprocess.run(
        ["docker", "-H", second_engine.unix_url, "load"], stdin=save.stdout, capture_output=True, timeout=300
    )
    if save.stdout is not None:
        save.stdout.close()
    assert save.wait(timeout=60) == 0 and loaded.returncode == 0, loaded.stderr

    env = {"DOCKER_HOST": second_engine.unix_url}
    there = router.project(
        "there",
        {"web": web_service("there-answers", 80, "restart: unless-stopped\n")},
        docker_host=second_engine.unix_url,
    )
    there.compose("up", "-d")
    name, port = f"{router.prefix}-proxy", free_port()
    in_netns = ["nsenter", f"--net=/var/run/netns/{second_engine.netns}"]
    started = subprocess.run(
        [*in_netns, *DEVSTACK, "proxy", "start", "--name", name, "--port", str(port), "--listen", "0.0.0.0"]
        + ["--projects", f"{router.prefix}-*"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env={**os.environ, **env},
    )
    router.proxies.append(name)
    router.proxy_env[name] = env
    assert started.returncode == 0, started.stdout + started.stderr
    host = f"{there.name}.localhost"
    wait_for(
        answers(port, host, "there-answers", at=second_engine.address), 30, "the route on the second engine"
    )

    second_engine.stop()  # the engine goes down with everything on it ...
    assert get(port, host, at=second_engine.address, timeout=1)[0] == 0
    second_engine.start()  # ... and comes back: so do the proxy and the project (restart policies)
    wait_for(
        answers(port, host, "there-answers", at=second_engine.address), 90, "the route after the restart"
    )
    policy = second_engine.docker("inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", name).stdout.strip()
    assert policy == "unless-stopped"
