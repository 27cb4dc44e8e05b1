"""`devstack add` / `devstack remove`: only added lines, byte-for-byte round trips, refusals that
write nothing, and rollback when the result does not check out.

These run the real CLI in-process on generated drupal projects and on copies of the real-world
compose files in tests/corpus/; `devstack check` (with Compose when it is installed) runs inside
every add and remove, as it does for users.
"""

from __future__ import annotations

import difflib
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from devstack import addons, envfile

# Every test here runs `devstack add`/`remove`, which run `devstack check` with Compose.
pytestmark = pytest.mark.compose

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
HAS_COMPOSE = shutil.which("docker") is not None and (
    subprocess.run(["docker", "compose", "version"], capture_output=True, check=False).returncode == 0
)


def tree(root: Path) -> dict[str, bytes | None]:
    """Every file (bytes) and directory (None) under root, by relative path."""
    found: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        found[rel] = None if path.is_dir() else path.read_bytes()
    return found


def removed_lines(before: bytes | None, after: bytes | None) -> list[str]:
    """Lines of `before` that `after` does not keep, in order (a pure insertion has none)."""
    old = (before or b"").decode("utf-8").splitlines(keepends=True)
    new = (after or b"").decode("utf-8").splitlines(keepends=True)
    lost = []
    for tag, i1, i2, _j1, _j2 in difflib.SequenceMatcher(None, old, new, autojunk=False).get_opcodes():
        if tag in ("replace", "delete"):
            lost += old[i1:i2]
    return lost


def assert_only_added(before: dict[str, bytes | None], after: dict[str, bytes | None]) -> list[str]:
    """Every file that existed is kept with only lines added; returns the changed files."""
    changed = []
    for rel, content in before.items():
        assert rel in after, f"{rel} was deleted"
        if content != after[rel]:
            changed.append(rel)
            lost = removed_lines(content, after[rel])
            # A file without a final line break may get one where the new lines follow it.
            assert lost == [] or (len(lost) == 1 and not content.endswith(b"\n")), (rel, lost)
    return changed


def compose_ok(root: Path, *files: str) -> None:
    """Compose itself accepts the project (when Compose is installed here)."""
    if not HAS_COMPOSE:
        return
    argv = ["docker", "compose", "--project-directory", str(root)]
    for name in files:
        argv += ["-f", str(root / name)]
    proc = subprocess.run([*argv, "config", "-q"], capture_output=True, text=True, cwd=root, check=False)
    assert proc.returncode == 0, proc.stderr


def load(path: Path) -> dict:
    return yaml.safe_load(path.read_text("utf-8"))


@pytest.fixture
def drupal(tmp_path, run, monkeypatch):
    """A generated drupal project (the current directory), on a free web port."""

    def make(db: str = "mariadb") -> Path:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        site = tmp_path / f"site-{db}"
        result = run("new", "drupal", site, "--no-input", "--set", f"db={db}", "--set", f"web_port={port}")
        assert result.exit_code == 0, result.err
        monkeypatch.chdir(site)
        return site

    return make


@pytest.fixture
def corpus(tmp_path, monkeypatch):
    """A copy of a tests/corpus/ project (the current directory)."""

    def make(name: str) -> Path:
        target = tmp_path / name
        shutil.copytree(CORPUS / name, target)
        monkeypatch.chdir(target)
        return target

    return make


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


ENTRIES = list(addons.catalogue())


# -- the catalogue ---------------------------------------------------------------------------


# -- add and remove on generated projects ----------------------------------------------------


@pytest.mark.parametrize("name", ENTRIES)
def test_add_then_remove_each_service_on_drupal(drupal, run, name):
    site = drupal()
    before = tree(site)
    port = str(free_port())
    settings = ["--set", f"port={port}"] if addons.find(name).setting("port") else []
    result = run("add", name, *settings)
    assert result.exit_code == 0, result.err
    after = tree(site)
    changed = assert_only_added(before, after)
    assert "docker-compose.yml" in changed
    compose_ok(site, "docker-compose.yml")
    data = load(site / "docker-compose.yml")
    service = data["services"][name]
    assert service["image"] == addons.find(name).image
    env = envfile.read_keys(site / ".env")
    rendered = addons.render(addons.find(name), name, target="db")
    for key in rendered.env_keys:
        assert env.get(key) or key.endswith("_PASSWORD") is False, key
        if key.endswith("PASSWORD"):
            assert len(env[key] or "") == 32, key  # generated into .env
    if addons.find(name).kind == "service":
        web = data["services"]["web"]
        for key, value in rendered.wire.items():
            assert str(web["environment"][key]) == value
        assert web["depends_on"][name] == {"condition": "service_healthy"}
    else:
        assert service["depends_on"] == {"db": {"condition": "service_healthy"}}
        assert service["environment"]["ADMINER_DEFAULT_SERVER"] == "db"
    for directory in addons._data_dirs(site, service):
        assert directory.is_dir()
    assert "Added " + name in result.out

    result = run("remove", name)
    assert result.exit_code == 0, result.err
    assert tree(site) == before  # byte for byte, .env and .env.example included


def test_many_services_added_and_removed_in_another_order(drupal, run):
    site = drupal("mysql")
    before = tree(site)
    steps = [
        ("redis", "--set", f"port={free_port()}"),
        ("postgres", "--set", f"port={free_port()}", "--set", "database=shop"),
        ("maildev", "--set", f"port={free_port()}"),
        ("adminer", "--to", "postgres", "--set", f"port={free_port()}"),
        ("valkey", "--as", "sessions", "--set", f"port={free_port()}"),
        ("memcached",),
    ]
    for step in steps:
        result = run("add", *step)
        assert result.exit_code == 0, (step, result.err)
    compose_ok(site, "docker-compose.yml")
    assert_only_added(before, tree(site))
    assert envfile.read_keys(site / ".env")["POSTGRES_DB"] == "shop"
    for name in ("postgres", "memcached", "sessions", "redis", "adminer", "maildev"):
        result = run("remove", name)
        assert result.exit_code == 0, (name, result.err)
    assert tree(site) == before


def test_removing_a_database_that_adminer_serves_unwires_adminer(drupal, run):
    site = drupal()
    assert run("add", "postgres", "--set", f"port={free_port()}").exit_code == 0
    assert run("add", "adminer", "--to", "postgres", "--set", f"port={free_port()}").exit_code == 0
    result = run("remove", "postgres")
    assert result.exit_code == 0, result.err
    assert "adminer" in result.out  # unwired from it
    assert "adminer's environment still mentions postgres" in result.out
    assert "depends_on" not in load(site / "docker-compose.yml")["services"]["adminer"]


def test_remove_a_service_devstack_did_not_add(drupal, run):
    site = drupal()
    before = (site / "docker-compose.yml").read_bytes()
    result = run("remove", "db")
    assert result.exit_code == 0, result.err
    after = (site / "docker-compose.yml").read_bytes()
    # Only deletions: every line left was there before, in order.
    assert removed_lines(after, before) == []
    data = load(site / "docker-compose.yml")
    assert set(data["services"]) == {"web"} and "depends_on" not in data["services"]["web"]
    assert "was not added by `devstack add`" in result.out
    assert "web's environment still mentions db: DB_HOST=db" in result.out


def test_dry_run_shows_the_diff_and_writes_nothing(drupal, run):
    site = drupal()
    before = tree(site)
    result = run("add", "redis", "--dry-run", "--set", f"port={free_port()}")
    assert result.exit_code == 0, result.err
    assert "+  redis:\n" in result.out and "+      REDIS_HOST: redis\n" in result.out
    assert "Would add redis" in result.out
    assert tree(site) == before
    assert run("add", "redis", "--set", f"port={free_port()}").exit_code == 0
    added = tree(site)
    result = run("remove", "redis", "--dry-run")
    assert result.exit_code == 0 and "-  redis:\n" in result.out
    assert tree(site) == added


def test_data_is_kept_on_remove_unless_volumes(drupal, run, monkeypatch):
    site = drupal()
    assert run("add", "redis", "--set", f"port={free_port()}").exit_code == 0
    (site / "data" / "redis" / "appendonly.aof").write_text("data")
    result = run("remove", "redis")
    assert result.exit_code == 0, result.err
    assert (site / "data" / "redis" / "appendonly.aof").is_file()
    assert "kept   data/redis" in result.out
    # Adding it again says that the data is there.
    result = run("add", "redis", "--set", f"port={free_port()}")
    assert result.exit_code == 0 and "data/redis/ holds data already" in result.out
    before = tree(site)
    result = run("remove", "redis", "--volumes")  # not a terminal, no --yes
    assert result.exit_code == 2 and "--yes" in result.err
    assert tree(site) == before
    result = run("remove", "redis", "--volumes", "--yes")
    assert result.exit_code == 0, result.err
    assert not (site / "data" / "redis").exists()
    assert "deleted data/redis" in result.out


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root")
def test_data_directory_belongs_to_the_user_the_service_runs_as(drupal, run):
    site = drupal()
    assert run("add", "postgres", "--set", f"port={free_port()}").exit_code == 0
    stat = (site / "data" / "postgres").stat()
    env = envfile.read_keys(site / ".env")
    assert (stat.st_uid, stat.st_gid) == (int(env.get("HOST_UID") or 1000), int(env.get("HOST_GID") or 1000))


def test_compose_v1_gets_no_start_interval(drupal, run, monkeypatch):
    site = drupal()
    monkeypatch.setattr(addons, "_compose_is_v1", lambda: True)
    assert run("add", "redis", "--set", f"port={free_port()}").exit_code == 0
    assert "start_interval" not in load(site / "docker-compose.yml")["services"]["redis"]["healthcheck"]


# -- real-world compose files ------------------------------------------------------------------

# How each corpus project is given redis; a project not named here (the corpus grows) is tried
# with no options: it must then either take the change cleanly or refuse it, writing nothing.
CORPUS_ARGS: dict[str, tuple[str, ...]] = {
    "env-files": (),
    "extends-files": ("--to", "frontend", "--to", "backend"),
    "include-stack": (),
    "legacy-v3": (),
    "monitoring": ("--to", "grafana"),
    "profiles": (),
    "secrets-configs": ("--to", "app"),
    "v2-format": (),
    "webapp-stack": ("--to", "web", "--to", "worker", "--as", "cache2"),
    "flow-style": ("--to", "worker"),
    "anchors": ("--to", "shop"),
    "crlf": ("--to", "app"),
    "odd-indent": ("--to", "app"),
    "multi-file": ("-f", "compose.yaml", "-f", "compose.dev.yaml", "--to", "app"),
}
CORPUS_REFUSED = {"local-overrides": "`depends_on` is written in flow style ([search])"}
CORPUS_PROJECTS = sorted(p.name for p in CORPUS.iterdir() if p.is_dir())


def test_the_corpus_is_varied_enough():
    assert len(CORPUS_ARGS) >= 14 and set(CORPUS_ARGS) | set(CORPUS_REFUSED) <= set(CORPUS_PROJECTS)


@pytest.mark.parametrize("name", CORPUS_PROJECTS)
def test_corpus_add_is_a_pure_insertion_and_remove_restores_every_byte(corpus, run, name):
    root = corpus(name)
    before = tree(root)
    args = CORPUS_ARGS.get(name, ())
    files = [args[i + 1] for i, a in enumerate(args) if a == "-f"]
    result = run("add", "redis", "--set", f"port={free_port()}", *args)
    if name in CORPUS_REFUSED or (name not in CORPUS_ARGS and result.exit_code != 0):
        assert result.exit_code in (1, 2) and "Traceback" not in result.err, result.err
        assert CORPUS_REFUSED.get(name, "") in result.err
        assert tree(root) == before
        return
    assert result.exit_code == 0, result.err
    after = tree(root)
    changed = assert_only_added(before, after)
    assert any(rel.endswith((".yaml", ".yml")) for rel in changed), changed
    compose_ok(root, *files)
    if name == "crlf":
        text = (root / "compose.yaml").read_bytes()
        assert text.count(b"\r\n") == text.count(b"\n")
    service = args[args.index("--as") + 1] if "--as" in args else "redis"
    result = run("remove", service, *[a for a in args if a in files or a == "-f"])
    assert result.exit_code == 0, result.err
    assert tree(root) == before


def test_anchored_environment_from_a_merge_key_is_extended_through_its_anchor(corpus, run):
    root = corpus("webapp-stack")
    assert run("add", "redis", "--as", "cache2", "--to", "web", "--set", f"port={free_port()}").exit_code == 0
    text = (root / "compose.yaml").read_text()
    assert "    environment:\n      <<: *app-env\n      CACHE2_HOST: cache2\n" in text
    if HAS_COMPOSE:
        model = subprocess.run(
            ["docker", "compose", "config", "--format", "json"], capture_output=True, text=True, check=True
        ).stdout
        import json

        env = json.loads(model)["services"]["web"]["environment"]
        assert env["DATABASE_URL"].startswith("postgres://") and env["CACHE2_HOST"] == "cache2"


# -- refusals: each writes nothing ------------------------------------------------------------


def refused(run, root: Path, *args: str, code: int, message: str) -> str:
    before = tree(root)
    result = run(*args)
    assert result.exit_code == code, (result.out, result.err)
    assert message in result.err, result.err
    assert "Traceback" not in result.err
    assert tree(root) == before
    return result.err


def test_refuses_a_service_that_exists(drupal, run):
    site = drupal()
    assert run("add", "redis", "--set", f"port={free_port()}").exit_code == 0
    err = refused(run, site, "add", "redis", code=2, message="service 'redis' already exists")
    assert "--as" in err
    refused(run, site, "add", "postgres", "--as", "db", code=2, message="service 'db' already exists")
    refused(run, site, "add", "redis", "--as", "Bad_Name", code=2, message="invalid service name")


def test_refuses_keys_that_exist(drupal, run):
    site = drupal()
    with (site / ".env").open("a") as handle:
        handle.write("REDIS_HOST_PORT=6390\n")
    refused(run, site, "add", "redis", code=2, message="REDIS_HOST_PORT is already in .env")
    other = drupal("mysql")
    text = (
        (other / "docker-compose.yml")
        .read_text()
        .replace("DB_HOST: db\n", "DB_HOST: db\n      SMTP_HOST: mail\n")
    )
    (other / "docker-compose.yml").write_text(text)
    refused(run, other, "add", "maildev", code=2, message="SMTP_HOST is already in web's environment")


def test_refuses_a_port_that_is_taken(drupal, run):
    site = drupal()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        err = refused(run, site, "add", "redis", "--set", f"port={port}", code=1, message=f"host port {port}")
        assert "is in use by" in err and "--set port=" in err
    web_port = envfile.read_keys(site / ".env")["WEB_PORT"]
    refused(
        run,
        site,
        "add",
        "postgres",
        "--set",
        f"port={web_port}",
        code=1,
        message="is already published by service web",
    )


def test_refuses_a_file_that_does_not_parse(drupal, run):
    site = drupal()
    path = site / "docker-compose.yml"
    path.write_text(
        path.read_text().replace("    restart: unless-stopped\n", "    restart: [unless-stopped\n", 1)
    )
    err = refused(run, site, "add", "redis", code=1, message="docker-compose.yml:")
    assert "does not parse" in err


def test_refuses_a_project_compose_rejects(drupal, run):
    site = drupal()
    path = site / "docker-compose.yml"
    path.write_text(path.read_text().replace("    restart: unless-stopped\n", "    restart: [1, 2]\n", 1))
    refused(run, site, "add", "redis", code=1, message="nothing was changed")


def test_refuses_forms_it_cannot_edit_and_says_what_to_do(corpus, run):
    root = corpus("flow-style")
    err = refused(run, root, "add", "redis", "--to", "api", code=1, message="compose.yaml:6:")
    assert "`environment` is written in flow style ({APP_ENV: development, LOG_LEVEL: debug})" in err
    assert "add REDIS_HOST: redis" in err
    root = corpus("anchors")
    err = refused(run, root, "add", "redis", "--to", "cron", code=1, message="is an alias (*common-env)")
    assert "<<: *common-env" in err
    root = corpus("local-overrides")
    refused(run, root, "add", "redis", code=1, message="`depends_on` is written in flow style ([search])")


def test_refuses_bad_usage(corpus, drupal, run):
    site = drupal()
    refused(run, site, "add", "mongodb", code=2, message="no service 'mongodb' in the catalogue")
    err = refused(run, site, "add", "redis", "--set", "colour=red", code=2, message="has no setting 'colour'")
    assert "port" in err
    refused(run, site, "add", "redis", "--set", "port=http", code=2, message="invalid value 'http' for port")
    refused(run, site, "add", "redis", "--set", "port", code=2, message="--set expects KEY=VALUE")
    refused(run, site, "add", "redis", "--to", "nope", code=2, message="--to nope: no service 'nope'")
    root = corpus("webapp-stack")
    refused(
        run, root, "add", "redis", code=2, message="several services could use redis: migrate, web, worker"
    )
    root = corpus("flow-style")
    refused(
        run, root, "add", "adminer", code=2, message="adminer needs a mariadb or mysql or postgres service"
    )


def test_remove_refusals(corpus, drupal, run):
    root = corpus("include-stack")
    refused(run, root, "remove", "postgres", code=1, message="defined in database/compose.yaml")
    root = corpus("extends-files")
    refused(run, root, "remove", "backend", code=1, message="service backend-tests extends backend")
    root = corpus("flow-style")
    refused(
        run, root, "remove", "queue", code=1, message="`depends_on` is written in flow style and names queue"
    )
    site = drupal()
    refused(run, site, "remove", "redis", code=2, message="no service 'redis' in this project")


# -- rollback --------------------------------------------------------------------------------


def test_a_check_error_after_writing_puts_every_file_back(drupal, run, monkeypatch):
    site = drupal()
    # The shell wins over .env: the new service's port becomes "notaport", which the checks
    # (and Compose) reject only once the service is in the file.
    monkeypatch.setenv("REDIS_HOST_PORT", "notaport")
    before = tree(site)
    result = run("add", "redis")
    assert result.exit_code == 1, result.out
    assert "every file was put back as it was" in result.err
    assert "DS" in result.err  # the findings are shown
    assert tree(site) == before


def test_wiring_that_an_override_file_replaces_is_rolled_back(corpus, run):
    root = corpus("multi-file")
    err = refused(
        run,
        root,
        "add",
        "redis",
        "-f",
        "compose.yaml",
        "-f",
        "compose.ci.yaml",
        "--to",
        "app",
        "--set",
        f"port={free_port()}",
        code=1,
        message="Compose's model of the project lacks REDIS_HOST, REDIS_PORT, REDIS_URL in app's environment",
    )
    assert "put back" in err


def test_ctrl_c_while_writing_puts_every_file_back(drupal, run, monkeypatch):
    site = drupal()
    before = tree(site)

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(envfile, "sync", interrupted)
    result = run("add", "postgres", "--set", f"port={free_port()}")
    assert result.exit_code == 130
    assert tree(site) == before


# -- start-up budget ---------------------------------------------------------------------------


# -- files devstack did not generate -----------------------------------------------------------


def project_with(tmp_path, monkeypatch, text: str, name: str = "compose.yaml") -> Path:
    root = tmp_path / "p"
    root.mkdir()
    (root / name).write_bytes(text.encode())
    monkeypatch.chdir(root)
    return root


@pytest.mark.parametrize(
    "text",
    [
        # No `services:` at all (everything comes from include:).
        "include:\n  - path: ./other.yaml\n",
        # A header comment and an extension block first.
        "# The shared stack.\n\nx-common: &common\n  restart: always\n\ninclude:\n  - path: ./other.yaml\n",
        # The same without a line break at the end.
        "include:\n  - path: ./other.yaml",
    ],
    ids=["include-only", "header-and-extensions", "no-final-newline"],
)
def test_a_first_service_in_a_file_without_services(tmp_path, monkeypatch, run, text):
    root = project_with(tmp_path, monkeypatch, text)
    (root / "other.yaml").write_text("services:\n  app:\n    image: ghcr.io/example/app:1\n")
    before = tree(root)
    result = run("add", "memcached", "--to", "app")
    # The app is defined in the included file: wiring it is refused, nothing written.
    assert result.exit_code == 1 and "which this project includes" in result.err, result.err
    assert tree(root) == before
    assert run("add", "adminer", "--to", "nope").exit_code == 2
    (root / "other.yaml").write_text("services:\n  db:\n    image: postgres:17\n")
    before = tree(root)
    result = run("add", "adminer", "--set", f"port={free_port()}")
    assert result.exit_code == 0, result.err
    assert_only_added(before, tree(root))
    data = load(root / "compose.yaml")
    assert data["services"]["adminer"]["depends_on"] == {"db": {"condition": "service_started"}}
    compose_ok(root, "compose.yaml")
    assert run("remove", "adminer").exit_code == 0
    assert tree(root) == before


def test_services_written_as_null_is_refused_as_compose_refuses_it(tmp_path, monkeypatch, run):
    root = project_with(tmp_path, monkeypatch, "services:\n  # nothing yet\n")
    refused(run, root, "add", "memcached", code=1, message="nothing was changed")


def test_the_app_named_in_x_devstack_is_the_default(tmp_path, monkeypatch, run):
    root = project_with(
        tmp_path,
        monkeypatch,
        "x-devstack:\n  web: site\nservices:\n  site:\n    build: .\n  worker:\n    build: .\n",
    )
    (root / "Dockerfile").write_text("FROM scratch\n")
    result = run("add", "memcached")
    assert result.exit_code == 0, result.err
    data = load(root / "compose.yaml")
    assert "memcached" in data["services"]["site"]["depends_on"]
    assert "depends_on" not in data["services"]["worker"]


def test_remove_volumes_asks_on_a_terminal(drupal, run):
    """On a real terminal (a pty), `remove --volumes` deletes only after the service name is typed."""
    import select

    site = drupal()
    assert run("add", "redis", "--set", f"port={free_port()}").exit_code == 0
    (site / "data" / "redis" / "dump.rdb").write_text("data")

    def remove(answer: str) -> tuple[int, str]:
        main_fd, child_fd = os.openpty()
        proc = subprocess.Popen(
            [sys.executable, "-m", "devstack", "remove", "redis", "--volumes"],
            stdin=child_fd,
            stdout=child_fd,
            stderr=child_fd,
            cwd=site,
            close_fds=True,
        )
        os.close(child_fd)
        seen = b""
        answered = False
        try:
            while proc.poll() is None:
                ready, _, _ = select.select([main_fd], [], [], 30)
                if not ready:
                    break
                try:
                    chunk = os.read(main_fd, 4096)
                except OSError:
                    break
                seen += chunk
                if not answered and seen.rstrip().endswith(b":"):
                    os.write(main_fd, (answer + "\n").encode())
                    answered = True
            proc.wait(timeout=60)
        finally:
            os.close(main_fd)
        return proc.returncode, seen.decode(errors="replace")

    code, text = remove("redis-typo")
    assert code == 2 and "did not match" in text, text
    assert "This deletes data/redis/ for good" in text
    assert (site / "data" / "redis" / "dump.rdb").is_file()
    assert "redis:" in (site / "docker-compose.yml").read_text()
    code, text = remove("redis")
    assert code == 0, text
    assert not (site / "data" / "redis").exists()


def test_remove_a_linked_service_from_a_legacy_project_with_an_override(corpus, run):
    root = corpus("legacy-v3")
    base, override = (
        (root / "docker-compose.yml").read_bytes(),
        (root / "docker-compose.override.yml").read_bytes(),
    )
    result = run("remove", "mysql")
    assert result.exit_code == 0, result.err
    # Lines deleted from both files (the link, the list entry, the service, its override), none added.
    assert removed_lines((root / "docker-compose.yml").read_bytes(), base) == []
    assert removed_lines((root / "docker-compose.override.yml").read_bytes(), override) == []
    data = load(root / "docker-compose.yml")
    assert data["services"]["app"]["links"] == ["memcached"]
    assert data["services"]["app"]["depends_on"] == ["memcached"]
    assert "mysql" not in load(root / "docker-compose.override.yml")["services"]
    # The link alias was a host name for it: the environment that uses it is pointed out.
    assert "app's environment still mentions mysql: DB_HOST=database" in result.out
    assert "kept   volume legacy-v3_mysql-data" in result.out
    compose_ok(root, "docker-compose.yml", "docker-compose.override.yml")


MERGED = (
    "\ufeffx-base: &base\r\n  image: ghcr.io/example/app:1\r\n  depends_on:\r\n    db:\r\n"
    "      condition: service_started\r\nservices:\r\n  app:\r\n    <<: *base\r\n  db:\r\n"
    "    image: postgres:17\r\n    environment:\r\n      POSTGRES_PASSWORD: example\r\n"
)


def test_depends_on_inherited_through_a_merge_key(tmp_path, monkeypatch, run):
    """A BOM, CRLF, and `depends_on` that only a `<<:` merge gives the app."""
    root = project_with(tmp_path, monkeypatch, MERGED)
    # Without an anchor on it, a new `depends_on:` would replace the inherited one: refused.
    err = refused(run, root, "add", "memcached", "--to", "app", code=1, message="compose.yaml:4:")
    assert "takes `depends_on` from a YAML merge key" in err and "depends_on: &name" in err
    # With an anchor, the new `depends_on:` merges it first.
    (root / "compose.yaml").write_bytes(
        MERGED.replace("  depends_on:\r\n", "  depends_on: &deps\r\n").encode()
    )
    before = tree(root)
    result = run("add", "memcached", "--to", "app")
    assert result.exit_code == 0, result.err
    assert_only_added(before, tree(root))
    text = (root / "compose.yaml").read_bytes()
    assert text.startswith("\ufeff".encode()) and text.count(b"\r\n") == text.count(b"\n")
    assert b"    depends_on:\r\n      <<: *deps\r\n      memcached:\r\n" in text
    if HAS_COMPOSE:
        import json

        model = subprocess.run(
            ["docker", "compose", "config", "--format", "json"], capture_output=True, text=True, check=True
        ).stdout
        assert set(json.loads(model)["services"]["app"]["depends_on"]) == {"db", "memcached"}
    assert run("remove", "memcached").exit_code == 0
    assert tree(root) == before


def test_remove_refuses_a_flow_style_service_that_needs_it(tmp_path, monkeypatch, run):
    root = project_with(
        tmp_path,
        monkeypatch,
        'services:\n  app: {image: "x/app:1", depends_on: [cache]}\n  cache:\n    image: memcached:1.6\n',
    )
    refused(run, root, "remove", "cache", code=1, message="compose.yaml:2: service app, which needs cache")


def test_a_user_the_service_will_not_run_as_is_told_how_to_match_it(drupal, run, monkeypatch):
    site = drupal()
    monkeypatch.setattr(os, "geteuid", lambda: 1234)
    monkeypatch.setattr(os, "getegid", lambda: 1234)
    result = run("add", "redis", "--set", f"port={free_port()}")
    assert result.exit_code == 0, result.err
    assert "set HOST_UID=1234 and HOST_GID=1234 in .env" in result.out
    with (site / ".env").open("a") as handle:
        handle.write("HOST_UID=1234\nHOST_GID=1234\n")
    assert run("remove", "redis").exit_code == 0
    result = run("add", "redis", "--set", f"port={free_port()}")
    assert result.exit_code == 0 and "HOST_UID=" not in result.out


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_diff_shows_only_added_lines(drupal, run):
    """What a reviewer sees: `git diff --numstat` counts no deleted line in any file."""
    site = drupal()

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-c", "user.email=t@example.test", "-c", "user.name=t", *args],
            cwd=site,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "generated")
    for step in (("redis",), ("postgres",), ("maildev",), ("adminer", "--to", "db")):
        result = run("add", *step, "--set", f"port={free_port()}")
        assert result.exit_code == 0, result.err
    stats = [line.split("\t") for line in git("diff", "--numstat").splitlines()]
    assert {name for _, _, name in stats} == {"docker-compose.yml", ".env.example"}
    assert all(deleted == "0" and int(added) > 0 for added, deleted, _ in stats), stats
    for name in ("adminer", "maildev", "postgres", "redis"):
        assert run("remove", name).exit_code == 0
    assert git("status", "--porcelain") == ""
