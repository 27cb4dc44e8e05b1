"""ComposeRunner: the only code that spawns `docker compose` / `docker-compose`.

Every command is built as an argument list and goes through `ComposeRunner.run` (or
`stream` for long commands whose output the user watches). The binary is probed once.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from devstack.errors import ComposeFailed, ComposeNotFound, EngineUnavailable
from devstack.project import Project

TAIL_LINES = 20
# `config` on an ordinary project takes well under a second; a pathological file must not
# hold devstack (or the machine's memory) for longer than this.
CONFIG_TIMEOUT = 60.0


class ComposeBinary(NamedTuple):
    """How to run Compose: the argv, its version, whether it is v1."""

    argv: tuple[str, ...]  # what is executed
    version: str  # "" until asked for (see version_of)
    v1: bool
    shown: tuple[str, ...] = ()  # how error messages name it, when argv is a plugin path

    @property
    def name(self) -> str:
        return " ".join(self.shown or self.argv)


_probed: dict[str, ComposeBinary] = {}

# Commands started before they were asked for (ComposeRunner.start_config), by (argv, cwd, env).
_Key = tuple[tuple[str, ...], str, tuple[tuple[str, str], ...]]
_started: dict[_Key, subprocess.Popen[str]] = {}


def _key(argv: Sequence[str], cwd: object, env: Mapping[str, str]) -> _Key:
    return tuple(argv), str(cwd), tuple(sorted(env.items()))


def _claim(argv: Sequence[str], cwd: object, env: Mapping[str, str]) -> subprocess.Popen[str] | None:
    """The process start_config started for exactly this command, if any (taken once)."""
    return _started.pop(_key(argv, cwd, env), None) if _started else None


def _kill_unclaimed() -> None:
    while _started:
        _, proc = _started.popitem()
        proc.kill()
        proc.communicate()


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
    saves a `docker compose version` call on every devstack command.
    """
    wanted = override if override is not None else os.environ.get("DEVSTACK_COMPOSE", "")
    if wanted in _probed:
        return _probed[wanted]
    if not wanted and shutil.which("docker"):
        plugin = _compose_plugin()
        if plugin:
            # Run the plugin directly, standalone: the same binary and behaviour as
            # `docker compose`, without the docker CLI's two extra processes in between.
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


class Diagnosis(NamedTuple):
    """What Compose's error output means: a check code, a more specific error class, a hint."""

    code: str  # the check code for a `config` failure ("DS100" when nothing more specific fits)
    error: type[Exception] | None  # EngineUnavailable / ComposeNotFound, or None
    hint: str | None


# (pattern, check code, error class, hint), first match wins. Compose v2 and v1 wordings both.
# A hint may use the pattern's groups: {0}, {1}.
_PATTERNS: tuple[tuple[str, str, type[Exception] | None, str | None], ...] = (
    (
        r"failed to solve: ([^\s:]+(?::[^\s:]+)?): failed to resolve source metadata.*"
        r"(no such host|dial tcp|i/o timeout|connection refused)",
        "DS100",
        None,
        "the base image {0} (a FROM line of the Dockerfile) is not on this machine and its "
        "registry cannot be reached: build or load it here (`docker image ls {0}`), or check the "
        "network or proxy",
    ),
    (
        r"failed to solve: ([^\s:]+(?::[^\s:]+)?): failed to resolve source metadata",
        "DS100",
        None,
        "the base image {0} (a FROM line of the Dockerfile) cannot be found: check its name and "
        "tag, or log in to its registry (`docker login`)",
    ),
    (
        r'failed to solve: process "(.*)" did not complete successfully: exit code: (\d+)',
        "DS100",
        None,
        "a step of the Dockerfile failed ({0}, exit {1}): the build output above shows why; fix it "
        "and run `devstack up --build`",
    ),
    (
        r"failed to solve|failed to build|error building|build failed",
        "DS100",
        None,
        "the image build failed: the build output above shows the failing step; fix it and run "
        "`devstack up --build`",
    ),
    (
        r"cannot connect to the docker daemon|error while fetching server api version",
        "DS100",
        EngineUnavailable,
        "start Docker (dockerd or Docker Desktop), then `devstack doctor`",
    ),
    (
        r"permission denied.*docker\.sock",
        "DS100",
        EngineUnavailable,
        "add your user to the docker group, or use rootless Docker",
    ),
    (
        r"is not a docker command",
        "DS100",
        ComposeNotFound,
        "install the Compose plugin (docker-compose-plugin)",
    ),
    (
        r"required variable \S+ is missing|missing mandatory value",
        "DS302",
        None,
        "set it in .env (or the shell)",
    ),
    (
        r"invalid template|invalid interpolation",
        "DS307",
        None,
        "write ${NAME}, ${NAME:-default} or ${NAME:?message}",
    ),
    (
        r"^yaml:|mapping key .* already defined|while (parsing|scanning)|found undefined alias|"
        r"did not find expected",
        "DS102",
        None,
        "fix the YAML at the line Compose names",
    ),
    (r"dependency cycle|circular dependency", "DS209", None, "remove one of the dependencies in the cycle"),
    (
        r"cannot extend service .*(no such file|not found: stat)|extends.*no such file",
        "DS204",
        None,
        "`file:` is relative to the file that contains the `extends`",
    ),
    (r"cannot extend service", "DS203", None, "extends names a service of the same file, or of `file:`"),
    (r"depends on undefined service|depends on service .* which is undefined", "DS201", None, None),
    (r"network stack of service .* which is undefined", "DS206", None, None),
    (r"undefined network|network .* (is not declared|not defined)", "DS207", None, None),
    (r"undefined volume|named volume .* no declaration", "DS208", None, None),
    (r"undefined (secret|config)", "DS214", None, None),
    (r"env file .* not found|couldn't find env file", "DS304", None, None),
    (r"build path .* does not exist|unable to prepare context", "DS501", None, None),
    (r"invalid (ip address|port|containerport|hostport|published port)", "DS403", None, None),
    (
        r"^validating |additional propert|is invalid because|unsupported config option|invalid type|"
        r"must be a |does not match any of the regexes",
        "DS103",
        None,
        "see the Compose file reference for this option",
    ),
    (
        r"^open .*: no such file or directory",
        "DS215",
        None,
        "fix the path (relative to the file that names it)",
    ),
    (
        r"port is already allocated|address already in use",
        "DS402",
        None,
        "another process or container holds that port: `devstack check` names it",
    ),
    (
        r"pull access denied|manifest unknown|not found: manifest",
        "DS100",
        None,
        "the image is not available: build it locally or check its name and tag",
    ),
    (r"no such service", "DS100", None, "check the service name with `devstack status`"),
    (
        r"is unhealthy|dependency failed to start",
        "DS100",
        None,
        "a dependency's healthcheck failed: see `devstack logs SERVICE`",
    ),
)


def diagnose(stderr: str) -> Diagnosis:
    """Classify Compose's error output: the one place that reads its wording."""
    lines = [line.strip() for line in stderr.splitlines() if "level=warning" not in line]
    for pattern, code, error, hint in _PATTERNS:  # compiled on use: rare, off the hot path
        regex = re.compile(pattern, re.IGNORECASE)
        for line in lines:
            match = regex.search(line)
            if match:
                for index, group in enumerate(match.groups()):
                    hint = hint.replace(f"{{{index}}}", group or "") if hint else hint
                return Diagnosis(code, error, hint)
    return Diagnosis("DS100", None, None)


# Compose's own bugs in printing a valid model (2.26: `build.ssh` entries with a path fail
# with "json: error calling MarshalJSON for type types.SSHKey").
_MARSHAL_BUG = r"json: (error calling MarshalJSON|unsupported (type|value))"


class ComposeModel(NamedTuple):
    """What `compose config` said about a project: its merged model, or why there is none.

    `data` is the merged, interpolated model of every profile (`--profile '*'`), as Compose
    itself computes it; None when Compose gave none (`rejected` or `unavailable` says why).
    With both `data` and `rejected`, Compose rejected the project and `data` is what it printed
    without its consistency checks (`--no-consistency`).
    """

    data: dict[str, Any] | None
    rejected: str | None = None  # Compose's error output when it rejected the project
    unavailable: str | None = None  # why Compose was not asked, or gave no answer
    workaround: str | None = None  # a Compose bug that was worked around, in a sentence
    warnings: str = ""  # Compose's stderr on success (unset variables, obsolete keys)


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

    def argv(self, *args: str, name: bool = True) -> list[str]:
        """The full command. `name=False` leaves the project name to Compose (the same rules
        as Project.name), unless -p was given: `config` then starts without devstack reading
        the files for a top-level `name:` first."""
        files = [arg for path in self.project.files for arg in ("-f", str(path))]
        named = ["-p", self.project.name] if name or self.project.explicit_name else []
        return [*self.binary.argv, "--project-directory", str(self.project.root), *files, *named, *args]

    def _spawn(self, argv: list[str], env: dict[str, str]) -> subprocess.Popen[str]:
        try:
            return subprocess.Popen(
                argv,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=self.project.root,
                env=env,
            )
        except FileNotFoundError as exc:
            raise ComposeNotFound(f"cannot run {argv[0]}: {exc.strerror}") from exc

    def start_config(self) -> None:
        """Start `model()`'s first `config` call now, for a `run` of the same command to take.

        The process is taken only by a call with exactly its argv, directory and environment
        (see _claim); one that nobody takes is killed when devstack exits.
        """
        if self.binary.v1:
            return
        argv = self.argv(*self._config_args(), name=False)
        env = self._env()
        _started[_key(argv, self.project.root, env)] = self._spawn(argv, env)
        if len(_started) == 1:
            import atexit

            atexit.register(_kill_unclaimed)

    def _env(self) -> dict[str, str]:
        env = dict(self.project.shell_env)
        if not self.binary.v1:
            env.setdefault("COMPOSE_ANSI", "never")  # plain progress lines, no escape codes
        return env

    def run(
        self, *args: str, check: bool = True, timeout: float | None = None, name: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a short compose command and capture its output."""
        argv = self.argv(*args, name=name)
        env = self._env()
        popen = _claim(argv, self.project.root, env) or self._spawn(argv, env)
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
            raise self._failure(args, proc.returncode, proc.stderr or proc.stdout)
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
            raise self._failure(args, returncode, "\n".join(tail))

    def passthrough(self, *args: str) -> int:
        """Run with the user's terminal attached (logs -f, exec); return Compose's exit code."""
        argv = self.argv(*args)
        try:
            return subprocess.call(argv, cwd=self.project.root, env=self._env())
        except FileNotFoundError as exc:
            raise ComposeNotFound(f"cannot run {argv[0]}: {exc.strerror}") from exc

    def _failure(self, args: Sequence[str], returncode: int, output: str) -> Exception:
        tail = "\n".join(output.strip().splitlines()[-TAIL_LINES:])
        diagnosis = diagnose(tail)
        if diagnosis.error is EngineUnavailable:
            return EngineUnavailable("the Docker engine is not reachable", hint=diagnosis.hint)
        if diagnosis.error is ComposeNotFound:
            return ComposeNotFound("Docker Compose is not installed", hint=diagnosis.hint)
        shown = [*(self.binary.shown or self.binary.argv), *args]
        return ComposeFailed(shown, returncode, tail, hint=diagnosis.hint)

    # -- commands ------------------------------------------------------------------------

    def config(self, *flags: str) -> tuple[dict[str, Any], str]:
        """`config` with flags, every profile included: (the model, Compose's stderr).

        v2 prints JSON (`--format yaml` among the flags asks for YAML); v1 prints YAML, and
        lists services of every profile by itself. Raises ComposeFailed.
        """
        if self.binary.v1:
            import yaml

            proc = self.run("config", *flags, timeout=CONFIG_TIMEOUT, name=False)
            data = yaml.load(proc.stdout, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        else:
            yaml_format = "yaml" in flags
            proc = self.run(*self._config_args(*flags), timeout=CONFIG_TIMEOUT, name=False)
            if yaml_format:
                from devstack.composefile import parse

                data = parse(proc.stdout, self.project.root / "(compose config)").data
            else:
                import json  # not at the top: prestart.py imports this module before it starts Compose

                data = json.loads(proc.stdout)
        return (data if isinstance(data, dict) else {}), proc.stderr

    def _config_args(self, *flags: str) -> tuple[str, ...]:
        """`config` of every profile, as JSON unless the flags ask for YAML (v2)."""
        if "yaml" not in flags:
            flags = ("--format", "json", *flags)
        return ("--profile", "*", "config", *flags)

    def model(self, *flags: str) -> ComposeModel:
        """The merged model of every profile, from one `config` call when all is well.

        When Compose fails on a valid project because of its own bug in printing it, the YAML
        output is read instead. When it rejects the project, it is asked once more without its
        consistency checks (undefined services, networks, volumes; cycles), so that devstack's
        checks can say exactly where the problem is; `rejected` keeps Compose's own words.
        """
        try:
            data, warnings = self.config(*flags)
            return ComposeModel(data, warnings=warnings)
        except ComposeFailed as exc:
            first = exc
        if self._cancelled or first.returncode == -9:
            return ComposeModel(None, unavailable=first.message)
        workaround = None
        if not self.binary.v1 and re.search(_MARSHAL_BUG, first.stderr_tail, re.IGNORECASE):
            workaround = (
                f"Compose {version_of(self.binary)} cannot print this project as JSON (a bug in "
                "Compose, not in the project); its YAML output was read instead"
            )
            try:
                data, warnings = self.config("--format", "yaml", *flags)
                return ComposeModel(data, workaround=workaround, warnings=warnings)
            except ComposeFailed as exc:
                first = exc
                if re.search(_MARSHAL_BUG, exc.stderr_tail, re.IGNORECASE):
                    return ComposeModel(
                        None,
                        unavailable=f"Compose {version_of(self.binary)} cannot print this project "
                        "(a bug in Compose, not in the project)",
                    )
        if self.binary.v1 or self._cancelled:
            return ComposeModel(None, rejected=first.stderr_tail)
        retry = ("--format", "yaml", "--no-consistency") if workaround else ("--no-consistency",)
        try:
            data, _ = self.config(*retry, *flags)
        except ComposeFailed:
            return ComposeModel(None, rejected=first.stderr_tail)
        return ComposeModel(data, rejected=first.stderr_tail, workaround=workaround)

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


class PipeResult(NamedTuple):
    """What `ComposeRunner.pipe` returns: exit code, tail of stderr, whether stdin was cut short."""

    returncode: int
    stderr: str
    stdin_closed_early: bool = False
