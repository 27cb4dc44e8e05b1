"""ComposeRunner: the only code that spawns `docker compose` / `docker-compose`.

Every command is built as an argument list and goes through `ComposeRunner.run` (or
`stream` for long commands whose output the user watches). The binary is probed once.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from devstack.errors import ComposeFailed, ComposeNotFound, EngineUnavailable
from devstack.project import Project

TAIL_LINES = 20
# `config` on an ordinary project takes well under a second; a pathological file must not
# hold devstack (or the machine's memory) for longer than this.
CONFIG_TIMEOUT = 60.0


@dataclass(frozen=True)
class ComposeBinary:
    argv: tuple[str, ...]  # what is executed
    version: str  # "" until asked for (see version_of)
    v1: bool
    shown: tuple[str, ...] = ()  # how error messages name it, when argv is a plugin path

    @property
    def name(self) -> str:
        return " ".join(self.shown or self.argv)


@dataclass(frozen=True)
class ContainerState:
    """One container of the project as `compose ps` reports it."""

    service: str
    name: str
    state: str  # running, exited, restarting, created, paused, dead
    health: str  # healthy, unhealthy, starting, or "" (no healthcheck)
    exit_code: int | None
    publishers: tuple[tuple[str, int, int, str], ...]  # (host ip, host port, container port, proto)


_probed: dict[str, ComposeBinary] = {}


def _version_of(argv: Sequence[str]) -> str | None:
    try:
        proc = subprocess.run(
            [*argv, "version", "--short"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return proc.stdout.strip().lstrip("v") or None


_PLUGIN_DIRS = (
    "/usr/local/lib/docker/cli-plugins",
    "/usr/local/libexec/docker/cli-plugins",
    "/usr/lib/docker/cli-plugins",
    "/usr/libexec/docker/cli-plugins",
)


def _compose_plugin() -> str | None:
    """The Compose v2 CLI plugin, found where the docker CLI looks for it (no process spawned)."""
    config = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    for directory in (os.path.join(config, "cli-plugins"), *_PLUGIN_DIRS):
        candidate = os.path.join(directory, "docker-compose")
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def probe(override: str | None = None) -> ComposeBinary:
    """Find Compose: $DEVSTACK_COMPOSE, else `docker compose` (v2), else `docker-compose` (v1).

    The result is remembered for the process. The v2 plugin is recognised by its file, which
    saves a `docker compose version` call (~50 ms) on every devstack command.
    """
    wanted = override if override is not None else os.environ.get("DEVSTACK_COMPOSE", "")
    if wanted in _probed:
        return _probed[wanted]
    if not wanted and shutil.which("docker"):
        plugin = _compose_plugin()
        if plugin:
            # Run the plugin directly, standalone: the same binary and behaviour as
            # `docker compose`, without the docker CLI's two extra processes (~60 ms a call).
            _probed[wanted] = ComposeBinary((plugin,), "", v1=False, shown=("docker", "compose"))
            return _probed[wanted]
    default = [("docker", "compose"), ("docker-compose",)]
    candidates = [tuple(shlex.split(wanted))] if wanted else default
    for argv in candidates:
        if not shutil.which(argv[0]):
            continue
        version = _version_of(argv)
        if version:
            found = ComposeBinary(argv, version, v1=version.startswith("1."))
            _probed[wanted] = found
            return found
    if wanted:
        raise ComposeNotFound(
            f"DEVSTACK_COMPOSE={wanted!r} does not run Compose",
            hint="set it to `docker compose` or `docker-compose`, or unset it",
        )
    raise ComposeNotFound(
        "Docker Compose is not installed (neither `docker compose` nor `docker-compose` answers)",
        hint="install the Compose plugin: https://docs.docker.com/compose/install/",
    )


def version_of(binary: ComposeBinary) -> str:
    """The binary's version, asked for only when someone wants to see it."""
    return binary.version or _version_of(binary.argv) or "unknown"


def classify(stderr: str) -> tuple[type[Exception] | None, str | None]:
    """Map Compose's error output to (a more specific error class or None, a hint)."""
    text = stderr.lower()
    if "cannot connect to the docker daemon" in text or "error while fetching server api version" in text:
        return EngineUnavailable, "start Docker (dockerd or Docker Desktop), then `devstack doctor`"
    if "permission denied" in text and "docker.sock" in text:
        return EngineUnavailable, "add your user to the docker group, or use rootless Docker"
    if "is not a docker command" in text:
        return ComposeNotFound, "install the Compose plugin (docker-compose-plugin)"
    if "port is already allocated" in text or "address already in use" in text:
        return None, "another process or container holds that port: `devstack check` names it"
    if "pull access denied" in text or "manifest unknown" in text or "not found: manifest" in text:
        return None, "the image is not available: build it locally or check its name and tag"
    if "no such service" in text:
        return None, "check the service name with `devstack status`"
    if "is unhealthy" in text or "dependency failed to start" in text:
        return None, "a dependency's healthcheck failed: see `devstack logs SERVICE`"
    return None, None


def parse_ps(output: str) -> list[dict[str, Any]]:
    """`ps --format json`: one JSON array (before v2.21) or one object per line (since)."""
    text = output.strip()
    if not text:
        return []
    if text.startswith("["):
        data = json.loads(text)
        return [d for d in data if isinstance(d, dict)]
    return [json.loads(line) for line in text.splitlines() if line.strip().startswith("{")]


def _state_from_ps(item: dict[str, Any]) -> ContainerState:
    pubs = []
    for pub in item.get("Publishers") or []:
        if pub.get("PublishedPort"):
            pubs.append(
                (
                    str(pub.get("URL") or ""),
                    int(pub["PublishedPort"]),
                    int(pub.get("TargetPort") or 0),
                    str(pub.get("Protocol") or "tcp"),
                )
            )
    exit_code = item.get("ExitCode")
    return ContainerState(
        service=str(item.get("Service") or ""),
        name=str(item.get("Name") or ""),
        state=str(item.get("State") or "").lower(),
        health=str(item.get("Health") or "").lower(),
        exit_code=int(exit_code) if isinstance(exit_code, int) else None,
        publishers=tuple(pubs),
    )


class ComposeRunner:
    """Runs Compose for one project."""

    def __init__(self, project: Project, binary: ComposeBinary | None = None) -> None:
        self.project = project
        self.binary = binary or probe()
        self._running: set[subprocess.Popen[str]] = set()
        self._cancelled = False

    def cancel(self) -> None:
        """Kill the commands this runner has running (e.g. `config` on a file known to be bad)."""
        self._cancelled = True
        for proc in list(self._running):
            proc.kill()

    def argv(self, *args: str) -> list[str]:
        files = [arg for path in self.project.files for arg in ("-f", str(path))]
        return [
            *self.binary.argv,
            "--project-directory",
            str(self.project.root),
            *files,
            "-p",
            self.project.name,
            *args,
        ]

    def _env(self) -> dict[str, str]:
        env = dict(self.project.shell_env)
        if not self.binary.v1:
            env.setdefault("COMPOSE_ANSI", "never")  # plain progress lines, no escape codes
        return env

    def run(
        self, *args: str, check: bool = True, timeout: float | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run a short compose command and capture its output."""
        argv = self.argv(*args)
        try:
            popen = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=self.project.root,
                env=self._env(),
            )
        except FileNotFoundError as exc:
            raise ComposeNotFound(f"cannot run {argv[0]}: {exc.strerror}") from exc
        self._running.add(popen)
        try:
            stdout, stderr = popen.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.communicate()
            raise ComposeFailed(
                [*(self.binary.shown or self.binary.argv), *args],
                -9,
                f"no answer within {timeout:.0f} s (stopped by devstack)",
                hint="Compose is stuck on this project: try `docker compose config` by hand",
            ) from None
        except BaseException:
            popen.kill()
            popen.communicate()
            raise
        finally:
            self._running.discard(popen)
        proc = subprocess.CompletedProcess(argv, popen.returncode, stdout, stderr)
        if self._cancelled:
            raise ComposeFailed(argv, proc.returncode, "cancelled by devstack")
        if check and proc.returncode != 0:
            raise self._failure(argv, proc.returncode, proc.stderr or proc.stdout)
        return proc

    def stream(self, *args: str, on_line: Callable[[str], None] | None = None) -> None:
        """Run a long compose command, passing each output line to on_line as it comes."""
        argv = self.argv(*args)
        tail: deque[str] = deque(maxlen=TAIL_LINES)
        try:
            proc = subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                cwd=self.project.root,
                env=self._env(),
            )
        except FileNotFoundError as exc:
            raise ComposeNotFound(f"cannot run {argv[0]}: {exc.strerror}") from exc
        assert proc.stdout is not None
        try:
            for line in proc.stdout:
                line = line.rstrip("\n")
                tail.append(line)
                if on_line:
                    on_line(line)
            returncode = proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise
        if returncode != 0:
            raise self._failure(argv, returncode, "\n".join(tail))

    def passthrough(self, *args: str) -> int:
        """Run with the user's terminal attached (logs -f, exec); return Compose's exit code."""
        argv = self.argv(*args)
        try:
            return subprocess.call(argv, cwd=self.project.root, env=self._env())
        except FileNotFoundError as exc:
            raise ComposeNotFound(f"cannot run {argv[0]}: {exc.strerror}") from exc

    def _failure(self, argv: list[str], returncode: int, output: str) -> Exception:
        tail = "\n".join(output.strip().splitlines()[-TAIL_LINES:])
        kind, hint = classify(tail)
        if kind is EngineUnavailable:
            return EngineUnavailable("the Docker engine is not reachable", hint=hint)
        if kind is ComposeNotFound:
            return ComposeNotFound("Docker Compose is not installed", hint=hint)
        shown = [*(self.binary.shown or self.binary.argv), *argv[len(self.argv()) :]]
        return ComposeFailed(shown, returncode, tail, hint=hint)

    # -- commands ------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The merged, interpolated, normalised model, as Compose itself computes it."""
        if self.binary.v1:
            import yaml

            out = self.run("config", timeout=CONFIG_TIMEOUT).stdout
            data = yaml.safe_load(out)
        else:
            data = json.loads(self.run("config", "--format", "json", timeout=CONFIG_TIMEOUT).stdout)
        return data if isinstance(data, dict) else {}

    def ps(self) -> list[ContainerState]:
        """The project's containers, stopped ones included (v2 only; see engine for v1)."""
        out = self.run("ps", "--all", "--format", "json").stdout
        return [_state_from_ps(item) for item in parse_ps(out)]

    # -- binary streams (devstack db: export, import, snapshots through the engine) ---------
    # Added for issue 8 (helper "data"); kept in one block so parallel merges do not collide.

    def pipe(
        self,
        *args: str,
        feed: Iterable[bytes] | None = None,
        sink: Callable[[bytes], None] | None = None,
        env: Mapping[str, str] | None = None,
        chunk: int = 1 << 20,
    ) -> PipeResult:
        """Run a compose command with binary stdin and stdout (e.g. `exec -T db mariadb-dump`).

        `feed` yields the bytes written to the command's stdin (closed when it is exhausted);
        `sink` receives its stdout chunk by chunk. `env` adds variables to Compose's own
        environment, so `exec -e NAME` passes a secret without putting it on a command line.
        Returns the exit code and the tail of stderr; never raises for a non-zero exit. An
        exception from `feed` or `sink` (or Ctrl-C) kills the command and is re-raised here.
        """
        argv = self.argv(*args)
        full_env = self._env()
        full_env.update(env or {})
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.PIPE if feed is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE if sink is not None else subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                cwd=self.project.root,
                env=full_env,
            )
        except FileNotFoundError as exc:
            raise ComposeNotFound(f"cannot run {argv[0]}: {exc.strerror}") from exc
        errors: list[BaseException] = []
        stderr_tail: deque[bytes] = deque(maxlen=TAIL_LINES)
        broken_pipe = threading.Event()

        def write_stdin() -> None:
            assert proc.stdin is not None
            try:
                for data in feed or ():
                    if data:
                        proc.stdin.write(data)
            except BrokenPipeError:
                broken_pipe.set()  # the command stopped reading: its exit code says why
            except BaseException as exc:  # handed to the caller below
                errors.append(exc)
                proc.kill()
            finally:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    broken_pipe.set()

        def read_stderr() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                stderr_tail.append(line)

        threads = [threading.Thread(target=read_stderr, daemon=True)]
        if feed is not None:
            threads.append(threading.Thread(target=write_stdin, daemon=True))
        for thread in threads:
            thread.start()
        try:
            if sink is not None:
                assert proc.stdout is not None
                read = proc.stdout.read1 if hasattr(proc.stdout, "read1") else proc.stdout.read
                while True:
                    data = read(chunk)
                    if not data:
                        break
                    sink(data)
            returncode = proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            for thread in threads:
                thread.join(timeout=30)
        if errors:
            raise errors[0]
        tail = b"".join(stderr_tail).decode("utf-8", "replace")
        return PipeResult(returncode, tail, broken_pipe.is_set())


@dataclass(frozen=True)
class PipeResult:
    """What `ComposeRunner.pipe` returns: exit code, tail of stderr, whether stdin was cut short."""

    returncode: int
    stderr: str
    stdin_closed_early: bool = False
