"""DS3xx: variables, .env and .env.example, env files, legacy link variables."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from check_helpers import codes


def web(env_lines: str, extra: str = "") -> dict[str, str]:
    return {"compose.yaml": f"services:\n  web:\n    image: a\n    environment:\n{env_lines}{extra}"}


def test_unset_variable_reported_once_with_its_uses(findings):
    found = findings(web("      A: ${TOKEN}\n      B: x-$TOKEN\n      C: ${TOKEN:-fine}\n"))
    (unset,) = [f for f in found if f.code == "DS308"]
    assert (
        unset.message == "${TOKEN} is not set (in the shell or .env): the value becomes empty (used 2 times)"
    )
    assert unset.location == "compose.yaml:5" and str(unset.severity) == "warning"
    assert "${TOKEN:-}" in unset.hint


def test_unset_variable_is_an_error_where_empty_breaks_the_project(findings):
    """The same variable in an environment entry and in a port: the port decides (DS301)."""
    found = findings(web("      PORT: ${PORT}\n", "    ports: ['127.0.0.1:${PORT}:80']\n"))
    (unset,) = [f for f in found if f.code in ("DS301", "DS308")]
    assert unset.code == "DS301" and str(unset.severity) == "error"
    assert "${PORT:-value}" in unset.hint and "(used 2 times)" in unset.message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("    image: app:${TAG}\n", "DS301"),
        ("    image: a\n    volumes: ['${DATA_DIR}/db:/db']\n", "DS301"),
        ("    build: {context: '${CTX}'}\n", "DS301"),
        ("    image: a\n    command: [serve, '${FLAGS}']\n", "DS301"),
        ("    image: a\n    labels: {team: '${TEAM}'}\n", "DS308"),
        ("    image: a\n    build: {context: ., args: {PROXY: '${HTTP_PROXY}'}}\n", "DS308"),
        ("    image: a\n    environment: ['SENTRY_DSN=${SENTRY_DSN}']\n", "DS308"),
    ],
)
def test_where_empty_is_allowed(per_file_findings, body, code):
    found = per_file_findings({"compose.yaml": "services:\n  web:\n" + body, "Dockerfile": "FROM x\n"})
    assert [f.code for f in found if f.code in ("DS301", "DS308")] == [code]


def test_shell_wins_and_dotenv_counts(findings):
    files = web("      A: ${FROM_SHELL}\n      B: ${FROM_DOTENV}\n")
    files[".env"] = "FROM_DOTENV=1\n"
    assert "DS301" not in codes(findings(files, env={"FROM_SHELL": "1"}))


def test_required_variable_message_and_empty_value(findings):
    found = findings({**web("      P: ${DB_PASSWORD:?set DB_PASSWORD in .env}\n"), ".env": "DB_PASSWORD=\n"})
    (required,) = [f for f in found if f.code == "DS302"]
    assert required.message == "DB_PASSWORD is required but is empty: set DB_PASSWORD in .env"
    # `?` (no colon) accepts an empty value
    assert "DS302" not in codes(findings({**web("      P: ${DB_PASSWORD?x}\n"), ".env": "DB_PASSWORD=\n"}))


def test_example_keys_missing_from_dotenv_are_one_finding(findings):
    files = {
        **web("      P: ${DB_PASSWORD:?set it}\n      U: ${DB_USER}\n"),
        ".env.example": "# devstack:secret\nDB_PASSWORD=\nDB_USER=app\n",
        ".env": "OTHER=1\n",
    }
    found = findings(files)
    # not also DS301/DS302 for the same keys (Compose rejects the project: DS108 says so)
    assert codes(found) == ["DS303", "DS108"]
    assert "DB_PASSWORD, DB_USER" in found[0].message
    assert "devstack env sync" in found[0].hint


def test_no_dotenv_at_all(findings):
    found = findings({**web("      A: '1'\n"), ".env.example": "A=1\n"})
    assert codes(found) == ["DS303"]
    assert found[0].message.startswith(".env does not exist")


def test_env_file_paths_and_optional_ones(findings):
    files = {
        "compose.yaml": """\
services:
  web:
    image: a
    env_file:
      - ./present.env
      - path: ./${ENV_NAME:-local}.env
      - path: ./optional.env
        required: false
""",
        "present.env": "A=1\n",
    }
    (missing,) = [f for f in findings(files) if f.code == "DS304"]
    assert "./${ENV_NAME:-local}.env" in missing.message
    assert missing.location == "compose.yaml:6"


@pytest.mark.parametrize(
    ("environment", "hint"),
    [
        ("DB_HOST: $$DB_PORT_3306_TCP_ADDR", "use host `database`"),
        ("DB: ${DB_PORT_3306_TCP_PORT:-3306}", "use port 3306"),
        ("DB_URL: $$DB_PORT_3306_TCP", "use tcp://database:3306"),
        ("DB_PORT: tcp://172.17.0.5:3306", "port 3306"),
        ("DB_NAME: /web/db", "use host `database`"),
        ("PW: $$DB_ENV_MYSQL_PASSWORD", "set MYSQL_PASSWORD on this service"),
    ],
)
def test_legacy_link_variables(findings, environment, hint):
    """The link alias `db` belongs to service `database`: the hint names the service."""
    files = web(f"      {environment}\n", "    links: ['database:db']\n  database:\n    image: b\n")
    (legacy,) = [f for f in findings(files) if f.code == "DS306"]
    assert hint in legacy.hint
    assert legacy.location == "compose.yaml:5"


@pytest.mark.parametrize(
    "environment",
    [
        "DB_PORT: '3306'",
        "DB_NAME: app",
        "APP_ENV_FILE: /x/y",
        "NODE_ENV: production",
        "REDIS_PORT: '6379'",
        "DB_HOST: db",
    ],
)
def test_modern_variables_are_not_legacy(findings, environment):
    assert "DS306" not in codes(findings(web(f"      {environment}\n", "  db:\n    image: b\n")))


def test_legacy_variables_in_env_files_and_commands(findings):
    files = {
        "compose.yaml": """\
services:
  app:
    image: a
    env_file: app.env
    command: ["sh", "-c", "wait-for $$CACHE_PORT_6379_TCP_ADDR"]
  cache:
    image: redis
""",
        "app.env": "REDIS_HOST=${CACHE_PORT_6379_TCP_ADDR}\n",
    }
    legacy = [f for f in findings(files) if f.code == "DS306"]
    assert {f.location for f in legacy} == {"compose.yaml:5"}  # one finding per variable


def test_invalid_interpolation(findings):
    (bad,) = [f for f in findings(web("      X: ${A B}\n")) if f.code == "DS307"]
    assert "${A B}" in bad.message


needs_git = pytest.mark.skipif(not shutil.which("git"), reason="git is not installed")


def git(root, *args):
    subprocess.run(
        ["git", "-C", str(root), *args],
        check=True,
        capture_output=True,
        env={
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@e",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@e",
            "PATH": "/usr/bin:/bin",
            "HOME": str(root),
        },
    )


@needs_git
def test_tracked_dotenv(make_project, check_project):
    project = make_project({**web("      A: ${A}\n"), ".env": "A=secret\n"})
    git(project.root, "init", "-q")
    git(project.root, "add", ".env", "compose.yaml")
    found = check_project(project)
    (tracked,) = [f for f in found if f.code == "DS305"]
    assert tracked.location == ".env"


@needs_git
def test_ignored_dotenv_is_fine(make_project, check_project):
    project = make_project({**web("      A: ${A}\n"), ".env": "A=secret\n", ".gitignore": ".env\n"})
    git(project.root, "init", "-q")
    git(project.root, "add", ".")
    assert "DS305" not in codes(check_project(project))


def test_outside_a_repository_git_is_not_run(make_project, mocker):
    project = make_project({**web("      A: '1'\n"), ".env": "A=1\n"})
    if any((d / ".git").exists() for d in (project.root, *project.root.parents)):
        pytest.skip("the temporary directory is inside a git work tree")
    run = mocker.patch("devstack.checks.env.subprocess.run")
    from devstack.checks import env

    assert env._tracked_dotenv(project) == []
    run.assert_not_called()


@needs_git
def test_missing_git_binary_is_no_finding(make_project, monkeypatch):
    project = make_project({**web("      A: '1'\n"), ".env": "A=1\n"})
    git(project.root, "init", "-q")
    git(project.root, "add", ".env")
    from devstack.checks import env

    monkeypatch.setattr(env.shutil, "which", lambda name: None)
    assert env._tracked_dotenv(project) == []


def test_broken_templates_in_paths_and_ports_do_not_crash(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  web:
    image: a
    env_file: ["${BROKEN"]
    ports: ["127.0.0.1:${PORT:-${X}:80"]
    volumes: ["${A B}:/x"]
"""
        }
    )
    assert "DS307" in codes(found)
