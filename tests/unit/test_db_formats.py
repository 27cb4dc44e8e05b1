"""devstack db: finding database services, dump formats, the SQL around an import."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
from pathlib import Path

import pytest
import zstandard

from devstack import db, dump
from devstack.compose import ComposeBinary, ComposeRunner, PipeResult
from devstack.errors import UsageError
from devstack.project import Project

MARIADB_MODEL = {
    "services": {
        "web": {
            "image": "site-web",
            "environment": {"DB_HOST": "db", "DB_PASSWORD": "s3cret", "POSTGRES_PASSWORD": "nope"},
            "volumes": [{"type": "bind", "source": "/p/src", "target": "/var/www/html"}],
        },
        "db": {
            "image": "mariadb:11.8",
            "user": "1000:1000",
            "environment": {
                "MARIADB_DATABASE": "drupal",
                "MARIADB_USER": "drupal",
                "MARIADB_PASSWORD": "s3cret",
                "MARIADB_ROOT_PASSWORD": "r00t",
            },
            "volumes": [{"type": "bind", "source": "/p/data/db", "target": "/var/lib/mysql"}],
        },
    }
}
MARIADB_RAW = {
    "services": {
        "db": {
            "environment": {
                "MARIADB_DATABASE": "${DB_NAME:?set DB_NAME in .env}",
                "MARIADB_USER": "${DB_USER}",
                "MARIADB_PASSWORD": "${DB_PASSWORD:?set it}",
                "MARIADB_ROOT_PASSWORD": "$DB_ROOT_PASSWORD",
            }
        }
    }
}


def one(model, raw=None, image_env=None) -> db.Database:
    found = db.discover(model, raw, image_env)
    assert len(found) == 1, found
    return found[0]


def test_mariadb_found_by_image_with_credentials_mount_and_env_variables():
    found = one(MARIADB_MODEL, MARIADB_RAW)
    assert (found.service, found.engine, found.name, found.user) == ("db", "mariadb", "drupal", "drupal")
    assert (found.password, found.root_password) == ("s3cret", "r00t")
    assert found.data_path == "/var/lib/mysql"
    assert found.host_data_dir() == Path("/p/data/db")
    assert found.port == 3306 and found.user_option == "1000:1000"
    assert found.variable("password") == "DB_PASSWORD"
    assert found.variable("root_password") == "DB_ROOT_PASSWORD"
    assert found.variable("database") == "DB_NAME"
    assert found.admin() == ("root", "r00t") and found.has_admin


def test_web_service_with_postgres_variables_is_not_a_database():
    assert [d.service for d in db.discover(MARIADB_MODEL)] == ["db"]


@pytest.mark.parametrize(
    ("image", "engine"),
    [
        ("mysql:8.4", "mysql"),
        ("docker.io/library/mariadb:11.8@sha256:abc", "mariadb"),
        ("registry.local:5000/team/postgres:17", "postgres"),
        ("postgis/postgis:17-3.5", "postgres"),
        ("percona/percona-server:8.0", "mysql"),
        ("MariaDB:10.11", "mariadb"),
    ],
)
def test_engine_from_image_name(image, engine):
    assert db.engine_of_image(image) == engine


@pytest.mark.parametrize(
    "image", ["redis:8.0", "bitnami/mariadb:11", "docker.io/bitnami/postgresql:17", "mariadb-backup:1", ""]
)
def test_other_images_are_not_databases(image):
    assert db.engine_of_image(image) is None


def test_mysql_with_root_only_uses_root():
    model = {
        "services": {
            "db": {
                "image": "mysql:8.4",
                "environment": {"MYSQL_ROOT_PASSWORD": "r", "MYSQL_DATABASE": "app"},
                "volumes": [{"type": "volume", "source": "dbdata", "target": "/var/lib/mysql"}],
            }
        }
    }
    found = one(model)
    assert (found.engine, found.user, found.password, found.name) == ("mysql", "root", "r", "app")
    assert found.host_data_dir() is None and found.where() == "volume dbdata"


def test_mariadb_accepts_the_mysql_aliases_and_mariadb_wins():
    model = {
        "services": {
            "db": {
                "image": "mariadb:11.8",
                "environment": {"MYSQL_USER": "old", "MARIADB_USER": "new", "MYSQL_PASSWORD": "p"},
            }
        }
    }
    found = one(model)
    assert (found.user, found.password) == ("new", "p")
    assert found.mount is None and "anonymous" in found.where()


def test_postgres_defaults_follow_the_official_image():
    model = {"services": {"pg": {"image": "postgres:17", "environment": {"POSTGRES_PASSWORD": "pw"}}}}
    found = one(model)
    assert (found.user, found.name, found.password) == ("postgres", "postgres", "pw")
    assert found.data_path == "/var/lib/postgresql/data" and found.port == 5432
    assert found.admin() == ("postgres", "pw") and found.has_admin and not found.trust


def test_postgres_18_layout_and_pgdata_from_the_image_or_service():
    model = {"services": {"pg": {"image": "postgres:18", "environment": {"POSTGRES_PASSWORD": "x"}}}}
    assert one(model).data_path == "/var/lib/postgresql/18/docker"
    assert one(model, image_env=lambda image: {"PGDATA": "/pgdata"}).data_path == "/pgdata"
    model["services"]["pg"]["environment"]["PGDATA"] = "/var/lib/postgresql/data/pgdata"
    model["services"]["pg"]["volumes"] = [
        {"type": "bind", "source": "/p/data/pg", "target": "/var/lib/postgresql/data"}
    ]
    found = one(model)
    assert found.host_data_dir() == Path("/p/data/pg/pgdata")


def test_postgres_trust_is_noted():
    model = {
        "services": {"pg": {"image": "postgres:17", "environment": {"POSTGRES_HOST_AUTH_METHOD": "trust"}}}
    }
    assert one(model).trust


def test_a_built_image_is_found_by_its_variables_and_data_mount():
    model = {
        "services": {
            "db": {
                "build": {"context": "."},
                "image": "proj-db",
                "environment": {"POSTGRES_USER": "app", "POSTGRES_PASSWORD": "pw", "POSTGRES_DB": "appdb"},
                "volumes": [{"type": "bind", "source": "/p/pg", "target": "/var/lib/postgresql/data"}],
            }
        }
    }
    found = one(model)
    assert (found.engine, found.user, found.name) == ("postgres", "app", "appdb")


def test_secrets_from_files_are_read_in_the_container():
    model = {
        "services": {
            "db": {
                "image": "mariadb:11.8",
                "environment": {
                    "MARIADB_USER": "u",
                    "MARIADB_PASSWORD_FILE": "/run/secrets/pw",
                    "MARIADB_ROOT_PASSWORD_FILE": "/run/secrets/root",
                },
            }
        }
    }
    found = one(model)
    assert found.password is None and found.files == {
        "password": "/run/secrets/pw",
        "root_password": "/run/secrets/root",
    }


def test_x_devstack_databases_overrides_and_excludes():
    model = {
        "x-devstack": {
            "databases": {
                "legacy": {
                    "engine": "mysql",
                    "database": "shop",
                    "user": "shop",
                    "password": "pw",
                    "port": 3307,
                },
                "db": False,
            }
        },
        "services": {
            "legacy": {"image": "example/old-mysql:5", "volumes": ["/p/mysql:/var/lib/mysql:rw"]},
            "db": MARIADB_MODEL["services"]["db"],
        },
    }
    raw = {"x-devstack": {"databases": {"legacy": {"password": "${LEGACY_PW}"}}}, "services": {"legacy": {}}}
    found = one(model, raw)
    assert (found.service, found.engine, found.name, found.user, found.port) == (
        "legacy",
        "mysql",
        "shop",
        "shop",
        3307,
    )
    assert found.declared and found.host_data_dir() == Path("/p/mysql")
    assert found.variable("password") == "LEGACY_PW"


def test_x_devstack_databases_as_a_list_and_its_errors():
    model = {
        "x-devstack": {"databases": ["store"]},
        "services": {"store": {"image": "example/custom"}},
    }
    with pytest.raises(UsageError, match="cannot tell its engine"):
        db.discover(model)
    model["x-devstack"] = {"databases": {"store": {"engine": "oracle"}}}
    with pytest.raises(UsageError, match="engine is 'oracle'"):
        db.discover(model)
    model["x-devstack"] = {"databases": {"store": {"passwd": "x"}}}
    with pytest.raises(UsageError, match="unknown key"):
        db.discover(model)


def test_choose_one_database():
    dbs = db.discover(MARIADB_MODEL)
    assert db.choose(dbs, None).service == "db"
    assert db.choose(dbs, "db").service == "db"
    with pytest.raises(db.DatabaseNotFound, match="'web' is not a database"):
        db.choose(dbs, "web")
    with pytest.raises(db.DatabaseNotFound, match="no MariaDB, MySQL or PostgreSQL"):
        db.choose([], None)
    two = [*dbs, db.discover({"services": {"pg": {"image": "postgres:17"}}})[0]]
    with pytest.raises(UsageError, match="2 databases .*--service"):
        db.choose(two, None)


# -- formats -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("x.sql", "sql"), ("x.sql.gz", "gz"), ("X.GZ", "gz"), ("x.sql.zst", "zst"), ("x.zstd", "zst")],
)
def test_format_from_the_file_name(name, fmt):
    assert dump.format_for(name) == fmt


def test_unknown_format_is_a_usage_error():
    with pytest.raises(UsageError, match="cannot tell the format"):
        dump.format_for("dump.txt")


SQL = b"CREATE TABLE t (id int);\nINSERT INTO t VALUES (1),(2);\n" * 1000


def _compress(kind: str, data: bytes) -> bytes:
    if kind == "gz":
        return gzip.compress(data)
    if kind == "zst":
        return zstandard.ZstdCompressor().compress(data)
    if kind == "xz":
        return lzma.compress(data)
    if kind == "bz2":
        return bz2.compress(data)
    return data


@pytest.mark.parametrize("kind", ["sql", "gz", "zst", "xz", "bz2"])
def test_sql_source_decompresses_whatever_the_name_says(kind):
    raw = _compress(kind, SQL)
    source = dump.SqlSource(io.BytesIO(raw), "dump", total=len(raw), chunk=4096)
    assert source.kind == kind
    source.probe()
    seen = []
    assert b"".join(source.chunks(seen.append)) == SQL
    assert source.reader.count == len(raw) and source.sql_bytes == len(SQL)
    assert seen[-1].done == len(raw) and seen[-1].total == len(raw)


def test_multi_member_gzip_and_multi_frame_zstd_are_read_whole():
    gz = gzip.compress(b"SELECT 1;\n") + gzip.compress(b"SELECT 2;\n")
    source = dump.SqlSource(io.BytesIO(gz), "dump")
    source.probe()
    assert b"".join(source.chunks()) == b"SELECT 1;\nSELECT 2;\n"
    c = zstandard.ZstdCompressor()
    zst = c.compress(b"SELECT 1;\n") + c.compress(b"SELECT 2;\n")
    source = dump.SqlSource(io.BytesIO(zst), "dump")
    source.probe()
    assert b"".join(source.chunks()) == b"SELECT 1;\nSELECT 2;\n"


def test_a_truncated_file_fails_before_anything_changes():
    raw = gzip.compress(SQL)[:20]
    source = dump.SqlSource(io.BytesIO(raw), "dump.sql.gz")
    with pytest.raises(dump.DumpUnreadable, match="cannot be read as gz") as info:
        source.probe()
    assert "nothing was changed" in (info.value.hint or "")


def test_a_file_damaged_later_is_reported_with_its_offset():
    raw = gzip.compress(SQL * 40)
    raw = raw[: len(raw) // 2]
    source = dump.SqlSource(io.BytesIO(raw), "dump.sql.gz", chunk=4096)
    source.probe()
    with pytest.raises(dump.DumpUnreadable, match="damaged after"):
        for _ in source.chunks():
            pass


@pytest.mark.parametrize(("data", "message"), [(b"", "is empty"), (b"\x00\x01binary\x00", "binary")])
def test_empty_or_binary_files_are_refused(data, message):
    with pytest.raises(dump.DumpUnreadable, match=message):
        dump.SqlSource(io.BytesIO(data), "x").probe()


# -- around the client -------------------------------------------------------------------------


class FakeRunner:
    """Records `pipe` calls and answers them from a list of (returncode, stdout, stderr)."""

    def __init__(self, answers=(), project=None) -> None:
        self.calls: list[dict] = []
        self.answers = list(answers)
        self.project = project

    def pipe(self, *args, feed=None, sink=None, env=None, chunk=0):
        data = b"".join(feed) if feed is not None else b""
        self.calls.append({"args": list(args), "stdin": data, "env": dict(env or {})})
        code, out, err = self.answers.pop(0) if self.answers else (0, b"", "")
        if sink is not None and out:
            sink(out)
        return PipeResult(code, err)


def _target(tmp_path, model=MARIADB_MODEL, answers=()):
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    project = Project.load(tmp_path, env={})
    runner = FakeRunner(answers, project)
    return db.Target(project, runner, db.discover(model, MARIADB_RAW)[0], dict(model))  # type: ignore[arg-type]


def test_passwords_travel_in_the_environment_never_on_the_command_line(tmp_path):
    target = _target(tmp_path)
    argv, env = dump.dump_argv(target)
    assert "r00t" not in " ".join(argv) and env == {"MYSQL_PWD": "r00t"}
    assert argv[:5] == ["exec", "-T", "-e", "MYSQL_PWD", "db"]
    assert "--user=root" in argv and argv[-1] == "drupal" and "--events" in argv
    argv, env = dump.import_argv(target)
    assert "r00t" not in " ".join(argv) and env == {"MYSQL_PWD": "r00t"}
    assert "--database=drupal" in argv and any(a.startswith("--init-command=SET SESSION") for a in argv)


def test_postgres_commands(tmp_path):
    model = {"services": {"pg": {"image": "postgres:17", "environment": {"POSTGRES_PASSWORD": "pw"}}}}
    target = _target(tmp_path, model)
    target.db = db.discover(model)[0]
    argv, env = dump.dump_argv(target)
    assert env == {"PGPASSWORD": "pw"} and "pg_dump" in argv and "--no-owner" in argv
    argv, env = dump.import_argv(target)
    assert env["PGPASSWORD"] == "pw" and "synchronous_commit=off" in env["PGOPTIONS"]
    assert argv[:6] == ["exec", "-T", "-e", "PGOPTIONS", "-e", "PGPASSWORD"]
    assert "ON_ERROR_STOP=1" in argv and "devstack_db=postgres" in argv and "--dbname=postgres" in argv


def test_postgres_import_is_one_session_around_the_dump(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    model = {"services": {"pg": {"image": "postgres:17", "environment": {"POSTGRES_PASSWORD": "pw"}}}}
    head = b"#old\nmax_wal_size\t2GB\n#go\n"
    target = _target(tmp_path, model, answers=[(0, head + b"#restored\n", "")])
    target.db = db.discover(model)[0]
    seen_journal = []
    real_pipe = target.runner.pipe

    def pipe(*args, **kwargs):
        result = real_pipe(*args, **kwargs)
        seen_journal.append((tmp_path / ".devstack" / "tuning-pg.json").read_text())
        return result

    target.runner.pipe = pipe
    result = dump.import_(target, dump.SqlSource(io.BytesIO(b"CREATE TABLE t (i int);"), "d.sql"))
    [call] = target.runner.calls
    stream = call["stdin"].decode()
    before, _body, after = stream.partition("CREATE TABLE t (i int);\n")
    assert "ALTER SYSTEM SET max_wal_size = '8GB';" in before
    assert 'DROP DATABASE IF EXISTS :"devstack_db" WITH (FORCE);' in before
    assert before.endswith("\\connect :\"devstack_db\"\nBEGIN;\n\\echo '#go'\n")
    assert after.startswith("COMMIT;\n") and "ALTER SYSTEM RESET max_wal_size" in after
    # The journal held the old value while the load ran; it is gone after the postlude.
    assert '"max_wal_size": "2GB"' in seen_journal[0] and '"checkpoint_timeout": null' in seen_journal[0]
    assert not (tmp_path / ".devstack" / "tuning-pg.json").exists()
    assert result.emptied and result.tuned == ("max_wal_size", "checkpoint_timeout")


def test_postgres_failure_lines_are_the_dump_s(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    model = {"services": {"pg": {"image": "postgres:17", "environment": {"POSTGRES_PASSWORD": "pw"}}}}
    pre = dump._postgres_prelude(db.discover(model)[0], True, True).count("\n")
    error = f'psql:<stdin>:{pre + 2}: ERROR:  syntax error at or near "NOPE"'
    target = _target(tmp_path, model, answers=[(3, b"#old\n#go\n", error), (0, b"", "")])
    target.db = db.discover(model)[0]
    with pytest.raises(dump.ImportFailed, match="failed at line 2: line 2: ERROR") as info:
        dump.import_(target, dump.SqlSource(io.BytesIO(b"SELECT 1;\nNOPE;\n"), "d.sql"))
    assert "database postgres is empty (it was emptied first)" in (info.value.hint or "")
    assert b"ALTER SYSTEM RESET max_wal_size" in target.runner.calls[1]["stdin"]  # put back
    error = f"psql:<stdin>:{pre - 3}: ERROR:  must be owner of database postgres"
    target = _target(tmp_path, model, answers=[(3, b"", error), (0, b"", "")])
    target.db = db.discover(model)[0]
    with pytest.raises(db.DatabaseError, match="cannot prepare postgres for the import"):
        dump.import_(target, dump.SqlSource(io.BytesIO(b"SELECT 1;\n"), "d.sql"))


def test_export_compresses_on_the_host_and_writes_atomically(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    target = _target(tmp_path, answers=[(0, SQL, "")])
    out = tmp_path / "x.sql.zst"
    result = dump.export_to_file(target, out)
    assert zstandard.ZstdDecompressor().stream_reader(out.read_bytes()).read() == SQL
    assert result.sql_bytes == len(SQL) and result.written == out.stat().st_size
    assert not list(tmp_path.glob(".*.part"))


def test_a_failed_export_leaves_no_file(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    target = _target(tmp_path, answers=[(2, b"-- partial", "mariadb-dump: Got error: 1044: Access denied")])
    out = tmp_path / "x.sql.gz"
    with pytest.raises(db.DatabaseError, match="1044: Access denied"):
        dump.export_to_file(target, out)
    assert not out.exists() and not list(tmp_path.glob(".*.part"))


def test_export_refuses_to_overwrite_without_force(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    target = _target(tmp_path, answers=[(0, SQL, "")])
    out = tmp_path / "x.sql"
    out.write_text("mine")
    with pytest.raises(UsageError, match="exists"):
        dump.export_to_file(target, out)
    assert out.read_text() == "mine"
    dump.export_to_file(target, out, force=True)
    assert out.read_bytes() == SQL


def test_prepare_sql_quotes_names():
    odd = db.Database(
        "db", "mariadb", "mariadb:11.8", "we`ird'db", "u", "p", "r", "/var/lib/mysql", None, 3306
    )
    sql = dump._mysql_prepare_sql(odd, tune=True, empty=True)
    assert "DROP DATABASE IF EXISTS `we``ird'db`;" in sql
    assert "SCHEMA_NAME = 'we`ird''db'" in sql
    assert "SET GLOBAL innodb_flush_log_at_trx_commit = 0;" in sql
    pg = db.Database("pg", "postgres", "postgres:17", 'my"db', "u", "p", None, "/d", None, 5432)
    sql = dump._postgres_prelude(pg, tune=True, empty=True)
    assert 'DROP DATABASE IF EXISTS :"devstack_db" WITH (FORCE);' in sql  # psql quotes the name
    assert "ALTER SYSTEM SET max_wal_size = '8GB';" in sql


def test_import_prepares_loads_and_restores_the_settings(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    prepared = "#old\ninnodb_flush_log_at_trx_commit\t1\nmax_allowed_packet\t16777216\n" + (
        "#now\ninnodb_flush_log_at_trx_commit\t0\nmax_allowed_packet\t1073741824\n#left\n0\n1\n"
    )
    target = _target(tmp_path, answers=[(0, prepared.encode(), ""), (0, b"#restored\n#restored\n", "")])
    raw = gzip.compress(SQL)
    result = dump.import_(target, dump.SqlSource(io.BytesIO(raw), "d.sql.gz", len(raw)))
    prepare_call, load_call = target.runner.calls
    assert b"DROP DATABASE IF EXISTS `drupal`" in prepare_call["stdin"]
    # The file goes as it is, decompressed in the container; the settings are put back by the
    # load's own session, after the dump (a gzip member of their own).
    assert load_call["stdin"].startswith(raw) and "gzip -dc" in " ".join(load_call["args"])
    stream = gzip.decompress(load_call["stdin"])
    assert stream.startswith(SQL)
    postlude = stream[len(SQL) :]
    assert b"SET GLOBAL innodb_flush_log_at_trx_commit = 1;" in postlude
    assert b"SET GLOBAL max_allowed_packet = 16777216;" in postlude
    assert result.emptied and set(result.tuned) == {"innodb_flush_log_at_trx_commit", "max_allowed_packet"}
    assert not (tmp_path / ".devstack" / "tuning-db.json").exists()
    assert (tmp_path / ".devstack" / ".gitignore").read_text().strip().endswith("*")


def test_import_failure_says_where_and_what_state_the_database_is_in(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    prepared = (
        "#old\ninnodb_flush_log_at_trx_commit\t1\n#now\ninnodb_flush_log_at_trx_commit\t0\n#left\n0\n1\n"
    )
    error = "ERROR 1064 (42000) at line 1234: You have an error in your SQL syntax"
    target = _target(tmp_path, answers=[(0, prepared.encode(), ""), (1, b"", error), (0, b"", "")])
    with pytest.raises(dump.ImportFailed, match="at line 1234") as info:
        dump.import_(target, dump.SqlSource(io.BytesIO(SQL), "d.sql"))
    assert "emptied first and now holds what the dump created before line 1234" in (info.value.hint or "")
    assert len(target.runner.calls) == 3  # the settings were put back by one more call
    assert target.runner.calls[2]["stdin"] == b"SET GLOBAL innodb_flush_log_at_trx_commit = 1;\n"


def test_import_stops_before_loading_when_the_database_cannot_be_emptied(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    prepared = "#old\n#now\n#left\n3\n1\n"
    target = _target(tmp_path, answers=[(1, prepared.encode(), "ERROR 1044 (42000): Access denied")])
    with pytest.raises(db.DatabaseError, match="cannot empty database drupal: ERROR 1044"):
        dump.import_(target, dump.SqlSource(io.BytesIO(SQL), "d.sql"))
    assert len(target.runner.calls) == 1  # nothing was loaded


def test_a_killed_import_is_undone_by_the_next_one(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    target = _target(tmp_path, answers=[(0, b"", "")] * 4)
    state = tmp_path / ".devstack"
    state.mkdir()
    (state / "tuning-db.json").write_text('{"engine": "mariadb", "globals": {"sync_binlog": "1"}}')
    assert dump.recover_settings(target) == ["sync_binlog"]
    assert target.runner.calls[0]["stdin"] == b"SET GLOBAL sync_binlog = 1;\n"
    assert not (state / "tuning-db.json").exists()


@pytest.mark.parametrize(
    ("engine", "stderr", "line"),
    [
        ("mariadb", "ERROR 1146 (42S02) at line 57: Table 'x.y' doesn't exist", 57),
        ("postgres", 'psql:<stdin>:88: ERROR:  relation "y" does not exist', 88),
        ("mysql", "mysql: [Warning] Using a password", None),
    ],
)
def test_failed_at(engine, stderr, line):
    assert dump.failed_at(engine, stderr) == line


def test_failure_states():
    maria = db.discover(MARIADB_MODEL)[0]
    pg = db.discover({"services": {"pg": {"image": "postgres:17"}}})[0]
    assert "holds its old contents plus" in dump.failure_state(maria, False, 3)
    assert "database postgres is empty" in dump.failure_state(pg, True, 3)
    assert "is as it was before" in dump.failure_state(pg, False, None)


def test_compose_pipe_streams_bytes_both_ways(tmp_path):
    """ComposeRunner.pipe against a stand-in 'compose' (python): stdin, stdout, env, stderr."""
    script = tmp_path / "fakecompose.py"
    script.write_text(
        "import os, sys\n"
        "data = sys.stdin.buffer.read()\n"
        "sys.stdout.buffer.write(data[::-1] + os.environ.get('SECRET', '').encode())\n"
        "sys.stderr.write('line1\\nlast words\\n')\n"
        "sys.exit(3)\n"
    )
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    import sys

    runner = ComposeRunner(
        Project.load(tmp_path, env={}), ComposeBinary((sys.executable, str(script)), "2", False)
    )
    out: list[bytes] = []
    result = runner.pipe("exec", feed=[b"abc", b"def"], sink=out.append, env={"SECRET": "!"})
    assert b"".join(out) == b"fedcba!" and result.returncode == 3 and "last words" in result.stderr


def test_compose_pipe_kills_the_command_when_the_feed_fails(tmp_path):
    script = tmp_path / "fakecompose.py"
    script.write_text("import sys, time\nsys.stdin.buffer.read()\ntime.sleep(60)\n")
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    import sys

    runner = ComposeRunner(
        Project.load(tmp_path, env={}), ComposeBinary((sys.executable, str(script)), "2", False)
    )

    def feed():
        yield b"x"
        raise dump.DumpUnreadable("broken")

    with pytest.raises(dump.DumpUnreadable):
        runner.pipe("exec", feed=feed())


PREPARED_OK = b"#old\nsync_binlog\t1\n#now\nsync_binlog\t0\n#left\n0\n1\n"


def test_an_image_without_gzip_gets_the_dump_decompressed_here(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    no_gzip = (127, b"", "devstack: the image has no gzip\n")
    target = _target(tmp_path, answers=[(0, PREPARED_OK, ""), no_gzip, (0, b"#restored\n", "")])
    raw = gzip.compress(SQL)
    result = dump.import_(target, dump.SqlSource(io.BytesIO(raw), "d.sql.gz", len(raw)))
    _prepare, tried, loaded = target.runner.calls
    assert "gzip -dc" in " ".join(tried["args"]) and "gzip -dc" not in " ".join(loaded["args"])
    assert loaded["stdin"].startswith(SQL) and result.sql_bytes == len(SQL)


def test_a_gzip_failure_in_the_container_is_the_file_s(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    damaged = (0, b"", "gzip: stdin: unexpected end of file\ndevstack: gzip -dc failed (exit 1)\n")
    target = _target(tmp_path, answers=[(0, PREPARED_OK, ""), damaged, (0, b"", "")])
    raw = gzip.compress(SQL)
    with pytest.raises(dump.ImportFailed, match="d.sql.gz is damaged: gzip: stdin: unexpected end"):
        dump.import_(target, dump.SqlSource(io.BytesIO(raw), "d.sql.gz", len(raw)))
    assert target.runner.calls[2]["stdin"] == b"SET GLOBAL sync_binlog = 1;\n"  # put back


def test_a_stream_that_cannot_be_read_again_is_decompressed_here(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")

    class Pipe(io.BytesIO):
        def seekable(self) -> bool:
            return False

    target = _target(tmp_path, answers=[(0, PREPARED_OK, ""), (0, b"#restored\n", "")])
    dump.import_(target, dump.SqlSource(Pipe(gzip.compress(SQL)), "stdin"))
    assert target.runner.calls[1]["stdin"].startswith(SQL)


def test_the_gunzip_script_feeds_the_client_and_reports_a_damaged_stream():
    import subprocess

    inner = 'printf "[%s]" "$*"; cat'
    argv = ["sh", "-c", dump.GUNZIP_INTO, "devstack", inner, "devstack", "psql", "--x"]
    stream = dump._gzip_member("BEGIN;\n") + gzip.compress(SQL) + dump._gzip_member("\nCOMMIT;\n")
    done = subprocess.run(argv, input=stream, capture_output=True, check=False)
    assert done.returncode == 0 and done.stdout == b"[psql --x]BEGIN;\n" + SQL + b"\nCOMMIT;\n"
    cut = dump._gzip_member("BEGIN;\n") + gzip.compress(SQL)[:-20] + dump._gzip_member("COMMIT;\n")
    done = subprocess.run(argv, input=cut, capture_output=True, check=False)
    assert b"COMMIT" not in done.stdout and b"devstack: gzip -dc failed" in done.stderr


def test_lines_of_a_dump_sent_compressed_are_counted_when_an_error_needs_them(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    error = "ERROR 1064 (42000) at line 2: You have an error in your SQL syntax"
    target = _target(tmp_path, answers=[(0, PREPARED_OK, ""), (1, b"", error), (0, b"", "")])
    raw = gzip.compress(b"SELECT 1;\nNOPE;\n")
    with pytest.raises(dump.ImportFailed, match="at line 2"):
        dump.import_(target, dump.SqlSource(io.BytesIO(raw), "d.sql.gz", len(raw)))


def test_a_client_that_stops_on_an_sql_error_is_not_a_damaged_file():
    import os
    import subprocess

    inner = "head -c 100 >/dev/null; exit 3"  # psql -v ON_ERROR_STOP=1 quitting early
    argv = ["sh", "-c", dump.GUNZIP_INTO, "devstack", inner, "devstack"]
    big = gzip.compress(os.urandom(1 << 16) * 64, compresslevel=1)  # more than a pipe holds
    done = subprocess.run(argv, input=big, capture_output=True, check=False)
    assert done.returncode == 3 and b"devstack: gzip -dc failed" not in done.stderr


def test_an_sql_error_before_damage_further_on_keeps_its_line(tmp_path, mocker):
    mocker.patch.object(dump, "require_running")
    error = "ERROR 1064 (42000) at line 2: You have an error in your SQL syntax"
    target = _target(tmp_path, answers=[(0, PREPARED_OK, ""), (1, b"", error), (0, b"", "")])
    whole = gzip.compress(b"SELECT 1;\nNOPE;\n" + SQL * 40)
    raw = whole[: len(whole) // 2]  # the first megabyte reads; the rest is cut off
    with pytest.raises(dump.ImportFailed, match="at line 2"):
        dump.import_(target, dump.SqlSource(io.BytesIO(raw), "d.sql.gz", len(raw), chunk=4096))
