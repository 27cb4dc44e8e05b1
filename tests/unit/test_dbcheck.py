"""Credential drift (DS800-DS802), secrets held back by env sync (DS803), legacy ownership (DS810/811)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack import db, dbcheck, envfile
from devstack.project import Project


@dataclass
class Info:
    id: str
    state: str = "running"


MARIA = db.Database(
    "db",
    "mariadb",
    "mariadb:11.8",
    "drupal",
    "drupal",
    "pw",
    "rootpw",
    "/var/lib/mysql",
    db.Mount("bind", "/p/data/db", "/var/lib/mysql"),
    3306,
    keys={"user": "MARIADB_USER", "password": "MARIADB_PASSWORD", "root_password": "MARIADB_ROOT_PASSWORD"},
    variables={"user": "DB_USER", "password": "DB_PASSWORD", "root_password": "DB_ROOT_PASSWORD"},
)
PG = db.Database(
    "pg", "postgres", "postgres:17", "app", "app", "pw", None, "/var/lib/postgresql/data", None, 5432
)


class Answers:
    """run_in stand-in: answers per user, recording the calls."""

    def __init__(self, **by_user: list[tuple[int, str, str]]) -> None:
        self.by_user = {k: list(v) for k, v in by_user.items()}
        self.calls: list[tuple[list[str], dict[str, str]]] = []

    def __call__(self, container_id, argv, env):
        self.calls.append((argv, dict(env)))
        user = argv[5]
        answers = self.by_user.get(user) or [(0, "1\n", "")]
        return answers.pop(0) if len(answers) > 1 else answers[0]


def test_matching_credentials_give_no_finding_and_the_password_is_not_on_the_command_line():
    run = Answers()
    assert dbcheck.check_credentials([MARIA], {"db": Info("c1")}, run) == []
    assert [argv[5] for argv, _ in run.calls] == ["drupal", "root"]
    for argv, env in run.calls:
        assert "pw" not in argv and "rootpw" not in argv and env["DEVSTACK_PW"] in ("pw", "rootpw")


def test_refused_password_is_ds800_naming_the_env_variables_and_both_fixes():
    denied = (1, "", "ERROR 1045 (28000): Access denied for user 'drupal'@'127.0.0.1' (using password: YES)")
    run = Answers(drupal=[denied])
    [finding] = dbcheck.check_credentials([MARIA], {"db": Info("c1")}, run)
    assert finding.code == "DS800" and finding.severity.name == "ERROR"
    assert "DB_USER, DB_PASSWORD" in finding.message and "/p/data/db" in finding.message
    assert "initialised with other credentials" in finding.message
    assert "put the old value(s) of DB_USER, DB_PASSWORD back in .env" in finding.hint
    assert "devstack db reset --service db" in finding.hint


def test_refused_root_password_names_its_variable():
    denied = (1, "", "ERROR 1045 (28000): Access denied for user 'root'@'127.0.0.1'")
    [finding] = dbcheck.check_credentials([MARIA], {"db": Info("c1")}, Answers(root=[denied]))
    assert finding.code == "DS800" and "(DB_ROOT_PASSWORD)" in finding.message


def test_unknown_database_is_ds801():
    missing = (1, "", "ERROR 1049 (42000): Unknown database 'drupal'")
    [finding] = dbcheck.check_credentials([MARIA], {"db": Info("c1")}, Answers(drupal=[missing]))
    assert finding.code == "DS801" and "DB_NAME" not in finding.message  # no variable known for it


def test_a_server_still_starting_is_retried(monkeypatch):
    monkeypatch.setattr(dbcheck.time, "sleep", lambda s: None)
    refused = (1, "", "ERROR 2003 (HY000): Can't connect to MySQL server on '127.0.0.1' (115)")
    run = Answers(drupal=[refused, refused, (0, "1", "")])
    assert dbcheck.check_credentials([MARIA], {"db": Info("c1")}, run) == []
    assert sum(1 for argv, _ in run.calls if argv[5] == "drupal") == 3


def test_a_server_that_never_answers_is_only_info(monkeypatch):
    refused = (1, "", "ERROR 2002 (HY000): Can't connect to local server")
    [finding] = dbcheck.check_credentials([MARIA], {"db": Info("c1")}, Answers(drupal=[refused]), retry=0)
    assert finding.code == "DS802" and finding.severity.name == "INFO"


@pytest.mark.parametrize(
    ("output", "code"),
    [
        ('psql: error: FATAL:  password authentication failed for user "app"', "DS800"),
        ('psql: error: FATAL:  role "app" does not exist', "DS800"),
        ('psql: error: FATAL:  database "app" does not exist', "DS801"),
    ],
)
def test_postgres_answers(output, code):
    [finding] = dbcheck.check_credentials([PG], {"pg": Info("c2")}, Answers(app=[(2, "", output)]))
    assert finding.code == code


def test_no_client_in_the_image_is_info_and_trust_is_not_checked():
    [finding] = dbcheck.check_credentials([PG], {"pg": Info("c2")}, Answers(app=[(127, "", "")]))
    assert finding.code == "DS802" and "no database client" in finding.message
    run = Answers()
    assert dbcheck.check_credentials([PG._replace(trust=True)], {"pg": Info("c2")}, run) == []
    assert run.calls == []


def test_only_started_and_running_services_are_checked():
    run = Answers()
    dbcheck.check_credentials([MARIA], {"db": Info("c1")}, run, only={"web"})
    dbcheck.check_credentials([MARIA], {"db": Info("c1", state="exited")}, run)
    dbcheck.check_credentials([MARIA], {}, run)
    assert run.calls == []


def test_probe_script_is_valid_sh():
    import subprocess

    assert subprocess.run(["sh", "-n", "-c", dbcheck.PROBE], check=False).returncode == 0


# -- env sync holds secrets a database depends on ---------------------------------------------------

COMPOSE = """services:
  db:
    image: mariadb:11.8
    volumes:
      - ./data/db:/var/lib/mysql
    environment:
      MARIADB_PASSWORD: ${DB_PASSWORD:?set it}
      MARIADB_ROOT_PASSWORD: ${DB_ROOT_PASSWORD:?set it}
  web:
    image: web
    environment:
      APP_SECRET: ${APP_SECRET}
"""
EXAMPLE = (
    "DB_PASSWORD=  # devstack:secret\nDB_ROOT_PASSWORD=  # devstack:secret\nAPP_SECRET=  # devstack:secret\n"
)


def _project(tmp_path: Path) -> Project:
    (tmp_path / "docker-compose.yml").write_text(COMPOSE)
    (tmp_path / ".env.example").write_text(EXAMPLE)
    return Project.load(tmp_path, env={})


def test_fresh_secrets_are_generated_while_the_database_has_no_data(tmp_path):
    project = _project(tmp_path)
    (tmp_path / "data" / "db").mkdir(parents=True)  # created by up, empty
    result = envfile.sync(tmp_path, hold=lambda keys: dbcheck.held_secrets(project, keys))
    assert result.held == {} and result.generated == ["DB_PASSWORD", "DB_ROOT_PASSWORD", "APP_SECRET"]


def test_a_lost_env_does_not_get_fresh_database_secrets(tmp_path):
    project = _project(tmp_path)
    (tmp_path / "data" / "db" / "mysql").mkdir(parents=True)  # an initialised MariaDB
    result = envfile.sync(tmp_path, hold=lambda keys: dbcheck.held_secrets(project, keys))
    assert set(result.held) == {"DB_PASSWORD", "DB_ROOT_PASSWORD"}
    assert "data/db already holds the MariaDB database of service db" in result.held["DB_PASSWORD"]
    assert result.generated == ["APP_SECRET"]
    values = envfile.read_keys(tmp_path / ".env")
    assert "DB_PASSWORD" not in values and "APP_SECRET" in values
    text = (tmp_path / ".env").read_text()
    assert "# DB_PASSWORD was not generated:" in text
    # A second sync says it again, but does not write the explanation twice.
    again = envfile.sync(tmp_path, hold=lambda keys: dbcheck.held_secrets(project, keys))
    assert set(again.held) == {"DB_PASSWORD", "DB_ROOT_PASSWORD"}
    assert (tmp_path / ".env").read_text() == text
    # Once the database is gone (db reset), the secrets are generated.
    os.rmdir(tmp_path / "data" / "db" / "mysql")
    last = envfile.sync(tmp_path, hold=lambda keys: dbcheck.held_secrets(project, keys))
    assert last.held == {} and set(last.generated) == {"DB_PASSWORD", "DB_ROOT_PASSWORD"}
    assert len(envfile.read_keys(tmp_path / ".env")["DB_PASSWORD"] or "") == 32


def test_hold_is_not_asked_when_nothing_is_generated(tmp_path):
    _project(tmp_path)
    (tmp_path / ".env").write_text("DB_PASSWORD=a\nDB_ROOT_PASSWORD=b\nAPP_SECRET=c\n")

    def hold(keys):
        raise AssertionError("asked")

    assert envfile.sync(tmp_path, hold=hold).held == {}


def test_postgres_data_is_recognised_by_pg_version(tmp_path):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  pg:\n    image: postgres:17\n    volumes: [{type: bind, source: ./pg, "
        "target: /var/lib/postgresql/data}]\n    environment: {POSTGRES_PASSWORD: '${PGPW}'}\n"
    )
    project = Project.load(tmp_path, env={})
    (tmp_path / "pg").mkdir()
    assert dbcheck.held_secrets(project, ["PGPW"]) == {}
    (tmp_path / "pg" / "PG_VERSION").write_text("17\n")
    assert list(dbcheck.held_secrets(project, ["PGPW"])) == ["PGPW"]


# -- ownership -----------------------------------------------------------------------------------


def test_legacy_project_files_owned_by_another_uid(tmp_path):
    data = tmp_path / "db"
    data.mkdir()
    mine = os.stat(data).st_uid
    legacy = MARIA._replace(mount=db.Mount("bind", str(data), "/var/lib/mysql"), user_option="")
    [finding] = dbcheck.legacy_ownership([legacy], uid=mine + 1)
    assert finding.code == "DS810" and "needs sudo" in finding.message
    assert 'user: "${HOST_UID:-1000}:${HOST_GID:-1000}"' in finding.hint and "db chown" in finding.hint
    assert dbcheck.legacy_ownership([legacy], uid=mine) == []
    assert dbcheck.legacy_ownership([legacy], uid=0) == []  # root may delete anything


def test_migrated_compose_file_but_files_not_handed_over(tmp_path):
    data = tmp_path / "db"
    data.mkdir()
    owner = os.stat(data).st_uid
    moved = MARIA._replace(
        mount=db.Mount("bind", str(data), "/var/lib/mysql"), user_option=f"{owner + 7}:{owner + 7}"
    )
    [finding] = dbcheck.legacy_ownership([moved], uid=owner + 7)
    assert finding.code == "DS811" and finding.severity.name == "ERROR"
    ok = moved._replace(user_option=f"{owner}:{owner}")
    assert dbcheck.legacy_ownership([ok], uid=owner) == []
    assert dbcheck.legacy_ownership([moved._replace(user_option="0:0")], uid=0) == []
