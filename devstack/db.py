"""`devstack db`: find a project's MariaDB, MySQL and PostgreSQL services and reach them.

A database service is found from the official images' contracts: the image's name (mariadb,
mysql, percona, postgres, postgis, ...) or, for an image built from a Dockerfile, the
`MARIADB_*`, `MYSQL_*` or `POSTGRES_*` variables of its environment together with a mount at
the engine's data directory. A project can say it itself under `x-devstack.databases` (see
README: "x-devstack.databases"), which wins over what is found.

Every client runs inside the database's own container (`compose exec -T`), so its version
matches the server and no port needs publishing. Passwords go through the exec's environment
(`MYSQL_PWD`, `PGPASSWORD`), never on a command line. Export and import are in dump.py,
snapshots and reset in datadir.py, the checks at `up` in dbcheck.py.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from devstack.errors import DevstackError, UsageError

if TYPE_CHECKING:
    from devstack.compose import ComposeRunner
    from devstack.project import Project

ENGINES = ("mariadb", "mysql", "postgres")
ENGINE_TITLES = {"mariadb": "MariaDB", "mysql": "MySQL", "postgres": "PostgreSQL"}
# Repository names (the part after the last "/", without tag) of images that follow the
# official images' contracts. Bitnami's images use other variables and paths: declare those
# under x-devstack.databases.
_IMAGES = {
    "mariadb": "mariadb",
    "mysql": "mysql",
    "mysql-server": "mysql",
    "percona": "mysql",
    "percona-server": "mysql",
    "postgres": "postgres",
    "postgis": "postgres",
    "pgvector": "postgres",
    "timescaledb": "postgres",
    "timescaledb-ha": "postgres",
}
DATA_PATHS = {"mariadb": "/var/lib/mysql", "mysql": "/var/lib/mysql", "postgres": "/var/lib/postgresql/data"}
PORTS = {"mariadb": 3306, "mysql": 3306, "postgres": 5432}
_VAR_REFERENCE = re.compile(r"(?<!\$)(?:\$\$)*\$\{?([A-Za-z_][A-Za-z0-9_]*)")
_SETTING_KEYS = ("engine", "database", "user", "password", "root_password", "data", "port")


class DatabaseNotFound(DevstackError):
    """No database service where one was asked for."""


class DatabaseError(DevstackError):
    """A database command failed inside the container."""


# Records are NamedTuples: creating a dataclass costs 1-3 ms at import, on every `check` and `up`.
_NONE: Mapping[str, str] = MappingProxyType({})  # the default of a Database's mappings (shared: read-only)


class Mount(NamedTuple):
    kind: str  # bind, volume, tmpfs
    source: str  # the host path (bind) or the volume name; "" for an anonymous volume
    target: str


class Database(NamedTuple):
    """One database service and what devstack needs to reach it from inside its container."""

    service: str
    engine: str  # mariadb, mysql or postgres
    image: str
    name: str  # the database (schema) the application uses
    user: str
    password: str | None
    root_password: str | None  # MariaDB/MySQL root; None when unknown (random, or not given)
    data_path: str  # the data directory inside the container
    mount: Mount | None  # the mount that holds data_path (None: the image's anonymous volume)
    port: int
    # Where the values come from: role ("user", "password", ...) -> the service's environment key
    # (MARIADB_PASSWORD) and the variable it interpolates from .env (DB_PASSWORD), when known.
    keys: Mapping[str, str] = _NONE
    variables: Mapping[str, str] = _NONE
    files: Mapping[str, str] = _NONE  # role -> *_FILE path in the container
    trust: bool = False  # postgres POSTGRES_HOST_AUTH_METHOD=trust: no password is checked
    root_empty: bool = False  # MARIADB_ALLOW_EMPTY_ROOT_PASSWORD
    user_option: str = ""  # the service's `user:` ("" when it has none)
    declared: bool = False  # named under x-devstack.databases

    @property
    def family(self) -> str:
        return "postgres" if self.engine == "postgres" else "mysql"

    @property
    def title(self) -> str:
        return ENGINE_TITLES[self.engine]

    def admin(self) -> tuple[str, str | None]:
        """The most capable account devstack knows: root (MariaDB/MySQL), else the user."""
        if self.family == "mysql" and (self.root_password or self.root_empty):
            return "root", self.root_password or ""
        return self.user, self.password

    @property
    def has_admin(self) -> bool:
        """Whether devstack can change server settings (root, or the postgres superuser)."""
        return self.family == "postgres" or bool(self.root_password or self.root_empty)

    def host_data_dir(self) -> Path | None:
        """The data directory on the host, when a bind mount holds it."""
        if self.mount is None or self.mount.kind != "bind" or not self.mount.source:
            return None
        inner = PurePosixPath(self.data_path).relative_to(PurePosixPath(self.mount.target))
        return Path(self.mount.source, *inner.parts)

    def where(self) -> str:
        """How to name the data directory to a user: ./data/db, volume x, or the container path."""
        if self.mount is None:
            return f"{self.data_path} (an anonymous volume)"
        if self.mount.kind == "volume":
            return f"volume {self.mount.source}"
        host = self.host_data_dir()
        return str(host) if host else self.data_path

    def variable(self, role: str) -> str:
        """The .env variable behind a role (DB_PASSWORD), or the service's key (MARIADB_PASSWORD)."""
        return self.variables.get(role) or self.keys.get(role) or role


# -- discovery --------------------------------------------------------------------------------


def discover(
    model: Mapping[str, Any],
    raw_model: Mapping[str, Any] | None = None,
    image_env: Callable[[str], Mapping[str, str]] | None = None,
) -> list[Database]:
    """The database services of a Compose model (interpolated, as `compose config` gives it).

    `raw_model` (the compose files as written, before interpolation, merged) tells which
    `.env` variable each value comes from; `image_env` reads an image's ENV (a postgres
    image's PGDATA).
    """
    services = model.get("services") or {}
    declared = _declared(model)
    raw = dict((raw_model or {}).get("services") or {})
    raw_declared = ((raw_model or {}).get("x-devstack") or {}).get("databases") or {}
    for name, settings in raw_declared.items() if isinstance(raw_declared, dict) else ():
        if isinstance(settings, dict) and isinstance(raw.get(name), dict):
            raw[name] = {**raw[name], "x-devstack": settings}
    found = []
    for name in sorted(services):
        svc = services[name]
        if not isinstance(svc, dict):
            continue
        settings = declared.get(name)
        if settings is False:
            continue
        db = _database(name, svc, settings, raw.get(name), image_env)
        if db is not None:
            found.append(db)
    return found


def choose(databases: Sequence[Database], service: str | None) -> Database:
    """The database a command works on: the one named by --service, or the only one."""
    if service:
        for db in databases:
            if db.service == service:
                return db
        known = ", ".join(d.service for d in databases) or "none"
        raise DatabaseNotFound(
            f"service {service!r} is not a database devstack knows (databases: {known})",
            hint="name it under x-devstack.databases in the compose file (README: x-devstack.databases)",
        )
    if not databases:
        raise DatabaseNotFound(
            "no MariaDB, MySQL or PostgreSQL service in this project",
            hint="devstack finds them by image (mariadb, mysql, postgres) or by MARIADB_*, MYSQL_* "
            "or POSTGRES_* variables; declare others under x-devstack.databases",
        )
    if len(databases) > 1:
        names = ", ".join(d.service for d in databases)
        raise UsageError(
            f"this project has {len(databases)} databases ({names}): say which with --service",
            hint=f"e.g. --service {databases[0].service}",
        )
    return databases[0]


def _declared(model: Mapping[str, Any]) -> dict[str, Any]:
    """x-devstack.databases: {service: {settings} | true | false}, or a list of service names."""
    meta = model.get("x-devstack")
    if not isinstance(meta, dict):
        return {}
    value = meta.get("databases")
    if isinstance(value, list):
        return {str(v): {} for v in value}
    if not isinstance(value, dict):
        return {}
    out: dict[str, Any] = {}
    for service, settings in value.items():
        if settings is False:
            out[str(service)] = False
        elif isinstance(settings, dict):
            unknown = sorted(set(map(str, settings)) - set(_SETTING_KEYS))
            if unknown:
                raise UsageError(
                    f"x-devstack.databases.{service} has unknown key(s): {', '.join(unknown)}",
                    hint=f"the keys are: {', '.join(_SETTING_KEYS)}",
                )
            out[str(service)] = settings
        else:
            out[str(service)] = {}
    return out


def image_repository(image: str) -> str:
    """`docker.io/library/mariadb:11.8@sha256:..` -> `mariadb`."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0].lower()


def image_tag(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else "latest"


def engine_of_image(image: str) -> str | None:
    """The engine of an image that follows the official images' contract (None: unknown)."""
    if "bitnami/" in image.lower():
        return None  # other variables (MARIADB_ROOT_USER...) and paths (/bitnami/...)
    repo = image_repository(image)
    if repo in _IMAGES:
        return _IMAGES[repo]
    return None


def _environment(svc: Mapping[str, Any]) -> dict[str, str]:
    env = svc.get("environment") or {}
    if isinstance(env, list):  # Compose v1's `config` may keep the list form
        pairs = (str(item).partition("=") for item in env)
        return {k: v for k, sep, v in pairs if sep}
    if isinstance(env, dict):
        return {str(k): str(v) for k, v in env.items() if v is not None}
    return {}


def _mounts(svc: Mapping[str, Any]) -> list[Mount]:
    mounts = []
    for item in svc.get("volumes") or []:
        if isinstance(item, dict):
            target = str(item.get("target") or "")
            mounts.append(Mount(str(item.get("type") or "volume"), str(item.get("source") or ""), target))
        elif isinstance(item, str):  # v1 `config`: "SOURCE:TARGET[:MODE]" or "TARGET"
            parts = item.split(":")
            if len(parts) == 1:
                mounts.append(Mount("volume", "", parts[0]))
            else:
                source, target = parts[0], parts[1]
                kind = "bind" if source.startswith(("/", ".", "~")) else "volume"
                mounts.append(Mount(kind, source, target))
    return [m for m in mounts if m.target]


def _holding(mounts: Sequence[Mount], path: str) -> Mount | None:
    """The mount whose target is `path` or the nearest parent of it."""
    best: Mount | None = None
    for mount in mounts:
        target = mount.target.rstrip("/") or "/"
        if path == target or path.startswith(target.rstrip("/") + "/"):
            if best is None or len(target) > len(best.target.rstrip("/")):
                best = mount
    return best


def _first(env: Mapping[str, str], *keys: str) -> tuple[str | None, str | None]:
    """(value, key) of the first key set in env."""
    for key in keys:
        if key in env:
            return env[key], key
    return None, None


def _engine_from_environment(env: Mapping[str, str], mounts: Sequence[Mount]) -> str | None:
    """For images built locally: the official variables, with a mount at the data directory."""
    targets = {m.target.rstrip("/") for m in mounts}
    if any(k.startswith("MARIADB_") for k in env) and "/var/lib/mysql" in targets:
        return "mariadb"
    mysql_keys = (
        "MYSQL_ROOT_PASSWORD",
        "MYSQL_DATABASE",
        "MYSQL_ALLOW_EMPTY_PASSWORD",
        "MYSQL_RANDOM_ROOT_PASSWORD",
    )
    if any(k in env for k in mysql_keys) and "/var/lib/mysql" in targets:
        return "mysql"
    pg_keys = ("POSTGRES_PASSWORD", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_HOST_AUTH_METHOD")
    if any(k in env for k in pg_keys) and (
        env.get("PGDATA", "").rstrip("/") in targets
        or any(t == "/var/lib/postgresql" or t.startswith("/var/lib/postgresql/") for t in targets)
    ):
        return "postgres"
    return None


def _database(
    name: str,
    svc: Mapping[str, Any],
    settings: Mapping[str, Any] | None,
    raw: Any,
    image_env: Callable[[str], Mapping[str, str]] | None,
) -> Database | None:
    env = _environment(svc)
    mounts = _mounts(svc)
    image = str(svc.get("image") or "")
    declared = settings is not None
    settings = dict(settings or {})
    engine = str(settings.get("engine") or "").lower() or None
    if engine is not None and engine not in ENGINES:
        raise UsageError(
            f"x-devstack.databases.{name}.engine is {engine!r}",
            hint=f"write one of: {', '.join(ENGINES)}",
        )
    if engine is None:
        engine = engine_of_image(image) if image else None
    if engine is None:
        engine = _engine_from_environment(env, mounts)
    if engine is None:
        if declared:
            raise UsageError(
                f"x-devstack.databases names {name}, but devstack cannot tell its engine",
                hint=f"add `engine: mariadb` (or mysql, postgres) under x-devstack.databases.{name}",
            )
        return None
    raw_env = _environment(raw) if isinstance(raw, dict) else {}
    keys: dict[str, str] = {}
    files: dict[str, str] = {}

    def take(role: str, *candidates: str) -> str | None:
        value, key = _first(env, *candidates)
        if key is not None:
            keys[role] = key
            return value
        value, key = _first(env, *(f"{c}_FILE" for c in candidates))
        if key is not None and value:
            keys[role] = key
            files[role] = value
        return None

    root_empty = False
    trust = False
    if engine == "postgres":
        user = take("user", "POSTGRES_USER") or "postgres"
        password = take("password", "POSTGRES_PASSWORD")
        database = take("database", "POSTGRES_DB") or user
        root_password = None
        trust = env.get("POSTGRES_HOST_AUTH_METHOD", "").lower() == "trust"
        data_path = env.get("PGDATA") or (image_env(image).get("PGDATA") if image_env and image else None)
        if not data_path:
            major = image_tag(image).split(".", 1)[0].split("-", 1)[0]
            data_path = (
                f"/var/lib/postgresql/{major}/docker"
                if major.isdigit() and int(major) >= 18
                else DATA_PATHS["postgres"]
            )
    else:
        prefixes = ("MARIADB_", "MYSQL_") if engine == "mariadb" else ("MYSQL_",)
        user = take("user", *(p + "USER" for p in prefixes)) or ""
        password = take("password", *(p + "PASSWORD" for p in prefixes))
        database = take("database", *(p + "DATABASE" for p in prefixes)) or ""
        root_password = take("root_password", *(p + "ROOT_PASSWORD" for p in prefixes))
        allow = ("MARIADB_ALLOW_EMPTY_ROOT_PASSWORD", "MYSQL_ALLOW_EMPTY_PASSWORD")
        root_empty = any(env.get(k) for k in allow) and not root_password
        if not user:
            user = "root"
            password = root_password
            if "root_password" in keys:
                keys["password"] = keys["root_password"]
            if "root_password" in files:
                files["password"] = files["root_password"]
        data_path = DATA_PATHS[engine]
    port = PORTS[engine]
    # x-devstack.databases.<service> wins over what the image's contract says.
    overrides = {
        "database": settings.get("database"),
        "user": settings.get("user"),
        "password": settings.get("password"),
        "root_password": settings.get("root_password"),
    }
    for role, value in overrides.items():
        if value is None:
            continue
        keys[role] = f"x-devstack.databases.{name}.{role}"
        files.pop(role, None)
        if role == "database":
            database = str(value)
        elif role == "user":
            user = str(value)
        elif role == "password":
            password = str(value)
        else:
            root_password = str(value)
    if settings.get("data"):
        data_path = str(settings["data"])
    if settings.get("port"):
        try:
            port = int(settings["port"])
        except (TypeError, ValueError):
            raise UsageError(
                f"x-devstack.databases.{name}.port is not a number: {settings['port']!r}"
            ) from None
    data_path = data_path.rstrip("/") or "/"
    variables = {}
    raw_settings = raw.get("x-devstack") if isinstance(raw, dict) else None
    for role, key in keys.items():
        written = raw_env.get(key, "")
        if key.startswith("x-devstack.") and isinstance(raw_settings, dict):
            written = str(raw_settings.get(role) or "")
        match = _VAR_REFERENCE.search(written)
        if match:
            variables[role] = match.group(1)
    user_option = str(svc.get("user") or "")
    return Database(
        service=name,
        engine=engine,
        image=image,
        name=database,
        user=user,
        password=password,
        root_password=root_password,
        data_path=data_path,
        mount=_holding(mounts, data_path),
        port=port,
        keys=keys,
        variables=variables,
        files=files,
        trust=trust,
        root_empty=bool(root_empty),
        user_option=user_option,
        declared=declared,
    )


def raw_model(project: Project) -> dict[str, Any]:
    """The project's compose files as written (before interpolation), merged top-level keys."""
    from devstack.composefile import ComposeFileError, load, plain

    merged: dict[str, Any] = {"services": {}, "x-devstack": {}}
    for path in project.files:
        try:
            data = plain(load(path, project.root).data)
        except ComposeFileError:
            continue
        for name, svc in (data.get("services") or {}).items():
            if isinstance(svc, dict):
                merged["services"].setdefault(str(name), {}).update(svc)
        meta = data.get("x-devstack")
        if isinstance(meta, dict):
            merged["x-devstack"].update(meta)
    return merged


# -- running clients inside the database container ------------------------------------------

# Picks the client the image has: the official MariaDB 11 image has only the mariadb-* names,
# the MySQL image only the mysql* ones. $1 is the kind (client, dump), the rest its arguments.
MYSQL_CLIENT = r"""
kind=$1; shift
case "$kind" in
  dump) names="mariadb-dump mysqldump" ;;
  *) names="mariadb mysql" ;;
esac
for n in $names; do
  if command -v "$n" >/dev/null 2>&1; then exec "$n" "$@"; fi
done
echo "devstack: the image has none of: $names" >&2
exit 127
"""
# $1 = the command (psql, pg_dump). Connects over the local socket as the given user.
PG_CLIENT = r"""
n=$1; shift
if ! command -v "$n" >/dev/null 2>&1; then echo "devstack: the image has no $n" >&2; exit 127; fi
exec "$n" "$@"
"""


@dataclass
class Target:
    """A database service of a loaded project, ready for commands."""

    project: Project
    runner: ComposeRunner
    db: Database
    model: dict[str, Any]
    _secrets: dict[str, str | None] = field(default_factory=dict)

    def secret(self, role: str) -> str | None:
        """The password for a role ("password", "root_password"), read from a *_FILE if need be."""
        if role in self._secrets:
            return self._secrets[role]
        value = self.db.password if role == "password" else self.db.root_password
        path = self.db.files.get(role)
        if value is None and path:
            buffer = _Buffer()
            result = self.runner.pipe("exec", "-T", self.db.service, "cat", path, sink=buffer.add)
            if result.returncode == 0:
                value = buffer.text().rstrip("\n")
        self._secrets[role] = value
        return value

    def admin(self) -> tuple[str, str | None]:
        user, _ = self.db.admin()
        if user == "root" and self.db.family == "mysql" and user != self.db.user:
            return user, self.secret("root_password") or ("" if self.db.root_empty else None)
        return self.db.user, self.secret("password")


class _Buffer:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def add(self, data: bytes) -> None:
        self.parts.append(data)

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", "replace")


def load(project: Project, service: str | None = None, runner: ComposeRunner | None = None) -> Target:
    """The database a command works on (`--service`, or the only one), with its project."""
    from devstack import engine
    from devstack.compose import ComposeRunner

    runner = runner or ComposeRunner(project)
    model = project_model(runner)
    databases = discover(model, raw_model(project), image_env=engine.image_env)
    return Target(project, runner, choose(databases, service), model)


def project_model(runner: ComposeRunner) -> dict[str, Any]:
    """Compose's merged model of the project; an error that says why when there is none."""
    answer = runner.model()
    if answer.data is None or answer.rejected:
        reason = (answer.rejected or answer.unavailable or "no answer").strip().splitlines()
        raise DevstackError(
            f"Compose cannot load this project: {reason[-1] if reason else 'no answer'}",
            hint="`devstack check` says what is wrong and how to fix it",
        )
    return answer.data


def password_env(db: Database, password: str | None) -> dict[str, str]:
    """The variable the engine's clients read a password from."""
    if password is None:
        return {}
    return {"PGPASSWORD": password} if db.family == "postgres" else {"MYSQL_PWD": password}


def client_argv(db: Database, kind: str, user: str, *args: str, password: bool = True) -> list[str]:
    """`exec -T SERVICE sh -c SCRIPT ...` for a client inside the container (after `exec`)."""
    env_flags = ["-e", "PGPASSWORD" if db.family == "postgres" else "MYSQL_PWD"] if password else []
    if db.family == "postgres":
        script, login = PG_CLIENT, f"--username={user}"
    else:
        script, login = MYSQL_CLIENT, f"--user={user}"
    return ["exec", "-T", *env_flags, db.service, "sh", "-c", script, "devstack", kind, login, *args]


def run_sql(
    target: Target,
    sql: str,
    *,
    admin: bool = True,
    database: str | None = None,
    stop_on_error: bool = True,
) -> tuple[int, str, str]:
    """Run SQL with the engine's client; (exit code, stdout, stderr). Rows come tab-separated.

    `stop_on_error=False` runs every statement even after one fails (the output tells).
    """
    db = target.db
    user, password = target.admin() if admin else (db.user, target.secret("password"))
    if db.family == "postgres":
        args = ["-X", "-q", "-A", "-t", "-F", "\t", "-v", f"ON_ERROR_STOP={int(stop_on_error)}"]
        args.append(f"--dbname={database or db.name}")
        kind = "psql"
    else:
        args = ["-N", "-B", "--default-character-set=utf8mb4"]
        if not stop_on_error:
            args.append("--force")
        if database:
            args.append(f"--database={database}")
        kind = "client"
    out = _Buffer()
    result = target.runner.pipe(
        *client_argv(db, kind, user, *args, password=password is not None),
        feed=[sql.encode("utf-8")],
        sink=out.add,
        env=password_env(db, password),
    )
    return result.returncode, out.text(), result.stderr


def require_running(target: Target, wait: float = 120.0) -> None:
    """Raise unless the database container runs; wait while it is still starting.

    "Starting" is what its healthcheck says; without one, a container started in the last
    minute is asked `SELECT 1` until it answers (a snapshot or restore has just started it).
    """
    from devstack import engine

    deadline = time.monotonic() + wait
    while True:
        infos = [c for c in engine.project_containers(target.project.name) if c.service == target.db.service]
        running = [c for c in infos if c.state == "running"]
        if not running:
            state = infos[0].state if infos else "not created"
            raise DatabaseError(
                f"service {target.db.service} is not running ({state})",
                hint=f"start it with `devstack up` (or `devstack up {target.db.service}`)",
            )
        info = running[0]
        if time.monotonic() > deadline:
            return
        if info.health == "starting":
            time.sleep(0.25)
            continue
        if info.health == "" and _seconds_since(info.started_at) < 60:
            if run_sql(target, "SELECT 1;\n")[0] == 0:
                return
            time.sleep(0.25)
            continue
        return


def _seconds_since(started_at: str) -> float:
    """Seconds since an engine timestamp (RFC 3339 with nanoseconds); large when unknown."""
    from datetime import datetime, timezone

    text = started_at.rstrip("Z")
    if "." in text:
        head, frac = text.split(".", 1)
        text = f"{head}.{frac[:6]}"
    try:
        when = datetime.fromisoformat(text).replace(tzinfo=timezone.utc)
    except ValueError:
        return 1e9
    return time.time() - when.timestamp()


def state_dir(project: Project) -> Path:
    """`.devstack/` in the project: devstack's own files, git-ignored by a .gitignore of its own."""
    path = project.root / ".devstack"
    path.mkdir(exist_ok=True)
    ignore = path / ".gitignore"
    if not ignore.exists():
        ignore.write_text("# devstack's local state (snapshots, journals): never committed.\n*\n", "utf-8")
    return path
