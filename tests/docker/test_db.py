"""`devstack db` on a real engine, for MariaDB and PostgreSQL: rows that survive an export and an
import, snapshots that bring a database back (per git branch), a reset without sudo.

Each engine gets one small project, started once per module (a first start initialises the
database, which takes a while); the tests run in order on it and each leaves it usable.
The services follow devstack's ownership convention: `user: "${HOST_UID}:${HOST_GID}"`, with
a data directory that belongs to that uid.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.docker.conftest import remove_project

HOST_UID = 4242  # a uid no one on the machine has: the files must belong to it, not to 999

ENGINES = {
    "mariadb": """
        services:
          db:
            image: mariadb:11.8
            user: "${HOST_UID:-1000}:${HOST_GID:-1000}"
            volumes:
              - ./data/db:/var/lib/mysql
            environment:
              MARIADB_DATABASE: ${DB_NAME:?set DB_NAME}
              MARIADB_USER: ${DB_USER:?set DB_USER}
              MARIADB_PASSWORD: ${DB_PASSWORD:?set DB_PASSWORD}
              MARIADB_ROOT_PASSWORD: ${DB_ROOT_PASSWORD:?set DB_ROOT_PASSWORD}
            healthcheck:
              test: ["CMD", "healthcheck.sh", "--connect", "--innodb_initialized"]
              interval: 30s
              start_interval: 500ms
              start_period: 90s
              timeout: 5s
    """,
    "postgres": """
        services:
          db:
            image: postgres:17
            user: "${HOST_UID:-1000}:${HOST_GID:-1000}"
            volumes:
              - ./data/db:/var/lib/postgresql/data
            environment:
              POSTGRES_DB: ${DB_NAME:?set DB_NAME}
              POSTGRES_USER: ${DB_USER:?set DB_USER}
              POSTGRES_PASSWORD: ${DB_PASSWORD:?set DB_PASSWORD}
            healthcheck:
              test: ["CMD-SHELL", "pg_isready -h 127.0.0.1 -U \\"$$POSTGRES_USER\\" -d \\"$$POSTGRES_DB\\""]
              interval: 30s
              start_interval: 500ms
              start_period: 90s
              timeout: 5s
    """,
}
ENV = """DB_NAME=app
DB_USER=app
DB_PASSWORD=first-password
DB_ROOT_PASSWORD=root-password
# devstack:keep (the tests run as root, for whom devstack would write 0)
HOST_UID={uid}
# devstack:keep
HOST_GID={uid}
"""


@dataclass
class DbProject:
    engine: str
    name: str
    root: Path

    def compose(
        self, *args: str, stdin: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["docker", "compose", "-p", self.name, *args],
            cwd=self.root,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=300,
            check=check,
        )

    def sql(self, query: str) -> str:
        """Run SQL as the application's user, inside the container; rows as text."""
        if self.engine == "postgres":
            argv = [
                "exec",
                "-T",
                "db",
                "psql",
                "-X",
                "-q",
                "-A",
                "-t",
                "-U",
                "app",
                "-d",
                "app",
                "-v",
                "ON_ERROR_STOP=1",
            ]
        else:
            argv = [
                "exec",
                "-T",
                "-e",
                "MYSQL_PWD=first-password",
                "db",
                "mariadb",
                "-uapp",
                "-N",
                "-B",
                "app",
            ]
        result = self.compose(*argv, stdin=query, check=False)
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    def wait_ready(self) -> None:
        """Until the server answers queries (after a snapshot or restore starts it again)."""
        import time

        deadline = time.monotonic() + 120
        while True:
            if self.engine == "postgres":
                argv = ["exec", "-T", "db", "psql", "-X", "-q", "-U", "app", "-d", "app", "-c", "SELECT 1"]
            else:
                argv = [
                    "exec",
                    "-T",
                    "-e",
                    "MYSQL_PWD=first-password",
                    "db",
                    "mariadb",
                    "-uapp",
                    "-e",
                    "SELECT 1",
                    "app",
                ]
            if self.compose(*argv, check=False).returncode == 0:
                return
            assert time.monotonic() < deadline, "the database did not come back"
            time.sleep(0.3)


def _owner_tree(path: Path) -> set[int]:
    owners = {path.stat().st_uid}
    for directory, dirs, files in os.walk(path):
        for name in dirs + files:
            owners.add(os.lstat(os.path.join(directory, name)).st_uid)
    return owners


def _empty_through_engine(path: Path) -> None:
    if path.exists():
        subprocess.run(
            [
                "docker",
                "run",
                "--rm",
                "--network",
                "none",
                "-v",
                f"{path}:/mnt",
                "devstack-test/busybox:latest",
                "sh",
                "-c",
                "rm -rf /mnt/* /mnt/.[!.]* /mnt/..?*",
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )


@pytest.fixture(scope="module", params=["mariadb", "postgres"])
def dbproject(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, test_images: None
) -> Iterator[DbProject]:
    engine = request.param
    root = tmp_path_factory.mktemp(f"db-{engine}")
    (root / "docker-compose.yml").write_text(textwrap.dedent(ENGINES[engine]).lstrip())
    (root / ".env").write_text(ENV.format(uid=HOST_UID))
    (root / "data" / "db").mkdir(parents=True)
    os.chown(root / "data" / "db", HOST_UID, HOST_UID)
    subprocess.run(["git", "init", "-q", "-b", "main", str(root)], check=True)
    subprocess.run(
        [
            "git",
            "-C",
            str(root),
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@example.org",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "start",
        ],
        check=True,
    )
    project = DbProject(engine, f"dstest-db-{uuid.uuid4().hex[:10]}", root)
    try:
        up = subprocess.run(
            [os.path.join(os.path.dirname(os.sys.executable), "devstack"), "up", "--timeout", "180"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, "COMPOSE_PROJECT_NAME": project.name},
        )
        assert up.returncode == 0, up.stdout + up.stderr
        project.sql(
            "CREATE TABLE fruit (id int PRIMARY KEY, name varchar(40));"
            "INSERT INTO fruit VALUES (1, 'apple'), (2, 'pear');"
        )
        yield project
    finally:
        remove_project(project.name)
        _empty_through_engine(root / "data" / "db")


@pytest.fixture
def at(dbproject: DbProject, monkeypatch: pytest.MonkeyPatch) -> DbProject:
    """Run the in-process CLI in the project's directory, under its project name."""
    monkeypatch.chdir(dbproject.root)
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", dbproject.name)
    return dbproject


def test_files_belong_to_the_host_user_not_to_the_image_user(at):
    assert _owner_tree(at.root / "data" / "db") == {HOST_UID}


@pytest.mark.parametrize("fmt", ["sql.gz", "sql.zst", "sql"])
def test_export_drop_import_brings_the_rows_back(at, run, tmp_path, fmt):
    dump = tmp_path / f"dump.{fmt}"
    result = run("db", "export", str(dump))
    assert result.exit_code == 0, result.err
    assert "Exported app (db)" in result.out and dump.stat().st_size > 0
    if fmt == "sql.gz":
        assert b"fruit" in gzip.decompress(dump.read_bytes())
    at.sql("DROP TABLE fruit;")
    at.sql("CREATE TABLE leftover (id int);")
    result = run("db", "import", str(dump))
    assert result.exit_code == 0, result.err
    assert at.sql("SELECT name FROM fruit ORDER BY id;").split() == ["apple", "pear"]
    # The database was emptied first: a table the dump does not have is gone.
    missing = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'leftover';"
    assert at.sql(missing) == "0"
    assert not (at.root / ".devstack" / "tuning-db.json").exists()


def test_import_keep_adds_to_what_is_there(at, run, tmp_path):
    dump = tmp_path / "extra.sql"
    dump.write_text("CREATE TABLE extra (id int);\nINSERT INTO extra VALUES (7);\n")
    result = run("db", "import", "--keep", str(dump))
    assert result.exit_code == 0, result.err
    assert at.sql("SELECT id FROM extra;") == "7"
    assert at.sql("SELECT count(*) FROM fruit;") == "2"
    at.sql("DROP TABLE extra;")


def test_bulk_settings_are_restored_after_the_import(at, run, tmp_path):
    if at.engine == "postgres":
        before = at.sql("SHOW max_wal_size;")
    else:
        query = "SELECT @@GLOBAL.innodb_flush_log_at_trx_commit, @@GLOBAL.max_allowed_packet;"
        before = subprocess.run(
            [
                "docker",
                "compose",
                "-p",
                at.name,
                "exec",
                "-T",
                "-e",
                "MYSQL_PWD=root-password",
                "db",
                "mariadb",
                "-uroot",
                "-N",
                "-B",
                "-e",
                query,
            ],
            cwd=at.root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    dump = tmp_path / "d.sql.gz"
    assert run("db", "export", str(dump)).exit_code == 0
    result = run("db", "import", str(dump))
    assert result.exit_code == 0 and "restored" in result.out
    if at.engine == "postgres":
        assert at.sql("SHOW max_wal_size;") == before
    else:
        after = subprocess.run(
            [
                "docker",
                "compose",
                "-p",
                at.name,
                "exec",
                "-T",
                "-e",
                "MYSQL_PWD=root-password",
                "db",
                "mariadb",
                "-uroot",
                "-N",
                "-B",
                "-e",
                query,
            ],
            cwd=at.root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert after == before


def test_a_broken_dump_says_where_and_what_state_the_database_is_in(at, run, tmp_path):
    dump = tmp_path / "broken.sql"
    dump.write_text("CREATE TABLE half (id int);\nINSERT INTO half VALUES (1);\nTHIS IS NOT SQL;\n")
    result = run("db", "import", "--keep", str(dump))
    assert result.exit_code == 1
    assert "failed at line 3" in result.err
    if at.engine == "postgres":  # one transaction: nothing of the dump stays
        assert "as it was before" in result.err
        assert at.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'half';") == "0"
    else:
        assert "holds its old contents plus what the dump created before line 3" in result.err
        at.sql("DROP TABLE half;")
    assert at.sql("SELECT count(*) FROM fruit;") == "2"


def test_a_dump_that_ends_the_client_session_early_is_a_failed_import(at, run, tmp_path):
    """`\\q` in a dump: psql exits 0 before devstack's end marker (the MariaDB client, as devstack
    runs it, refuses the line instead)."""
    dump = tmp_path / "quits.sql"
    dump.write_text("CREATE TABLE early (id int);\n\\q\nCREATE TABLE late (id int);\n")
    result = run("db", "import", "--keep", str(dump))
    assert result.exit_code == 1, result.out
    late = "SELECT count(*) FROM information_schema.tables WHERE table_name = 'late';"
    assert at.sql(late) == "0"
    if at.engine == "postgres":  # its one transaction never committed
        assert "stopped before the end of the dump" in result.err and "`\\q`" in result.err
        assert "as it was before" in result.err
    else:
        assert "line 2" in result.err
        at.sql("DROP TABLE early;")
    assert at.sql("SELECT count(*) FROM fruit;") == "2"


def test_a_damaged_file_changes_nothing(at, run, tmp_path):
    dump = tmp_path / "cut.sql.gz"
    dump.write_bytes(gzip.compress(b"DROP TABLE fruit;\n" * 1000)[:30])
    result = run("db", "import", str(dump))
    assert result.exit_code == 1 and "nothing was changed" in result.err
    assert at.sql("SELECT count(*) FROM fruit;") == "2"


def test_a_gzip_dump_decompressed_in_the_container_loads_every_row(at, run, tmp_path):
    # Several megabytes of SQL in two gzip members, the last line without a newline.
    rows = b"".join(b"INSERT INTO many VALUES (%d);\n" % i for i in range(60000))
    dump = tmp_path / "many.sql.gz"
    dump.write_bytes(
        gzip.compress(b"CREATE TABLE many (id int);\n" + rows)
        + gzip.compress(b"DELETE FROM many WHERE id = 0;")
    )
    result = run("db", "import", "--keep", str(dump))
    assert result.exit_code == 0, result.err
    assert "of SQL" not in result.out  # not counted: the container decompressed it
    counts = at.sql("SELECT count(*), min(id), max(id) FROM many;").replace("|", " ").split()
    assert counts == ["59999", "1", "59999"]
    assert at.sql("SELECT count(*) FROM fruit;") == "2"
    at.sql("DROP TABLE many;")


def test_an_sql_error_early_in_a_large_gzip_dump_is_the_sql_s_not_the_file_s(at, run, tmp_path):
    # The client quits on the error while gzip is still writing: gzip dies of SIGPIPE.
    filler = b"".join(b"INSERT INTO nowhere VALUES (%d, 'padding padding');\n" % i for i in range(200000))
    dump = tmp_path / "early.sql.gz"
    dump.write_bytes(gzip.compress(b"SELECT 1;\nNOPE;\n" + filler))
    result = run("db", "import", "--keep", str(dump))
    assert result.exit_code == 1
    assert "failed at line 2" in result.err and "damaged" not in result.err
    assert at.sql("SELECT count(*) FROM fruit;") == "2"


def test_a_file_damaged_past_its_start_is_reported_and_loads_nothing_of_its_end(at, run, tmp_path):
    # Past the first megabyte that is read on the host: found by gzip in the container.
    body = b"".join(b"INSERT INTO fruit VALUES (%d, 'x');\n" % i for i in range(100, 100100))
    dump = tmp_path / "late.sql.gz"
    whole = gzip.compress(b"CREATE TABLE late (id int);\n" + body + b"DROP TABLE fruit;\n")
    dump.write_bytes(whole[: len(whole) * 3 // 4])
    result = run("db", "import", "--keep", str(dump))
    assert result.exit_code == 1, result.out
    assert "late.sql.gz is damaged: gzip: stdin:" in result.err
    assert at.sql("SELECT count(*) FROM fruit WHERE id < 100;") == "2"  # the end never ran
    if at.engine == "postgres":  # one transaction, never committed
        assert "as it was before" in result.err
        assert at.sql("SELECT count(*) FROM fruit;") == "2"
    else:
        at.sql("DELETE FROM fruit WHERE id >= 100; DROP TABLE late;")
    assert not (at.root / ".devstack" / "tuning-db.json").exists()


def test_export_to_stdout_and_import_from_stdin(at, tmp_path):
    devstack = os.path.join(os.path.dirname(os.sys.executable), "devstack")
    env = {**os.environ, "COMPOSE_PROJECT_NAME": at.name}
    with open(tmp_path / "piped.sql.gz", "wb") as out:
        exported = subprocess.run(
            [devstack, "db", "export", "-"],
            cwd=at.root,
            stdout=out,
            stderr=subprocess.PIPE,
            env=env,
            timeout=120,
        )
    assert exported.returncode == 0, exported.stderr
    at.sql("DELETE FROM fruit WHERE id = 2;")
    with open(tmp_path / "piped.sql.gz", "rb") as source:
        imported = subprocess.run(
            [devstack, "db", "import", "-"],
            cwd=at.root,
            stdin=source,
            capture_output=True,
            env=env,
            timeout=120,
        )
    assert imported.returncode == 0, imported.stderr
    assert at.sql("SELECT count(*) FROM fruit;") == "2"


def test_snapshot_change_restore_is_as_before(at, run):
    result = run("db", "snapshot", "before-change")
    assert result.exit_code == 0, result.err
    assert (at.root / ".devstack" / "snapshots" / "db" / "before-change.tar.zst").is_file()
    at.wait_ready()
    at.sql("INSERT INTO fruit VALUES (3, 'plum'); DELETE FROM fruit WHERE id = 1;")
    result = run("db", "restore", "before-change")
    assert result.exit_code == 0, result.err
    at.wait_ready()
    assert at.sql("SELECT name FROM fruit ORDER BY id;").split() == ["apple", "pear"]
    assert _owner_tree(at.root / "data" / "db") == {HOST_UID}
    assert sorted(p.name for p in (at.root / "data").iterdir()) == ["db"]  # nothing left beside it
    listing = run("db", "snapshots")
    assert "before-change" in listing.out


def test_postgres_snapshots_leave_out_recycled_wal_only(at, run):
    """What recycled_wal() reads from pg_control agrees with pg_controldata, and the server starts."""
    if at.engine != "postgres":
        pytest.skip("PostgreSQL's WAL")
    from devstack.datadir import recycled_wal

    at.sql("CREATE TABLE wal_maker AS SELECT s, md5(s::text) AS m FROM generate_series(1, 300000) s;")
    at.sql("DROP TABLE wal_maker; CHECKPOINT;")
    at.compose("stop", "db")
    control = at.compose(
        "run", "--rm", "--no-deps", "-T", "--entrypoint", "pg_controldata", "db", "/var/lib/postgresql/data"
    ).stdout
    current = next(line.split()[-1] for line in control.splitlines() if "REDO WAL file" in line)
    left_out = recycled_wal(at.root / "data" / "db")
    wal = sorted(p.name for p in (at.root / "data" / "db" / "pg_wal").iterdir() if len(p.name) == 24)
    assert left_out == {f"pg_wal/{name}" for name in wal if name > current}
    assert current in wal
    at.compose("start", "db")
    at.wait_ready()
    assert run("db", "snapshot", "wal").exit_code == 0
    at.wait_ready()
    assert run("db", "restore", "wal").exit_code == 0
    at.wait_ready()
    assert at.sql("SELECT count(*) FROM fruit;") == "2"
    logs = at.compose("logs", "--no-color", "--tail", "20", "db").stdout
    assert "was shut down at" in logs and "crash recovery" not in logs


def test_the_snapshot_of_a_branch_comes_back_after_switching_to_it(at, run):
    git = ["git", "-C", str(at.root)]
    assert run("db", "snapshot").exit_code == 0  # on main
    at.wait_ready()
    subprocess.run([*git, "checkout", "-q", "-b", "feature/login"], check=True)
    at.sql("INSERT INTO fruit VALUES (10, 'feature-row');")
    assert run("db", "snapshot").exit_code == 0
    at.wait_ready()
    subprocess.run([*git, "checkout", "-q", "-b", "other"], check=True)
    at.sql("DELETE FROM fruit WHERE id = 10; INSERT INTO fruit VALUES (20, 'other-row');")
    assert run("db", "snapshot").exit_code == 0
    at.wait_ready()
    subprocess.run([*git, "checkout", "-q", "feature/login"], check=True)
    result = run("db", "restore")
    assert result.exit_code == 0, result.err
    assert "(branch feature/login)" in result.out
    at.wait_ready()
    assert at.sql("SELECT name FROM fruit WHERE id >= 10 ORDER BY id;").split() == ["feature-row"]
    # Back on main, `db restore` takes main's latest snapshot.
    subprocess.run([*git, "checkout", "-q", "main"], check=True)
    result = run("db", "restore")
    assert result.exit_code == 0 and "(branch main)" in result.out
    at.wait_ready()
    assert at.sql("SELECT name FROM fruit ORDER BY id;").split() == ["apple", "pear"]
    subprocess.run([*git, "checkout", "-q", "-b", "never-snapshotted"], check=True)
    result = run("db", "restore")
    assert result.exit_code == 1
    assert "no snapshot of service db was taken on branch never-snapshotted" in result.err
    subprocess.run([*git, "checkout", "-q", "main"], check=True)


def test_a_changed_password_in_env_is_caught_at_up(at, run):
    env = at.root / ".env"
    original = env.read_text()
    env.write_text(original.replace("DB_PASSWORD=first-password", "DB_PASSWORD=changed-later"))
    try:
        result = run("up", "--timeout", "180")
        shown = result.out + result.err
        assert result.exit_code == 1, shown
        assert "DS800" in shown and "DB_PASSWORD" in shown and "initialised with other credentials" in shown
        assert "devstack db reset" in shown
    finally:
        env.write_text(original)
    result = run("up", "--timeout", "180")
    assert result.exit_code == 0 and "DS800" not in result.out + result.err


def test_a_lost_env_does_not_get_a_fresh_database_password(at, run):
    example = at.root / ".env.example"
    example.write_text(
        "DB_NAME=app\nDB_USER=app\n# devstack:secret\nDB_PASSWORD=\n# devstack:secret\nDB_ROOT_PASSWORD=\n"
    )
    env = at.root / ".env"
    kept = env.read_text()
    env.unlink()
    try:
        result = run("up", "--timeout", "60")
        shown = result.out + result.err
        assert result.exit_code == 1, shown
        assert "DS803" in shown and "DB_PASSWORD was not generated" in shown and "data/db" in shown
        values = env.read_text()
        assert "\nDB_PASSWORD=" not in values and "# DB_PASSWORD was not generated" in values
        sync = run("env", "sync")
        assert "DB_PASSWORD was not generated" in sync.err
    finally:
        env.write_text(kept)
        example.unlink()
    assert run("up", "--timeout", "180").exit_code == 0


def test_reset_deletes_the_files_and_up_starts_afresh(at, run):
    result = run("db", "reset")
    assert result.exit_code == 2 and "--yes" in result.err  # not a terminal: never without --yes
    result = run("db", "reset", "--yes")
    assert result.exit_code == 0, result.err
    assert list((at.root / "data" / "db").iterdir()) == []
    assert (at.root / "data" / "db").stat().st_uid == HOST_UID
    result = run("up", "--timeout", "180")
    assert result.exit_code == 0, result.err + result.out
    assert at.sql("SELECT count(*) FROM information_schema.tables WHERE table_name = 'fruit';") == "0"
    at.sql(
        "CREATE TABLE fruit (id int PRIMARY KEY, name varchar(40));"
        "INSERT INTO fruit VALUES (1, 'apple'), (2, 'pear');"
    )


def test_export_import_snapshot_restore_on_compose_v1(tmp_path, project_name, run, monkeypatch):
    """The same commands through docker-compose v1 (its own `exec -T`, `run`, `config`)."""
    import shutil as _shutil

    if _shutil.which("docker-compose") is None:
        pytest.skip("docker-compose (v1) is not installed")
    monkeypatch.setenv("DEVSTACK_COMPOSE", "docker-compose")
    monkeypatch.setenv("COMPOSE_PROJECT_NAME", project_name)
    root = tmp_path / "v1"
    (root / "data" / "db").mkdir(parents=True)
    os.chown(root / "data" / "db", HOST_UID, HOST_UID)
    # v1 knows no healthcheck start_interval
    body = textwrap.dedent(ENGINES["mariadb"]).replace("      start_interval: 500ms\n", "")
    body = body.replace("interval: 30s", "interval: 1s")
    (root / "docker-compose.yml").write_text(body.lstrip())
    (root / ".env").write_text(ENV.format(uid=HOST_UID))
    monkeypatch.chdir(root)
    project = DbProject("mariadb", project_name, root)
    try:
        result = run("up", "--timeout", "240")
        assert result.exit_code == 0, result.err + result.out
        project.sql("CREATE TABLE t (v varchar(9)); INSERT INTO t VALUES ('one');")
        dump = tmp_path / "v1.sql.gz"
        assert run("db", "export", str(dump)).exit_code == 0
        project.sql("DROP TABLE t;")
        result = run("db", "import", str(dump))
        assert result.exit_code == 0, result.err
        assert project.sql("SELECT v FROM t;") == "one"
        assert run("db", "snapshot", "v1").exit_code == 0
        project.wait_ready()
        project.sql("UPDATE t SET v = 'two';")
        assert run("db", "restore", "v1").exit_code == 0
        project.wait_ready()
        assert project.sql("SELECT v FROM t;") == "one"
    finally:
        remove_project(project_name)
        _empty_through_engine(root / "data" / "db")
