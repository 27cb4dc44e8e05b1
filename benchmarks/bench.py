"""Speed budgets, measured as whole processes side by side (ratios, not absolute times).

    python benchmarks/bench.py [--runs N] [--only NAME...] [--stack STACK...] [--json FILE]
                               [--python PATH]

Each budget times a devstack command and its reference command alternately, N times each, and
compares medians. Exit status 1 when a budget is exceeded. Docker budgets need an engine and the
test images (scripts/build-test-images.sh); they are skipped, and said so, without one.

`--stack` chooses the generated projects that `check`, `up` and `build` measure (default:
drupal; `--stack all` for every stack). `build` (report only, not in the default set) times a
cold image build of each stack: `docker compose build --no-cache`. `--python` chooses the
interpreter devstack runs on (default: the distribution's /usr/bin/python3, as users on Debian
get it; see default_python).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / "benchmarks" / ".venv"
# Filled in by install(): devstack as users get it (a wheel, not an editable checkout, whose
# import hook costs ~17 ms at every start).
DEVSTACK = ""
PYTHON = ""


def default_python() -> str:
    """The interpreter users get: the distribution's python3 (what `python3 -m venv` and pipx
    use on Debian, built with PGO and LTO) when there is one, else the one running this script.

    A version manager's own build (pyenv compiles without --enable-optimizations) starts
    devstack with 20-30% more CPU than the distribution's; `--python` chooses explicitly.
    """
    system = Path("/usr/bin/python3")
    if system.exists():
        probe = subprocess.run(
            [str(system), "-c", "import ensurepip, venv, sys; assert sys.version_info >= (3, 9)"],
            capture_output=True,
            check=False,
        )
        if probe.returncode == 0:
            return str(system)
    return sys.executable


def install(python: str) -> None:
    """Build a wheel of this tree and install it into benchmarks/.venv (dependencies kept),
    a virtual environment of `python` (made afresh when it was made with another one)."""
    global DEVSTACK, PYTHON

    wanted = os.path.realpath(python)
    cfg = BENCH_VENV / "pyvenv.cfg"
    made_with = ""
    if cfg.exists():
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "executable":
                made_with = os.path.realpath(value.strip())
    if made_with != wanted or not (BENCH_VENV / "bin" / "python").exists():
        shutil.rmtree(BENCH_VENV, ignore_errors=True)
        subprocess.run([python, "-m", "venv", str(BENCH_VENV)], check=True, capture_output=True)
    py = str(BENCH_VENV / "bin" / "python")
    # setuptools builds through build/ and never empties it: a module deleted from the tree
    # would still be in the wheel.
    shutil.rmtree(ROOT / "build", ignore_errors=True)
    with tempfile.TemporaryDirectory() as dist:
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, str(ROOT)],
            check=True,
            capture_output=True,
        )
        (wheel,) = Path(dist).glob("devstack_compose-*.whl")
        subprocess.run(
            [
                py,
                "-m",
                "pip",
                "install",
                "-q",
                "--disable-pip-version-check",
                "--force-reinstall",
                "--no-deps",
                str(wheel),
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [py, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(wheel)],
            check=True,
            capture_output=True,
        )
    DEVSTACK = str(BENCH_VENV / "bin" / "devstack")
    PYTHON = py  # the venv's interpreter: `import click` (the --help reference) finds its click


@dataclass
class Outcome:
    name: str
    ours: float
    reference: float | None
    budget: float | None
    note: str = ""
    limit: float | None = None  # an absolute bound on `ours` (in `unit`), beside the ratio if any
    unit: str = "s"

    @property
    def ratio(self) -> float | None:
        return self.ours / self.reference if self.reference else None

    @property
    def ok(self) -> bool:
        within_ratio = self.budget is None or (self.ratio is not None and self.ratio <= self.budget)
        return within_ratio and (self.limit is None or self.ours <= self.limit)


def wall(argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr[-500:]!r}")
    return elapsed


def side_by_side(
    runs: int,
    ours: Callable[[], float],
    reference: Callable[[], float],
    warmup: int = 1,
) -> tuple[float, float]:
    for _ in range(warmup):
        ours()
        reference()
    a, b = [], []
    for _ in range(runs):
        a.append(ours())
        b.append(reference())
    return statistics.median(a), statistics.median(b)


def bench_help(runs: int) -> list[Outcome]:
    click_ref = [PYTHON, "-c", "import click"]
    out = []
    for flag in ("--help", "--version"):
        ours, ref = side_by_side(runs, lambda f=flag: wall([DEVSTACK, f]), lambda: wall(click_ref))
        out.append(Outcome(f"devstack {flag} vs python -c 'import click'", ours, ref, 1.5))
    return out


def bench_new(runs: int) -> list[Outcome]:
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            times.append(wall([DEVSTACK, "new", "drupal", f"{tmp}/p{i}", "--no-input"]))
    return [Outcome("devstack new drupal (wall)", statistics.median(times), None, None)]


# The stacks whose projects `check`, `up` and `build` measure (--stack); set by main().
STACKS: list[str] = ["drupal"]
# Bind-mount directories each stack's services write into (created before `up`, as devstack does).
DATA_DIRS = {"laravel": ("data/db", "data/redis")}
# The absolute budget of `devstack up` from stopped to ready (seconds), where the issue sets one.
UP_LIMIT = {"drupal": 4.0}


def _project_name(stack: str) -> str:
    return f"dsbench-{stack}-{os.getpid()}"


def _project(tmp: str, stack: str = "drupal") -> Path:
    """A generated project of STACK on a free port, named dsbench-STACK-<pid>, ready to start.

    Its files belong to the host user that its services run as (HOST_UID/HOST_GID in .env,
    pinned with devstack:keep): the invoking user, or uid 4242 under root, as in the tests.
    """
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = Path(tmp) / stack
    subprocess.run(
        [
            DEVSTACK,
            "new",
            stack,
            str(site),
            "--no-input",
            "--name",
            _project_name(stack),
            "--set",
            f"web_port={port}",
        ],
        check=True,
        capture_output=True,
    )
    # Behind a TLS-intercepting proxy, pip and npm in the image builds need its CA (docker/certs/).
    for cert in Path("/usr/local/share/ca-certificates").glob("*.crt"):
        shutil.copy(cert, site / "docker" / "certs" / cert.name)
    uid, gid = (4242, 4242) if os.getuid() == 0 else (os.getuid(), os.getgid())
    with (site / ".env").open("a") as env:
        env.write(f"\n# devstack:keep\nHOST_UID={uid}\n# devstack:keep\nHOST_GID={gid}\n")
    for directory in DATA_DIRS.get(stack, ("data/db",)):
        (site / directory).mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:
        subprocess.run(["chown", "-R", f"{uid}:{gid}", str(site)], check=True)
    return site


def _remove(site: Path, stack: str) -> None:
    """Containers, network, volumes and the built images of a benchmark project."""
    down = [*_compose(), "down", "--volumes", "--timeout", "10"]
    subprocess.run(down, cwd=site, capture_output=True, check=False)
    for image in ("web", "php"):
        tag = f"{_project_name(stack)}-{image}"
        subprocess.run(["docker", "image", "rm", "-f", tag], capture_output=True, check=False)


def _up_from_stopped(site: Path, runs: int) -> tuple[float, float]:
    """`devstack up` vs `docker compose up -d --wait`, each from a stopped stack: medians."""
    down = [*_compose(), "down", "--timeout", "10"]

    def cold(argv: list[str]) -> float:
        wall(down, cwd=site)
        return wall(argv, cwd=site)

    return side_by_side(
        runs,
        lambda: cold([DEVSTACK, "up"]),
        lambda: cold([*_compose(), "up", "-d", "--wait"]),
        warmup=0,
    )


def _compose() -> list[str]:
    return ["docker", "compose"]


def _many_services(tmp: str, count: int = 500) -> Path:
    """A generated project of `count` services: images, ports, variables, mounts, dependencies."""
    root = Path(tmp) / f"many{count}"
    (root / "data").mkdir(parents=True)
    ports = _free_ports(count)
    lines = ["name: dsbench-many", "x-common: &common", "  restart: unless-stopped", "services:"]
    for i in range(count):
        lines += [
            f"  svc{i}:",
            "    <<: *common",
            f"    image: registry.example/team/svc{i}:${{TAG_{i % 7}:-1.{i}}}",
            "    environment:",
            f'      SERVICE_ID: "{i}"',
            "      LOG_LEVEL: ${LOG_LEVEL:-info}",
            f"      UPSTREAM: http://svc{max(i - 1, 0)}:8080",
            "    ports:",
            f'      - "127.0.0.1:{ports[i]}:8080"',
            "    volumes:",
            f"      - ./data/svc{i}:/var/lib/svc",
            "      - cache:/cache",
        ]
        if i:
            lines += ["    depends_on:", f"      svc{i - 1}:", "        condition: service_started"]
    lines += ["volumes:", "  cache: {}"]
    (root / "compose.yaml").write_text("\n".join(lines) + "\n")
    return root


def _free_ports(count: int, start: int = 20000) -> list[int]:
    """Ports free on 127.0.0.1 now, below the ephemeral range (outgoing connections use that)."""
    import socket

    found: list[int] = []
    port = start
    while len(found) < count and port < 32768:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                found.append(port)
            except OSError:
                pass
        port += 1
    return found


def bench_check(runs: int) -> list[Outcome]:
    if not have_engine():
        return [Outcome("devstack check (skipped: no Docker engine/Compose)", 0, None, None)]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        cases = [(stack, _project(tmp, stack), 1.8) for stack in STACKS]
        for label, site, budget in [*cases, ("500 services", _many_services(tmp), 2.0)]:
            ours, ref = side_by_side(
                runs,
                lambda site=site: wall([DEVSTACK, "check"], cwd=site),
                lambda site=site: wall([*_compose(), "config", "-q"], cwd=site),
            )
            out.append(Outcome(f"devstack check vs docker compose config -q ({label})", ours, ref, budget))
    return out


def bench_up(runs: int) -> list[Outcome]:
    if not have_engine():
        return [Outcome("devstack up (skipped: no Docker engine)", 0, None, None)]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for stack in STACKS:
            out += _bench_up_stack(runs, tmp, stack)
    return out


def _bench_up_stack(runs: int, tmp: str, stack: str) -> list[Outcome]:
    site = _project(tmp, stack)
    out = []
    try:
        wall([DEVSTACK, "up"], cwd=site)  # builds the image and initialises the data once, untimed
        ours, ref = side_by_side(
            runs,
            lambda: wall([DEVSTACK, "up"], cwd=site),
            lambda: wall([*_compose(), "up", "-d"], cwd=site),
        )
        out.append(Outcome(f"devstack up (running) vs docker compose up -d ({stack})", ours, ref, 1.3))

        cold_runs = max(5, runs // 5)
        ours, ref = _up_from_stopped(site, cold_runs)
        out.append(
            Outcome(
                f"devstack up (stopped->ready) vs up -d --wait ({stack})",
                ours,
                ref,
                1.10,
                f"({cold_runs} runs each)",
                limit=UP_LIMIT.get(stack),
            )
        )
    finally:
        _remove(site, stack)
    return out


def bench_build(runs: int) -> list[Outcome]:
    """Cold image builds (no build cache), once per stack: report only."""
    if not have_engine():
        return [Outcome("image build (skipped: no Docker engine)", 0, None, None)]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for stack in STACKS:
            site = _project(tmp, stack)
            try:
                seconds = wall([*_compose(), "build", "--no-cache"], cwd=site)
                warm = wall([*_compose(), "build"], cwd=site)
            finally:
                _remove(site, stack)
            out.append(Outcome(f"cold image build ({stack})", seconds, None, None, f"(cached: {warm:.1f} s)"))
    return out


def bench_add(runs: int) -> list[Outcome]:
    """`devstack add` plans (parse, check, render, verify): what it costs beyond `devstack check`."""
    if not have_engine():
        return [Outcome("devstack add (skipped: no Docker engine/Compose)", 0, None, None)]
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        site = _project(tmp, "drupal")
        add = [DEVSTACK, "add", "redis", "--set", f"port={port}"]
        ours, ref = side_by_side(
            runs,
            lambda: wall([*add, "--dry-run"], cwd=site),
            lambda: wall([DEVSTACK, "check"], cwd=site),
        )
        out = [Outcome("devstack add redis --dry-run vs devstack check", ours, ref, 1.5)]
        times = []
        for _ in range(max(3, runs // 3)):
            start = time.perf_counter()
            wall(add, cwd=site)
            wall([DEVSTACK, "remove", "redis"], cwd=site)
            times.append(time.perf_counter() - start)
        out.append(
            Outcome("devstack add redis + devstack remove redis (wall)", statistics.median(times), None, None)
        )
    return out


# -- devstack proxy (issue 9) ---------------------------------------------------------------------

PROXY_CYCLES = 20
PROXY_LOAD_RATE = 50  # requests per second at the routed project
PROXY_LOAD_SECONDS = 10
PROXY_LOAD_CHANGES = 5  # stop/start cycles of the other project meanwhile


def _proxy_get(port: int, host: str, timeout: float = 5.0) -> tuple[int, bytes]:
    import http.client

    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        conn.request("GET", "/", headers={"Host": host})
        answer = conn.getresponse()
        body = answer.read()
        conn.close()
        return answer.status, body
    except (OSError, http.client.HTTPException) as exc:
        return 0, repr(exc).encode()


def _proxy_project(tmp: Path, name: str, text: str) -> Path:
    root = tmp / name
    root.mkdir()
    (root / "compose.yaml").write_text(
        f"name: {name}\n"
        "services:\n"
        "  web:\n"
        "    image: devstack-test/busybox:latest\n"
        f'    command: ["sh", "-c", "echo {text} > /www/index.html; exec httpd -f -p 80 -h /www"]\n'
        '    expose: ["80"]\n'
    )
    subprocess.run([*_compose(), "up", "-d"], cwd=root, check=True, capture_output=True)
    return root


def _wait_proxy(port: int, host: str, ok: Callable[[int, bytes], bool], timeout: float = 30.0) -> float:
    """Poll every 5 ms until `ok`; the wall-clock time it first held."""
    deadline = time.monotonic() + timeout
    while True:
        status, body = _proxy_get(port, host, timeout=2.0)
        if ok(status, body):
            return time.time()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{host}: not the expected answer in {timeout:g} s: {status} {body[:80]!r}")
        time.sleep(0.005)


def bench_proxy(runs: int) -> list[Outcome]:
    """Start event -> route answering (median, p95 over 20 cycles); failed requests under load."""
    import socket
    import threading

    if not have_engine():
        return [Outcome("devstack proxy (skipped: no Docker engine)", 0, None, None)]
    image = subprocess.run(
        ["docker", "image", "inspect", "devstack-test/busybox:latest"], capture_output=True
    )
    if image.returncode != 0:
        return [Outcome("devstack proxy (skipped: run scripts/build-test-images.sh)", 0, None, None)]
    prefix = f"dsbench-{os.getpid()}"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxy = f"{prefix}-proxy"
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        steady = _proxy_project(Path(tmp), f"{prefix}-steady", "steady")
        moving = _proxy_project(Path(tmp), f"{prefix}-moving", "moving")
        try:
            subprocess.run(
                [DEVSTACK, "proxy", "start", "--name", proxy, "--port", str(port)]
                + ["--projects", f"{prefix}-*"],
                check=True,
                capture_output=True,
            )
            steady_host, moving_host = f"{prefix}-steady.localhost", f"{prefix}-moving.localhost"
            _wait_proxy(port, steady_host, lambda st, b: st == 200 and b == b"steady\n")
            _wait_proxy(port, moving_host, lambda st, b: st == 200 and b == b"moving\n")

            latencies = []
            label = f"label=com.docker.compose.project={prefix}-moving"
            for _ in range(PROXY_CYCLES):
                subprocess.run([*_compose(), "stop", "-t", "0"], cwd=moving, check=True, capture_output=True)
                _wait_proxy(port, moving_host, lambda st, b: st == 404)
                events = subprocess.Popen(
                    ["docker", "events", "--format", "{{.TimeNano}}", "--filter", "type=container"]
                    + ["--filter", "event=start", "--filter", label],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                time.sleep(0.3)  # subscribed before the start
                subprocess.run([*_compose(), "start"], cwd=moving, check=True, capture_output=True)
                line = events.stdout.readline() if events.stdout else ""
                events.kill()
                events.wait()
                started = int(line.strip()) / 1e9
                answered = _wait_proxy(port, moving_host, lambda st, b: st == 200 and b == b"moving\n")
                latencies.append(answered - started)
            latencies.sort()
            p95 = latencies[max(0, int(round(0.95 * len(latencies))) - 1)]
            out.append(
                Outcome(
                    f"proxy: start event -> route answers ({PROXY_CYCLES} cycles)",
                    statistics.median(latencies),
                    None,
                    None,
                    f"median; p95 {p95 * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms",
                    limit=1.0,
                )
            )

            failures: list[str] = []
            sent = [0]

            def load() -> None:
                next_at = time.monotonic()
                for _ in range(PROXY_LOAD_RATE * PROXY_LOAD_SECONDS):
                    status, body = _proxy_get(port, steady_host)
                    sent[0] += 1
                    if status != 200 or body != b"steady\n":
                        failures.append(f"{status} {body[:60]!r}")
                    next_at += 1 / PROXY_LOAD_RATE
                    time.sleep(max(0.0, next_at - time.monotonic()))

            worker = threading.Thread(target=load)
            worker.start()
            changes = 0
            began = time.monotonic()
            while changes < PROXY_LOAD_CHANGES and time.monotonic() - began < PROXY_LOAD_SECONDS - 1:
                subprocess.run([*_compose(), "stop", "-t", "0"], cwd=moving, check=True, capture_output=True)
                subprocess.run([*_compose(), "start"], cwd=moving, check=True, capture_output=True)
                changes += 1
            worker.join(PROXY_LOAD_SECONDS + 60)
            out.append(
                Outcome(
                    f"proxy: failed requests, {PROXY_LOAD_RATE}/s x {PROXY_LOAD_SECONDS} s, routes changing",
                    float(len(failures)),
                    None,
                    None,
                    f"of {sent[0]} requests, while another project stopped/started {changes} times"
                    + (f"; first: {failures[0]}" if failures else ""),
                    limit=0,
                    unit="failed",
                )
            )
        finally:
            subprocess.run([DEVSTACK, "proxy", "stop", "--name", proxy], capture_output=True, check=False)
            for root in (steady, moving):
                subprocess.run([*_compose(), "down", "-t", "0"], cwd=root, capture_output=True, check=False)
    return out


# -- the django and node stacks (helper "apps") ------------------------------------------------

APP_STACKS = {"django": ("web", ["python", "-c", "pass"]), "node": ("app", ["node", "-e", "0"])}


def bench_apps(runs: int) -> list[Outcome]:
    """django and node: cold image build, and `devstack up` from stopped to ready vs Compose."""
    if not have_engine():
        return [Outcome("django/node stacks (skipped: no Docker engine)", 0, None, None)]
    out = []
    cold_runs = max(5, runs // 5)
    for stack in APP_STACKS:
        with tempfile.TemporaryDirectory() as tmp:
            site = _project(tmp, stack)
            down = [*_compose(), "down", "--timeout", "10"]
            try:
                build = wall([*_compose(), "build", "--no-cache"], cwd=site)
                out.append(Outcome(f"{stack}: image build, no layer cache (wall)", build, None, None))
                wall([DEVSTACK, "up"], cwd=site)  # first start: database initialised, untimed
                ours, ref = _up_from_stopped(site, cold_runs)
                out.append(
                    Outcome(
                        f"{stack}: devstack up (stopped->healthy) vs up -d --wait",
                        ours,
                        ref,
                        1.10,
                        f"({cold_runs} runs each)",
                    )
                )
            finally:
                subprocess.run(down, cwd=site, capture_output=True, check=False)
                service = APP_STACKS[stack][0]
                subprocess.run(
                    ["docker", "image", "rm", "-f", f"{_project_name(stack)}-{service}"],
                    capture_output=True,
                    check=False,
                )
    return out


def bench_run(runs: int) -> list[Outcome]:
    """`devstack run TOOL` against `devstack exec SERVICE -- CMD` on a running node stack."""
    if not have_engine():
        return [Outcome("devstack run (skipped: no Docker engine)", 0, None, None)]
    with tempfile.TemporaryDirectory() as tmp:
        site = _project(tmp, "node")
        down = [*_compose(), "down", "--timeout", "10"]
        try:
            wall([DEVSTACK, "up"], cwd=site)
            ours, ref = side_by_side(
                runs,
                lambda: wall([DEVSTACK, "run", "node", "-e", "0"], cwd=site),
                lambda: wall([DEVSTACK, "exec", "app", "--", "node", "-e", "0"], cwd=site),
            )
        finally:
            subprocess.run(down, cwd=site, capture_output=True, check=False)
            subprocess.run(
                ["docker", "image", "rm", "-f", f"dsbench-node-{os.getpid()}-app"],
                capture_output=True,
                check=False,
            )
    return [Outcome("devstack run node vs devstack exec app -- node", ours, ref, 1.15)]


# -- devstack db (issue 8, helper "data") -------------------------------------------------------
# On a generated database of about --db-size MB of rows (the size of its SQL dump):
#   db import        vs piping the same dump into the client inside the container by hand  <= 1.0x
#   db snapshot      vs db export                                                           <= 0.2x
#   db restore       vs db import                                                           <= 0.2x
# Times and MB/s of export and import are reported too (README: "devstack db: speed").

DB_BENCH = {
    "mariadb": {
        "compose": """services:
  db:
    image: mariadb:11.8
    user: "${HOST_UID:-1000}:${HOST_GID:-1000}"
    volumes: ["./data/db:/var/lib/mysql"]
    environment:
      MARIADB_DATABASE: bench
      MARIADB_USER: bench
      MARIADB_PASSWORD: bench-password
      MARIADB_ROOT_PASSWORD: root-password
    healthcheck:
      test: ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"]
      interval: 30s
      start_interval: 500ms
      start_period: 120s
      timeout: 5s
""",
        # ~220 bytes of SQL per row; a secondary index, as real tables have.
        "create": "CREATE TABLE rows_ (id INT PRIMARY KEY, a CHAR(32), b CHAR(32), c CHAR(32), "
        "d CHAR(32), e CHAR(32), f CHAR(32), n INT, KEY (n));",
        "fill": "INSERT INTO rows_ SELECT seq, MD5(seq), MD5(seq+1), MD5(seq+2), MD5(seq+3), MD5(seq+4), "
        "MD5(seq+5), seq % 1000 FROM seq_{start}_to_{end};",
        "client": ["mariadb", "-uroot", "bench"],
        "pw_env": "MYSQL_PWD=root-password",
        "empty": "DROP DATABASE IF EXISTS bench; CREATE DATABASE bench;",
        "empty_client": ["mariadb", "-uroot"],
    },
    "postgres": {
        "compose": """services:
  db:
    image: postgres:17
    user: "${HOST_UID:-1000}:${HOST_GID:-1000}"
    volumes: ["./data/db:/var/lib/postgresql/data"]
    environment:
      POSTGRES_DB: bench
      POSTGRES_USER: bench
      POSTGRES_PASSWORD: bench-password
    healthcheck:
      test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U bench -d bench"]
      interval: 30s
      start_interval: 500ms
      start_period: 120s
      timeout: 5s
""",
        "create": "CREATE TABLE rows_ (id INT PRIMARY KEY, a CHAR(32), b CHAR(32), c CHAR(32), "
        "d CHAR(32), e CHAR(32), f CHAR(32), n INT); CREATE INDEX ON rows_ (n);",
        "fill": "INSERT INTO rows_ SELECT s, md5(s::text), md5((s+1)::text), md5((s+2)::text), "
        "md5((s+3)::text), md5((s+4)::text), md5((s+5)::text), s % 1000 "
        "FROM generate_series({start}, {end}) s;",
        "client": ["psql", "-q", "-U", "bench", "-d", "bench"],
        "pw_env": "PGPASSWORD=bench-password",
        "empty": "DROP DATABASE IF EXISTS bench WITH (FORCE); CREATE DATABASE bench;",
        "empty_client": ["psql", "-q", "-U", "bench", "-d", "postgres"],
    },
}
DB_UID = 4242  # the services run as this uid, as they would as a developer's
DB_OPTIONS: dict[str, Any] = {"size": 300, "engines": list(DB_BENCH)}  # --db-size, --db-engines


def _db_exec(
    site: Path, spec: dict, argv: list[str], stdin: bytes | None = None, stdin_file: Path | None = None
) -> None:
    cmd = [*_compose(), "exec", "-T", "-e", spec["pw_env"], "db", *argv]
    if stdin_file is not None:
        with open(stdin_file, "rb") as handle:
            proc = subprocess.run(cmd, cwd=site, stdin=handle, capture_output=True, check=False)
    else:
        proc = subprocess.run(cmd, cwd=site, input=stdin or b"", capture_output=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr[-500:]!r}")


def _db_ready(site: Path, spec: dict) -> float:
    """Seconds until the server answers a query (after a snapshot or restore started it again)."""
    start = time.perf_counter()
    while True:
        try:
            _db_exec(site, spec, [*spec["client"], "-c" if "psql" in spec["client"] else "-e", "SELECT 1"])
            return time.perf_counter() - start
        except RuntimeError:
            if time.perf_counter() - start > 300:
                raise
            time.sleep(0.2)


def bench_db(runs: int) -> list[Outcome]:
    if not have_engine():
        return [Outcome("devstack db (skipped: no Docker engine)", 0, None, None)]
    out: list[Outcome] = []
    for engine in DB_OPTIONS["engines"]:
        out += _bench_db_engine(engine, max(1, min(runs, 5)))
    return out


def _bench_db_engine(engine: str, runs: int) -> list[Outcome]:
    spec = DB_BENCH[engine]
    rows = int(DB_OPTIONS["size"] * 1_000_000 / 220)
    out: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / f"dsbench{os.getpid()}{engine[:2]}"
        (site / "data" / "db").mkdir(parents=True)
        if os.getuid() == 0:
            os.chown(site / "data" / "db", DB_UID, DB_UID)
        uid = DB_UID if os.getuid() == 0 else os.getuid()
        (site / "docker-compose.yml").write_text(spec["compose"])
        (site / ".env").write_text(f"HOST_UID={uid}\nHOST_GID={uid}\n")
        dump = Path(tmp) / "dump.sql.gz"
        try:
            wall([DEVSTACK, "up", "--timeout", "300"], cwd=site)
            _db_exec(site, spec, spec["client"], spec["create"].encode())
            step = 200_000
            for start in range(1, rows + 1, step):
                sql = spec["fill"].format(start=start, end=min(start + step - 1, rows))
                _db_exec(site, spec, spec["client"], sql.encode())
            export_times = [
                wall([DEVSTACK, "db", "export", "--force", str(dump)], cwd=site) for _ in range(runs)
            ]
            export = statistics.median(export_times)
            sql_mb = _gunzipped_mb(dump)
            out.append(
                Outcome(
                    f"{engine}: db export ({sql_mb:.0f} MB of SQL, {sql_mb / export:.0f} MB/s)",
                    export,
                    None,
                    None,
                    f"({dump.stat().st_size / 1e6:.0f} MB gz)",
                )
            )

            def by_hand() -> float:
                # From the same state as `db import`: the database holds the previous load. A
                # mariadb-dump dump drops its own tables; a pg_dump dump needs an empty
                # database, which is made here, untimed (an advantage for the reference).
                if engine == "postgres":
                    _db_exec(site, spec, spec["empty_client"], spec["empty"].encode())
                start = time.perf_counter()
                gunzip = subprocess.Popen(["gzip", "-dc", str(dump)], stdout=subprocess.PIPE)
                cmd = [*_compose(), "exec", "-T", "-e", spec["pw_env"], "db", *spec["client"]]
                proc = subprocess.run(cmd, cwd=site, stdin=gunzip.stdout, capture_output=True, check=False)
                gunzip.wait()
                elapsed = time.perf_counter() - start
                if proc.returncode != 0 or gunzip.returncode != 0:
                    raise RuntimeError(f"import by hand failed: {proc.stderr[-500:]!r}")
                return elapsed

            # Alternating order (ours, hand, hand, ours, ...): an import leaves the server busy
            # flushing for a while, which would otherwise always slow the same side.
            mine: list[float] = []
            theirs: list[float] = []
            for i in range(runs):
                pair = [
                    (mine, lambda: wall([DEVSTACK, "db", "import", str(dump)], cwd=site)),
                    (theirs, by_hand),
                ]
                for times, run in pair if i % 2 == 0 else reversed(pair):
                    times.append(run())
            ours, ref = statistics.median(mine), statistics.median(theirs)
            shown = ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(mine, theirs))
            out.append(
                Outcome(
                    f"{engine}: db import vs gunzip | exec client ({sql_mb / ours:.0f} MB/s)",
                    ours,
                    ref,
                    1.0,
                    f"(s per run, ours/by hand: {shown})",
                )
            )
            snaps, ready_after_snap, restores, ready_after_restore = [], [], [], []
            for i in range(runs):
                snaps.append(wall([DEVSTACK, "db", "snapshot", "--force", f"bench{i}"], cwd=site))
                ready_after_snap.append(_db_ready(site, spec))
                restores.append(wall([DEVSTACK, "db", "restore", f"bench{i}"], cwd=site))
                ready_after_restore.append(_db_ready(site, spec))
            snap, restore = statistics.median(snaps), statistics.median(restores)
            files_mb = _tree_mb(site / "data" / "db")
            out.append(
                Outcome(
                    f"{engine}: db snapshot ({files_mb:.0f} MB of files) vs db export",
                    snap,
                    export,
                    0.2,
                    f"(+{statistics.median(ready_after_snap):.1f} s until it answers again)",
                )
            )
            out.append(
                Outcome(
                    f"{engine}: db restore vs db import",
                    restore,
                    ours,
                    0.2,
                    f"(+{statistics.median(ready_after_restore):.1f} s until it answers again)",
                )
            )
        finally:
            subprocess.run(
                [*_compose(), "down", "--timeout", "30"], cwd=site, capture_output=True, check=False
            )
            subprocess.run(
                [
                    "docker",
                    "run",
                    "--rm",
                    "-v",
                    f"{site}:/mnt",
                    "devstack-test/busybox",
                    "rm",
                    "-rf",
                    "/mnt/data",
                    "/mnt/.devstack",
                ],
                capture_output=True,
                check=False,
            )
    return out


def _gunzipped_mb(path: Path) -> float:
    import gzip

    total = 0
    with gzip.open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            total += len(chunk)
    return total / 1e6


def _tree_mb(path: Path) -> float:
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(directory, name)).st_size
            except OSError:
                pass
    return total / 1e6


BENCHES: dict[str, Callable[[int], list[Outcome]]] = {
    "help": bench_help,
    "new": bench_new,
    "check": bench_check,
    "up": bench_up,
    "add": bench_add,
    "proxy": bench_proxy,
    "apps": bench_apps,
    "run": bench_run,
    "build": bench_build,
    "db": bench_db,
}
DEFAULT_BENCHES = ("help", "new", "check", "up")


def have_engine() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), default=None)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--stack", nargs="*", default=["drupal"], help="stacks to measure, or 'all'")
    parser.add_argument("--db-size", type=int, default=300, help="MB of rows for --only db")
    parser.add_argument("--db-engines", nargs="*", choices=list(DB_BENCH), default=list(DB_BENCH))
    parser.add_argument(
        "--python",
        default=None,
        help="interpreter of the devstack under test (default: /usr/bin/python3 when it can make "
        "a venv, as on Debian; else this one)",
    )
    args = parser.parse_args()
    DB_OPTIONS.update(size=args.db_size, engines=args.db_engines)
    install(args.python or default_python())
    version = subprocess.run(
        [PYTHON, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True, text=True
    )
    print(f"devstack under test runs on {PYTHON} (Python {version.stdout.strip()})", flush=True)
    known = sorted(p.name for p in (ROOT / "templates").iterdir() if (p / "cookiecutter.json").is_file())
    wanted = known if args.stack == ["all"] else args.stack
    unknown = sorted(set(wanted) - set(known))
    if unknown:
        parser.error(f"unknown stack(s): {', '.join(unknown)} (known: {', '.join(known)})")
    STACKS[:] = wanted
    outcomes: list[Outcome] = []
    for name in args.only or list(DEFAULT_BENCHES):
        outcomes += BENCHES[name](args.runs)
    failed = False
    for o in outcomes:
        ref = f"{o.reference * 1000:8.1f} ms" if o.reference else " " * 11
        ratio = f"{o.ratio:5.2f}x" if o.ratio else "      "
        budget = f"budget {o.budget:.2f}x" if o.budget else "report only"
        value = f"{o.ours * 1000:8.1f} ms" if o.unit == "s" else f"{o.ours:8.0f} {o.unit[:2]:2}"
        if o.limit is not None:
            bound = f"<= {o.limit * 1000:.0f} ms" if o.unit == "s" else f"<= {o.limit:g} {o.unit}"
            budget = f"{budget}, {bound}" if o.budget else bound
        verdict = "ok" if o.ok else "OVER BUDGET"
        print(f"{o.name:66} {value} {ref} {ratio}  {budget:13} {verdict} {o.note}")
        failed |= not o.ok
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ | {"ratio": o.ratio} for o in outcomes], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
