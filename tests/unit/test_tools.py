"""`devstack run`: tools read from x-devstack.tools, checked, and run through `compose exec`."""

from __future__ import annotations

import json

import pytest

from devstack import engine, tools
from devstack.compose import ComposeRunner
from devstack.errors import DevstackError, UsageError
from devstack.project import Project

COMPOSE = """\
x-devstack:
  stack: node
  web: app
  tools:
    npm: {service: app, command: [npm], workdir: /app, description: Node packages}
    npx:
      service: app
      description: run a package's command
    psql: {service: db, command: "psql -U app --no-psqlrc"}
services:
  app: {image: node:24-slim}
  db: {image: postgres:17}
"""


@pytest.fixture(autouse=True)
def own_cache(tmp_path, monkeypatch):
    """The tools cache goes to a directory of the test's own."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def project(tmp_path, monkeypatch) -> Project:
    (tmp_path / "docker-compose.yml").write_text(COMPOSE)
    (tmp_path / ".env").write_text("COMPOSE_PROJECT_NAME=toolsproj\n")
    monkeypatch.chdir(tmp_path)
    return Project.load(tmp_path, env={})


@pytest.fixture
def no_compose(mocker):
    """Fails the test if Compose's model is asked for: the files must be enough."""
    return mocker.patch.object(ComposeRunner, "config", side_effect=AssertionError("compose config called"))


def test_reads_tools_from_the_compose_file(project, no_compose):
    found = tools.declared(project)
    assert list(found.tools) == ["npm", "npx", "psql"]
    assert found.tools["npm"] == tools.Tool("npm", "app", ("npm",), "/app", "Node packages")
    assert found.tools["npx"].command == ("npx",)  # defaults to the tool's name
    assert found.tools["npx"].workdir is None
    assert found.tools["psql"].command == ("psql", "-U", "app", "--no-psqlrc")  # a string is split
    assert found.services == {"app", "db"}
    no_compose.assert_not_called()


def test_unchanged_files_are_read_from_the_cache(project, own_cache, mocker):
    first = tools.declared(project)
    assert list((own_cache / "devstack" / "tools").glob("*.json"))
    parse = mocker.patch.object(tools, "_from_files", side_effect=AssertionError("parsed again"))
    assert tools.declared(project) == first
    parse.assert_not_called()
    # A changed file is read again.
    mocker.stopall()
    (project.root / "docker-compose.yml").write_text(COMPOSE.replace("Node packages", "Node.js packages"))
    assert tools.declared(project).tools["npm"].description == "Node.js packages"


def test_a_broken_or_foreign_cache_is_ignored(project, own_cache):
    tools.declared(project)
    (cached,) = (own_cache / "devstack" / "tools").glob("*.json")
    for text in ("not json", '{"version": 1}', '{"version": 99, "key": []}', "[]"):
        cached.write_text(text)
        assert tools.declared(project).tools["npm"].workdir == "/app"


def test_an_unwritable_cache_is_no_error(project, own_cache):
    own_cache.write_text("a file where the cache directory would go")
    assert "npm" in tools.declared(project).tools


def test_override_files_merge_like_compose(tmp_path, no_compose):
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    (tmp_path / "compose.override.yaml").write_text(
        "x-devstack:\n  tools:\n    npm: {workdir: /srv}\n    node: {service: app}\n"
        "services:\n  worker: {image: x}\n"
    )
    found = tools.declared(Project.load(tmp_path, env={}))
    assert found.tools["npm"] == tools.Tool("npm", "app", ("npm",), "/srv", "Node packages")
    assert found.tools["node"].command == ("node",)
    assert found.services == {"app", "db", "worker"}


@pytest.mark.parametrize(
    "compose",
    [
        # a variable in a tool: only Compose knows its value
        COMPOSE.replace("workdir: /app", "workdir: ${APP_DIR:-/app}"),
        # include: the included files may declare tools
        "include:\n  - other.yml\n" + COMPOSE,
        # a tag only Compose reads
        COMPOSE.replace(
            "  app: {image: node:24-slim}", "  app:\n    image: node:24-slim\n    ports: !reset []"
        ),
    ],
    ids=["variable", "include", "custom-tag"],
)
def test_asks_compose_when_only_compose_can_tell(tmp_path, mocker, compose):
    (tmp_path / "docker-compose.yml").write_text(compose)
    (tmp_path / "other.yml").write_text("services: {}\n")
    model = {
        "x-devstack": {"tools": {"npm": {"service": "app", "command": ["npm"], "workdir": "/from-compose"}}},
        "services": {"app": {}},
    }
    config = mocker.patch.object(ComposeRunner, "config", return_value=(model, ""))
    found = tools.declared(Project.load(tmp_path, env={}))
    config.assert_called_once()
    assert found.tools["npm"].workdir == "/from-compose"
    assert found.source == "Compose's merged model"


def test_a_project_without_tools(tmp_path, no_compose):
    (tmp_path / "docker-compose.yml").write_text("services:\n  web: {image: nginx:1.26}\n")
    project = Project.load(tmp_path, env={})
    assert tools.declared(project).tools == {}
    with pytest.raises(UsageError, match="declares no tools"):
        tools.find(project, "npm")


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ("x-devstack: [tools]", "x-devstack in docker-compose.yml is not a mapping"),
        ("x-devstack:\n  tools: [npm]", "x-devstack.tools in docker-compose.yml is not a mapping"),
        (
            "x-devstack:\n  tools:\n    npm: npm",
            "x-devstack.tools.npm in docker-compose.yml is not a mapping",
        ),
        ("x-devstack:\n  tools:\n    npm: {command: [npm]}", "`service` is missing"),
        ("x-devstack:\n  tools:\n    npm: {service: app, workdri: /app}", "unknown key 'workdri'"),
        ("x-devstack:\n  tools:\n    npm: {service: app, command: []}", "non-empty list of strings"),
        ("x-devstack:\n  tools:\n    npm: {service: app, command: [[npm]]}", "non-empty list of strings"),
        ('x-devstack:\n  tools:\n    npm: {service: app, command: "npm \'unclosed"}', "No closing quotation"),
        ("x-devstack:\n  tools:\n    npm: {service: app, workdir: app}", "absolute path"),
        ("x-devstack:\n  tools:\n    '-rf': {service: app}", "is not a tool name"),
    ],
)
def test_invalid_blocks_are_explained(tmp_path, no_compose, block, message):
    (tmp_path / "docker-compose.yml").write_text(block + "\nservices:\n  app: {image: x}\n")
    with pytest.raises(tools.InvalidTools, match=message.replace("[", r"\[").replace("]", r"\]")) as caught:
        tools.declared(Project.load(tmp_path, env={}))
    assert caught.value.hint and caught.value.exit_code == 1


def test_a_tool_in_an_undefined_service(project):
    (project.root / "docker-compose.yml").write_text(
        COMPOSE.replace("psql: {service: db", "psql: {service: dbb")
    )
    with pytest.raises(tools.InvalidTools, match="service 'dbb', which docker-compose.yml does not define"):
        tools.find(project, "psql")


def test_unknown_tool_lists_the_tools(project):
    with pytest.raises(UsageError) as caught:
        tools.find(project, "yarn")
    assert caught.value.message == "unknown tool 'yarn'; this project's tools: npm, npx, psql"
    assert caught.value.exit_code == 2


def test_exec_args_pass_arguments_verbatim():
    npm = tools.Tool("npm", "app", ("npm",), "/app")
    assert tools.exec_args(npm, ["--version"], tty=True) == [
        "exec",
        "--workdir",
        "/app",
        "--",
        "app",
        "npm",
        "--version",
    ]
    assert tools.exec_args(npm, ["-f", "x", "--", "y"], tty=False) == [
        "exec", "-T", "--workdir", "/app", "--", "app", "npm", "-f", "x", "--", "y",
    ]  # fmt: skip
    bare = tools.Tool("sh", "web", ("sh", "-c"))
    assert tools.exec_args(bare, ["echo $HOME"], tty=False) == [
        "exec",
        "-T",
        "--",
        "web",
        "sh",
        "-c",
        "echo $HOME",
    ]


def test_ensure_running_says_how_to_start(project, mocker):
    npm = tools.Tool("npm", "app", ("npm",))
    states = mocker.patch.object(engine, "service_states", return_value=["running"])
    tools.ensure_running(project, npm)
    states.assert_called_once_with("toolsproj", "app")
    states.return_value = []
    with pytest.raises(DevstackError, match="service app is not running, so tool npm cannot run") as caught:
        tools.ensure_running(project, npm)
    assert "devstack up" in caught.value.hint
    states.return_value = ["exited"]
    with pytest.raises(DevstackError, match=r"not running \(exited\)") as caught:
        tools.ensure_running(project, npm)
    assert "devstack logs app" in caught.value.hint


# -- the command ------------------------------------------------------------------------------


def test_run_lists_the_tools(project, run):
    result = run("run")
    assert result.exit_code == 0, result.err
    lines = result.out.splitlines()
    assert lines[0].split() == ["TOOL", "SERVICE", "DESCRIPTION"]
    assert lines[1].split(None, 2) == ["npm", "app", "Node packages"]
    assert "devstack run TOOL [ARGS...]" in result.out
    listed = json.loads(run("run", "--json").out)
    assert [t["name"] for t in listed["tools"]] == ["npm", "npx", "psql"]
    assert listed["tools"][2]["command"] == ["psql", "-U", "app", "--no-psqlrc"]


def test_run_passes_args_and_exit_code_through(project, run, mocker):
    mocker.patch.object(engine, "service_states", return_value=["running"])
    passthrough = mocker.patch.object(ComposeRunner, "passthrough", return_value=7)
    result = run("run", "npm", "--version", "-f", "x")
    assert result.exit_code == 7
    args = passthrough.call_args.args
    assert args[-6:] == ("--", "app", "npm", "--version", "-f", "x")
    assert "-T" in args  # pytest's stdin is not a terminal


def test_run_unknown_tool_is_a_usage_error(project, run):
    result = run("run", "yarn", "install")
    assert result.exit_code == 2
    assert result.err.splitlines()[0] == "error: unknown tool 'yarn'; this project's tools: npm, npx, psql"


def test_run_options_before_the_tool_are_devstacks(project, run, tmp_path, mocker):
    other = tmp_path / "other.yml"
    other.write_text("x-devstack:\n  tools:\n    hello: {service: web}\nservices:\n  web: {image: x}\n")
    result = run("run", "-f", str(other))
    assert result.exit_code == 0 and "hello" in result.out and "npm" not in result.out
    assert run("run", "--json", "npm").exit_code == 2


def test_run_not_running_exit_1(project, run, mocker):
    mocker.patch.object(engine, "service_states", return_value=[])
    passthrough = mocker.patch.object(ComposeRunner, "passthrough")
    result = run("run", "npm", "ci")
    assert result.exit_code == 1
    assert "service app is not running" in result.err and "devstack up" in result.err
    passthrough.assert_not_called()


def test_service_states_asks_the_engine_once(mocker):
    calls = []

    def fake_get(path, timeout=5.0):
        calls.append(path)
        return 200, json.dumps([{"State": "running"}, {"State": "exited"}]).encode()

    mocker.patch.object(engine, "_local_get", fake_get)
    assert engine.service_states("proj", "app") == ["running", "exited"]
    assert len(calls) == 1
    assert "com.docker.compose.service%3Dapp" in calls[0] and "all=1" in calls[0]


def test_a_variable_in_a_field_that_is_checked_goes_to_compose(tmp_path, mocker):
    """`workdir: ${DIR:-/app}` is not an absolute path until Compose interpolates it."""
    (tmp_path / "docker-compose.yml").write_text(COMPOSE.replace("workdir: /app", 'workdir: "${DIR:-/app}"'))
    model = {"x-devstack": {"tools": {"npm": {"service": "app", "workdir": "/app"}}}, "services": {"app": {}}}
    config = mocker.patch.object(ComposeRunner, "config", return_value=(model, ""))
    assert tools.declared(Project.load(tmp_path, env={})).tools["npm"].workdir == "/app"
    config.assert_called_once()
