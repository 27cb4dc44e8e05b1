"""`.env` from `.env.example`: secrets generated, missing keys added, values never changed."""

from __future__ import annotations

import os

from dotenv import dotenv_values

from devstack import envfile

EXAMPLE = """# Header about the example file.

# Port of the site.
WEB_PORT=8080
# Password. devstack:secret
DB_PASSWORD=
API_TOKEN=  # devstack:secret
PLAIN=hello world
"""


def test_creates_env_with_generated_secrets(tmp_path):
    (tmp_path / ".env.example").write_text(EXAMPLE)
    result = envfile.sync(tmp_path)
    values = dotenv_values(tmp_path / ".env")
    assert result.created
    assert result.generated == ["DB_PASSWORD", "API_TOKEN"]
    assert values["WEB_PORT"] == "8080" and values["PLAIN"] == "hello world"
    assert len(values["DB_PASSWORD"]) == 32 and values["DB_PASSWORD"].isalnum()
    assert values["API_TOKEN"] != values["DB_PASSWORD"]
    assert "Header about the example" not in (tmp_path / ".env").read_text()


def test_adds_only_missing_keys_and_keeps_values(tmp_path):
    (tmp_path / ".env.example").write_text(EXAMPLE)
    (tmp_path / ".env").write_text("WEB_PORT=9999\nDB_PASSWORD=mine\nLOCAL_ONLY=1")
    result = envfile.sync(tmp_path)
    values = dotenv_values(tmp_path / ".env")
    assert result.added == ["API_TOKEN", "PLAIN"]
    assert result.generated == ["API_TOKEN"]
    assert values["WEB_PORT"] == "9999" and values["DB_PASSWORD"] == "mine"
    assert values["LOCAL_ONLY"] == "1" and values["PLAIN"] == "hello world"
    again = envfile.sync(tmp_path)
    assert not again.changed
    assert dotenv_values(tmp_path / ".env") == values


def test_empty_value_in_env_counts_as_set(tmp_path):
    (tmp_path / ".env.example").write_text("A=1\n")
    (tmp_path / ".env").write_text("A=\n")
    assert not envfile.sync(tmp_path).changed


def test_no_example_no_change(tmp_path):
    result = envfile.sync(tmp_path)
    assert not result.changed and not (tmp_path / ".env").exists()


# -- HOST_UID / HOST_GID ----------------------------------------------------------------------

COMPOSE_WITH_USER = """services:
  app:
    image: x
    user: "${HOST_UID:-1000}:${HOST_GID:-1000}"
"""


def fixed(uid: int, gid: int, reason: str = "test"):
    """A `host` decider that records what .env held when it was asked."""
    seen: list[dict] = []

    def decide(current):
        seen.append(dict(current))
        return envfile.HostUser(uid, gid, reason)

    decide.seen = seen  # type: ignore[attr-defined]
    return decide


def test_host_user_written_to_env_not_example(tmp_path):
    (tmp_path / ".env.example").write_text(EXAMPLE)
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_WITH_USER)
    result = envfile.sync(tmp_path, host=fixed(1234, 567))
    values = dotenv_values(tmp_path / ".env")
    assert values["HOST_UID"] == "1234" and values["HOST_GID"] == "567"
    assert values["WEB_PORT"] == "8080"
    assert "HOST_UID" not in (tmp_path / ".env.example").read_text()
    assert result.created and "HOST_UID" in result.added and result.host_user.uid == 1234
    assert oct((tmp_path / ".env").stat().st_mode & 0o777) == "0o600"
    again = envfile.sync(tmp_path, host=fixed(1234, 567))
    assert not again.changed


def test_host_user_added_to_an_existing_env(tmp_path):
    (tmp_path / ".env.example").write_text("A=1\n")
    (tmp_path / ".env").write_text("A=2")  # no trailing newline
    (tmp_path / "compose.yaml").write_text(COMPOSE_WITH_USER)
    result = envfile.sync(tmp_path, host=fixed(1000, 1000))
    assert result.added == ["HOST_UID", "HOST_GID"] and not result.created
    assert dotenv_values(tmp_path / ".env") == {"A": "2", "HOST_UID": "1000", "HOST_GID": "1000"}


def test_host_user_updated_when_it_changed_unless_kept(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_WITH_USER)
    (tmp_path / ".env").write_text("X=1\nexport HOST_UID=1000\n# devstack:keep\nHOST_GID=33\n")
    decide = fixed(0, 0, "rootless")
    result = envfile.sync(tmp_path, host=decide)
    assert decide.seen == [{"X": "1", "HOST_UID": "1000", "HOST_GID": "33"}]
    assert result.updated == [("HOST_UID", "1000", "0")]
    assert result.changed
    text = (tmp_path / ".env").read_text()
    assert "export HOST_UID=0\n" in text and "HOST_GID=33\n" in text
    assert text.startswith("X=1\n")


def test_project_without_env_example_gets_env_with_host_user(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_WITH_USER)
    result = envfile.sync(tmp_path, host=fixed(1000, 1001))
    assert result.created
    assert dotenv_values(tmp_path / ".env") == {"HOST_UID": "1000", "HOST_GID": "1001"}


def test_projects_that_do_not_use_host_user_are_untouched(tmp_path):
    (tmp_path / "docker-compose.yml").write_text(
        'services:\n  app:\n    image: x\n    command: echo "$$HOST_UID ${HOSTNAME}"\n'
    )
    decide = fixed(1, 1)
    result = envfile.sync(tmp_path, host=decide)
    assert not result.changed and decide.seen == []
    assert not (tmp_path / ".env").exists()


def test_explicit_compose_files_are_searched(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    other = tmp_path / "ci.yml"
    other.write_text(COMPOSE_WITH_USER)
    assert not envfile.sync(tmp_path, host=fixed(5, 5)).changed
    assert envfile.sync(tmp_path, compose_files=[other], host=fixed(5, 5)).added == ["HOST_UID", "HOST_GID"]


def test_references_host_user(tmp_path):
    def refs(text: str) -> bool:
        path = tmp_path / "compose.yml"
        path.write_text(text)
        return envfile.references_host_user([path])

    assert refs("user: ${HOST_UID}")
    assert refs("user: $HOST_UID:$HOST_GID")
    assert refs('user: "${HOST_GID:-1000}"')
    assert refs("x: $$$HOST_UID")  # a literal $ and then the variable
    assert not refs("x: $$HOST_UID")  # a literal "$HOST_UID"
    assert not refs("x: ${HOST_UIDS}")
    assert not envfile.references_host_user([tmp_path / "missing.yml"])


def test_host_user_decision(monkeypatch):
    from devstack import engine

    if os.getuid() == 0:
        assert envfile.host_user() == envfile.HostUser(0, 0, "you are root")
    monkeypatch.setattr(os, "getuid", lambda: 1000)
    monkeypatch.setattr(os, "getgid", lambda: 100)
    asked: list[bool] = []

    def ask() -> bool:
        asked.append(True)
        return True

    monkeypatch.setattr(engine, "container_root_is_host_user", ask)
    monkeypatch.setattr(engine, "socket_owned_by_current_user", lambda environ=None: False)
    assert (envfile.host_user().uid, envfile.host_user().gid) == (1000, 100)
    assert asked == []  # a root-owned socket: rootful, nothing to ask
    monkeypatch.setattr(engine, "socket_owned_by_current_user", lambda environ=None: True)
    assert envfile.host_user({"HOST_UID": "0", "HOST_GID": "0"}).uid == 0
    assert asked == []  # already known
    assert envfile.host_user({"HOST_UID": "1000", "HOST_GID": "100"}).uid == 0
    assert asked == [True]
    monkeypatch.setattr(engine, "container_root_is_host_user", lambda: False)
    assert envfile.host_user({}).uid == 1000  # a rootful socket chowned to the user


def test_socket_owner_decides_and_info_confirms(tmp_path, monkeypatch):
    import json
    import socket

    from devstack import engine

    path = tmp_path / "docker.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen(1)
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    owner = path.stat().st_uid
    if owner == 0:  # running as root: give the socket to an ordinary uid
        os.chown(path, 4242, 4242)
        owner = 4242
    monkeypatch.setattr(os, "getuid", lambda: owner)
    assert engine.socket_owned_by_current_user()
    monkeypatch.setattr(os, "getuid", lambda: owner + 1)
    assert not engine.socket_owned_by_current_user()
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    assert not engine.socket_owned_by_current_user()

    answers = iter(
        [
            {"SecurityOptions": ["name=seccomp,profile=builtin", "name=rootless"]},
            {"SecurityOptions": ["name=seccomp,profile=builtin"], "OperatingSystem": "Docker Desktop"},
            {"SecurityOptions": ["name=seccomp,profile=builtin"], "OperatingSystem": "Debian GNU/Linux 13"},
        ]
    )
    monkeypatch.setattr(
        engine, "_local_get", lambda p, timeout=5.0: (200, json.dumps(next(answers)).encode())
    )
    assert engine.container_root_is_host_user()
    assert engine.container_root_is_host_user()
    assert not engine.container_root_is_host_user()

    def down(p, timeout=5.0):
        raise ConnectionRefusedError(111, "Connection refused")

    monkeypatch.setattr(engine, "_local_get", down)
    assert not engine.container_root_is_host_user()
    server.close()


def test_env_sync_command_reports_host_user(run, tmp_path, monkeypatch):
    (tmp_path / "docker-compose.yml").write_text(COMPOSE_WITH_USER)
    (tmp_path / ".env").write_text("HOST_UID=999999\nHOST_GID=999999\n")
    monkeypatch.chdir(tmp_path)
    wanted = envfile.host_user()
    result = run("env", "sync")
    assert result.exit_code == 0, result.err
    assert f"Updated HOST_UID in .env: 999999 -> {wanted.uid} ({wanted.reason})." in result.out
    assert dotenv_values(tmp_path / ".env")["HOST_GID"] == str(wanted.gid)
    again = run("env", "sync")
    assert "Updated" not in again.out
