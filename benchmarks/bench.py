"""Speed budgets, measured as whole processes side by side (ratios, not absolute times).

    python benchmarks/bench.py [--runs N] [--only NAME...] [--stack STACK...] [--json FILE]

Each budget times a devstack command and its reference command alternately, N times each, and
compares medians. Exit status 1 when a budget is exceeded. Docker budgets need an engine and the
test images (scripts/build-test-images.sh); they are skipped, and said so, without one.

`--stack` chooses the generated projects that `check`, `up` and `build` measure (default:
drupal; `--stack all` for every stack). `build` (report only, not in the default set) times a
cold image build of each stack: `docker compose build --no-cache`.
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
    limit: float | None = None  # an absolute budget in seconds, beside the ratio

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


def _compose() -> list[str]:
    return ["docker", "compose"]


def bench_check(runs: int) -> list[Outcome]:
    if not have_engine():
        return [Outcome("devstack check (skipped: no Docker engine/Compose)", 0, None, None)]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for stack in STACKS:
            site = _project(tmp, stack)
            ours, ref = side_by_side(
                runs,
                lambda site=site: wall([DEVSTACK, "check"], cwd=site),
                lambda site=site: wall([*_compose(), "config", "-q"], cwd=site),
            )
            out.append(Outcome(f"devstack check vs docker compose config -q ({stack})", ours, ref, 2.5))
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
    down = [*_compose(), "down", "--timeout", "10"]
    out = []
    try:
        wall([DEVSTACK, "up"], cwd=site)  # builds the image and initialises the data once, untimed
        ours, ref = side_by_side(
            runs,
            lambda: wall([DEVSTACK, "up"], cwd=site),
            lambda: wall([*_compose(), "up", "-d"], cwd=site),
        )
        out.append(Outcome(f"devstack up (running) vs docker compose up -d ({stack})", ours, ref, 1.3))

        def cold(argv: list[str]) -> float:
            wall(down, cwd=site)
            return wall(argv, cwd=site)

        cold_runs = max(5, runs // 5)
        ours, ref = side_by_side(
            cold_runs,
            lambda: cold([DEVSTACK, "up"]),
            lambda: cold([*_compose(), "up", "-d", "--wait"]),
            warmup=0,
        )
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


BENCHES: dict[str, Callable[[int], list[Outcome]]] = {
    "help": bench_help,
    "new": bench_new,
    "check": bench_check,
    "up": bench_up,
    "build": bench_build,
}
DEFAULT_BENCHES = ("help", "new", "check", "up")


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
    parser.add_argument("--stack", nargs="*", default=["drupal"], help="stacks to measure, or 'all'")
    args = parser.parse_args()
    install()
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
        if o.limit is not None:
            budget += f", <= {o.limit:g} s"
        verdict = "ok" if o.ok else "OVER BUDGET"
        print(f"{o.name:66} {o.ours * 1000:8.1f} ms {ref} {ratio}  {budget:13} {verdict} {o.note}")
        failed |= not o.ok
    if args.json:
        args.json.write_text(json.dumps([o.__dict__ | {"ratio": o.ratio} for o in outcomes], indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
