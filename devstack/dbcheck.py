"""Checks on database services: credential drift at `up`, secrets held back by `env sync`,
projects that predate host-user ownership.

A MariaDB, MySQL or PostgreSQL data directory keeps the users and passwords it was initialised
with; a later change in `.env` (or a lost `.env` refilled with fresh secrets) does not reach it,
and the application only sees "Access denied". So at `up`, from inside each database container
that this `up` started, devstack logs in with the credentials the service was given:
- DS800: the server refused them (the data directory was made with other credentials);
- DS801: they work, but the database named in the environment does not exist there;
- DS802: could not be checked (no client in the image, server not answering).
`env sync` does not generate a fresh secret for a database whose data directory already holds
data (DS803 names it), and `up` warns about projects whose database files belong to another
user than the one running devstack (DS810, DS811).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from devstack.checks import Finding
from devstack.checks.codes import finding
from devstack.db import ENGINE_TITLES, Database, discover, engine_of_image, image_repository

# Runs inside the database container. $1 = family, $2 = user, $3 = database ("" for none),
# $4 = port, $5 = a file holding the password (or "": the password is in $DEVSTACK_PW).
# Exit: the client's; 127 when the image has no client. Over TCP, never the socket: MariaDB's
# root@localhost also accepts unix_socket authentication, and PostgreSQL's images trust local
# and loopback connections, so only the container's own network address tests the password.
PROBE = r"""
family=$1; user=$2; db=$3; port=$4; pwfile=$5
pw=${DEVSTACK_PW-}
if [ -n "$pwfile" ]; then pw=$(cat "$pwfile") || exit 126; fi
if [ "$family" = postgres ]; then
  command -v psql >/dev/null 2>&1 || exit 127
  host=$(hostname -i 2>/dev/null | awk '{print $1}')
  [ -n "$host" ] || host=$(awk -v h="$(hostname)" '$2 == h { print $1; exit }' /etc/hosts)
  [ -n "$host" ] || host=127.0.0.1
  PGPASSWORD=$pw PGCONNECT_TIMEOUT=5 exec psql -X -q -t -h "$host" -p "$port" -U "$user" \
    -d "${db:-postgres}" -c 'SELECT 1'
fi
c=
for n in mariadb mysql; do command -v "$n" >/dev/null 2>&1 && { c=$n; break; }; done
[ -n "$c" ] || exit 127
if [ -n "$db" ]; then set -- "--database=$db"; else set --; fi
MYSQL_PWD=$pw exec "$c" --protocol=TCP -h 127.0.0.1 -P "$port" --connect-timeout=5 -u "$user" \
  -N -B -e 'SELECT 1' "$@"
"""

RunIn = Callable[[str, list[str], Mapping[str, str]], tuple[int, str, str]]
RETRY_SECONDS = 20.0  # a server that is healthy by its healthcheck may still be finishing init


def _classify(family: str, code: int, output: str) -> str:
    """ok, credentials, database, unreachable, noclient or other."""
    if code == 0:
        return "ok"
    if code == 127:
        return "noclient"
    text = output.lower()
    if family == "postgres":
        if "password authentication failed" in text or ("role" in text and "does not exist" in text):
            return "credentials"
        if "database" in text and "does not exist" in text:
            return "database"
        if "connection refused" in text or "could not connect" in text or "timeout expired" in text:
            return "unreachable"
        if "the database system is starting up" in text or "shutting down" in text:
            return "unreachable"
        return "other"
    if "error 1045" in text:
        return "credentials"
    if "error 1049" in text or "error 1044" in text:
        return "database"
    if any(f"error {n}" in text for n in (2002, 2003, 2013, 1040)) or "can't connect" in text:
        return "unreachable"
    return "other"


def _logins(db: Database) -> list[tuple[str, str, str | None, str | None, str]]:
    """(role, user, password, password file, database) pairs worth testing."""
    logins = []
    if db.password is not None or "password" in db.files:
        logins.append(("password", db.user, db.password, db.files.get("password"), db.name))
    if db.family == "mysql" and db.user != "root":
        if db.root_password is not None or "root_password" in db.files:
            logins.append(("root_password", "root", db.root_password, db.files.get("root_password"), ""))
    return logins


def check_credentials(
    databases: Sequence[Database],
    containers: Mapping[str, Any],
    run_in: RunIn,
    *,
    only: set[str] | None = None,
    retry: float = RETRY_SECONDS,
) -> list[Finding]:
    """DS800-DS802 for each running database container (engine.ContainerInfo by service)."""
    findings: list[Finding] = []
    for db in databases:
        info = containers.get(db.service)
        if info is None or info.state != "running" or (only is not None and db.service not in only):
            continue
        if db.trust:
            continue  # POSTGRES_HOST_AUTH_METHOD=trust: no password is ever checked
        for role, user, password, pwfile, database in _logins(db):
            argv = ["sh", "-c", PROBE, "probe", db.family, user, database, str(db.port), pwfile or ""]
            env = {"DEVSTACK_PW": password or ""}
            deadline = time.monotonic() + retry
            while True:
                code, out, err = run_in(info.id, argv, env)
                verdict = _classify(db.family, code, out + "\n" + err)
                if verdict != "unreachable" or time.monotonic() >= deadline:
                    break
                time.sleep(0.5)
            finding = _finding(db, role, user, verdict, err or out)
            if finding is not None:
                findings.append(finding)
                if verdict in ("credentials", "noclient", "unreachable"):
                    break  # one finding per service says it
    return findings


def _finding(db: Database, role: str, user: str, verdict: str, output: str) -> Finding | None:
    where = f"service {db.service}"
    if verdict == "ok":
        return None
    reset = f"`devstack db reset --service {db.service}`"
    if verdict == "credentials":
        roles = ("user", role) if role == "password" else (role,)
        variables = _variables(db, roles)
        in_env = any(r in db.variables for r in roles)
        source = "from .env" if in_env else "in its environment"
        return finding(
            "DS800",
            f"{db.service}: {db.title} refuses user {user!r} with the password {source} "
            f"({variables}): its data directory ({db.where()}) was initialised with other credentials",
            hint=f"put the old value(s) of {variables} back {'in .env' if in_env else 'in the compose file'} "
            f"and run `devstack up`; or, to start that database afresh with the new ones, {reset} "
            "(deletes its data; `devstack db snapshot` keeps a copy first)",
            location=where,
        )
    if verdict == "database":
        variable = db.variable("database")
        return finding(
            "DS801",
            f"{db.service}: database {db.name!r} ({variable}) does not exist in its data directory "
            f"({db.where()}), or {user!r} may not use it: it was initialised with another name",
            hint=f"put the old value of {variable} back in .env; or start afresh with {reset} "
            "(deletes its data)",
            location=where,
        )
    reason = {
        "noclient": "the image has no database client",
        "unreachable": "the server did not accept connections on its port",
    }.get(verdict, (output.strip().splitlines() or ["no answer"])[-1][:200])
    return finding(
        "DS802",
        f"{db.service}: could not check the credentials in .env ({reason})",
        hint=None,
        location=where,
    )


def _variables(db: Database, roles: Iterable[str]) -> str:
    names = []
    for role in roles:
        if role == "user" and "user" not in db.keys:
            continue
        name = db.variable(role)
        if name not in names:
            names.append(name)
    return ", ".join(names)


def after_up(
    model: Mapping[str, Any],
    raw: Mapping[str, Any],
    containers: Mapping[str, Any],
    run_in: RunIn,
    only: set[str] | None,
) -> list[Finding]:
    """The drift check as `up` calls it: `model` is Compose's, `raw` the same without interpolation
    (it names the .env variables in the messages); `containers` the running ones by service."""
    databases = [db for db in discover(model, raw) if db.service in containers]
    if not databases:
        return []
    return check_credentials(databases, containers, run_in, only=only)


# -- env sync: no fresh secret for a database that already has data --------------------------------

_MARKERS = {"mariadb": "mysql", "mysql": "mysql", "postgres": "PG_VERSION"}


def initialised(engine: str, directory: Path) -> bool:
    """Whether a data directory holds an initialised database (not just an empty directory)."""
    marker = _MARKERS[engine]
    try:
        return (directory / marker).exists()
    except PermissionError:
        # Files a container left owned by its own user: the directory is there and not empty.
        return True
    except OSError:
        return False


def held_secrets(project: Any, keys: Sequence[str]) -> dict[str, str]:
    """Of the secret keys `env sync` is about to generate, those a database already depends on.

    A key qualifies when a database service's environment interpolates it and that service's
    data directory (a bind mount in the project) is already initialised: a fresh value would
    not match what the database was created with. Returns {key: why}.
    """
    from devstack.db import DATA_PATHS, _environment, _holding, _mounts

    if not keys:
        return {}
    raw = _uninterpolated(project)
    held: dict[str, str] = {}
    for name, svc in (raw.get("services") or {}).items():
        if not isinstance(svc, dict):
            continue
        env = _environment(svc)
        image = str(svc.get("image") or "")
        engine = engine_of_image(image) if image and "$" not in image_repository(image) else None
        if engine is None:
            engine = _engine_from_raw_env(env)
        if engine is None:
            continue
        data_path = env.get("PGDATA") if engine == "postgres" and "$" not in env.get("PGDATA", "$") else None
        data_path = data_path or DATA_PATHS[engine]
        mount = _holding(_mounts(_with_long_volumes(svc)), data_path)
        if mount is None or mount.kind != "bind" or "$" in mount.source:
            continue
        source = Path(mount.source).expanduser()
        if not source.is_absolute():
            source = project.root / source
        inner = os.path.relpath(data_path, mount.target) if data_path != mount.target else "."
        directory = (source / inner).resolve() if inner != "." else source.resolve()
        if not initialised(engine, directory):
            continue
        used = {match for value in env.values() for match in _references(value)}
        for key in keys:
            if key in used and key not in held:
                try:
                    shown = directory.relative_to(project.root)
                except ValueError:
                    shown = directory
                held[key] = (
                    f"{shown} already holds the {ENGINE_TITLES[engine]} database of service {name}, "
                    f"created with a value of {key} that .env no longer has"
                )
    return held


def _uninterpolated(project: Any) -> Mapping[str, Any]:
    """The project as written, merged by Compose without interpolation (a required variable
    that is missing from .env is no error there); the files read directly without Compose."""
    from devstack.compose import ComposeRunner
    from devstack.db import raw_model
    from devstack.errors import DevstackError

    try:
        data = ComposeRunner(project).model("--no-interpolate").data
    except DevstackError:
        data = None
    return data if data else raw_model(project)


def _references(value: str) -> set[str]:
    from devstack.db import _VAR_REFERENCE

    return set(_VAR_REFERENCE.findall(value))


def _engine_from_raw_env(env: Mapping[str, str]) -> str | None:
    if any(k.startswith("MARIADB_") for k in env):
        return "mariadb"
    if "MYSQL_ROOT_PASSWORD" in env or "MYSQL_ALLOW_EMPTY_PASSWORD" in env:
        return "mysql"
    if "POSTGRES_PASSWORD" in env:
        return "postgres"
    return None


def _with_long_volumes(svc: Mapping[str, Any]) -> dict[str, Any]:
    """The raw service with `volumes:` entries as dicts (the short syntax split as Compose does)."""
    volumes = []
    for item in svc.get("volumes") or []:
        if isinstance(item, str):
            parts = item.split(":")
            if len(parts) >= 2:
                source, target = parts[0], parts[1]
                kind = "bind" if source.startswith((".", "/", "~", "$")) else "volume"
                volumes.append({"type": kind, "source": source, "target": target})
        elif isinstance(item, dict):
            volumes.append(item)
    return {**svc, "volumes": volumes}


def held_finding(key: str, reason: str) -> Finding:
    return finding(
        "DS803",
        f"{key} was not generated: {reason}",
        hint=f"put the old value of {key} in .env (from a teammate, a backup, or your old .env); "
        "or delete that database with `devstack db reset` and run `devstack up` to start afresh",
        location=".env",
    )


# -- projects that predate host-user ownership ----------------------------------------------------


def service_uid(user_option: str) -> int | None:
    """The numeric uid of a service's `user:` ("1000:1000" -> 1000, "root" -> 0), else None."""
    name = user_option.strip().split(":", 1)[0]
    if name == "root":
        return 0
    return int(name) if name.isdigit() else None


def legacy_ownership(databases: Sequence[Database], uid: int | None = None) -> list[Finding]:
    """DS810/DS811: database files in the project owned by someone the project does not expect.

    DS810: the service has no `user:` (the image's own user, 999, writes the files), so the
    user who runs devstack cannot delete them without sudo: a project generated before devstack
    ran services as the host user. DS811: the service runs as a uid that does not own its files
    (`user:` was added, the files were not handed over), so the database cannot open them.
    """
    if uid is None:
        if not hasattr(os, "getuid"):
            return []
        uid = os.getuid()
    findings = []
    user_line = 'user: "${HOST_UID:-1000}:${HOST_GID:-1000}"'
    for db in databases:
        host = db.host_data_dir()
        if host is None:
            continue
        try:
            owner = host.stat().st_uid
        except OSError:
            continue
        runs_as = service_uid(db.user_option)
        where = f"service {db.service}"
        if not db.user_option:
            if owner == uid or uid == 0:
                continue  # yours, or you are root and may delete anything
            findings.append(
                finding(
                    "DS810",
                    f"{db.service}: its files in {host} belong to uid {owner}, not to you (uid {uid}), "
                    "so deleting them needs sudo: the service has no `user:` (a project made before "
                    "devstack ran services as the host user)",
                    hint=f"migrate: add `{user_line}` to service {db.service} (and to every service "
                    f"that writes into the project), run `devstack db chown --service {db.service}` "
                    "(hands the files to that user through the engine, no sudo), then `devstack up`",
                    location=where,
                )
            )
        elif runs_as not in (None, 0) and owner != runs_as:
            findings.append(
                finding(
                    "DS811",
                    f"{db.service}: its files in {host} belong to uid {owner}, but it runs as "
                    f"{db.user_option}: the database cannot open them",
                    hint=f"`devstack db chown --service {db.service}` hands them to uid {runs_as} "
                    "through the engine (no sudo)",
                    location=where,
                )
            )
    return findings
