"""ComposeRunner: probing, argv building, ps parsing (both formats), stderr classification."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from devstack import compose
from devstack.compose import ComposeBinary, ComposeRunner, classify, parse_ps
from devstack.errors import ComposeFailed, ComposeNotFound, EngineUnavailable
from devstack.project import Project

V2 = ComposeBinary(("docker", "compose"), "2.26.1", v1=False)
V1 = ComposeBinary(("docker-compose",), "1.29.2", v1=True)

PS_ITEM = {
    "Name": "site-web-1",
    "Service": "web",
    "State": "running",
    "Health": "healthy",
    "ExitCode": 0,
    "Publishers": [
        {"URL": "127.0.0.1", "TargetPort": 80, "PublishedPort": 8080, "Protocol": "tcp"},
        {"URL": "", "TargetPort": 443, "PublishedPort": 0, "Protocol": "tcp"},
    ],
}


@pytest.fixture
def project(tmp_path) -> Project:
    (tmp_path / "docker-compose.yml").write_text("services:\n  web:\n    image: busybox\n")
    return Project.load(tmp_path, env={})


class FakePopen:
    """Stands in for subprocess.Popen: a finished process with the given output."""

    def __init__(self, returncode: int, stdout: str = "", stderr: str = "") -> None:
        self.returncode = returncode
        self.output = (stdout, stderr)
        self.argv: list[str] = []

    def __call__(self, argv, **kwargs):
        self.argv = argv
        return self

    def communicate(self, timeout=None):
        return self.output

    def kill(self):
        pass


@pytest.fixture(autouse=True)
def forget_probe():
    compose._probed.clear()
    yield
    compose._probed.clear()


def test_parse_ps_json_array_before_2_21():
    items = parse_ps(json.dumps([PS_ITEM, {**PS_ITEM, "Service": "db", "Name": "site-db-1"}]))
    assert [i["Service"] for i in items] == ["web", "db"]


def test_parse_ps_one_object_per_line_since_2_21():
    text = json.dumps(PS_ITEM) + "\n" + json.dumps({**PS_ITEM, "Service": "db"}) + "\n"
    assert [i["Service"] for i in parse_ps(text)] == ["web", "db"]


def test_parse_ps_empty():
    assert parse_ps("") == [] and parse_ps("[]\n") == []


def test_ps_states_keep_only_published_ports(mocker, project):
    runner = ComposeRunner(project, V2)
    mocker.patch.object(
        runner, "run", return_value=subprocess.CompletedProcess([], 0, json.dumps(PS_ITEM), "")
    )
    (state,) = runner.ps()
    assert state.service == "web" and state.health == "healthy"
    assert state.publishers == (("127.0.0.1", 8080, 80, "tcp"),)


def test_argv_names_project_files_and_directory(project):
    runner = ComposeRunner(project, V2)
    argv = runner.argv("up", "-d")
    assert argv[:2] == ["docker", "compose"]
    assert argv[argv.index("--project-directory") + 1] == str(project.root)
    assert argv[argv.index("-f") + 1] == str(project.root / "docker-compose.yml")
    assert argv[argv.index("-p") + 1] == project.name
    assert argv[-2:] == ["up", "-d"]


def test_run_failure_keeps_argv_code_and_stderr_tail(mocker, project):
    runner = ComposeRunner(project, V2)
    stderr = "\n".join(f"line {i}" for i in range(40)) + "\nError: no such service: nope"
    mocker.patch("subprocess.Popen", FakePopen(1, "", stderr))
    with pytest.raises(ComposeFailed) as exc:
        runner.run("logs", "nope")
    err = exc.value
    assert err.exit_code == 4
    assert err.returncode == 1
    assert "no such service" in err.message
    assert err.stderr_tail.count("\n") < 25
    assert err.argv[:2] == ["docker", "compose"] and err.argv[-2:] == ["logs", "nope"]
    assert "devstack status" in (err.hint or "")


def test_engine_down_becomes_exit_3(mocker, project):
    runner = ComposeRunner(project, V2)
    mocker.patch(
        "subprocess.Popen",
        FakePopen(1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock."),
    )
    with pytest.raises(EngineUnavailable) as exc:
        runner.run("ps")
    assert exc.value.exit_code == 3


@pytest.mark.parametrize(
    "stderr, kind, hint",
    [
        ("Cannot connect to the Docker daemon at unix:///x", EngineUnavailable, "start Docker"),
        (
            "permission denied while trying to connect to the Docker daemon socket at unix:///var/run/docker.sock",
            EngineUnavailable,
            "docker group",
        ),
        ("docker: 'compose' is not a docker command.", ComposeNotFound, "plugin"),
        ("Bind for 127.0.0.1:8080 failed: port is already allocated", None, "port"),
        ("pull access denied for nope, repository does not exist", None, "image"),
        ("dependency failed to start: container site-db-1 is unhealthy", None, "healthcheck"),
        ("something else entirely", None, None),
    ],
)
def test_classify(stderr, kind, hint):
    got_kind, got_hint = classify(stderr)
    assert got_kind is kind
    if hint is None:
        assert got_hint is None
    else:
        assert hint in got_hint


def test_probe_honours_devstack_compose(mocker, monkeypatch):
    monkeypatch.setenv("DEVSTACK_COMPOSE", "docker-compose")
    mocker.patch("shutil.which", return_value="/usr/bin/docker-compose")
    version = mocker.patch("devstack.compose._version_of", return_value="1.29.2")
    binary = compose.probe()
    assert binary.argv == ("docker-compose",) and binary.v1
    compose.probe()
    assert version.call_count == 1  # remembered


def test_probe_bad_override(mocker, monkeypatch):
    monkeypatch.setenv("DEVSTACK_COMPOSE", "nope-compose")
    mocker.patch("shutil.which", return_value=None)
    with pytest.raises(ComposeNotFound) as exc:
        compose.probe()
    assert "DEVSTACK_COMPOSE" in exc.value.message and exc.value.exit_code == 3


def test_probe_falls_back_to_v1(mocker, monkeypatch):
    monkeypatch.delenv("DEVSTACK_COMPOSE", raising=False)
    mocker.patch("devstack.compose._compose_plugin", return_value=None)
    mocker.patch("shutil.which", side_effect=lambda name: f"/usr/bin/{name}")
    mocker.patch(
        "devstack.compose._version_of",
        side_effect=lambda argv: None if argv == ("docker", "compose") else "1.29.2",
    )
    assert compose.probe().argv == ("docker-compose",)


def test_probe_nothing_installed(mocker, monkeypatch):
    monkeypatch.delenv("DEVSTACK_COMPOSE", raising=False)
    mocker.patch("shutil.which", return_value=None)
    with pytest.raises(ComposeNotFound) as exc:
        compose.probe()
    assert "not installed" in exc.value.message


def test_probe_runs_v2_plugin_directly(mocker, monkeypatch, tmp_path):
    plugin = tmp_path / "docker-compose"
    plugin.write_text("#!/bin/sh\n")
    plugin.chmod(0o755)
    monkeypatch.delenv("DEVSTACK_COMPOSE", raising=False)
    mocker.patch("devstack.compose._compose_plugin", return_value=str(plugin))
    mocker.patch("shutil.which", return_value="/usr/bin/docker")
    binary = compose.probe()
    assert binary.argv == (str(plugin),) and not binary.v1
    assert binary.name == "docker compose"


def test_real_compose_config_matches_file(project):
    """The real binary, when present: config returns the interpolated model."""
    try:
        runner = ComposeRunner(project)
    except ComposeNotFound:
        pytest.skip("no Compose installed")
    model = runner.config()
    assert model["services"]["web"]["image"] == "busybox"


def test_project_name_precedence(tmp_path):
    (tmp_path / "compose.yaml").write_text("name: fromfile\nservices: {}\n")
    assert Project.load(tmp_path, env={}).name == "fromfile"
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=fromdotenv\n")
    assert Project.load(tmp_path, env={}).name == "fromdotenv"
    assert Project.load(tmp_path, env={"COMPOSE_PROJECT_NAME": "fromshell"}).name == "fromshell"
    assert Project.load(tmp_path, name="explicit", env={"COMPOSE_PROJECT_NAME": "x"}).name == "explicit"


def test_project_discovery_walks_up_and_adds_override(tmp_path):
    (tmp_path / "docker-compose.yml").write_text("services: {}\n")
    (tmp_path / "docker-compose.override.yml").write_text("services: {}\n")
    deep = tmp_path / "src" / "web"
    deep.mkdir(parents=True)
    project = Project.load(deep, env={})
    assert project.root == tmp_path
    assert [p.name for p in project.files] == ["docker-compose.yml", "docker-compose.override.yml"]
    assert project.name == Path(tmp_path).name.lower().replace(".", "")


def test_no_compose_file_is_a_clear_error(tmp_path):
    from devstack.errors import ProjectNotFound

    with pytest.raises(ProjectNotFound) as exc:
        Project.load(tmp_path, env={})
    assert "devstack new" in (exc.value.hint or "")


def test_a_hung_compose_is_stopped_and_reported(project, tmp_path):
    """A real process that never answers: killed at the timeout, reported as exit 4, no traceback."""
    sleeper = tmp_path / "fake-compose"
    sleeper.write_text("#!/bin/sh\nexec sleep 30\n")
    sleeper.chmod(0o755)
    runner = ComposeRunner(project, ComposeBinary((str(sleeper),), "2.0.0", v1=False))
    with pytest.raises(ComposeFailed) as exc:
        runner.run("config", timeout=0.5)
    assert exc.value.exit_code == 4 and "no answer within" in exc.value.message
    assert runner._running == set()


def test_a_yaml_alias_bomb_never_reaches_compose(tmp_path):
    """Compose 2.26 takes all memory on a billion-laughs file: devstack stops it and reports DS102."""
    from devstack import lifecycle

    levels = ['x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghi"
    for prev, name in zip(names, names[1:]):
        levels.append(f"x-{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    levels.append("services:\n  web:\n    image: busybox\n    labels: *i\n")
    (tmp_path / "compose.yaml").write_text("\n".join(levels))
    project = Project.load(tmp_path, env={})
    try:
        runner = ComposeRunner(project)
    except ComposeNotFound:
        pytest.skip("no Compose installed")
    import time

    started = time.monotonic()
    result = lifecycle.check(project, runner)
    assert time.monotonic() - started < 20
    assert [f.code for f in result.findings] == ["DS102"]
    assert "too many nodes" in result.findings[0].message
    assert runner._running == set()
