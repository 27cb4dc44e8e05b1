"""ComposeRunner: probing, argv building, stderr classification, the model and its fallbacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack import compose
from devstack.compose import ComposeBinary, ComposeRunner, diagnose
from devstack.errors import ComposeFailed, ComposeNotFound, EngineUnavailable
from devstack.project import Project

V2 = ComposeBinary(("docker", "compose"), "2.26.1", v1=False)
V1 = ComposeBinary(("docker-compose",), "1.29.2", v1=True)


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
def test_diagnose(stderr, kind, hint):
    got_kind, got_hint = diagnose(stderr)[1:]
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


def test_real_compose_config_matches_file(project, compose_v2):
    """The real binary: config returns the interpolated model."""
    model, _ = ComposeRunner(project, compose_v2).config()
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


def test_a_yaml_alias_bomb_never_reaches_compose(tmp_path, compose_v2):
    """Compose 2.26 takes all memory on a billion-laughs file: devstack stops it and reports DS102."""
    from devstack import lifecycle

    levels = ['x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    names = "abcdefghi"
    for prev, name in zip(names, names[1:]):
        levels.append(f"x-{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    levels.append("services:\n  web:\n    image: busybox\n    labels: *i\n")
    (tmp_path / "compose.yaml").write_text("\n".join(levels))
    project = Project.load(tmp_path, env={})
    runner = ComposeRunner(project, compose_v2)
    import time

    started = time.monotonic()
    result = lifecycle.check(project, runner)
    assert time.monotonic() - started < 20
    assert [f.code for f in result.findings] == ["DS102"]
    assert "too many nodes" in result.findings[0].message
    assert runner._running == set()


# -- the model: one call, and the fallbacks when it fails ---------------------------------------


class Answers:
    """Stands in for subprocess.Popen: one (returncode, stdout, stderr) per call, argv recorded."""

    def __init__(self, *answers: tuple[int, str, str]) -> None:
        self.answers = list(answers)
        self.calls: list[list[str]] = []

    def __call__(self, argv, **kwargs):
        self.calls.append(argv)
        return FakePopen(*self.answers.pop(0))


MODEL_JSON = json.dumps({"name": "p", "services": {"web": {"image": "busybox"}}})


def test_model_is_one_config_call_over_every_profile(mocker, project):
    answers = Answers((0, MODEL_JSON, 'level=warning msg="The \\"X\\" variable is not set."'))
    mocker.patch("subprocess.Popen", answers)
    answer = ComposeRunner(project, V2).model()
    assert answer.data == {"name": "p", "services": {"web": {"image": "busybox"}}}
    assert answer.rejected is None and answer.workaround is None and "X" in answer.warnings
    (argv,) = answers.calls
    assert argv[argv.index("--profile") + 1] == "*"
    assert argv[-3:] == ["config", "--format", "json"]


def test_a_json_marshalling_bug_falls_back_to_yaml(mocker, project):
    bug = "json: error calling MarshalJSON for type types.SSHKey: invalid character ':'"
    answers = Answers((1, "", bug), (0, "services:\n  web:\n    image: busybox\n", ""))
    mocker.patch("subprocess.Popen", answers)
    answer = ComposeRunner(project, V2).model()
    assert answer.data == {"services": {"web": {"image": "busybox"}}}
    assert answer.rejected is None and "bug in Compose" in (answer.workaround or "")
    assert answers.calls[1][-3:] == ["config", "--format", "yaml"]


def test_a_rejected_project_is_read_again_without_consistency_checks(mocker, project):
    error = 'service "web" depends on undefined service "db": invalid compose project'
    answers = Answers((1, "", error), (0, MODEL_JSON, ""))
    mocker.patch("subprocess.Popen", answers)
    answer = ComposeRunner(project, V2).model()
    assert answer.rejected and "undefined service" in answer.rejected
    assert answer.data is not None
    assert "--no-consistency" in answers.calls[1]


def test_a_project_compose_cannot_read_has_no_model(mocker, project):
    error = "error while interpolating services.web.image: required variable TAG is missing a value"
    mocker.patch("subprocess.Popen", Answers((1, "", error), (1, "", error)))
    answer = ComposeRunner(project, V2).model()
    assert answer.data is None and "TAG" in (answer.rejected or "")


def test_compose_v1_is_asked_once(mocker, project):
    answers = Answers((1, "", "Service 'web' depends on service 'db' which is undefined."))
    mocker.patch("subprocess.Popen", answers)
    answer = ComposeRunner(project, V1).model()
    assert answer.data is None and answer.rejected and len(answers.calls) == 1
    assert "--profile" not in answers.calls[0]


def test_a_stuck_compose_is_unavailable_not_rejected(project, tmp_path):
    sleeper = tmp_path / "fake-compose"
    sleeper.write_text("#!/bin/sh\nexec sleep 30\n")
    sleeper.chmod(0o755)
    runner = ComposeRunner(project, ComposeBinary((str(sleeper),), "2.0.0", v1=False))
    compose.CONFIG_TIMEOUT, saved = 0.5, compose.CONFIG_TIMEOUT
    try:
        answer = runner.model()
    finally:
        compose.CONFIG_TIMEOUT = saved
    assert answer.data is None and answer.rejected is None
    assert "no answer within" in (answer.unavailable or "")


@pytest.mark.parametrize(
    ("stderr", "hint"),
    [
        (
            "failed to solve: devstack-test/no-such-base:1: failed to resolve source metadata for "
            'docker.io/devstack-test/no-such-base:1: failed to do request: Head "https://x": dial tcp: '
            "lookup registry-1.docker.io: no such host",
            "the base image devstack-test/no-such-base:1 (a FROM line of the Dockerfile) is not on this "
            "machine and its registry cannot be reached",
        ),
        (
            "failed to solve: nope:1: failed to resolve source metadata for docker.io/library/nope:1: "
            "pull access denied, repository does not exist",
            "the base image nope:1 (a FROM line of the Dockerfile) cannot be found",
        ),
        (
            'failed to solve: process "/bin/sh -c composer install" did not complete successfully: '
            "exit code: 2",
            "a step of the Dockerfile failed (/bin/sh -c composer install, exit 2)",
        ),
    ],
)
def test_a_failed_build_gets_a_hint_that_names_the_cause(stderr, hint):
    assert (diagnose(stderr).hint or "").startswith(hint)


def test_a_failed_build_in_up_carries_the_hint(mocker, project):
    class Streaming:
        returncode = 17
        stdout = iter(
            ["#2 ERROR: not found\n", "failed to solve: base:9: failed to resolve source metadata x\n"]
        )

        def wait(self, timeout=None):
            return 17

    mocker.patch("subprocess.Popen", return_value=Streaming())
    with pytest.raises(ComposeFailed) as exc:
        ComposeRunner(project, V2).stream("up", "-d", "--build")
    assert exc.value.exit_code == 4 and "base:9" in (exc.value.hint or "")
