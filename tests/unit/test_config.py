"""devstack's own settings: precedence flag > environment > project > user > built-in, and
`devstack config` showing each value with where it came from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack import config
from devstack.config import Config
from devstack.errors import InvalidValue


@pytest.fixture
def user_file(isolated_home: Path) -> Path:
    """The user's config file where platformdirs puts it (XDG_CONFIG_HOME, set by isolated_home)."""
    path = isolated_home / ".config" / "devstack" / "config.toml"
    path.parent.mkdir(parents=True)
    return path


def test_the_user_file_is_in_the_xdg_config_directory(isolated_home, monkeypatch):
    assert config.user_file() == isolated_home / ".config" / "devstack" / "config.toml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(isolated_home / "elsewhere"))
    assert config.user_file() == isolated_home / "elsewhere" / "devstack" / "config.toml"
    monkeypatch.setenv("DEVSTACK_CONFIG", str(isolated_home / "mine.toml"))
    assert config.user_file() == isolated_home / "mine.toml"


@pytest.mark.parametrize("xdg", [None, "", "  ", "/tmp/xdg-config"])
def test_the_user_file_is_where_platformdirs_says(isolated_home, monkeypatch, xdg):
    """On Linux devstack computes the directory itself (platformdirs costs 10 ms to import)."""
    from platformdirs import user_config_path

    if xdg is None:
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    else:
        monkeypatch.setenv("XDG_CONFIG_HOME", xdg)
    assert config.user_file() == user_config_path("devstack") / "config.toml"


@pytest.mark.parametrize(
    ("flag", "env", "project", "user", "expected", "source"),
    [
        (10, "20", 30, 40, 10, "flag"),
        (None, "20", 30, 40, 20, "environment"),
        (None, None, 30, 40, 30, "project"),
        (None, None, None, 40, 40, "user"),
        (None, None, None, None, 300, "built-in"),
    ],
)
def test_precedence_flag_environment_project_user_builtin(
    user_file, monkeypatch, flag, env, project, user, expected, source
):
    if env is not None:
        monkeypatch.setenv("DEVSTACK_UP_TIMEOUT", env)
    if user is not None:
        user_file.write_text(f"[up]\ntimeout = {user}\n")
    model = {"x-devstack": {"config": {"up": {"timeout": project}}}} if project is not None else {}
    value = Config.for_model(model, project_where="compose.yaml x-devstack.config").get(
        "up.timeout", flag=flag, flag_name="--timeout"
    )
    assert (value.value, value.source) == (expected, source)
    where = {
        "flag": "--timeout",
        "environment": "DEVSTACK_UP_TIMEOUT",
        "project": "compose.yaml x-devstack.config",
        "user": str(user_file),
        "built-in": "",
    }
    assert value.where == where[source]


def test_a_project_cannot_set_machine_wide_keys(user_file):
    """The proxy's port belongs to the machine: a project's x-devstack.config is ignored for it."""
    user_file.write_text("[proxy]\nport = 8080\n")
    current = Config.for_model({"x-devstack": {"config": {"proxy.port": 9999}}})
    assert current.get("proxy.port").value == 8080
    assert any("proxy.port is set per user" in p for p in current.problems())


def test_dotted_keys_and_tables_mean_the_same(user_file):
    user_file.write_text('"proxy.port" = 8081\n')
    assert Config().get("proxy.port").value == 8081


@pytest.mark.parametrize(
    ("key", "raw", "wanted"),
    [
        ("proxy.port", "http", "a port number"),
        ("proxy.port", "70000", "a port number"),
        ("up.timeout", "-5", "above 0"),
        ("progress", "fancy", "one of auto, live, plain, quiet"),
    ],
)
def test_a_bad_value_names_where_it_was_set(monkeypatch, key, raw, wanted):
    monkeypatch.setenv(config.env_name(key), raw)
    with pytest.raises(InvalidValue) as exc:
        Config().get(key)
    assert exc.value.message.startswith(config.env_name(key) + ":")
    assert wanted in exc.value.message
    assert exc.value.exit_code == 2


def test_invalid_toml_is_a_usage_error_with_the_line(user_file, run):
    user_file.write_text("[proxy]\nport = 80 80\n")
    result = run("config")
    assert result.exit_code == 2
    assert str(user_file) in result.err and "line 2" in result.err and "Traceback" not in result.err


def test_answers_for_new_stack_specific_beats_generic_and_environment_beats_file(user_file, monkeypatch):
    user_file.write_text(
        '[new.answers]\ndb = "mysql"\nweb_port = 8081\n[new.answers.drupal]\ndb = "mariadb"\n'
    )
    answers = Config().answers("drupal", ["db", "web_port", "db_name"])
    assert {k: v.value for k, v in answers.items()} == {"db": "mariadb", "web_port": "8081"}
    assert answers["db"].key == "new.answers.drupal.db"
    monkeypatch.setenv("DEVSTACK_NEW_ANSWERS_DB", "mysql")
    answers = Config().answers("drupal", ["db"])
    assert (answers["db"].value, answers["db"].source) == ("mysql", "environment")


def test_set_and_unset_keep_the_users_comments(user_file, run):
    user_file.write_text("# my settings\n[proxy]\n# port 80 is taken by apache\nport = 8080\n")
    assert run("config", "set", "proxy.port", "8081").exit_code == 0
    assert run("config", "set", "new.answers.db", "mysql").exit_code == 0
    text = user_file.read_text()
    assert "# my settings" in text and "# port 80 is taken by apache" in text
    assert "port = 8081" in text and 'db = "mysql"' in text
    assert run("config", "unset", "proxy.port").exit_code == 0
    assert "port =" not in user_file.read_text() and "# my settings" in user_file.read_text()


def test_set_refuses_unknown_keys_and_bad_values(user_file, run):
    bad = run("config", "set", "proxy.prot", "80")
    assert bad.exit_code == 2 and "unknown setting 'proxy.prot'" in bad.err and "proxy.port" in bad.err
    bad = run("config", "set", "proxy.port", "eighty")
    assert bad.exit_code == 2 and "a port number" in bad.err
    assert not user_file.exists()


def test_devstack_config_shows_each_value_and_where_it_came_from(user_file, run, monkeypatch, tmp_path):
    user_file.write_text('[proxy]\ndomain = "test"\nprot = 1\n')
    monkeypatch.setenv("DEVSTACK_PROXY_PORT", "8088")
    monkeypatch.chdir(tmp_path)  # no project here
    result = run("config")
    assert result.exit_code == 0, result.err
    lines = {line.split()[0]: line for line in result.out.splitlines() if line.strip()}
    assert "8088" in lines["proxy.port"] and "environment (DEVSTACK_PROXY_PORT)" in lines["proxy.port"]
    assert "test" in lines["proxy.domain"] and f"user ({user_file})" in lines["proxy.domain"]
    assert "300" in lines["up.timeout"] and "built-in" in lines["up.timeout"]
    assert "unknown key 'proxy.prot'" in result.out
    data = json.loads(run("config", "--json").out)
    assert data["kind"] == "config" and data["file"] == str(user_file)
    by_key = {v["key"]: v for v in data["values"]}
    assert by_key["proxy.port"] == {
        "key": "proxy.port",
        "value": 8088,
        "source": "environment",
        "where": "DEVSTACK_PROXY_PORT",
    }


def test_devstack_config_reads_the_project_block(run, tmp_path, monkeypatch):
    (tmp_path / "compose.yaml").write_text(
        "services:\n  app:\n    image: busybox\nx-devstack:\n  config:\n    up:\n      timeout: 900\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEVSTACK_COMPOSE", "/nonexistent/compose")  # the files as written
    result = run("config")
    line = next(line for line in result.out.splitlines() if line.startswith("up.timeout"))
    assert "900" in line and "project (compose.yaml x-devstack.config)" in line
    assert run("config", "get", "up.timeout").out.strip() == "900"


def test_new_takes_default_answers_and_certificates_from_the_config(user_file, run, tmp_path, monkeypatch):
    certs = tmp_path / "corp-ca"
    certs.mkdir()
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    (certs / "corp.crt").write_text(pem)
    (certs / "binary.crt").write_bytes(b"\x30\x82\x01")  # DER: update-ca-certificates wants PEM
    (certs / "notes.txt").write_text("not a certificate")
    user_file.write_text(f'[new]\ncerts = "{certs}"\n[new.answers]\ndb = "mysql"\n')
    monkeypatch.setenv("DEVSTACK_NEW_ANSWERS_WEB_PORT", "9123")
    target = tmp_path / "site"
    result = run("new", "drupal", target, "--no-input", "--set", "db=mariadb")
    assert result.exit_code == 0, result.err
    assert "mariadb:11.8" in (target / "docker-compose.yml").read_text()  # --set wins
    assert "WEB_PORT=9123" in (target / ".env").read_text()  # environment
    assert (target / "docker/certs/corp.crt").read_text() == pem
    assert (
        not (target / "docker/certs/binary.crt").exists() and not (target / "docker/certs/notes.txt").exists()
    )
    assert "corp.crt" in result.out and "binary.crt: not copied (not a PEM certificate" in result.out


def test_new_refuses_a_configured_answer_the_stack_rejects(run, tmp_path, monkeypatch):
    monkeypatch.setenv("DEVSTACK_NEW_ANSWERS_DB", "oracle")
    result = run("new", "drupal", tmp_path / "site", "--no-input")
    assert result.exit_code == 2
    assert "DEVSTACK_NEW_ANSWERS_DB: invalid value 'oracle' for db" in result.err
    assert not (tmp_path / "site").exists()


def test_new_refuses_a_missing_certificate_directory(run, tmp_path):
    result = run("new", "drupal", tmp_path / "site", "--no-input", "--certs", tmp_path / "nope")
    assert result.exit_code == 2 and "does not exist" in result.err
    assert not (tmp_path / "site").exists()


def test_proxy_start_port_comes_from_the_config(user_file, mocker, run):
    """proxy start: --port > DEVSTACK_PROXY_PORT > proxy.port in the user file > 80."""
    from devstack.proxy import control

    start = mocker.patch.object(control, "start", side_effect=InvalidValue("stop here"))
    user_file.write_text("[proxy]\nport = 8080\n")
    run("proxy", "start", "--progress", "quiet")
    assert start.call_args.args[0].port == 8080
    run("proxy", "start", "--progress", "quiet", "--port", "8181")
    assert start.call_args.args[0].port == 8181
