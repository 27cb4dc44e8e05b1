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
from typing import Any

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
    "db": bench_db,
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
    parser.add_argument("--db-size", type=int, default=300, help="MB of rows for --only db")
    parser.add_argument("--db-engines", nargs="*", choices=list(DB_BENCH), default=list(DB_BENCH))
    args = parser.parse_args()
    DB_OPTIONS.update(size=args.db_size, engines=args.db_engines)
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
