"""Every PHP stack, really started from `devstack new`: page, services, tools, config, data, cleanup.

One generated project per stack carries all the assertions (a build costs minutes, an `up`
seconds): the image builds without warnings; `devstack up` is ready; the page at 127.0.0.1
answers 200, names every backing service and says `all services reachable`; the tools of the
`x-devstack` block run in their service, as the host user; configuration under docker/ applies
after a restart, without a rebuild; the healthchecks and Apache's ServerName warning stay out of
the logs; files the containers write into bind mounts belong to the host user; a database row
survives `down`/`up`; `down --volumes` leaves nothing behind.

The host user: the test's own uid, or uid 4242 when the tests run as root (a uid with no account
anywhere, as a developer's is inside the containers). Until `devstack up` writes HOST_UID and
creates the data directories itself, the test does both (marked devstack:keep so a later sync
leaves them alone).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from dotenv import dotenv_values

PROJECT_LABEL = "com.docker.compose.project"
BUILD_WARNING = re.compile(r"(^|\s)WARN(ING)?:|\d+ warnings? found")


@dataclass(frozen=True)
class StackCase:
    stack: str
    db: str = "mariadb"
    page: str = "/"
    docroot: str = "src/public"
    services: tuple[str, ...] = ("db",)
    php_service: str = "web"  # where PHP runs (php.ini is mounted there)
    server: str = "apache"  # apache | nginx
    data_dirs: tuple[str, ...] = ("data/db",)
    images: tuple[str, ...] = ("web",)
    full: bool = True  # False: page and data only (a second database flavour)
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.stack if self.db == "mariadb" else f"{self.stack}-{self.db}"


CASES = [
    StackCase("drupal", docroot="src/web"),
    StackCase("drupal", db="mysql", docroot="src/web", full=False),
    StackCase("lamp"),
    StackCase("lamp", db="mysql", full=False),
    StackCase("lemp", php_service="php", server="nginx", images=("php",)),
    StackCase(
        "laravel",
        services=("db", "redis", "queue", "scheduler"),
        php_service="php",
        server="nginx",
        data_dirs=("data/db", "data/redis"),
        images=("php",),
    ),
    StackCase("wordpress", page="/devstack-status.php", docroot="src"),
]

_no_proxy = urllib.request.ProxyHandler({})


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        return None


def request(
    url: str, data: dict[str, str] | None = None, follow: bool = True
) -> tuple[int, str, dict[str, str]]:
    """One HTTP request to the published port: (status, body, headers); 4xx/5xx included."""
    handlers: list[urllib.request.BaseHandler] = [_no_proxy]
    if not follow:
        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    try:
        with opener.open(url, data=body, timeout=30) as response:
            return int(response.status), response.read().decode("utf-8", "replace"), dict(response.headers)
    except urllib.error.HTTPError as e:
        return int(e.code), e.read().decode("utf-8", "replace"), dict(e.headers)


def docker(*args: str, timeout: float = 120, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd
    )


def host_user() -> tuple[int, int]:
    return (4242, 4242) if os.getuid() == 0 else (os.getuid(), os.getgid())


def leftovers(project: str) -> list[str]:
    found = []
    for kind in (["ps", "-a"], ["network", "ls"], ["volume", "ls"]):
        ids = docker(*kind, "-q", "--filter", f"label={PROJECT_LABEL}={project}").stdout.split()
        found += [f"{kind[0]} {i}" for i in ids]
    return found


@dataclass
class Site:
    case: StackCase
    root: Path
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def env(self) -> dict[str, str | None]:
        return dotenv_values(self.root / ".env")

    def compose(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return docker("compose", "-p", self.name, *args, timeout=timeout, cwd=self.root)

    def exec(self, service: str, *argv: str, workdir: str | None = None) -> subprocess.CompletedProcess[str]:
        flags = ["-w", workdir] if workdir else []
        return self.compose("exec", "-T", *flags, service, *argv, timeout=120)

    def sql(self, statement: str) -> str:
        env = self.env
        client = "mariadb" if self.case.db == "mariadb" else "mysql"
        proc = self.exec(
            "db",
            client,
            "-N",
            "-B",
            f"-u{env['DB_USER']}",
            f"-p{env['DB_PASSWORD']}",
            str(env["DB_NAME"]),
            "-e",
            statement,
        )
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()


@pytest.fixture
def site(request, tmp_path, project_name, free_port, test_images, run, monkeypatch):
    """A generated project of the stack in request.param, owned by the host user."""
    case: StackCase = request.param
    monkeypatch.delenv("DEVSTACK_COMPOSE", raising=False)
    port = free_port()
    root = tmp_path / "site"
    result = run(
        "new",
        case.stack,
        root,
        "--no-input",
        "--name",
        project_name,
        "--set",
        f"web_port={port}",
        "--set",
        f"db={case.db}",
    )
    assert result.exit_code == 0, result.err
    uid, gid = host_user()
    with (root / ".env").open("a") as env:
        env.write(f"\n# devstack:keep\nHOST_UID={uid}\n# devstack:keep\nHOST_GID={gid}\n")
    for directory in case.data_dirs:
        (root / directory).mkdir(parents=True, exist_ok=True)
    if os.getuid() == 0:
        # The project belongs to the developer who generated it.
        subprocess.run(["chown", "-R", f"{uid}:{gid}", str(root)], check=True)
    monkeypatch.chdir(root)
    try:
        yield Site(case, root, project_name, port)
    finally:
        run("down", "--volumes", "--yes")
        for image in case.images:
            docker("image", "rm", "--force", f"{project_name}-{image}")


@pytest.mark.parametrize("site", CASES, ids=[c.id for c in CASES], indirect=True)
def test_stack_end_to_end(site: Site, run):
    case = site.case
    uid, gid = host_user()

    # The image builds cleanly (BuildKit through Compose v2): no Dockerfile check warnings.
    started = time.monotonic()
    build = site.compose("--progress", "plain", "build", timeout=1500)
    build_seconds = time.monotonic() - started
    log = build.stderr + build.stdout
    assert build.returncode == 0, log[-4000:]
    assert [line for line in log.splitlines() if BUILD_WARNING.search(line)] == []

    started = time.monotonic()
    result = run("up")
    up_seconds = time.monotonic() - started
    assert result.exit_code == 0, result.out + result.err
    assert f"http://localhost:{site.port}/" in result.out

    assert_page(site)

    if case.full:
        if case.stack == "wordpress":
            assert_wordpress_installs(site)
        assert_tools(site, uid)
        if case.stack == "laravel":
            assert_workers_hand_over_to_artisan(site)
        assert_configuration_applies_after_restart(site)
        assert_quiet_logs(site)

    # Files written by the containers into bind mounts belong to the host user.
    owners = {(p.stat().st_uid, p.stat().st_gid) for d in case.data_dirs for p in (site.root / d).rglob("*")}
    assert owners == {(uid, gid)}, owners

    site.sql("CREATE TABLE notes (id INT PRIMARY KEY, body TEXT); INSERT INTO notes VALUES (1, 'survives');")
    result = run("down")
    assert result.exit_code == 0, result.err
    assert docker("ps", "-aq", "--filter", f"label={PROJECT_LABEL}={site.name}").stdout.strip() == ""
    result = run("up")
    assert result.exit_code == 0, result.out + result.err
    assert site.sql("SELECT body FROM notes WHERE id = 1") == "survives"
    assert_page(site)
    if case.stack == "wordpress" and case.full:
        status, body, _ = request(site.url + "/")
        assert status == 200 and "Devstack Test Blog" in body, body[:2000]

    result = run("down", "--volumes", "--yes")
    assert result.exit_code == 0, result.err
    assert leftovers(site.name) == []
    print(f"\n[{case.id}] build {build_seconds:.1f} s, first up {up_seconds:.1f} s")


def assert_page(site: Site) -> None:
    status, body, _ = request(site.url + site.case.page)
    assert status == 200, body[:2000]
    assert "all services reachable" in body, body
    for service in site.case.services:
        assert re.search(
            rf'id="service-{service}" class="ok" data-status="ok"><strong>{service}</strong>', body
        ), (
            service,
            body,
        )


def assert_wordpress_installs(site: Site) -> None:
    """WordPress itself answers: its installer, then a site, with its rows in the database."""
    status, body, headers = request(site.url + "/", follow=False)
    assert status == 302 and headers["Location"].endswith("/wp-admin/install.php"), (status, headers)
    status, body, _ = request(site.url + "/wp-admin/install.php")
    assert status == 200 and 'id="setup"' in body and "WordPress" in body, body[:3000]
    status, body, _ = request(
        site.url + "/wp-admin/install.php?step=2",
        data={
            "weblog_title": "Devstack Test Blog",
            "user_name": "admin",
            "admin_password": "correct-horse-battery-staple",
            "admin_password2": "correct-horse-battery-staple",
            "pw_weak": "1",
            "admin_email": "admin@example.com",
            "blog_public": "0",
            "language": "",
        },
    )
    assert status == 200 and "Success!" in body, body[:3000]
    assert site.sql("SELECT user_login FROM wp_users") == "admin"
    status, body, _ = request(site.url + "/")
    assert status == 200 and "Devstack Test Blog" in body, body[:2000]
    # WordPress was copied into src/ by the image, as the host user.
    uid, gid = host_user()
    for rel in ("wp-includes/version.php", "wp-config.php"):
        stat = (site.root / "src" / rel).stat()
        assert (stat.st_uid, stat.st_gid) == (uid, gid), rel


def assert_tools(site: Site, uid: int) -> None:
    """Each tool of x-devstack runs in its service and working directory, as the host user."""
    compose = yaml.safe_load((site.root / "docker-compose.yml").read_text())
    tools = compose["x-devstack"]["tools"]
    ran = []
    for name, spec in tools.items():
        if name in ("drush", "artisan"):
            continue  # installed later with composer (Packagist is out of reach here)
        proc = site.exec(spec["service"], *spec["command"], "--version", workdir=spec["workdir"])
        assert proc.returncode == 0, (name, proc.stdout, proc.stderr)
        ran.append(name)
    assert {"composer", "php"} <= set(ran)
    composer = tools["composer"]
    # composer works offline from a path repository: vendor/ is written into src/ as the host
    # user, and its cache and home are writable by that user too.
    src = site.root / "src"
    if (src / "composer.json").exists():
        pytest.fail("the template ships no composer.json: this test would overwrite it")
    package = src / "packages" / "hello"
    package.mkdir(parents=True)
    (package / "composer.json").write_text(
        '{"name": "devstack/hello", "version": "1.0.0", "autoload": {"files": ["hello.php"]}}'
    )
    (package / "hello.php").write_text("<?php function devstack_hello(): string { return 'hello'; }\n")
    (src / "composer.json").write_text(
        '{"repositories": [{"type": "path", "url": "packages/hello"}],'
        ' "require": {"devstack/hello": "1.0.0"}}'
    )
    if os.getuid() == 0:
        chown = ["chown", "-R", f"{uid}:{uid}", str(package.parent), str(src / "composer.json")]
        subprocess.run(chown, check=True)
    workdir = composer["workdir"]
    proc = site.exec(composer["service"], "composer", "update", "--no-interaction", workdir=workdir)
    assert proc.returncode == 0, (proc.stdout, proc.stderr)
    proc = site.exec(
        tools["php"]["service"],
        "php",
        "-r",
        "require 'vendor/autoload.php'; echo devstack_hello();",
        workdir=workdir,
    )
    assert proc.stdout == "hello", proc.stdout + proc.stderr
    autoload = site.root / "src" / "vendor" / "autoload.php"
    assert autoload.stat().st_uid == uid
    home = site.exec(
        composer["service"], "sh", "-c", 'touch "$COMPOSER_HOME/probe" "$COMPOSER_CACHE_DIR/probe"'
    )
    assert home.returncode == 0, home.stderr


def assert_workers_hand_over_to_artisan(site: Site) -> None:
    """Once artisan and vendor/ exist, queue and scheduler run `php artisan ...` by themselves."""
    artisan = site.root / "src" / "artisan"
    assert (site.root / "src/vendor/autoload.php").exists()  # written by composer in assert_tools
    artisan.write_text(
        "<?php\nfwrite(STDERR, 'fake artisan: ' . implode(' ', array_slice($argv, 1)) . PHP_EOL);\n"
        "while (true) { sleep(1); }\n"
    )
    if os.getuid() == 0:
        uid, gid = host_user()
        os.chown(artisan, uid, gid)
    expected = {"queue": "fake artisan: queue:listen --tries=1", "scheduler": "fake artisan: schedule:work"}
    deadline = time.monotonic() + 30
    while True:
        logs = {service: site.compose("logs", "--no-color", service).stdout for service in expected}
        if all(line in logs[service] for service, line in expected.items()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    for service, line in expected.items():
        assert line in logs[service], logs[service][-2000:]
    artisan.unlink()
    # Back to the placeholder (no artisan), as the page at the end of the test expects.
    assert site.compose("restart", "queue", "scheduler").returncode == 0


def assert_configuration_applies_after_restart(site: Site) -> None:
    """Edit docker/ files, restart the service: the change is live, and nothing was rebuilt."""
    images_before = docker("images", "-q", "--filter", f"reference={site.name}-*").stdout.split()
    ini = site.root / "docker/php.ini"
    ini.write_text(ini.read_text().replace("memory_limit = 512M", "memory_limit = 384M"))
    if site.case.server == "apache":
        conf = site.root / "docker/apache-site.conf"
        conf.write_text(conf.read_text() + "\nRedirect 307 /devstack-edited /\n")
    else:
        conf = site.root / "docker/nginx.conf"
        conf.write_text(
            conf.read_text().replace(
                "    server_name _;\n",
                "    server_name _;\n    location = /devstack-edited { return 307 /; }\n",
            )
        )
    services = sorted({"web", site.case.php_service})
    proc = site.compose("restart", *services)
    assert proc.returncode == 0, proc.stderr
    deadline = time.monotonic() + 60
    while True:
        try:
            status, _, _ = request(site.url + "/devstack-edited", follow=False)
        except OSError:
            status = 0
        if status == 307 or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    assert status == 307
    proc = site.exec(site.case.php_service, "php", "-r", 'echo ini_get("memory_limit");')
    assert proc.stdout == "384M", proc.stdout + proc.stderr
    # The web server's PHP reads it too (mod_php or FPM, restarted above).
    probe = site.root / site.case.docroot / "devstack-ini.php"
    probe.write_text("<?php echo ini_get('memory_limit');")
    assert request(site.url + "/devstack-ini.php")[1] == "384M"
    probe.unlink()
    assert docker("images", "-q", "--filter", f"reference={site.name}-*").stdout.split() == images_before


def assert_quiet_logs(site: Site) -> None:
    """The web log shows the developer's requests, not the healthchecks or start-up noise."""
    marker = "/devstack-quiet-logs-probe"
    request(site.url + marker)
    time.sleep(1.5)  # several healthchecks (every 500 ms while starting) have run since
    health = docker(
        "inspect", "-f", "{{len .State.Health.Log}}", site.compose("ps", "-q", "web").stdout.strip()
    )
    assert int(health.stdout.strip() or 0) >= 1
    logs = site.compose("logs", "--no-color", "web").stdout
    assert marker in logs, logs[-3000:]
    assert ".devstack/health" not in logs, logs[-3000:]
    assert "ServerName" not in logs and "AH00558" not in logs, logs[-3000:]
