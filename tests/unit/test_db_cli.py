"""The db commands' command-line side: progress line, confirmations, refusals."""

from __future__ import annotations

import io
import sys
import time

from devstack import cli
from devstack.dump import Transfer


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line_on_a_terminal(monkeypatch):
    err = Tty()
    monkeypatch.setattr(sys, "stderr", err)
    meter = cli._Meter("read")
    started = time.monotonic() - 2.0
    meter(Transfer(50_000_000, 200_000_000, started))
    meter.done()
    text = err.getvalue()
    assert "read 50.0 MB of 200.0 MB ( 25%)" in text and "s left" in text and "MB/s" in text
    assert text.startswith("\r") and text.endswith("\r")


def test_no_progress_line_when_not_a_terminal(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    meter = cli._Meter("read")
    meter(Transfer(1, None, time.monotonic()))
    meter.done()
    assert err.getvalue() == ""


def test_reset_needs_yes_when_not_on_a_terminal(run, tmp_path, monkeypatch, mocker):
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    monkeypatch.chdir(tmp_path)
    target = mocker.Mock()
    target.db.service, target.db.where.return_value, target.project.name = "db", "./data/db", "x"
    mocker.patch.object(cli, "_db_target", return_value=target)
    reset = mocker.patch("devstack.datadir.reset")
    result = run("db", "reset")
    assert result.exit_code == 2 and "--yes" in result.err
    reset.assert_not_called()


def test_export_refuses_a_terminal_as_stdout(run, tmp_path, monkeypatch, mocker):
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    monkeypatch.chdir(tmp_path)
    mocker.patch.object(cli, "_db_target")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    result = run("db", "export", "-")
    assert result.exit_code == 2 and "will not write a dump to a terminal" in result.err


def test_sizes():
    assert cli._size(999) == "999 B" and cli._size(1500) == "1.5 KB" and cli._size(2_500_000_000) == "2.5 GB"


def _typed_on_a_terminal(monkeypatch, answer: str) -> None:
    stdin = Tty(answer + "\n")
    monkeypatch.setattr(sys, "stdin", stdin)


def test_reset_on_a_terminal_wants_the_project_name_typed(run, tmp_path, monkeypatch, mocker):
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    monkeypatch.chdir(tmp_path)
    target = mocker.Mock()
    target.db.service, target.db.where.return_value, target.project.name = "db", "./data/db", "shop"
    mocker.patch.object(cli, "_db_target", return_value=target)
    reset = mocker.patch("devstack.datadir.reset")
    _typed_on_a_terminal(monkeypatch, "shp")
    result = run("db", "reset")
    assert result.exit_code == 2 and "project name did not match; nothing was changed" in result.err
    assert "Type the project name (shop) to confirm" in result.out
    reset.assert_not_called()
    _typed_on_a_terminal(monkeypatch, "shop")
    run("db", "reset")
    reset.assert_called_once()


def test_down_volumes_on_a_terminal_wants_the_project_name_typed(run, tmp_path, monkeypatch, mocker):
    (tmp_path / "compose.yaml").write_text("name: shop\nservices: {}\n")
    monkeypatch.chdir(tmp_path)
    down = mocker.patch("devstack.lifecycle.down")
    _typed_on_a_terminal(monkeypatch, "nope")
    result = run("down", "--volumes")
    assert result.exit_code == 2 and "project name did not match" in result.err
    assert "deletes the named volumes of shop" in result.out
    down.assert_not_called()
