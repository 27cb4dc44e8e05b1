"""The command line keeps its promises: -f as in Compose, exit codes, one error shape, exec's shell,
`new`'s hints (issue 13)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from devstack import cli, lifecycle
from devstack.compose import ComposeBinary, ComposeRunner


@pytest.fixture
def project_dir(tmp_path, monkeypatch) -> Path:
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    image: busybox\n")
    (tmp_path / "other.yml").write_text("services:\n  api:\n    image: busybox\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def passthrough(mocker):
    """Records what would be handed to Compose (no Compose, no engine needed)."""
    mocker.patch(
        "devstack.compose.probe", return_value=ComposeBinary(("docker", "compose"), "2.26.1", v1=False)
    )
    mocker.patch.object(lifecycle, "own_containers", return_value=[])
    calls: list[tuple[list[str], list[str]]] = []

    def record(self: ComposeRunner, *args: str) -> int:
        calls.append(([str(p.name) for p in self.project.files], list(args)))
        return 0

    mocker.patch.object(ComposeRunner, "passthrough", record)
    return calls


def test_logs_has_no_duplicate_option_warnings(project_dir, run):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run("logs", "--help").exit_code == 0


def test_logs_f_follows_and_files_go_before_the_command(project_dir, run, passthrough):
    assert run("logs", "-f", "-n", "3").exit_code == 0
    assert run("-f", "other.yml", "logs", "-f", "api").exit_code == 0
    assert run("logs", "--file", "other.yml", "-n", "all").exit_code == 0
    assert passthrough == [
        (["compose.yaml"], ["logs", "--tail", "3", "--follow"]),
        (["other.yml"], ["logs", "--tail", "200", "--follow", "--", "api"]),
        (["other.yml"], ["logs", "--tail", "all"]),
    ]


def test_logs_with_a_compose_file_after_f_is_a_usage_error(project_dir, run, passthrough):
    result = run("logs", "-f", "other.yml", "-n", "1")
    assert result.exit_code == 2 and passthrough == []
    assert result.err.startswith("error: other.yml looks like a compose file, not a service")
    assert "devstack -f other.yml logs" in result.err


@pytest.mark.parametrize("tail", ["abc", "-1", "1.5"])
def test_logs_tail_must_be_a_number_of_lines(project_dir, run, passthrough, tail):
    result = run("logs", "-n", tail)
    assert result.exit_code == 2 and passthrough == []
    assert result.err.startswith("error: Invalid value for '-n' / '--tail'")


def test_exec_without_a_command_opens_a_shell(project_dir, run, passthrough):
    assert run("exec", "web").exit_code == 0
    ((_, args),) = passthrough
    assert args[:3] == ["exec", "-T", "web"] and args[3:] == cli.SHELL
    assert run("exec", "web", "--", "ls", "-l").exit_code == 0
    assert passthrough[1][1][3:] == ["ls", "-l"]


@pytest.mark.parametrize(
    "argv",
    [
        ["up", "--timeout", "-5"],
        ["up", "--nope"],
        ["check", "-f", "missing.yml"],
        ["status", "-f", "missing.yml"],
        ["new"],
    ],
)
def test_usage_errors_exit_2_with_error_and_hint(project_dir, run, argv):
    result = run(*argv)
    assert result.exit_code == 2, result.err
    lines = result.err.strip().splitlines()
    assert lines[0].startswith("error: ") and lines[1].startswith("  hint: ")
    assert "Usage:" not in result.err and "Traceback" not in result.err


def test_unknown_service_is_a_usage_error():
    model = {"services": {"web": {}, "db": {}}}
    with pytest.raises(Exception) as exc:
        lifecycle._with_dependencies(model, ["nosuch"])
    assert exc.value.exit_code == 2 and "db, web" in exc.value.hint


def test_new_refuses_an_empty_directory_argument(tmp_path, run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("new", "drupal", "", "--no-input")
    assert result.exit_code == 2 and "directory argument is empty" in result.err
    assert list(tmp_path.iterdir()) == []


def test_new_names_the_real_problem_of_an_impossible_target(tmp_path, run):
    if not Path("/proc/self/mountinfo").exists():
        pytest.skip("no /proc here")
    result = run("new", "drupal", "/proc/x", "--no-input")
    assert result.exit_code == 1
    assert "kernel's proc filesystem" in result.err and "No such file" not in result.err


def test_next_steps_quote_a_path_with_spaces(tmp_path, run, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("new", "drupal", "my site", "--no-input")
    assert result.exit_code == 0, result.err
    assert "  cd 'my site'" in result.out.splitlines()
