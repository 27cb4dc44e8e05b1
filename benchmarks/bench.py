"""Speed budgets, measured as whole processes side by side (ratios, not absolute times).

    python benchmarks/bench.py [--runs N] [--only NAME...] [--json FILE]

Each budget times a devstack command and its reference command alternately, N times each, and
compares medians. Exit status 1 when a budget is exceeded. Docker budgets need an engine and the
test images (scripts/build-test-images.sh); they are skipped, and said so, without one.
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

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / "benchmarks" / ".venv"
# Filled in by install(): devstack as users get it (a wheel, not an editable checkout, whose
# import hook costs ~17 ms at every start).
DEVSTACK = ""
PYTHON = ""


def install() -> None:
    """Build a wheel of this tree and install it into benchmarks/.venv (dependencies kept)."""
    global DEVSTACK, PYTHON
    import venv

    if not (BENCH_VENV / "bin" / "python").exists():
        venv.create(BENCH_VENV, with_pip=True)
    py = str(BENCH_VENV / "bin" / "python")
    with tempfile.TemporaryDirectory() as dist:
        subprocess.run(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", dist, str(ROOT)],
            check=True,
            capture_output=True,
        )
        (wheel,) = Path(dist).glob("devstack-*.whl")
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
    PYTHON = os.path.realpath(py)  # the real interpreter, not a pyenv shim


@dataclass
class Outcome:
    name: str
    ours: float
    reference: float | None
    budget: float | None
    note: str = ""
    limit: float | None = None  # an absolute bound on `ours` (in `unit`), instead of a ratio
    unit: str = "s"

    @property
    def ratio(self) -> float | None:
        return self.ours / self.reference if self.reference else None

    @property
    def ok(self) -> bool:
        if self.limit is not None:
            return self.ours <= self.limit
        return self.budget is None or (self.ratio is not None and self.ratio <= self.budget)


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


def _drupal_project(tmp: str) -> Path:
    """A generated drupal project on a free port, named dsbench-<pid>."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    site = Path(tmp) / "site"
    subprocess.run(
        [
            DEVSTACK,
            "new",
            "drupal",
            str(site),
            "--no-input",
            "--name",
            f"dsbench-{os.getpid()}",
            "--set",
            f"web_port={port}",
        ],
        check=True,
        capture_output=True,
    )
    return site


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
        for label, site, budget in (
            ("drupal", _drupal_project(tmp), 1.8),
            ("500 services", _many_services(tmp), 2.0),
        ):
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
        site = _drupal_project(tmp)
        down = [*_compose(), "down", "--timeout", "10"]
        try:
            wall([DEVSTACK, "up"], cwd=site)  # builds the web image once, untimed
            ours, ref = side_by_side(
                runs,
                lambda: wall([DEVSTACK, "up"], cwd=site),
                lambda: wall([*_compose(), "up", "-d"], cwd=site),
            )
            out.append(Outcome("devstack up (running) vs docker compose up -d", ours, ref, 1.3))

            def cold(argv: list[str]) -> float:
                wall(down, cwd=site)
                return wall(argv, cwd=site)

            cold_runs = max(3, runs // 5)
            ours, ref = side_by_side(
                cold_runs,
                lambda: cold([DEVSTACK, "up"]),
                lambda: cold([*_compose(), "up", "-d", "--wait"]),
                warmup=0,
            )
            out.append(
                Outcome(
                    "devstack up (stopped->healthy) vs up -d --wait",
                    ours,
                    ref,
                    1.10,
                    f"({cold_runs} runs each)",
                )
            )
        finally:
            subprocess.run(down, cwd=site, capture_output=True, check=False)
            subprocess.run(
                ["docker", "image", "rm", "-f", f"dsbench-{os.getpid()}-web"],
                capture_output=True,
                check=False,
            )
            subprocess.run(
                [
                    "docker",
                    "run",
                    "--rm",
                    "-v",
                    f"{site / 'data'}:/mnt",
                    "devstack-test/busybox",
                    "rm",
                    "-rf",
                    "/mnt/db",
                ],
                capture_output=True,
                check=False,
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


BENCHES: dict[str, Callable[[int], list[Outcome]]] = {
    "help": bench_help,
    "new": bench_new,
    "check": bench_check,
    "up": bench_up,
    "proxy": bench_proxy,
}


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
    args = parser.parse_args()
    install()
    outcomes: list[Outcome] = []
    for name in args.only or list(BENCHES):
        outcomes += BENCHES[name](args.runs)
    failed = False
    for o in outcomes:
        ref = f"{o.reference * 1000:8.1f} ms" if o.reference else " " * 11
        ratio = f"{o.ratio:5.2f}x" if o.ratio else "      "
        budget = f"budget {o.budget:.2f}x" if o.budget else "report only"
        value = f"{o.ours * 1000:8.1f} ms" if o.unit == "s" else f"{o.ours:8.0f} {o.unit[:2]:2}"
        if o.limit is not None:
            budget = f"<= {o.limit * 1000:.0f} ms" if o.unit == "s" else f"<= {o.limit:g} {o.unit}"
        verdict = "ok" if o.ok else "OVER BUDGET"
        print(f"{o.name:58} {value} {ref} {ratio}  {budget:13} {verdict} {o.note}")
        failed |= not o.ok
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ | {"ratio": o.ratio} for o in outcomes], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
