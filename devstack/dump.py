"""`devstack db export` and `devstack db import`: SQL dumps out of and into a database service.

The clients run inside the database's container (db.py says how they are found and reached);
compression happens here, on the host: gzip from the standard library, zstd through
`zstandard` (imported only by these commands). A gzip file to import is the exception: the
container's own gzip decompresses it (see GUNZIP_INTO). An import tunes the server for a bulk load and
puts the settings back in the same client session, right after the dump.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

from devstack.db import (
    Database,
    DatabaseError,
    Target,
    client_argv,
    password_env,
    require_running,
    run_sql,
    state_dir,
)
from devstack.errors import DevstackError, Interrupted, UsageError

# -- export ------------------------------------------------------------------------------------

FORMATS = ("sql", "gz", "zst")


def format_for(path: str) -> str:
    """sql, gz or zst from a file name (`.sql`, `.sql.gz`/`.gz`, `.sql.zst`/`.zst`)."""
    lower = path.lower()
    if lower.endswith((".gz", ".gzip")):
        return "gz"
    if lower.endswith((".zst", ".zstd")):
        return "zst"
    if lower.endswith(".sql"):
        return "sql"
    raise UsageError(
        f"cannot tell the format from the name {path}",
        hint="name it .sql, .sql.gz or .sql.zst, or pass --format sql|gz|zst",
    )


def default_export_name(target: Target, fmt: str = "gz", now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    suffix = {"sql": ".sql", "gz": ".sql.gz", "zst": ".sql.zst"}[fmt]
    base = target.db.name or target.db.service
    return f"{target.project.name}-{base}-{stamp}{suffix}"


@dataclass(frozen=True)
class Transfer:
    """Progress of an export or import: bytes so far, and the total when it is known."""

    done: int
    total: int | None
    started: float


TransferProgress = Callable[[Transfer], None]


def _quiet(_t: Transfer) -> None:
    return None


@dataclass(frozen=True)
class ExportResult:
    sql_bytes: int
    written: int
    seconds: float
    path: Path | None


class _Writer:
    """Compresses on a thread of its own, so the dump and the compression overlap."""

    def __init__(self, out: IO[bytes], fmt: str) -> None:
        import queue

        self.out = out
        self.fmt = fmt
        self.queue: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self.error: BaseException | None = None
        self.written = 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            counting = CountingWriter(self.out)
            stream = _compressing(counting, self.fmt)
            while True:
                data = self.queue.get()
                if data is None:
                    break
                stream.write(data)
            stream.close()
            self.written = counting.count
        except BaseException as exc:  # handed to the caller in put()/close()
            self.error = exc
            while self.queue.get() is not None:
                pass

    def put(self, data: bytes) -> None:
        if self.error is not None:
            raise self.error
        self.queue.put(data)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise self.error


class CountingWriter:
    """A write-through stream that counts bytes (a dump's or an archive's size)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.count = 0

    def write(self, data: bytes) -> int:
        self.out.write(data)
        self.count += len(data)
        return len(data)

    def flush(self) -> None:
        self.out.flush()

    def close(self) -> None:
        self.out.flush()


class _NoClose:
    """Stream wrapper whose close() only flushes (so compressors do not close the target)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def write(self, data: bytes) -> int:
        return int(self.inner.write(data) or len(data))

    def close(self) -> None:
        self.inner.flush()


def _compressing(out: Any, fmt: str) -> Any:
    if fmt == "gz":
        import gzip

        return gzip.GzipFile(fileobj=out, mode="wb", compresslevel=6)
    if fmt == "zst":
        import zstandard

        return zstandard.ZstdCompressor(level=3, threads=-1).stream_writer(out, closefd=False)
    return _NoClose(out)


def dump_argv(target: Target) -> tuple[list[str], dict[str, str]]:
    """The dump command (after `compose`) and the environment that carries its password."""
    db = target.db
    user, password = target.admin()
    if db.family == "postgres":
        args = ["--no-owner", "--no-privileges", f"--dbname={db.name}"]
        argv = client_argv(db, "pg_dump", user, *args, password=password is not None)
        return argv, password_env(db, password)
    args = [
        "--single-transaction",
        "--quick",
        "--routines",
        "--triggers",
        "--hex-blob",
        "--no-tablespaces",
        "--default-character-set=utf8mb4",
    ]
    if user == "root":
        args.append("--events")
    _check_name(db)
    args.append(db.name)
    return client_argv(db, "dump", user, *args, password=password is not None), password_env(db, password)


def _check_name(db: Database) -> None:
    if not db.name or db.name.startswith("-"):
        raise DatabaseError(
            f"service {db.service}: no database name is known ({db.variable('database')} is empty)",
            hint=f"set it in the environment, or under x-devstack.databases.{db.service}.database",
        )


def export(
    target: Target,
    out: IO[bytes],
    fmt: str = "gz",
    progress: TransferProgress = _quiet,
) -> ExportResult:
    """Dump the database into `out` (an open binary stream), compressed as `fmt`."""
    if fmt not in FORMATS:
        raise UsageError(f"unknown format {fmt!r}", hint=f"one of: {', '.join(FORMATS)}")
    require_running(target)
    argv, env = dump_argv(target)
    started = time.monotonic()
    writer = _Writer(out, fmt)
    seen = 0
    last = 0.0

    def sink(data: bytes) -> None:
        nonlocal seen, last
        writer.put(data)
        seen += len(data)
        now = time.monotonic()
        if now - last >= 0.1:
            last = now
            progress(Transfer(seen, None, started))

    try:
        try:
            result = target.runner.pipe(*argv, sink=sink, env=env)
        finally:
            writer.close()
    except BrokenPipeError:
        raise DatabaseError("the export stopped: whatever read its output went away") from None
    except OSError as exc:
        raise DatabaseError(
            f"cannot write the dump: {exc.strerror or exc}", hint="check the disk space and the path"
        ) from None
    progress(Transfer(seen, seen, started))
    if result.returncode != 0:
        raise DatabaseError(
            f"the dump of {target.db.name} ({target.db.service}) failed (exit {result.returncode}): "
            + _last_line(result.stderr),
            hint=f"see `devstack logs {target.db.service}`",
            details=_tail(result.stderr),
        )
    return ExportResult(seen, writer.written, time.monotonic() - started, None)


def export_to_file(
    target: Target,
    path: Path,
    fmt: str | None = None,
    *,
    force: bool = False,
    progress: TransferProgress = _quiet,
) -> ExportResult:
    """Export into a file, atomically: a failed or interrupted export leaves no file behind."""
    fmt = fmt or format_for(path.name)
    if path.exists() and not force:
        raise UsageError(f"{path} exists", hint="choose another name, or pass --force to replace it")
    if not path.parent.is_dir():
        raise UsageError(f"directory {path.parent} does not exist")
    part = path.with_name(f".{path.name}.part")
    try:
        with open(part, "wb") as handle:
            result = export(target, handle, fmt, progress)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, path)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    return replace(result, path=path)


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1].strip() if lines else "no output"


def _error_line(text: str) -> str:
    """The client's error message: the first line that says ERROR, else the last line."""
    for line in text.splitlines():
        if "ERROR" in line:
            return line.strip()
    return _last_line(text)


def _tail(text: str, count: int = 8) -> str | None:
    lines = text.strip().splitlines()
    return "\n".join(lines[-count:]) if lines else None


# -- import ------------------------------------------------------------------------------------

_MAGIC = (
    (b"\x1f\x8b", "gz"),
    (b"\x28\xb5\x2f\xfd", "zst"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"BZh", "bz2"),
)


def sniff(head: bytes) -> str:
    """The compression of a dump from its first bytes: gz, zst, xz, bz2 or sql."""
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return "sql"


class _CountingReader:
    def __init__(self, raw: IO[bytes], head: bytes) -> None:
        self.raw = raw
        self.head = head
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if self.head:
            data = self.head if size < 0 else self.head[:size]
            self.head = self.head[len(data) :]
            if size < 0:
                data += self.raw.read()
        else:
            data = self.raw.read(size)
        self.count += len(data)
        return data

    def readable(self) -> bool:
        return True


def _decompressing(reader: Any, kind: str) -> Any:
    if kind == "gz":
        import gzip

        return gzip.GzipFile(fileobj=reader, mode="rb")
    if kind == "zst":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(reader, read_across_frames=True, closefd=False)
    if kind == "xz":
        import lzma

        return lzma.LZMAFile(reader)
    if kind == "bz2":
        import bz2

        return bz2.BZ2File(reader)
    return reader


class DumpUnreadable(DevstackError):
    """The file to import is not a dump devstack can read."""


class ImportFailed(DevstackError):
    """The import stopped; the message says where and what state the database is in."""


@dataclass(frozen=True)
class ImportResult:
    read: int  # bytes of the file (compressed)
    sql_bytes: int | None  # bytes of SQL fed to the client (None: decompressed in the container)
    seconds: float
    kind: str  # compression
    tuned: tuple[str, ...]  # server settings changed for the import (and restored)
    emptied: bool


class SqlSource:
    """A dump as a stream of SQL chunks, decompressed on the fly; counts what it read.

    A gzip file that can be read again from its start (`rewindable`) may instead be sent as
    it is (`compressed`), for the container to decompress.
    """

    def __init__(self, raw: IO[bytes], name: str, total: int | None = None, chunk: int = 1 << 20) -> None:
        self.name = name
        self.total = total
        self.chunk = chunk
        self.raw = raw
        try:
            self.start: int | None = raw.tell() if raw.seekable() else None
        except (AttributeError, OSError, ValueError):
            self.start = None
        head = raw.read(8)
        self.kind = sniff(head)
        self.reader = _CountingReader(raw, head)
        self.stream = _decompressing(self.reader, self.kind)
        self.sql_bytes = 0
        self.first = b""

    def probe(self) -> None:
        """Read the first chunk now: a damaged or non-SQL file fails before anything changes."""
        try:
            self.first = self.stream.read(self.chunk)
        except Exception as exc:  # gzip.BadGzipFile, zstd.ZstdError, lzma.LZMAError, EOFError...
            raise DumpUnreadable(
                f"{self.name} cannot be read as {self.kind}: {exc}",
                hint="nothing was changed; check the file (is it complete?)",
            ) from None
        if not self.first.strip():
            raise DumpUnreadable(f"{self.name} is empty", hint="nothing was changed")
        if b"\x00" in self.first[:65536]:
            raise DumpUnreadable(
                f"{self.name} does not look like SQL (it holds binary data)",
                hint="nothing was changed; import a .sql, .sql.gz or .sql.zst dump",
            )

    def chunks(self, progress: TransferProgress = _quiet) -> Iterator[bytes]:
        started = time.monotonic()
        if self.first:
            self.sql_bytes += len(self.first)
            yield self.first
            self.first = b""
        yield from self._reported(self._sql_reads(), progress, started)

    def _sql_reads(self) -> Iterator[bytes]:
        while True:
            try:
                data = self.stream.read(self.chunk)
            except Exception as exc:
                raise DumpUnreadable(
                    f"{self.name} is damaged after {self.reader.count} bytes ({self.kind}: {exc})"
                ) from None
            if not data:
                return
            self.sql_bytes += len(data)
            yield data

    def _reported(
        self, pieces: Iterator[bytes], progress: TransferProgress, started: float
    ) -> Iterator[bytes]:
        """The pieces, with the bytes read from the file reported at most every 0.1 s and at the end."""
        last = 0.0
        for data in pieces:
            now = time.monotonic()
            if now - last >= 0.1:
                last = now
                progress(Transfer(self.reader.count, self.total, started))
            yield data
        progress(Transfer(self.reader.count, self.total or self.reader.count, started))

    @property
    def rewindable(self) -> bool:
        return self.start is not None

    def rewind(self) -> None:
        """Back to the start of the file, as if nothing had been read (after `probe`)."""
        assert self.start is not None
        self.raw.seek(self.start)
        head = self.raw.read(8)
        self.reader = _CountingReader(self.raw, head)
        self.stream = _decompressing(self.reader, self.kind)
        self.sql_bytes = 0
        self.first = b""

    def compressed(self, progress: TransferProgress = _quiet) -> Iterator[bytes]:
        """The file's bytes as they are, from its start (`sql_bytes` stays unknown)."""
        assert self.start is not None
        self.raw.seek(self.start)
        self.reader = _CountingReader(self.raw, b"")
        self.first = b""
        started = time.monotonic()
        yield from self._reported(iter(lambda: self.reader.read(self.chunk), b""), progress, started)

    def count_lines(self) -> int:
        """Lines of the SQL, read again from the start (to place an error after a load)."""
        self.rewind()
        lines = _Lines(self.chunks())
        for _chunk in lines:
            pass
        return lines.count


# -- server settings for a bulk load, and emptying the database -----------------------------------
# Only settings that cannot corrupt data if the machine crashes mid-import: fewer log flushes
# (MariaDB/MySQL) and fewer checkpoints (PostgreSQL). Left alone on purpose: innodb_doublewrite,
# MySQL's DISABLE INNODB REDO_LOG, PostgreSQL's fsync and full_page_writes (a crash with those
# off can leave a database that no longer starts). The old values go to a journal in .devstack/,
# so an import that is killed is undone by the next `devstack db import`.
# Everything before the load runs as one client call, and so does everything after it: each
# `compose exec` costs a few hundred milliseconds.

MYSQL_BULK = {
    "innodb_flush_log_at_trx_commit": "0",
    "sync_binlog": "0",
    "max_allowed_packet": "1073741824",
}
POSTGRES_BULK = {"max_wal_size": "8GB", "checkpoint_timeout": "30min"}
# Per session (the import's connection only): PGOPTIONS / --init-command.
POSTGRES_SESSION = "-c synchronous_commit=off -c maintenance_work_mem=256MB -c client_min_messages=warning"
MYSQL_SESSION = "SET SESSION foreign_key_checks=0, unique_checks=0"


def _journal_path(target: Target) -> Path:
    return state_dir(target.project) / f"tuning-{target.db.service}.json"


def _my_str(value: str) -> str:
    """A MariaDB/MySQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"


def _my_ident(value: str) -> str:
    return "`" + value.replace("`", "``") + "`"


def _pg_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _sections(output: str) -> dict[str, list[list[str]]]:
    """Output split at marker rows (`#name`): {name: [row fields...]}."""
    found: dict[str, list[list[str]]] = {}
    current = found.setdefault("", [])
    for line in output.splitlines():
        fields = line.split("\t")
        if fields and fields[0].startswith("#") and len(fields) == 1:
            current = found.setdefault(fields[0][1:], [])
        elif line.strip():
            current.append(fields)
    return found


@dataclass
class Prepared:
    """What `prepare` did: settings changed (old values, for `restore_settings`), emptied or not."""

    journal: dict[str, Any]
    emptied: bool
    applied: list[str]


def _mysql_prepare_sql(db: Database, tune: bool, empty: bool) -> str:
    names = ", ".join(_my_str(n) for n in MYSQL_BULK)
    sql = ""
    if tune:
        sql += f"SELECT '#old';\nSHOW GLOBAL VARIABLES WHERE Variable_name IN ({names});\n"
        sql += "".join(f"SET GLOBAL {n} = {v};\n" for n, v in MYSQL_BULK.items())
        sql += f"SELECT '#now';\nSHOW GLOBAL VARIABLES WHERE Variable_name IN ({names});\n"
    if empty:
        name, ident = _my_str(db.name), _my_ident(db.name)
        # The database keeps its character set and collation.
        sql += (
            "SELECT CONCAT('CREATE DATABASE ', "
            + _my_str(ident)
            + ", ' CHARACTER SET ', DEFAULT_CHARACTER_SET_NAME, ' COLLATE ', DEFAULT_COLLATION_NAME) "
            f"INTO @devstack_create FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {name};\n"
            f"SET @devstack_create = COALESCE(@devstack_create, {_my_str('CREATE DATABASE ' + ident)});\n"
            f"DROP DATABASE IF EXISTS {ident};\n"
            "PREPARE devstack_stmt FROM @devstack_create;\nEXECUTE devstack_stmt;\n"
            "DEALLOCATE PREPARE devstack_stmt;\n"
            "SELECT '#left';\n"
            f"SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = {name};\n"
            f"SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = {name};\n"
        )
    return sql


def prepare(target: Target, *, empty: bool) -> Prepared:
    """MariaDB/MySQL: tune the server for a bulk load (as root) and empty the database.

    One client call, before the load's own connection (which then gets the new
    max_allowed_packet). Raises DatabaseError, with the settings already put back, when the
    database could not be emptied. (PostgreSQL does both in the load's session: see
    `_postgres_prelude`.)
    """
    db = target.db
    if empty:
        _check_name(db)
    tune = db.has_admin
    if not tune and not empty:
        return Prepared({}, False, [])
    sql = _mysql_prepare_sql(db, tune, empty)
    code, out, err = run_sql(target, sql, stop_on_error=False, admin=tune)
    parts = _sections(out)
    journal: dict[str, Any] = {}
    applied: list[str] = []
    if tune:
        old = {row[0]: row[1] if len(row) > 1 else "" for row in parts.get("old", [])}
        now = {row[0]: row[1] if len(row) > 1 else "" for row in parts.get("now", [])}
        applied = [n for n, v in MYSQL_BULK.items() if n in old and old[n] != v and now.get(n) == v]
        journal = {"engine": db.engine, "globals": {n: old[n] for n in applied}}
        if applied:
            _journal_path(target).write_text(json.dumps(journal), "utf-8")
    counts = [row[0] for row in parts.get("left", []) if row and row[0].isdigit()]
    if empty and counts != ["0", "1"]:  # tables left, database present
        restore_settings(target, journal)
        reason = _last_line(err) if err.strip() else "it still has tables"
        raise DatabaseError(
            f"cannot empty database {db.name}: {reason}",
            hint="the account devstack uses needs DROP and CREATE on it (give the service its root "
            "password, e.g. MARIADB_ROOT_PASSWORD); nothing was imported (or import with --keep)",
            details=_tail(err),
        )
    return Prepared(journal, empty, applied)


def restore_settings(target: Target, journal: Mapping[str, Any]) -> list[str]:
    """Put back what `prepare` changed (one client call); return what could not be restored."""
    if not journal or not (journal.get("globals") or journal.get("auto_conf")):
        _journal_path(target).unlink(missing_ok=True)
        return []
    if journal.get("engine") == "postgres":
        settings = journal.get("auto_conf") or {}
        sql = ""
        for name, value in settings.items():
            if value is None:
                sql += f"ALTER SYSTEM RESET {name};\n"
            else:
                sql += f"ALTER SYSTEM SET {name} = {_pg_str(str(value))};\n"
        sql += "SELECT pg_reload_conf() \\g /dev/null\n"
        code, _, _ = run_sql(target, sql, database="postgres")
        failed = [] if code == 0 else list(settings)
    else:
        settings = journal.get("globals") or {}
        sql = "".join(
            f"SET GLOBAL {n} = {v if str(v).isdigit() else _my_str(str(v))};\n" for n, v in settings.items()
        )
        code, _, _ = run_sql(target, sql)
        failed = [] if code == 0 else list(settings)
    if not failed:
        _journal_path(target).unlink(missing_ok=True)
    return failed


def recover_settings(target: Target) -> list[str]:
    """Undo the settings of an import that was killed before it could (journal in .devstack/)."""
    path = _journal_path(target)
    if not path.is_file():
        return []
    try:
        journal = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        path.unlink(missing_ok=True)
        return []
    names = list(journal.get("globals") or journal.get("auto_conf") or {})
    return [] if restore_settings(target, journal) else names


# -- import ------------------------------------------------------------------------------------


def import_argv(target: Target) -> tuple[list[str], dict[str, str]]:
    """The client command (after `compose`) that reads the dump on stdin, and its environment.

    PostgreSQL connects to the maintenance database `postgres`: the stream itself drops,
    creates and then connects to the target (see `_postgres_prelude`).
    """
    db = target.db
    _check_name(db)
    user, password = target.admin()
    env = password_env(db, password)
    if db.family == "postgres":
        # `-f -`: errors then name the line ("psql:<stdin>:12: ERROR: ..."); -A -t keep
        # the marker lines of the prelude plain.
        args = ["-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-v", f"devstack_db={db.name}"]
        args += ["--dbname=postgres", "-f", "-"]
        env["PGOPTIONS"] = POSTGRES_SESSION
        argv = client_argv(db, "psql", user, *args, password=password is not None)
        argv[2:2] = ["-e", "PGOPTIONS"]
        return argv, env
    session = MYSQL_SESSION + (", sql_log_bin=0" if user == "root" else "")
    args = [
        "--binary-mode",
        "--max-allowed-packet=1073741824",
        f"--init-command={session}",
        f"--database={db.name}",
    ]
    return client_argv(db, "client", user, *args, password=password is not None), env


# A gzip dump is decompressed in the container, next to the client: Compose and the engine then
# relay the compressed bytes (an eighth of the SQL, for a typical dump) instead of the SQL, which
# on a two-core machine saves a tenth or more of the import's time. $1 is the client's script, the rest its
# arguments. A gzip that fails says so (the marker below) and stops: the client reads no more,
# so a PostgreSQL load never reaches its COMMIT, and the failure is reported as the file's. A
# gzip stopped by SIGPIPE (the client quit first, on an error in the SQL) is not a damaged file.
GUNZIP_INTO = r"""
if ! command -v gzip >/dev/null 2>&1; then echo "devstack: the image has no gzip" >&2; exit 127; fi
script=$1; shift
{ gzip -dc || { s=$?; [ "$s" -gt 128 ] || echo "devstack: gzip -dc failed (exit $s)" >&2; }; } |
  sh -c "$script" "$@"
"""
_NO_GZIP = "devstack: the image has no gzip"
_GZIP_FAILED = "devstack: gzip -dc failed"


def gunzip_argv(argv: list[str]) -> list[str]:
    """A client command (`exec ... SERVICE sh -c SCRIPT ...`) that reads gzip-compressed input."""
    at = argv.index("sh")
    if argv[at : at + 2] != ["sh", "-c"]:
        raise ValueError(f"not a client command: {argv}")
    return [*argv[: at + 2], GUNZIP_INTO, "devstack", *argv[at + 2 :]]


def _gzip_member(text: str) -> bytes:
    import gzip

    return gzip.compress(text.encode("utf-8"), compresslevel=1, mtime=0)


def _postgres_prelude(db: Database, tune: bool, empty: bool) -> str:
    """What psql runs before the dump, in the same session: tuning, emptying, BEGIN.

    The old ALTER SYSTEM values are kept in psql variables for the postlude, and printed
    (`#old`) for the journal. One session instead of three `compose exec` calls.
    """
    names = ", ".join(_pg_str(n) for n in POSTGRES_BULK)
    sql = ""
    if tune:
        auto = f"FROM pg_file_settings WHERE sourcefile LIKE '%postgresql.auto.conf' AND name IN ({names})"
        sql += f"\\echo '#old'\nSELECT name, setting {auto};\n"
        sql += (
            "SELECT "
            + ", ".join(
                f"coalesce(max(setting) FILTER (WHERE name = {_pg_str(n)}), '') AS devstack_old_{i}"
                for i, n in enumerate(POSTGRES_BULK)
            )
            + f" {auto} \\gset\n"
        )
        sql += "".join(f"ALTER SYSTEM SET {n} = {_pg_str(v)};\n" for n, v in POSTGRES_BULK.items())
        sql += "SELECT pg_reload_conf() \\g /dev/null\n"
    if empty:
        # Keeps its owner, encoding, collation and locale provider.
        sql += (
            "SELECT c AS devstack_create FROM ("
            " SELECT 1 AS o, format('CREATE DATABASE %I OWNER %I TEMPLATE template0 ENCODING %L"
            " LC_COLLATE %L LC_CTYPE %L', d.datname, pg_get_userbyid(d.datdba),"
            " pg_encoding_to_char(d.encoding), d.datcollate, d.datctype)"
            " || CASE j->>'datlocprovider'"
            "   WHEN 'i' THEN format(' LOCALE_PROVIDER icu ICU_LOCALE %L',"
            "     coalesce(j->>'datlocale', j->>'daticulocale'))"
            "   WHEN 'b' THEN format(' LOCALE_PROVIDER builtin BUILTIN_LOCALE %L', j->>'datlocale')"
            "   ELSE '' END AS c"
            " FROM pg_database d, to_jsonb(d) j WHERE d.datname = :'devstack_db'"
            " UNION ALL SELECT 2, format('CREATE DATABASE %I', :'devstack_db')"
            ") x ORDER BY o LIMIT 1 \\gset\n"
        )
        sql += 'DROP DATABASE IF EXISTS :"devstack_db" WITH (FORCE);\n:devstack_create;\n'
    sql += "\\connect :\"devstack_db\"\nBEGIN;\n\\echo '#go'\n"
    return sql


def _postgres_postlude(tune: bool) -> str:
    sql = "COMMIT;\n"
    if tune:
        for i, name in enumerate(POSTGRES_BULK):
            sql += (
                f"SELECT CASE WHEN :'devstack_old_{i}' = '' THEN 'ALTER SYSTEM RESET {name}' "
                f"ELSE format('ALTER SYSTEM SET {name} = %L', :'devstack_old_{i}') END \\gexec\n"
            )
        sql += "SELECT pg_reload_conf() \\g /dev/null\n"
    return sql + "\\echo '#restored'\n"


def _mysql_postlude(journal: Mapping[str, Any]) -> str:
    settings = journal.get("globals") or {}
    sql = "".join(
        f"SET GLOBAL {n} = {v if str(v).isdigit() else _my_str(str(v))};\n" for n, v in settings.items()
    )
    return sql + "SELECT '#restored';\n"


class _Lines:
    """Counts the lines of the dump as it streams, and whether it ended with a newline."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = chunks
        self.count = 0
        self.last = b"\n"

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            if chunk:
                self.count += chunk.count(b"\n")
                self.last = chunk[-1:]
                yield chunk
        if self.last != b"\n":
            self.count += 1
            yield b"\n"  # the postlude must start on a line of its own


_MYSQL_ERROR_LINE = re.compile(r"ERROR \d+ \(\w+\) at line (\d+)")
_PG_ERROR_LINE = re.compile(r"psql:[^:]*:(\d+): ERROR")


def failed_at(engine: str, stderr: str) -> int | None:
    """The line of the dump where the client stopped, from its error message."""
    pattern = _PG_ERROR_LINE if engine == "postgres" else _MYSQL_ERROR_LINE
    match = pattern.search(stderr)
    return int(match.group(1)) if match else None


def failure_state(db: Database, emptied: bool, line: int | None) -> str:
    """What a failed import left behind, in words."""
    where = f"line {line} of the dump" if line else "the point where it stopped"
    if db.family == "postgres":
        # psql --single-transaction: everything or nothing.
        if emptied:
            return f"nothing of the dump was kept: database {db.name} is empty (it was emptied first)"
        return f"nothing of the dump was kept: database {db.name} is as it was before"
    if emptied:
        return f"database {db.name} was emptied first and now holds what the dump created before {where}"
    return f"database {db.name} holds its old contents plus what the dump created before {where}"


def import_(
    target: Target,
    source: SqlSource,
    *,
    keep: bool = False,
    progress: TransferProgress = _quiet,
) -> ImportResult:
    """Load a dump: empty the database first (unless `keep`), tune the server, restore it after.

    The settings are put back by the same client session right after the dump (the postlude),
    or, when the load stops, by one more client call with the journal's values.
    """
    db = target.db
    require_running(target)
    source.probe()  # a file that cannot be read fails here, before anything changes
    recover_settings(target)
    argv, env = import_argv(target)
    started = time.monotonic()
    tune = db.has_admin
    head = _HeadReader()
    if db.family == "postgres":
        # Before anything changes: a journal that resets the settings, corrected below as
        # soon as the session has printed their old values.
        journal: dict[str, Any] = {}
        if tune:
            journal = {"engine": "postgres", "auto_conf": {n: None for n in POSTGRES_BULK}}
            _journal_path(target).write_text(json.dumps(journal), "utf-8")
        prelude = _postgres_prelude(db, tune, empty=not keep)
        postlude = _postgres_postlude(tune)
        emptied = not keep  # only when the prelude got through: see the failure below
        applied = list(POSTGRES_BULK) if tune else []

        def on_head(parts: Mapping[str, list[list[str]]]) -> None:
            old = {row[0]: row[1] for row in parts.get("old", []) if len(row) > 1}
            journal["auto_conf"] = {n: old.get(n) for n in POSTGRES_BULK}
            _journal_path(target).write_text(json.dumps(journal), "utf-8")

        head.on_ready = on_head if tune else None
    else:
        prepared = prepare(target, empty=not keep)  # before the load's connection: max_allowed_packet
        journal, emptied, applied = prepared.journal, prepared.emptied, prepared.applied
        prelude = ""
        postlude = _mysql_postlude(journal)
    inside = source.kind == "gz" and source.rewindable
    lines = _Lines(source.chunks(progress))
    try:
        if inside:
            feed = _chain(
                _gzip_member(prelude) if prelude else b"",
                source.compressed(progress),
                _gzip_member("\n" + postlude),
            )
            result = target.runner.pipe(*gunzip_argv(argv), feed=feed, sink=head.add, env=env)
            if result.returncode == 127 and _NO_GZIP in result.stderr:
                inside = False  # nothing reached the client: load it decompressed here
                source.rewind()
                lines = _Lines(source.chunks(progress))
        if not inside:
            feed = _chain(prelude.encode(), lines, postlude.encode())
            result = target.runner.pipe(*argv, feed=feed, sink=head.add, env=env)
    except DumpUnreadable as exc:
        restore_settings(target, journal)
        raise ImportFailed(
            exc.message, hint=failure_state(db, emptied, None) + "; fix the file and import again"
        ) from None
    except KeyboardInterrupt:
        restore_settings(target, journal)
        raise Interrupted("the import was interrupted", hint=failure_state(db, emptied, None)) from None
    if inside and _GZIP_FAILED in result.stderr and "Broken pipe" not in result.stderr:
        restore_settings(target, journal)
        raise ImportFailed(
            f"{source.name} is damaged: {_gzip_error(result.stderr)}",
            hint=failure_state(db, emptied, None) + "; fix the file and import again",
            details=_tail(result.stderr),
        )
    if result.returncode == 0 and "restored" in head.parts():
        _journal_path(target).unlink(missing_ok=True)
    else:
        not_restored = restore_settings(target, journal)
        line = failed_at(db.engine, result.stderr)
        in_prelude = prelude.count("\n")
        if inside and result.returncode != 0 and line is not None and line > in_prelude:
            try:  # the load read the file as it is: count its lines now
                lines.count = source.count_lines()
            except DumpUnreadable:  # damaged further on: the client stopped before that
                lines.count = line - in_prelude
        if result.returncode != 0 and line is not None and line <= in_prelude:
            raise DatabaseError(
                f"cannot prepare {db.name} for the import: {_error_line(result.stderr)}",
                hint="nothing was imported; devstack connects as POSTGRES_USER (the superuser) to "
                "drop and re-create the database; or import with --keep",
                details=_tail(result.stderr),
            )
        if result.returncode != 0 and (line is None or line <= in_prelude + lines.count):
            line = line - in_prelude if line is not None else None
            stderr = _renumber(result.stderr, in_prelude)
            raise ImportFailed(
                f"the import into {db.name} ({db.service}) failed"
                + (f" at line {line}" if line else "")
                + f": {_error_line(stderr)}",
                hint=failure_state(db, emptied, line)
                + "; fix the dump and run `devstack db import` again"
                + (" (or `devstack db restore` to go back to a snapshot)" if emptied else ""),
                details=_tail(stderr),
            )
        if result.returncode == 0:  # the client ended well, but before the end of what it was sent
            raise ImportFailed(
                f"the import into {db.name} ({db.service}) stopped before the end of the dump: "
                "the client ended its session early",
                hint=failure_state(db, emptied, None)
                + "; look for a command in the dump that ends the client's session (psql's `\\q`) "
                "and remove it, then import again",
                details=_tail(result.stderr),
            )
        if not_restored:
            raise DatabaseError(
                f"the import succeeded, but {', '.join(not_restored)} could not be put back",
                hint=f"restart the database (`devstack restart {db.service}`) to reset them",
            )
    return ImportResult(
        read=source.reader.count,
        sql_bytes=None if inside else source.sql_bytes,
        seconds=time.monotonic() - started,
        kind=source.kind,
        tuned=tuple(applied),
        emptied=emptied,
    )


def _gzip_error(stderr: str) -> str:
    """gzip's own message (`gzip: stdin: unexpected end of file`), else the marker line."""
    for line in stderr.splitlines():
        if line.startswith("gzip:"):
            return line.strip()
    return _last_line(stderr)


def _renumber(stderr: str, offset: int) -> str:
    """The client's messages with line numbers of the dump, not of the stream it was sent in."""

    def mysql(match: re.Match[str]) -> str:
        return f"{match.group(1)}at line {int(match.group(2)) - offset}"

    def psql(match: re.Match[str]) -> str:
        return f"line {int(match.group(1)) - offset}:"

    text = re.sub(r"(ERROR \d+ \(\w+\) )at line (\d+)", mysql, stderr)
    return re.sub(r"psql:[^:\n]*:(\d+):", psql, text)


def _chain(prelude: bytes, body: Iterable[bytes], postlude: bytes) -> Iterator[bytes]:
    if prelude:
        yield prelude
    yield from body
    yield postlude


class _HeadReader:
    """Keeps the client's first output (the prelude's markers) and its last lines; the rest of
    what a dump prints (SELECT results, notices) is dropped as it comes."""

    LIMIT = 64 * 1024

    def __init__(self) -> None:
        self.head = b""
        self.tail = b""
        self.on_ready: Callable[[Mapping[str, list[list[str]]]], None] | None = None

    def add(self, data: bytes) -> None:
        if len(self.head) < self.LIMIT:
            self.head += data[: self.LIMIT - len(self.head)]
            if self.on_ready is not None and b"#go\n" in self.head:
                ready, self.on_ready = self.on_ready, None
                ready(_sections(self.head.decode("utf-8", "replace").split("#go\n", 1)[0]))
        self.tail = (self.tail + data)[-4096:]

    def parts(self) -> dict[str, list[list[str]]]:
        """Markers seen: those of the head, and `restored` from the end."""
        found = _sections(self.head.decode("utf-8", "replace"))
        if b"#restored" in self.tail:
            found.setdefault("restored", [])
        return found
