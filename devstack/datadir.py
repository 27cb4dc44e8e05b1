"""A database's data directory as files: snapshots, restore, reset.

Snapshots are file-level: the database is stopped (a clean shutdown), its data directory is
archived (tar, zstd-compressed) and it is started again; a restore swaps a whole directory in.
That is much faster than a dump and brings back exactly what was there, users and settings
included, for the same image.

Where: `.devstack/snapshots/<service>/<name>.tar.zst` (+ `<name>.json`) in the project. The
`.devstack/` directory carries its own `.gitignore` (`*`), so snapshots are never committed in
any project; they are not inside a data directory that `db reset` or `rm -rf data/db` deletes,
nor inside any directory a container mounts.

The data is read and written on the host when a bind mount holds it and the user may read it
(the usual case: services run as the host user). Otherwise (named volumes, files a container
left owned by another uid) it goes through the engine: the archive API of the stopped
container, and a throwaway root container of the service's own image, so no sudo is needed.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import IO, Any

from devstack.db import Database, DatabaseError, Target, state_dir
from devstack.errors import DevstackError, UsageError
from devstack.project import Project

SUFFIX = ".tar.zst"
_NAME_OK = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
ZSTD_LEVEL = 1  # as small as level 3 on data directories (zero pages), 2-3x faster
STOP_TIMEOUT = 120  # seconds a database gets to shut down cleanly before it is killed

Step = Callable[[str], None]


def _quiet(_message: str) -> None:
    return None


class SnapshotNotFound(DevstackError):
    """No snapshot of that name (or none for the current branch)."""


@dataclass(frozen=True)
class Snapshot:
    name: str
    service: str
    engine: str
    image: str
    branch: str | None
    created: float  # epoch seconds
    size: int  # bytes of the archive
    data_bytes: int  # bytes of the data directory
    path: Path
    fingerprint: str  # of the credentials the database had, to warn about drift on restore

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service": self.service,
            "engine": self.engine,
            "image": self.image,
            "branch": self.branch,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(self.created)),
            "size": self.size,
            "data_bytes": self.data_bytes,
            "path": str(self.path),
        }


@dataclass(frozen=True)
class SnapshotResult:
    snapshot: Snapshot
    seconds: float
    restarted: bool
    through_engine: bool
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class RestoreResult:
    snapshot: Snapshot
    seconds: float
    restarted: bool
    through_engine: bool
    warnings: tuple[str, ...]


# -- git branch --------------------------------------------------------------------------------


def current_branch(start: Path) -> str | None:
    """The checked-out git branch of the repository holding `start` (None outside git).

    Read from `.git/HEAD` (worktrees and submodules included), without running git. A detached
    HEAD gives `detached-<short sha>`.
    """
    for directory in (start, *start.parents):
        dotgit = directory / ".git"
        if dotgit.is_dir():
            gitdir = dotgit
        elif dotgit.is_file():
            try:
                text = dotgit.read_text("utf-8").strip()
            except OSError:
                return None
            if not text.startswith("gitdir:"):
                return None
            gitdir = (directory / text[len("gitdir:") :].strip()).resolve()
        else:
            continue
        try:
            head = (gitdir / "HEAD").read_text("utf-8").strip()
        except OSError:
            return None
        if head.startswith("ref:"):
            ref = head[4:].strip()
            return ref[len("refs/heads/") :] if ref.startswith("refs/heads/") else ref
        return f"detached-{head[:8]}" if head else None
    return None


def safe_part(text: str) -> str:
    """A branch name made safe for a file name: feature/login -> feature-login."""
    return _UNSAFE.sub("-", text).strip("-.") or "branch"


def default_name(branch: str | None, now: float | None = None) -> str:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return f"{safe_part(branch)}-{stamp}" if branch else f"snapshot-{stamp}"


def check_name(name: str) -> str:
    if not _NAME_OK.fullmatch(name) or name.endswith(".json") or ".." in name:
        raise UsageError(
            f"{name!r} is not a valid snapshot name",
            hint="use letters, digits, '.', '-' and '_' (up to 128), starting with a letter or digit",
        )
    return name


def fingerprint(db: Database) -> str:
    """A hash of the credentials: tells whether a snapshot was taken with other ones."""
    text = "\0".join([db.engine, db.name, db.user, db.password or "", db.root_password or ""])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- the catalogue -------------------------------------------------------------------------------


def snapshots_root(project: Project, create: bool = False) -> Path:
    root = project.root / ".devstack" / "snapshots"
    if create:
        state_dir(project)
        root.mkdir(parents=True, exist_ok=True)
    return root


def list_snapshots(project: Project, service: str | None = None) -> list[Snapshot]:
    """Snapshots of the project (of one service), oldest first."""
    root = snapshots_root(project)
    found = []
    services = (
        [root / service]
        if service
        else (sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else [])
    )
    for directory in services:
        if not directory.is_dir():
            continue
        for meta in sorted(directory.glob("*.json")):
            archive = meta.with_name(meta.name[: -len(".json")] + SUFFIX)
            if not archive.is_file():
                continue
            try:
                data = json.loads(meta.read_text("utf-8"))
            except (OSError, ValueError):
                continue
            found.append(
                Snapshot(
                    name=str(data.get("name") or meta.stem),
                    service=str(data.get("service") or directory.name),
                    engine=str(data.get("engine") or ""),
                    image=str(data.get("image") or ""),
                    branch=data.get("branch"),
                    created=float(data.get("created") or archive.stat().st_mtime),
                    size=archive.stat().st_size,
                    data_bytes=int(data.get("data_bytes") or 0),
                    path=archive,
                    fingerprint=str(data.get("fingerprint") or ""),
                )
            )
    return sorted(found, key=lambda s: (s.created, s.name))


def find_snapshot(
    project: Project, service: str, name: str | None, *, latest: bool = False, branch: str | None = None
) -> Snapshot:
    """By name; else (latest) the newest of any branch; else the newest of `branch`."""
    snapshots = list_snapshots(project, service)
    if name:
        for snap in snapshots:
            if snap.name == name:
                return snap
        raise SnapshotNotFound(
            f"no snapshot {name!r} of service {service}",
            hint="`devstack db snapshots` lists them",
        )
    if latest:
        if not snapshots:
            raise SnapshotNotFound(
                f"service {service} has no snapshots", hint="take one with `devstack db snapshot`"
            )
        return snapshots[-1]
    mine = [s for s in snapshots if s.branch == branch]
    if not mine:
        where = f"branch {branch}" if branch else "this checkout (not a git repository)"
        raise SnapshotNotFound(
            f"no snapshot of service {service} was taken on {where}",
            hint="`devstack db snapshots` lists them; "
            "`devstack db restore --latest` takes the newest of any branch",
        )
    return mine[-1]


def delete_snapshot(snapshot: Snapshot) -> None:
    snapshot.path.unlink(missing_ok=True)
    snapshot.path.with_name(snapshot.path.name[: -len(SUFFIX)] + ".json").unlink(missing_ok=True)


# -- stopping and starting the service -------------------------------------------------------------


def _container(target: Target) -> Any | None:
    """The service's container (engine.ContainerInfo), running or stopped; None if none exists."""
    from devstack import engine

    mine = [c for c in engine.project_containers(target.project.name) if c.service == target.db.service]
    running = [c for c in mine if c.state in ("running", "restarting", "paused")]
    chosen = running or mine
    return chosen[0] if chosen else None


def _stop(target: Target, step: Step) -> bool:
    """Stop the service (a clean shutdown); True when it was running."""
    info = _container(target)
    if info is None or info.state not in ("running", "restarting", "paused"):
        return False
    step(f"stopping {target.db.service}")
    from devstack import engine

    engine.stop_container(info.id, STOP_TIMEOUT)  # as `compose stop`, without starting a process
    after = _container(target)
    if after is not None and after.exit_code in (137, 143) and target.db.family == "mysql":
        # MariaDB/MySQL exit 0 on SIGTERM; 137 means it was killed mid-shutdown.
        step(f"warning: {target.db.service} did not shut down cleanly (exit {after.exit_code})")
    return True


def _start(target: Target, step: Step) -> None:
    from devstack import engine

    step(f"starting {target.db.service} again")
    info = _container(target)
    if info is None:
        target.runner.run("up", "-d", "--no-deps", target.db.service)
    else:
        engine.start_container(info.id)


def _ensure_container(target: Target) -> Any:
    """A container of the service (created, not started, when there is none)."""
    info = _container(target)
    if info is None:
        target.runner.run("up", "--no-start", "--no-deps", target.db.service)
        info = _container(target)
    if info is None:
        raise DatabaseError(f"cannot create a container for service {target.db.service}")
    return info


def _root_shell(target: Target, script: str, *args: str, mounts: Iterable[tuple[str, str]] = ()) -> None:
    """Run a shell script as root in a throwaway container of the service (its image, its mounts)."""
    argv = ["run", "--rm", "--no-deps", "-T", "--user", "0:0", "--entrypoint", "sh"]
    for source, dest in mounts:
        argv += ["-v", f"{source}:{dest}"]
    argv += [target.db.service, "-c", script, "devstack", *args]
    result = target.runner.run(*argv, check=False)
    if result.returncode != 0:
        raise DatabaseError(
            f"the cleanup container of {target.db.service} failed (exit {result.returncode})",
            details="\n".join((result.stderr or result.stdout).strip().splitlines()[-8:]) or None,
        )


# Deletes what is inside a directory (not the directory: it may be a mount point), then gives
# the directory to the service's user, so a fresh start as that user may initialise it.
_EMPTY_SCRIPT = r"""
d=$1; owner=$2
[ -d "$d" ] || exit 0
rm -rf -- "$d"/* "$d"/.[!.]* "$d"/..?*
if [ -n "$owner" ]; then chown "$owner" "$d"; fi
"""


def _numeric_owner(db: Database) -> str:
    """`1000:1000` when the service runs as numeric ids (so the emptied directory can be given to it)."""
    user = db.user_option.strip()
    if re.fullmatch(r"\d+(:\d+)?", user):
        return user
    return ""


# -- reading and writing data directories -------------------------------------------------------


def _readable_tree(path: Path) -> bool:
    """Whether every file and directory below path can be read by this process."""
    if not os.access(path, os.R_OK | os.X_OK):
        return False
    for directory, dirs, files in os.walk(path):
        for name in dirs:
            if not os.access(os.path.join(directory, name), os.R_OK | os.X_OK):
                return False
        for name in files:
            full = os.path.join(directory, name)
            if not os.path.islink(full) and not os.access(full, os.R_OK):
                return False
    return True


def _tree_bytes(path: Path, skipped: Iterable[str] = ()) -> int:
    """Bytes of the regular files below path, but those archived as `./x` in `skipped`."""
    left_out = set(skipped)
    total = 0
    for directory, _dirs, files in os.walk(path):
        for name in files:
            full = os.path.join(directory, name)
            if "./" + os.path.relpath(full, path) in left_out:
                continue
            try:
                stat = os.lstat(full)
            except OSError:
                continue
            if S_ISREG(stat.st_mode):
                total += stat.st_size
    return total


def _write_archive(out: IO[bytes], fill: Callable[[tarfile.TarFile], int]) -> int:
    """A zstd-compressed tar, filled by `fill` (which returns the bytes of data it added)."""
    import zstandard

    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=-1)
    with compressor.stream_writer(out, closefd=False) as zstream:
        with tarfile.open(fileobj=zstream, mode="w|", format=tarfile.PAX_FORMAT, bufsize=1 << 20) as tar:
            tar.copybufsize = 1 << 20  # type: ignore[attr-defined]
            return fill(tar)


def _fill_from_host(source: Path, skipped: Iterable[str] = ()) -> Callable[[tarfile.TarFile], int]:
    left_out = set(skipped)

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        return None if info.name in left_out else info

    def fill(tar: tarfile.TarFile) -> int:
        tar.add(str(source), arcname=".", recursive=True, filter=keep)
        return _tree_bytes(source, left_out)

    return fill


_WAL_SEGMENT = re.compile(r"[0-9A-F]{24}")
_PG_SHUT_DOWN = 1  # DBState DB_SHUTDOWNED in pg_control


def recycled_wal(data: Path) -> set[str]:
    """PostgreSQL, cleanly shut down: the WAL segments past the one holding the shutdown checkpoint.

    They are recycled files, renamed ahead for reuse, with old contents the server never reads
    back: after a clean shutdown it starts from the checkpoint record and creates (or recycles)
    later segments as it needs them. Left out of a snapshot they save up to `max_wal_size`
    (1 GB by default) of junk. Anything unexpected in pg_control (not shut down cleanly, an
    unknown layout, a redo location that is not the checkpoint, a segment that is not there)
    excludes nothing.
    """
    import struct

    wal = data / "pg_wal"
    if wal.is_symlink() or not wal.is_dir():
        return set()
    try:
        raw = (data / "global" / "pg_control").read_bytes()[:64]
    except OSError:
        return set()
    if len(raw) < 52:
        return set()
    # ControlFileData since PostgreSQL 11: system_identifier u64, pg_control_version u32,
    # catalog_version_no u32, state i32 (+4 padding), time i64, checkPoint u64, then
    # checkPointCopy: redo u64, ThisTimeLineID u32. Native byte order, as the server wrote it.
    (version,) = struct.unpack_from("=I", raw, 8)
    (state,) = struct.unpack_from("=i", raw, 16)
    checkpoint, redo = struct.unpack_from("=QQ", raw, 32)
    (timeline,) = struct.unpack_from("=I", raw, 48)
    if not 1100 <= version < 3000 or state != _PG_SHUT_DOWN or redo != checkpoint or timeline == 0:
        return set()
    try:
        segments = {
            name: (wal / name).stat().st_size for name in os.listdir(wal) if _WAL_SEGMENT.fullmatch(name)
        }
    except OSError:
        return set()
    sizes = set(segments.values())
    if len(sizes) != 1:
        return set()
    size = sizes.pop()
    if size < (1 << 20) or size & (size - 1):
        return set()  # WAL segments are a power of two, 1 MB to 1 GB
    number = redo // size
    per_id = 0x100000000 // size
    current = f"{timeline:08X}{number // per_id:08X}{number % per_id:08X}"
    if current not in segments:
        return set()
    return {f"pg_wal/{name}" for name in segments if name[:8] == current[:8] and name > current}


def _archive_host_dir(out: IO[bytes], source: Path, exclude: Iterable[str] = ()) -> int:
    """Archive a directory on the host; the system's tar reads the files when there is one.

    tar (GNU or BSD) reads a few hundred MB of database files about twice as fast as Python's
    tarfile; the compression stays here (zstandard, threaded). Without tar, tarfile does it.
    """
    import subprocess

    import zstandard

    skipped = {f"./{name}" for name in exclude}
    tar_bin = shutil.which("tar")
    if tar_bin is None:
        return _write_archive(out, _fill_from_host(source, skipped))
    excludes = [f"--exclude={name}" for name in sorted(skipped)]
    # 1 MB records (-b 2048) and a 1 MB pipe instead of 10 KB writes into 64 KB: a tenth less
    # time for a few hundred MB, measured alone. Still a plain tar (readers ignore the padding).
    proc = subprocess.Popen(
        [tar_bin, "--numeric-owner", "-b", "2048", *excludes, "-C", str(source), "-cf", "-", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    _widen_pipe(proc.stdout)
    try:
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL, threads=-1)
        compressor.copy_stream(proc.stdout, out, read_size=1 << 20, write_size=1 << 20)
        errors = proc.stderr.read().decode("utf-8", "replace")
        code = proc.wait()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    if code != 0:
        raise DatabaseError(
            f"tar could not read {source} (exit {code})",
            details="\n".join(errors.strip().splitlines()[-5:]) or None,
        )
    return _tree_bytes(source, skipped)


def _widen_pipe(stream: IO[bytes], size: int = 1 << 20) -> None:
    """Ask for a larger pipe buffer (Linux); elsewhere, or when refused, keep the default."""
    try:
        import fcntl
    except ImportError:  # Windows
        return
    setter = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setter is None:
        return
    try:
        fcntl.fcntl(stream.fileno(), setter, size)
    except OSError:
        pass


def _fill_from_engine(container_id: str, data_path: str) -> Callable[[tarfile.TarFile], int]:
    """Re-pack the engine's archive (top entry: the directory's basename) as `./...` entries."""
    from devstack import engine

    def fill(tar: tarfile.TarFile) -> int:
        stream = _IterReader(engine.get_archive(container_id, data_path))
        total = 0
        with tarfile.open(fileobj=stream, mode="r|") as source:  # type: ignore[call-overload]
            for member in source:
                head, _, rest = member.name.partition("/")
                member.name = f"./{rest}" if rest else "."
                if member.islnk():
                    member.linkname = "./" + member.linkname.partition("/")[2]
                data = source.extractfile(member) if member.isfile() else None
                tar.addfile(member, data)
                total += member.size if member.isfile() else 0
        return total

    return fill


class _IterReader:
    """A file-like reader over an iterator of byte chunks."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks: Iterator[bytes] = iter(chunks)
        self.buffer = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            try:
                self.buffer += next(self.chunks)
            except StopIteration:
                break
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data


def _archive_chunks(path: Path, chunk: int = 1 << 20) -> Iterator[bytes]:
    """The snapshot decompressed: a tar stream (for the engine's extract API)."""
    import zstandard

    with open(path, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        while True:
            data = reader.read(chunk)
            if not data:
                return
            yield data


def _extract_to(archive: Path, dest: Path) -> None:
    """Unpack a snapshot into a new directory `dest` (owners kept when running as root)."""
    import zstandard

    dest.mkdir(mode=0o700)
    root_entry: tarfile.TarInfo | None = None
    with open(archive, "rb") as raw:
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        with tarfile.open(fileobj=reader, mode="r|", bufsize=1 << 20) as tar:
            tar.copybufsize = 1 << 20  # type: ignore[attr-defined]  # 16 KB copies by default
            for member in tar:
                name = os.path.normpath(member.name)
                if name == ".":
                    root_entry = member
                    continue
                if name.startswith(("..", "/")) or os.path.isabs(name):
                    raise DatabaseError(f"{archive.name} holds a path outside its directory: {member.name}")
                if member.issym() or member.islnk():
                    target = os.path.normpath(os.path.join(os.path.dirname(name), member.linkname))
                    if member.islnk() or not os.path.isabs(member.linkname):
                        if target.startswith(".."):
                            raise DatabaseError(f"{archive.name} holds a link outside its directory")
                if member.isdev() or member.isfifo():
                    continue
                _extract_member(tar, member, dest)
    if root_entry is not None:
        os.chmod(dest, root_entry.mode & 0o7777)
        if os.geteuid() == 0:
            os.chown(dest, root_entry.uid, root_entry.gid)


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> None:
    if hasattr(tarfile, "fully_trusted_filter"):
        tar.extract(member, dest, numeric_owner=True, filter="fully_trusted")  # checked by the caller
    else:  # Python < 3.12 without the extraction-filter backport
        tar.extract(member, dest, numeric_owner=True)


# -- snapshot ----------------------------------------------------------------------------------


def snapshot(
    target: Target,
    name: str | None = None,
    *,
    force: bool = False,
    step: Step = _quiet,
) -> SnapshotResult:
    """Stop the database, archive its data directory, start it again (if it was running)."""
    db = target.db
    branch = current_branch(target.project.root)
    name = check_name(name) if name else default_name(branch)
    directory = snapshots_root(target.project, create=True) / db.service
    directory.mkdir(exist_ok=True)
    archive = directory / f"{name}{SUFFIX}"
    meta = directory / f"{name}.json"
    if archive.exists() and not force:
        raise UsageError(
            f"snapshot {name!r} exists", hint="choose another name, or pass --force to replace it"
        )
    host = db.host_data_dir()
    if host is not None and not host.exists():
        raise DatabaseError(
            f"{db.service} has no data yet ({host} does not exist)",
            hint="start it once with `devstack up`",
        )
    started = time.monotonic()
    was_running = _stop(target, step)
    through_engine = False
    part = archive.with_name(f".{archive.name}.part")
    try:
        step(f"archiving {db.where()}")
        from devstack.dump import CountingWriter

        with open(part, "wb") as handle:
            counter = CountingWriter(handle)
            if host is not None and _readable_tree(host):
                skipped = recycled_wal(host) if db.engine == "postgres" else set()
                data_bytes = _archive_host_dir(counter, host, skipped)  # type: ignore[arg-type]
            else:
                through_engine = True
                info = _ensure_container(target)
                data_bytes = _write_archive(counter, _fill_from_engine(info.id, db.data_path))  # type: ignore[arg-type]
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(part, archive)
        record = {
            "name": name,
            "service": db.service,
            "engine": db.engine,
            "image": db.image,
            "branch": branch,
            "created": time.time(),
            "data_path": db.data_path,
            "data_bytes": data_bytes,
            "fingerprint": fingerprint(db),
            "format": "tar+zstd",
        }
        meta.write_text(json.dumps(record, indent=2) + "\n", "utf-8")
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    finally:
        if was_running:
            _start(target, step)
    snap = find_snapshot(target.project, db.service, name)
    warnings = tuple(build_context_warnings(target.model, target.project.root))
    return SnapshotResult(snap, time.monotonic() - started, was_running, through_engine, warnings)


_IGNORES_STATE = {".devstack", ".devstack/", "/.devstack", "/.devstack/", ".devstack/**", ".*", "**", "*"}


def build_context_warnings(model: Any, root: Path) -> list[str]:
    """Services that build from a directory holding .devstack/ whose .dockerignore lets it in."""
    warnings = []
    state = (root / ".devstack").resolve()
    for name, svc in sorted(((model or {}).get("services") or {}).items()):
        build = svc.get("build") if isinstance(svc, dict) else None
        context = build.get("context") if isinstance(build, dict) else build
        if not isinstance(context, str) or "://" in context:
            continue
        directory = Path(context) if Path(context).is_absolute() else root / context
        try:
            state.relative_to(directory.resolve())
        except ValueError:
            continue  # the snapshots are not inside this build context
        try:
            lines = (directory / ".dockerignore").read_text("utf-8").splitlines()
        except OSError:
            lines = []
        if not {line.strip() for line in lines} & _IGNORES_STATE:
            warnings.append(
                f"service {name} builds from {directory}, which holds .devstack/ (the snapshots): "
                "add `.devstack` to its .dockerignore, or every build sends them to the engine"
            )
    return warnings


# -- restore -----------------------------------------------------------------------------------


def restore(target: Target, snap: Snapshot, *, step: Step = _quiet) -> RestoreResult:
    """Stop the database, swap the snapshot's directory in, start it again (if it was running)."""
    db = target.db
    if snap.engine and snap.engine != db.engine:
        raise UsageError(
            f"snapshot {snap.name!r} holds a {snap.engine} data directory; {db.service} runs {db.engine}",
            hint="nothing was changed",
        )
    warnings = []
    if snap.image and db.image and snap.image != db.image:
        warnings.append(f"the snapshot was taken with image {snap.image}; {db.service} now runs {db.image}")
    if snap.fingerprint and snap.fingerprint != fingerprint(db):
        warnings.append(
            "the snapshot was taken with other database credentials than .env holds now: "
            "`devstack up` will report it (DS800)"
        )
    started = time.monotonic()
    was_running = _stop(target, step)
    host = db.host_data_dir()
    through_engine = False
    try:
        if host is not None and os.access(host.parent, os.W_OK | os.X_OK):
            step(f"unpacking {snap.name} next to {host}")
            _swap_in(target, snap, host)
        else:
            through_engine = True
            info = _ensure_container(target)
            step(f"emptying {db.where()} through the engine")
            _root_shell(target, _EMPTY_SCRIPT, db.data_path, "")
            step(f"unpacking {snap.name} through the engine")
            from devstack import engine

            engine.put_archive(info.id, db.data_path, _archive_chunks(snap.path))
    finally:
        if was_running:
            _start(target, step)
    return RestoreResult(snap, time.monotonic() - started, was_running, through_engine, tuple(warnings))


def _swap_in(target: Target, snap: Snapshot, host: Path) -> None:
    """Unpack next to the data directory, then rename it into place; the old one is deleted."""
    suffix = f"{os.getpid()}-{int(time.time())}"
    fresh = host.with_name(f".{host.name}.restore-{suffix}")
    old = host.with_name(f".{host.name}.old-{suffix}")
    try:
        _extract_to(snap.path, fresh)
    except BaseException:
        _remove(target, fresh)
        raise
    had_old = host.exists()
    if had_old:
        os.rename(host, old)
    try:
        os.rename(fresh, host)
    except BaseException:
        if had_old:
            os.rename(old, host)
        raise
    if had_old:
        _remove(target, old)


def _remove(target: Target, path: Path) -> None:
    """Delete a directory; what this user may not delete goes through a root container."""
    if not path.exists():
        return
    try:
        shutil.rmtree(path)
        return
    except PermissionError:
        pass
    _root_shell(target, _EMPTY_SCRIPT, "/devstack-trash", "", mounts=[(str(path), "/devstack-trash")])
    shutil.rmtree(path)


# -- reset -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResetResult:
    where: str
    was_running: bool


def reset(target: Target, *, step: Step = _quiet) -> ResetResult:
    """Delete the database's files through the engine (root in a container: no sudo needed).

    The service is left stopped: the next `devstack up` initialises it afresh from `.env`.
    """
    db = target.db
    was_running = _stop(target, step)
    step(f"deleting the files in {db.where()}")
    host = db.host_data_dir()
    if host is not None and not host.exists():
        return ResetResult(db.where(), was_running)
    _root_shell(target, _EMPTY_SCRIPT, db.data_path, _numeric_owner(db))
    return ResetResult(db.where(), was_running)


# -- ownership ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChownResult:
    where: str
    owner: str
    was_running: bool


def chown(target: Target, *, step: Step = _quiet) -> ChownResult:
    """Hand the data directory to the service's `user:` (numeric), through a root container.

    The migration of a project made before services ran as the host user: add `user:` to the
    service, then this, then `devstack up`. The service is left stopped.
    """
    db = target.db
    owner = _numeric_owner(db)
    if not owner:
        raise DatabaseError(
            f"service {db.service} has no numeric `user:` to hand its files to"
            + (f" (it has user: {db.user_option})" if db.user_option else ""),
            hint=f'add `user: "${{HOST_UID:-1000}}:${{HOST_GID:-1000}}"` to service {db.service} '
            "in the compose file first",
        )
    host = db.host_data_dir()
    if host is not None and not host.exists():
        raise DatabaseError(f"{host} does not exist: nothing to hand over")
    # Left stopped: its container may predate the `user:` line, and would take the files back
    # when started (the official entrypoints chown the data directory when run as root).
    # `devstack up` creates it again as the service's user.
    was_running = _stop(target, step)
    step(f"handing {db.where()} to {owner}")
    _root_shell(target, 'chown -R "$2" "$1"', db.data_path, owner)
    return ChownResult(db.where(), owner, was_running)
