"""`devstack new`: the generated project, options and every kind of bad input."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

from devstack import scaffold

EXPECTED = {
    ".devstack.yml",
    ".dockerignore",
    ".env",
    ".env.example",
    ".gitignore",
    "Dockerfile",
    "README.md",
    "data/.gitkeep",
    "docker-compose.yml",
    "docker/apache-foreground",
    "docker/apache-site.conf",
    "docker/certs/README.md",
    "docker/php.ini",
    "src/web/index.php",
}


def files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def snapshot(root: Path) -> dict[str, bytes]:
    return {rel: (root / rel).read_bytes() for rel in files(root)}


def test_new_drupal_writes_the_skeleton(run, tmp_path):
    target = tmp_path / "mysite"
    result = run("new", "drupal", target, "--no-input")
    assert result.exit_code == 0, result.err
    assert files(target) == EXPECTED
    assert "devstack up" in result.out
    compose = yaml.safe_load((target / "docker-compose.yml").read_text())
    web, db = compose["services"]["web"], compose["services"]["db"]
    assert web["build"]["context"] == "."
    assert "./src:/var/www/html" in web["volumes"]
    assert web["ports"] == ["127.0.0.1:${WEB_PORT:-8080}:80"]
    assert web["depends_on"]["db"]["condition"] == "service_healthy"
    assert "healthcheck" in web and "healthcheck" in db
    assert db["image"] == "mariadb:11.8"
    assert "./data/db:/var/lib/mysql" in db["volumes"]
    assert db["environment"]["MARIADB_PASSWORD"].startswith("${DB_PASSWORD")
    dockerfile = (target / "Dockerfile").read_text()
    assert "FROM debian:trixie-slim" in dockerfile
    for ext in ("mysql", "gd", "xml", "mbstring", "curl", "zip", "opcache", "intl"):
        assert f"php8.4-{ext}" in dockerfile
    assert "composer" in dockerfile
    assert "DocumentRoot /var/www/html/web" in (target / "docker/apache-site.conf").read_text()


def test_env_has_random_secrets_and_example_has_none(run, tmp_path):
    run("new", "drupal", tmp_path / "a", "--no-input")
    run("new", "drupal", tmp_path / "b", "--no-input")
    env_a = dotenv_values(tmp_path / "a/.env")
    env_b = dotenv_values(tmp_path / "b/.env")
    example = dotenv_values(tmp_path / "a/.env.example")
    # .env has every key of .env.example, plus the per-checkout host user (never committed).
    assert set(env_a) == set(example) | {"HOST_UID", "HOST_GID"}
    assert "HOST_UID" not in example and env_a["HOST_UID"] == str(os.getuid())
    for key in ("DB_PASSWORD", "DB_ROOT_PASSWORD"):
        assert example[key] == ""
        assert env_a[key] and len(env_a[key]) >= 24
        assert env_a[key] != env_b[key]
    assert env_a["DB_PASSWORD"] != env_a["DB_ROOT_PASSWORD"]
    assert env_a["COMPOSE_PROJECT_NAME"] == "a"
    assert stat.S_IMODE((tmp_path / "a/.env").stat().st_mode) == 0o600
    gitignore = (tmp_path / "a/.gitignore").read_text().splitlines()
    assert ".env" in gitignore and "/data/*" in gitignore


def test_set_mysql_and_port(run, tmp_path):
    target = tmp_path / "shop"
    result = run("new", "drupal", target, "--no-input", "--set", "db=mysql", "--set", "web_port=9123")
    assert result.exit_code == 0, result.err
    compose = yaml.safe_load((target / "docker-compose.yml").read_text())
    db = compose["services"]["db"]
    assert db["image"] == "mysql:8.4"
    assert set(db["environment"]) == {"MYSQL_DATABASE", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_ROOT_PASSWORD"}
    assert "mysqladmin ping" in db["healthcheck"]["test"][1]
    assert dotenv_values(target / ".env")["WEB_PORT"] == "9123"
    meta = yaml.safe_load((target / ".devstack.yml").read_text())
    assert meta["stack"] == "drupal"
    assert meta["answers"]["db"] == "mysql"
    assert meta["template_version"] == "2"
    assert "DB_PASSWORD" not in (target / ".devstack.yml").read_text()


def test_name_option_and_default_directory(run, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = run("new", "drupal", "--name", "blog", "--no-input")
    assert result.exit_code == 0, result.err
    assert dotenv_values(tmp_path / "blog/.env")["COMPOSE_PROJECT_NAME"] == "blog"


def test_project_name_derived_from_directory(tmp_path):
    assert scaffold.project_name(None, tmp_path / "My Site!") == "my-site"
    assert scaffold.project_name(None, tmp_path / "Ünïcode_app") == "n-code_app"


@pytest.mark.parametrize("bad", ['a"b: c', "UPPER", "-lead", "has space", "x" * 64, "a\nb: 1"])
def test_invalid_project_name_is_rejected(run, tmp_path, bad):
    result = run("new", "drupal", tmp_path / "p", "--no-input", "--name", bad)
    assert result.exit_code == 2
    assert "invalid project name" in result.err
    assert "hint:" in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "p").exists()


def test_hostile_directory_name_lands_safely(run, tmp_path):
    target = tmp_path / 'a"b: c'
    result = run("new", "drupal", target, "--no-input")
    assert result.exit_code == 0, result.err
    compose = yaml.safe_load((target / "docker-compose.yml").read_text())
    assert set(compose) == {"services", "volumes", "x-devstack"}
    assert dotenv_values(target / ".env")["COMPOSE_PROJECT_NAME"] == "a-b-c"


def test_unknown_stack_lists_known(run, tmp_path):
    result = run("new", "nosuch", tmp_path / "x", "--no-input")
    assert result.exit_code == 2
    assert "unknown stack 'nosuch'" in result.err and "drupal" in result.err
    assert not (tmp_path / "x").exists()


def test_unknown_set_key_lists_valid_ones(run, tmp_path):
    result = run("new", "drupal", tmp_path / "x", "--no-input", "--set", "colour=blue")
    assert result.exit_code == 2
    assert "unknown setting 'colour'" in result.err
    assert "db, web_port" in result.err
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    "pair, hint",
    [
        ("db=postgres", "mariadb, mysql"),
        ("web_port=99999", "port"),
        ("web_port=80; rm -rf /", "port"),
        ("db_name=x'; DROP TABLE", "letters, digits"),
        ("base_image=debian:trixie\nRUN evil", "image"),
        ("novalue", "KEY=VALUE"),
    ],
)
def test_invalid_values_are_rejected(run, tmp_path, pair, hint):
    result = run("new", "drupal", tmp_path / "x", "--no-input", "--set", pair)
    assert result.exit_code == 2, result.out
    assert hint in result.err
    assert len(result.err.strip().splitlines()) <= 2
    assert not (tmp_path / "x").exists()


def test_target_is_a_file(run, tmp_path):
    target = tmp_path / "file"
    target.write_text("keep me")
    result = run("new", "drupal", target, "--no-input")
    assert result.exit_code == 1
    assert "not a directory" in result.err
    assert target.read_text() == "keep me"


def test_target_not_writable(run, tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == locked else real_access(p, mode))
    result = run("new", "drupal", locked / "site", "--no-input")
    assert result.exit_code == 1
    assert "permission denied" in result.err
    assert list(locked.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores directory permissions")
def test_target_not_writable_for_real(run, tmp_path):  # pragma: no cover - non-root only
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    result = run("new", "drupal", locked / "site", "--no-input")
    assert result.exit_code == 1


def test_non_empty_target_needs_force(run, tmp_path):
    target = tmp_path / "existing"
    target.mkdir()
    (target / "notes.txt").write_text("mine")
    result = run("new", "drupal", target, "--no-input")
    assert result.exit_code == 1
    assert "not empty" in result.err and "--force" in result.err
    assert files(target) == {"notes.txt"}


def test_force_adds_files_and_never_overwrites_user_files(run, tmp_path):
    target = tmp_path / "existing"
    (target / "src/web").mkdir(parents=True)
    (target / "notes.txt").write_text("mine")
    (target / "Dockerfile").write_text("FROM custom\n")
    (target / "src/web/index.php").write_text("<?php echo 'my app';")
    result = run("new", "drupal", target, "--no-input", "--force")
    assert result.exit_code == 0, result.err
    assert (target / "Dockerfile").read_text() == "FROM custom\n"
    assert (target / "src/web/index.php").read_text() == "<?php echo 'my app';"
    assert (target / "notes.txt").read_text() == "mine"
    assert (target / "docker-compose.yml").is_file()
    assert "Kept existing files" in result.out and "Dockerfile" in result.out


def test_force_replaces_only_generated_unchanged_files(run, tmp_path):
    target = tmp_path / "site"
    run("new", "drupal", target, "--no-input")
    secrets_before = (target / ".env").read_text()
    (target / "README.md").write_text("edited by a human\n")
    (target / "docker-compose.yml").unlink()
    result = run("new", "drupal", target, "--no-input", "--force", "--set", "web_port=9000")
    assert result.exit_code == 0, result.err
    assert (target / "README.md").read_text() == "edited by a human\n"
    assert "9000" in (target / ".env.example").read_text()  # generated, unchanged: replaced
    assert (target / "docker-compose.yml").is_file()  # missing: restored
    assert (target / ".env").read_text() == secrets_before  # never touched


def test_dry_run_writes_nothing(run, tmp_path):
    target = tmp_path / "dry"
    result = run("new", "drupal", target, "--no-input", "--dry-run")
    assert result.exit_code == 0, result.err
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    for rel in ("docker-compose.yml", "Dockerfile", ".env", "src/web/index.php"):
        assert f"write  {rel}" in result.out


def test_error_mid_render_leaves_nothing(run, tmp_path, mocker):
    mocker.patch("devstack.scaffold._write_metadata", side_effect=KeyboardInterrupt)
    result = run("new", "drupal", tmp_path / "site", "--no-input")
    assert result.exit_code == 130
    assert list(tmp_path.iterdir()) == []


def test_interrupt_during_force_move_restores_everything(tmp_path, mocker):
    target = tmp_path / "site"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    before = snapshot(target)
    real_rename = os.rename
    calls = {"n": 0}

    def flaky(src, dst):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real_rename(src, dst)

    mocker.patch("devstack.scaffold.os.rename", side_effect=flaky)
    with pytest.raises(KeyboardInterrupt):
        scaffold.create("drupal", target, force=True)
    assert snapshot(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["site"]
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]


def test_cookiecutter_writes_nothing_in_home(run, tmp_path, isolated_home):
    run("new", "drupal", tmp_path / "site", "--no-input")
    assert list(isolated_home.iterdir()) == []


def test_stacks_lists_the_catalogue(run):
    result = run("stacks")
    assert result.exit_code == 0
    assert any(line.startswith("drupal ") and "Drupal 11" in line for line in result.out.splitlines())
    names = [line.split()[0] for line in result.out.splitlines() if line.strip()]
    for stack in ("drupal", "lamp", "laravel", "lemp", "wordpress"):
        assert stack in names, result.out
    assert "_shared" not in result.out


def test_version_and_help(run):
    from devstack import __version__

    assert __version__ in run("--version").out
    help_text = run("--help").out
    assert "new" in help_text and "stacks" in help_text
    assert run("new", "--help").exit_code == 0


def test_usage_error_exit_code(run):
    result = run("new")
    assert result.exit_code == 2
    assert "Missing argument" in result.err


def test_sigterm_during_new_leaves_nothing(tmp_path):
    """A real process killed with SIGTERM mid-render: no project, no staging directory."""
    import signal
    import subprocess
    import sys
    import time

    slow = (
        "import time, devstack.scaffold as s, devstack.cli as c\n"
        "real = s._write_metadata\n"
        "def slow(*a):\n"
        "    real(*a); print('rendered', flush=True); time.sleep(30)\n"
        "s._write_metadata = slow\n"
        f"c.main(['new', 'drupal', {str(tmp_path / 'site')!r}, '--no-input'])\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", slow], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "rendered"
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    time.sleep(0.1)
    assert list(tmp_path.iterdir()) == []


def test_prompts_on_a_terminal(tmp_path):
    """On a real terminal (a pty) `new` asks for each setting; Enter keeps the default."""
    import os
    import select
    import subprocess
    import sys

    main_fd, child_fd = os.openpty()
    target = tmp_path / "site"
    proc = subprocess.Popen(
        [sys.executable, "-m", "devstack", "new", "drupal", str(target)],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        close_fds=True,
    )
    os.close(child_fd)
    answers = {"db": "mysql", "web_port": "9321"}
    seen = b""
    try:
        while proc.poll() is None:
            ready, _, _ = select.select([main_fd], [], [], 10)
            if not ready:
                break
            try:
                chunk = os.read(main_fd, 4096)
            except OSError:
                break
            seen += chunk
            if chunk.rstrip().endswith(b":"):
                prompt = seen.decode(errors="replace").strip().splitlines()[-1]
                name = prompt.split(" ", 1)[0]
                os.write(main_fd, (answers.get(name, "") + "\n").encode())
        proc.wait(timeout=30)
    finally:
        os.close(main_fd)
    assert proc.returncode == 0, seen.decode(errors="replace")
    text = seen.decode(errors="replace")
    assert "db (database server image)" in text and "[mariadb]" in text
    assert "mysql:8.4" in (target / "docker-compose.yml").read_text()
    assert "WEB_PORT=9321" in (target / ".env").read_text()
