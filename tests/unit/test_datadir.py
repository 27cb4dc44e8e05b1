"""Snapshots as files: names, git branches, the catalogue, archives and the directory swap."""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
from pathlib import Path

import pytest
import zstandard

from devstack import datadir, db
from devstack.errors import UsageError
from devstack.project import Project


def test_branch_of_a_plain_checkout(tmp_path):
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/feature/login\n")
    (tmp_path / "app").mkdir()
    assert datadir.current_branch(tmp_path / "app") == "feature/login"


def test_branch_of_a_worktree_and_a_detached_head(tmp_path):
    gitdir = tmp_path / "repo" / ".git" / "worktrees" / "wt"
    gitdir.mkdir(parents=True)
    (gitdir / "HEAD").write_text("ref: refs/heads/topic\n")
    wt = tmp_path / "wt"
    wt.mkdir()
    (wt / ".git").write_text(f"gitdir: {gitdir}\n")
    assert datadir.current_branch(wt) == "topic"
    (gitdir / "HEAD").write_text("0123456789abcdef0123456789abcdef01234567\n")
    assert datadir.current_branch(wt) == "detached-01234567"


def test_no_git_no_branch(tmp_path):
    assert datadir.current_branch(tmp_path) is None


def test_default_names_carry_the_branch():
    now = time.mktime((2026, 11, 28, 10, 15, 0, 0, 0, -1))
    assert datadir.default_name("feature/login", now) == "feature-login-20261128-101500"
    assert datadir.default_name(None, now) == "snapshot-20261128-101500"


@pytest.mark.parametrize("name", ["../x", "a/b", "", ".hidden", "x.json", "a" * 200, "sp ace"])
def test_bad_snapshot_names(name):
    with pytest.raises(UsageError):
        datadir.check_name(name)


def _project(tmp_path: Path) -> Project:
    (tmp_path / "compose.yaml").write_text("services: {}\n")
    return Project.load(tmp_path, env={})


def _fake_snapshot(project: Project, service: str, name: str, branch: str | None, created: float) -> None:
    directory = datadir.snapshots_root(project, create=True) / service
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.tar.zst").write_bytes(b"x")
    meta = {"name": name, "service": service, "engine": "mariadb", "branch": branch, "created": created}
    (directory / f"{name}.json").write_text(json.dumps(meta))


def test_find_by_name_branch_or_latest(tmp_path):
    project = _project(tmp_path)
    _fake_snapshot(project, "db", "main-1", "main", 100)
    _fake_snapshot(project, "db", "feat-1", "feat", 200)
    _fake_snapshot(project, "db", "main-2", "main", 300)
    _fake_snapshot(project, "db", "feat-2", "feat", 400)
    _fake_snapshot(project, "other", "main-9", "main", 900)
    assert [s.name for s in datadir.list_snapshots(project, "db")] == ["main-1", "feat-1", "main-2", "feat-2"]
    assert datadir.find_snapshot(project, "db", None, branch="main").name == "main-2"
    assert datadir.find_snapshot(project, "db", None, branch="feat").name == "feat-2"
    assert datadir.find_snapshot(project, "db", None, latest=True).name == "feat-2"
    assert datadir.find_snapshot(project, "db", "main-1").name == "main-1"
    with pytest.raises(datadir.SnapshotNotFound, match="branch hotfix"):
        datadir.find_snapshot(project, "db", None, branch="hotfix")
    with pytest.raises(datadir.SnapshotNotFound, match="no snapshot 'nope'"):
        datadir.find_snapshot(project, "db", "nope")
    datadir.delete_snapshot(datadir.find_snapshot(project, "db", "main-1"))
    assert [s.name for s in datadir.list_snapshots(project)][0] == "feat-1"
    assert (tmp_path / ".devstack" / ".gitignore").read_text().splitlines()[-1] == "*"


def _data_dir(tmp_path: Path) -> Path:
    src = tmp_path / "data" / "db"
    (src / "mysql").mkdir(parents=True)
    (src / "mysql" / "user.MAD").write_bytes(os.urandom(70_000))
    (src / "ibdata1").write_bytes(b"\0" * 1_000_000)
    (src / "link").symlink_to("ibdata1")
    os.chmod(src, 0o750)
    os.chmod(src / "ibdata1", 0o640)
    return src


def test_archive_round_trip_keeps_files_modes_and_links(tmp_path):
    src = _data_dir(tmp_path)
    archive = tmp_path / "snap.tar.zst"
    with open(archive, "wb") as out:
        data_bytes = datadir._write_archive(out, datadir._fill_from_host(src))
    assert data_bytes == 1_070_000
    dest = tmp_path / "restored"
    datadir._extract_to(archive, dest)
    assert (dest / "mysql" / "user.MAD").read_bytes() == (src / "mysql" / "user.MAD").read_bytes()
    assert (dest / "ibdata1").stat().st_size == 1_000_000
    assert os.readlink(dest / "link") == "ibdata1"
    assert dest.stat().st_mode & 0o777 == 0o750
    assert (dest / "ibdata1").stat().st_mode & 0o777 == 0o640


def _tar_zst(tmp_path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path = tmp_path / "evil.tar.zst"
    path.write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    return path


def test_an_archive_cannot_write_outside_its_directory(tmp_path):
    evil = tarfile.TarInfo("./../escaped")
    evil.size = 1
    with pytest.raises(db.DatabaseError, match="outside its directory"):
        datadir._extract_to(_tar_zst(tmp_path, [(evil, b"x")]), tmp_path / "out1")
    assert not (tmp_path / "escaped").exists()
    link = tarfile.TarInfo("./sneaky")
    link.type = tarfile.SYMTYPE
    link.linkname = "../../etc"
    with pytest.raises(db.DatabaseError, match="link outside"):
        datadir._extract_to(_tar_zst(tmp_path, [(link, None)]), tmp_path / "out2")


class _Target:
    """Enough of db.Target for _swap_in and _remove (no engine needed on these paths)."""

    def __init__(self, project: Project) -> None:
        self.project = project


def test_swap_in_replaces_the_directory_whole(tmp_path):
    src = _data_dir(tmp_path)
    archive = tmp_path / "snap.tar.zst"
    with open(archive, "wb") as out:
        datadir._write_archive(out, datadir._fill_from_host(src))
    (src / "ibdata1").write_bytes(b"changed")
    (src / "new-after-snapshot").write_text("x")
    snap = datadir.Snapshot("s", "db", "mariadb", "", None, 0, 0, 0, archive, "")
    datadir._swap_in(_Target(_project(tmp_path)), snap, src)  # type: ignore[arg-type]
    assert (src / "ibdata1").stat().st_size == 1_000_000
    assert not (src / "new-after-snapshot").exists()
    assert sorted(p.name for p in src.parent.iterdir()) == ["db"]  # no leftovers next to it


def test_swap_in_when_the_directory_was_deleted(tmp_path):
    src = _data_dir(tmp_path)
    archive = tmp_path / "snap.tar.zst"
    with open(archive, "wb") as out:
        datadir._write_archive(out, datadir._fill_from_host(src))
    import shutil

    shutil.rmtree(src)
    snap = datadir.Snapshot("s", "db", "mariadb", "", None, 0, 0, 0, archive, "")
    datadir._swap_in(_Target(_project(tmp_path)), snap, src)  # type: ignore[arg-type]
    assert (src / "mysql" / "user.MAD").is_file()


def test_fingerprint_changes_with_any_credential():
    base = db.Database("db", "mariadb", "mariadb:11.8", "app", "u", "p", "r", "/var/lib/mysql", None, 3306)
    assert datadir.fingerprint(base) == datadir.fingerprint(base._replace())
    assert datadir.fingerprint(base) != datadir.fingerprint(base._replace(password="q"))
    assert datadir.fingerprint(base) != datadir.fingerprint(base._replace(root_password="q"))


def test_numeric_owner_only_for_numeric_users():
    base = db.Database("db", "mariadb", "m", "a", "u", "p", "r", "/d", None, 3306)
    assert datadir._numeric_owner(base._replace(user_option="1000:1000")) == "1000:1000"
    assert datadir._numeric_owner(base._replace(user_option="1000")) == "1000"
    assert datadir._numeric_owner(base._replace(user_option="mysql")) == ""
    assert datadir._numeric_owner(base) == ""


def test_a_build_context_that_would_send_the_snapshots_is_named(tmp_path):
    model = {
        "services": {
            "web": {"build": {"context": str(tmp_path)}},
            "app": {"build": {"context": str(tmp_path / "app")}},
            "db": {"image": "mariadb:11.8"},
        }
    }
    (tmp_path / "app").mkdir()
    [warning] = datadir.build_context_warnings(model, tmp_path)
    assert warning.startswith("service web builds from") and "add `.devstack` to its .dockerignore" in warning
    (tmp_path / ".dockerignore").write_text(".git\n.devstack\n")
    assert datadir.build_context_warnings(model, tmp_path) == []


@pytest.mark.parametrize("system_tar", [True, False])
def test_host_archive_with_or_without_the_system_tar(tmp_path, monkeypatch, system_tar):
    src = _data_dir(tmp_path)
    if not system_tar:
        monkeypatch.setattr(datadir.shutil, "which", lambda name: None)
    archive = tmp_path / "snap.tar.zst"
    with open(archive, "wb") as out:
        assert datadir._archive_host_dir(out, src) == 1_070_000
    dest = tmp_path / "restored"
    datadir._extract_to(archive, dest)
    assert (dest / "mysql" / "user.MAD").read_bytes() == (src / "mysql" / "user.MAD").read_bytes()
    assert os.readlink(dest / "link") == "ibdata1" and dest.stat().st_mode & 0o777 == 0o750
