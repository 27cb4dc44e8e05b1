"""The catalogue of check codes: one place that says what each code means and how to fix it.

Codes are stable and never reused. A code's severity lives here, not at the call site, so a
code always means the same thing. `docs/check-codes.md` is generated from `markdown()` (a test
keeps it in step).
"""

from __future__ import annotations

from typing import NamedTuple

from devstack.checks import Finding, Severity


class Code(NamedTuple):
    code: str
    severity: Severity
    title: str
    example: str  # a message as a user sees it
    fix: str


_E, _W, _I = Severity.ERROR, Severity.WARNING, Severity.INFO

# fmt: off
CODES: tuple[Code, ...] = (
    # DS1xx: the compose files themselves
    Code("DS100", _E, "Compose rejects the project",
         "Compose rejects the project: services.web.deploy.resources must be a mapping",
         "Fix what Compose names; `docker compose config` shows its whole message. (Used when "
         "no more specific code explains Compose's error.)"),
    Code("DS101", _E, "A compose file cannot be read",
         "cannot read docker-compose.yml: Permission denied",
         "Check the file's path and permissions (and that it is UTF-8 text)."),
    Code("DS102", _E, "Invalid YAML",
         "docker-compose.yml:7:12: did not find expected ',' or ']'",
         "Fix the YAML at that line and column; a key written twice in one mapping counts too."),
    Code("DS103", _E, "Not valid Compose (schema)",
         "services.web: 'prots' was unexpected",
         "Correct the key or value named; the Compose file reference lists the allowed ones."),
    Code("DS104", _E, "Legacy v1 file format",
         "docker-compose.yml uses the v1 format: services at the top level, no `services:` key",
         "Indent the services under a top-level `services:` key; drop `links` (services reach "
         "each other by name)."),
    Code("DS105", _E, "Option of the v1 format",
         "service web: `dockerfile` is a v1 option",
         "Use the modern equivalent the hint names, e.g. `build: {context: ., dockerfile: X}`."),
    Code("DS106", _I, "Obsolete `version:`",
         "the top-level `version: \"3.8\"` is obsolete and ignored",
         "Delete the `version:` line."),
    Code("DS107", _I, "`links` is legacy",
         "service web: `links` is a legacy option",
         "Remove it: services on one network reach each other by service name; use `depends_on` "
         "for start order."),
    Code("DS108", _I, "Checks of the merged project were skipped",
         "Docker Compose is not installed: the checks that need the merged project (references, "
         "ports, paths, health) were skipped",
         "Install the Compose v2 plugin (or fix what Compose rejects), then check again; the "
         "checks of each file as written (YAML, schema, variables) ran."),
    Code("DS109", _I, "A Compose bug was worked around",
         "Compose 2.26.1 cannot print this project as JSON (a bug in Compose, not in the "
         "project); its YAML output was read instead",
         "Nothing to do; a newer Compose fixes it."),
    Code("DS110", _E, "Image name Docker refuses",
         "service web: image `MyApp:1.0` is not a valid image name: repository names are lowercase",
         "Write the repository part in lowercase (the tag may have capitals): `myapp:1.0`."),
    # DS2xx: references between services, networks, volumes
    Code("DS201", _E, "`depends_on` names an undefined service",
         "service web depends on `db`, which is not defined",
         "Fix the name, or define the service."),
    Code("DS202", _E, "`links` names an undefined service",
         "service web links to `db`, which is not defined",
         "Fix the name, or remove the link (services reach each other by name)."),
    Code("DS203", _E, "`extends` names an undefined service",
         "service worker extends `base`, which is not defined",
         "Fix the service name (and `file:`), or define the base service; break any loop."),
    Code("DS204", _E, "`extends` names a missing file",
         "service worker extends a service in common.yml, which does not exist",
         "Fix the `file:` path (relative to the file that contains the `extends`)."),
    Code("DS205", _E, "`volumes_from` names an undefined service",
         "service web takes volumes from `data`, which is not defined",
         "Fix the name; for a container outside the project write `container:NAME`."),
    Code("DS206", _E, "`network_mode: service:` names an undefined service",
         "service web shares the network of `vpn`, which is not defined",
         "Fix the service name after `service:`."),
    Code("DS207", _E, "Network not defined",
         "service web uses network `front`, which is not defined under `networks:`",
         "Add it under the top-level `networks:` (with `external: true` if it exists already)."),
    Code("DS208", _E, "Named volume not defined",
         "service db mounts volume `dbdata`, which is not defined under `volumes:`",
         "Add `dbdata:` under the top-level `volumes:`, or write `./dbdata` for a bind mount."),
    Code("DS209", _E, "Dependency cycle",
         "dependency cycle: web -> api -> web",
         "Remove one of the dependencies in the cycle."),
    Code("DS210", _W, "Waits for health, but no healthcheck is defined",
         "web waits for db to be healthy, but db defines no healthcheck",
         "Add a `healthcheck:` to the service waited for; without one, `up` fails unless its image "
         "defines a HEALTHCHECK."),
    Code("DS211", _E, "Waits for health, but the healthcheck is disabled",
         "web waits for db to be healthy, but db disables its healthcheck",
         "Remove `disable: true` (or `test: [\"NONE\"]`), or wait for `service_started`."),
    Code("DS212", _E, "Depends on a service outside the active profiles",
         "web depends on `debug`, which only runs with profile `tools`",
         "Activate the profile (COMPOSE_PROFILES or --profile), give `web` the same profile, or "
         "mark the dependency `required: false`."),
    Code("DS213", _I, "Optional dependency outside the active profiles",
         "web can use `debug` (required: false), which only runs with profile `tools`",
         "Nothing to do if that is intended."),
    Code("DS214", _E, "Secret or config not defined",
         "service web uses secret `db_password`, which is not defined under `secrets:`",
         "Define it under the top-level `secrets:` (or `configs:`) with `file:` or `environment:`."),
    Code("DS215", _E, "`include` names a missing file",
         "include: cannot read common/db.yaml: No such file or directory",
         "Fix the path (relative to the file that has the `include:`)."),
    Code("DS216", _E, "Two services use one `container_name`",
         "services web and admin both set container_name `app`",
         "Give each service its own container_name, or remove it (Compose names containers "
         "itself)."),
    Code("DS217", _E, "External network or volume does not exist",
         "network `proxy` is declared external, but the engine has no network `proxy`",
         "Create it first (`docker network create proxy` / `docker volume create NAME`), or start "
         "the project that creates it."),
    Code("DS218", _E, "Healthcheck command in one string of the exec form",
         "service web: healthcheck runs a program named `curl -f http://localhost/`",
         "Split the arguments ([\"CMD\", \"curl\", \"-f\", \"http://localhost/\"]) or use "
         "[\"CMD-SHELL\", \"curl -f http://localhost/\"]."),
    Code("DS219", _W, "`x-devstack` block that devstack cannot use",
         "tool npm runs in service 'app', which the project does not define",
         "Fix the block (x-devstack.tools, x-devstack.databases): `devstack run` and `devstack db` "
         "read it; Compose ignores it."),
    # DS3xx: variables and env files
    Code("DS301", _E, "Variable not set",
         "${WEB_PORT} is not set (in the shell or .env) and has no default",
         "Set it in .env, or give a default: ${WEB_PORT:-8080}. (Reported where an empty value "
         "breaks the project: image names, ports, paths, build contexts, commands; in an "
         "environment entry it is DS308.)"),
    Code("DS302", _E, "Required variable not set",
         "DB_PASSWORD is required: set DB_PASSWORD in .env",
         "Set it in .env (or the shell)."),
    Code("DS303", _E, ".env lacks keys from .env.example",
         ".env lacks DB_PASSWORD, which .env.example lists",
         "Run `devstack env sync` (or `devstack up`, which does it first)."),
    Code("DS304", _E, "env_file does not exist",
         "service web reads env_file web.env, which does not exist",
         "Create the file, fix the path, or mark it optional: `env_file: [{path: web.env, "
         "required: false}]`."),
    Code("DS305", _W, ".env is tracked by git",
         ".env is committed to git: the secrets in it are in the history",
         "`git rm --cached .env`, add `.env` to .gitignore, and rotate the secrets."),
    Code("DS306", _W, "Legacy link variable",
         "service web uses DB_PORT_3306_TCP_ADDR, which Docker no longer sets",
         "Use the service name as host and the container port, e.g. host `db`, port 3306."),
    Code("DS307", _E, "Invalid interpolation",
         "invalid interpolation '${DB HOST}'",
         "Write ${NAME}, ${NAME:-default} or ${NAME:?message}; a literal $ is written $$."),
    Code("DS308", _W, "Variable not set where empty is allowed",
         "${SENTRY_DSN} is not set (in the shell or .env): the value becomes empty",
         "Set it in .env if the service needs it, or write ${SENTRY_DSN:-} to say that empty is "
         "fine. (Where an empty value breaks the project, e.g. an image or a port, it is DS301.)"),
    # DS4xx: published ports
    Code("DS401", _E, "Host port published twice",
         "host port 8080/tcp is published by both web and admin",
         "Give one of them another host port."),
    Code("DS402", _E, "Host port in use",
         "host port 8080/tcp is in use by nginx (pid 812)",
         "Stop that process or container, or publish another port (e.g. set WEB_PORT in .env)."),
    Code("DS403", _E, "Invalid port mapping",
         "service web: '80:80:80:80' is not a port mapping",
         "Write [HOST_IP:]HOST_PORT:CONTAINER_PORT[/PROTOCOL], IPv6 in brackets: [::1]:8080:80."),
    Code("DS404", _W, "Port published on all interfaces",
         "db publishes 5432 on all interfaces: it is reachable from the LAN",
         "Bind it to the loopback address: \"127.0.0.1:5432:5432\"."),
    Code("DS405", _E, "Host IP not on this machine",
         "web publishes on 192.168.1.50, which is not an address of this machine",
         "Use 127.0.0.1 (or an address this machine has)."),
    Code("DS406", _W, "Ports are ignored with `network_mode: host`",
         "service web publishes 8080:80, but uses network_mode: host: Docker ignores `ports:`",
         "Remove `ports:` (the service listens on the host's own ports), or drop "
         "`network_mode: host`."),
    # DS5xx: paths on the host
    Code("DS501", _E, "Build context does not exist",
         "service web builds from ./app, which does not exist",
         "Fix `build:`/`build.context` (relative to the project directory)."),
    Code("DS502", _E, "Dockerfile does not exist",
         "service web builds with Dockerfile.dev, which does not exist in ./app",
         "Fix `build.dockerfile`: a file path relative to the build context."),
    Code("DS503", _E, "Bind-mount source does not exist (long syntax)",
         "service web mounts ./config, which does not exist",
         "Create it, fix the path, or add `bind: {create_host_path: true}`."),
    Code("DS504", _I, "Bind-mount source will be created",
         "service db mounts ./data/db, which does not exist yet: `devstack up` creates an empty "
         "directory, owned by you (plain Compose: by root)",
         "Nothing to do if an empty directory is what the service expects."),
    Code("DS505", _E, "Bind-mount source missing where a file is expected",
         "service web mounts ./nginx.conf at /etc/nginx/nginx.conf, which does not exist: Docker "
         "would create a directory there, where a file is meant",
         "Create the file (or fix the path) before `up`."),
    Code("DS506", _E, "Secret or config file does not exist",
         "secret db_password reads ./secrets/db_password.txt, which does not exist",
         "Create the file or fix `file:`."),
    Code("DS507", _W, "Two mounts at one target",
         "service web mounts ./a and ./b at /data: Compose keeps only the last (./b)",
         "Remove one of them, or mount them at different paths."),
    Code("DS508", _E, "Mount target is not an absolute path",
         "service web mounts ./data at `data`, which is not an absolute path",
         "Write the path inside the container in full, e.g. `./data:/data`."),
    Code("DS509", _E, "An empty directory where a file is meant",
         "service web mounts ./nginx.conf at /etc/nginx/nginx.conf, but ./nginx.conf is an empty "
         "directory (Docker makes one when the file is missing)",
         "Remove the directory (`rmdir`, with sudo if root owns it) and put the file there."),
    # DS6xx: runtime checks of a running stack (devstack/checks/runtime.py)
    Code("DS610", _E, "A service name does not resolve inside a container",
         "web cannot resolve 'db' (depends_on db)",
         "Put both services on a shared network (`networks:` of both)."),
    Code("DS611", _E, "Nothing listens on a dependency's port",
         "web cannot connect to db:3306",
         "Check the dependency's logs: `devstack logs db`."),
    Code("DS612", _I, "A link could not be tested",
         "could not test web -> db:3306 from inside the container (no shell or network tool in "
         "the image)",
         "Nothing to do; the image lacks the tools for the probe."),
    Code("DS620", _E, "A required variable is empty inside the container",
         "required variable DB_PASSWORD is empty inside web",
         "Set it in .env (or the environment) and run `devstack up` again."),
    # DS7xx: the machine (`devstack doctor`, devstack/doctor.py)
    Code("DS700", _I, "What doctor found",
         "Docker engine 28.2.2 answers (Debian GNU/Linux 12, storage overlay2)",
         "Nothing to do."),
    Code("DS701", _E, "Docker engine not reachable",
         "the Docker engine is not reachable: the daemon is not running",
         "Start Docker (Docker Desktop, or `sudo systemctl start docker`)."),
    Code("DS702", _W, "docker CLI not on PATH",
         "the docker CLI is not on PATH",
         "Install the Docker CLI (docker-ce-cli or docker.io)."),
    Code("DS703", _E, "Compose not installed",
         "Docker Compose is not installed",
         "Install the Compose v2 plugin."),
    Code("DS704", _W, "Compose v1 is end of life",
         "Compose v1 (1.29.2) is end of life; devstack uses it with fewer features",
         "Install the Compose v2 plugin so `docker compose version` answers."),
    Code("DS705", _W, "Low disk space",
         "only 1.2 GiB free on /var/lib/docker",
         "Free some space: `docker system prune` removes unused images and containers."),
    # DS71x: what the engine can do (`devstack doctor`, and `check` when a project needs it)
    Code("DS710", _W, "Engine older than 25: healthcheck `start_interval` is ignored",
         "Docker Engine 24.0.7 ignores healthcheck `start_interval` (Engine 25+): a starting "
         "service's first health check waits a whole `interval`",
         "Upgrade Docker Engine to 25 or newer; until then `up` waits about one `interval` "
         "longer for each service with a healthcheck."),
    Code("DS711", _W, "A healthcheck uses `start_interval`, which this engine ignores",
         "service db: healthcheck `start_interval` needs Docker Engine 25+ (this one is 24.0.7): "
         "the first check waits the whole interval (30s)",
         "Upgrade Docker Engine to 25 or newer, or shorten `interval` while on the old engine."),
    # DS80x: databases and their files (`up`, `env sync`, `check`; devstack/dbcheck.py)
    Code("DS800", _E, "The database refuses the credentials it was given",
         "db: MariaDB refuses user 'drupal' with the password from .env (DB_USER, DB_PASSWORD): "
         "its data directory (data/db) was initialised with other credentials",
         "Put the old value(s) back in .env and run `devstack up`; or start that database afresh "
         "with the new ones: `devstack db reset` deletes its files (`devstack db snapshot` keeps "
         "a copy first), then `devstack up`."),
    Code("DS801", _E, "The database named in .env is not in the data directory",
         "db: database 'shop' (DB_NAME) does not exist in its data directory (data/db), or "
         "'drupal' may not use it: it was initialised with another name",
         "Put the old value of the variable back in .env; or `devstack db reset` and `devstack up` "
         "to start afresh (deletes its data)."),
    Code("DS802", _I, "Database credentials could not be checked",
         "db: could not check the credentials in .env (the image has no database client)",
         "Nothing to do; devstack checks them with the image's own client when it has one."),
    Code("DS803", _E, "A database password was not generated",
         "DB_PASSWORD was not generated: data/db already holds the MariaDB database of service "
         "db, created with a value of DB_PASSWORD that .env no longer has",
         "Put the old value in .env (a teammate's, a backup, your old .env); or delete that "
         "database with `devstack db reset` and run `devstack up`, which generates a new one."),
    Code("DS810", _W, "Database files belong to another user (a project made before host-user services)",
         "db: its files in data/db belong to uid 999, not to you (uid 1000), so deleting them needs "
         "sudo: the service has no `user:`",
         "Add `user: \"${HOST_UID:-1000}:${HOST_GID:-1000}\"` to the service (and to every service "
         "that writes into the project), run `devstack db chown`, then `devstack up`."),
    Code("DS811", _E, "The database cannot open its files",
         "db: its files in data/db belong to uid 999, but it runs as 1000:1000: the database "
         "cannot open them",
         "`devstack db chown` hands them to the service's user through the engine (no sudo)."),
)

# fmt: on

CATALOGUE: dict[str, Code] = {c.code: c for c in CODES}


def finding(code: str, message: str, hint: str | None = None, location: str | None = None) -> Finding:
    """A Finding whose severity is the catalogue's for `code`."""
    return Finding(code, CATALOGUE[code].severity, message, hint, location)


def markdown() -> str:
    """The codes table for the README / docs/check-codes.md."""
    lines = [
        "# `devstack check` codes",
        "",
        "<!-- Generated from devstack/checks/codes.py: do not edit by hand. Regenerate with",
        "python -c \"from devstack.checks import codes; print(codes.markdown(), end='')\" \\",
        "    > docs/check-codes.md -->",
        "",
        "Codes are stable: a code keeps its meaning and is never reused. Families: DS1xx compose "
        "files, DS2xx references, DS3xx variables and env files, DS4xx ports, DS5xx host paths, "
        "DS6xx a running stack, DS7xx the machine (`devstack doctor`), DS8xx databases and their "
        "files.",
        "",
        "| Code | Severity | Meaning | Example | Fix |",
        "|---|---|---|---|---|",
    ]
    for c in CODES:
        cells = (c.code, str(c.severity), c.title, c.example, c.fix)
        lines.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")
