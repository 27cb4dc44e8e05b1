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
BIN = Path(sys.executable).parent
DEVSTACK = str(BIN / "devstack")
PYTHON = os.path.realpath(sys.executable)  # the real interpreter, not a pyenv shim


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


BENCHES: dict[str, Callable[[int], list[Outcome]]] = {
    "help": bench_help,
    "new": bench_new,
}


def have_engine() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, check=False
    ).returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--only", nargs="*", choices=sorted(BENCHES), default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
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
