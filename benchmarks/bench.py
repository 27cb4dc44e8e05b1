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

    @property
    def ratio(self) -> float | None:
        return self.ours / self.reference if self.reference else None

    @property
    def ok(self) -> bool:
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


def bench_check(runs: int) -> list[Outcome]:
    if not have_engine():
        return [Outcome("devstack check (skipped: no Docker engine/Compose)", 0, None, None)]
    with tempfile.TemporaryDirectory() as tmp:
        site = _drupal_project(tmp)
        ours, ref = side_by_side(
            runs,
            lambda: wall([DEVSTACK, "check"], cwd=site),
            lambda: wall([*_compose(), "config", "-q"], cwd=site),
        )
    return [Outcome("devstack check vs docker compose config -q (drupal)", ours, ref, 2.5)]


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


def bench_add(runs: int) -> list[Outcome]:
    """`devstack add` plans (parse, check, render, verify) against Compose reading the project."""
    if not have_engine():
        return [Outcome("devstack add (skipped: no Docker engine/Compose)", 0, None, None)]
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        site = _drupal_project(tmp)
        add = [DEVSTACK, "add", "redis", "--set", f"port={port}"]
        ours, ref = side_by_side(
            runs,
            lambda: wall([*add, "--dry-run"], cwd=site),
            lambda: wall([*_compose(), "config", "-q"], cwd=site),
        )
        out = [Outcome("devstack add redis --dry-run vs docker compose config -q", ours, ref, 3.0)]
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


BENCHES: dict[str, Callable[[int], list[Outcome]]] = {
    "help": bench_help,
    "new": bench_new,
    "check": bench_check,
    "up": bench_up,
    "add": bench_add,
}


def have_engine() -> bool:
    return (
        shutil.which("docker") is not None
        and subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
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
        verdict = "ok" if o.ok else "OVER BUDGET"
        print(f"{o.name:58} {o.ours * 1000:8.1f} ms {ref} {ratio}  {budget:13} {verdict} {o.note}")
        failed |= not o.ok
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ | {"ratio": o.ratio} for o in outcomes], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
