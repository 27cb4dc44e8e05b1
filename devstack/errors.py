"""DevstackError and its subclasses; exit codes live here and nowhere else."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_NO_ENGINE = 3
EXIT_COMPOSE_FAILED = 4
EXIT_INTERRUPTED = 130


class DevstackError(Exception):
    """An expected failure: one line for the user, a hint, an exit code."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, hint: str | None = None, details: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.details = details  # optional lines shown under the error (e.g. a log tail)

    def __str__(self) -> str:
        return self.message


class UsageError(DevstackError):
    """The command line asked for something that cannot be done as asked."""

    exit_code = EXIT_USAGE


class UnknownStack(UsageError):
    """No stack of that name ships with devstack."""


class InvalidValue(UsageError):
    """A project name, --set key or choice value is not acceptable."""


class TargetError(DevstackError):
    """The target directory cannot receive a new project."""


class TemplateError(DevstackError):
    """A template failed to render (a bug in the template, or bad input it did not catch)."""


class ProjectNotFound(DevstackError):
    """No compose file where one was expected."""


class ComposeFileMissing(UsageError):
    """A compose file named on the command line (-f) or in COMPOSE_FILE does not exist."""


class ProjectInUse(DevstackError):
    """The project name belongs to containers of another checkout (another directory)."""


class ChecksFailed(DevstackError):
    """Checks found errors; `findings` carries them for the report."""

    def __init__(self, message: str, findings: list[Any], hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.findings = findings


class EngineUnavailable(DevstackError):
    """The Docker engine cannot be reached."""

    exit_code = EXIT_NO_ENGINE


class ComposeNotFound(DevstackError):
    """Neither `docker compose` nor `docker-compose` is installed."""

    exit_code = EXIT_NO_ENGINE


class ComposeFailed(DevstackError):
    """A compose command exited non-zero."""

    exit_code = EXIT_COMPOSE_FAILED

    def __init__(
        self, argv: Sequence[str], returncode: int, stderr_tail: str, hint: str | None = None
    ) -> None:
        command = " ".join(argv[:4]) + (" ..." if len(argv) > 4 else "")
        last = stderr_tail.strip().splitlines()[-1] if stderr_tail.strip() else "no output"
        super().__init__(f"`{command}` failed (exit {returncode}): {last}", hint)
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail


class NotReady(DevstackError):
    """A service did not become running/healthy in time."""


class Interrupted(DevstackError):
    """The user pressed Ctrl-C."""

    exit_code = EXIT_INTERRUPTED


# -- devstack proxy / devstack events ----------------------------------------------------------


class EngineRequestFailed(DevstackError):
    """The engine answered, with an error (a port taken, an image that does not build, ...)."""

    def __init__(self, message: str, hint: str | None = None, status: int | None = None) -> None:
        super().__init__(message, hint)
        self.status = status


class ProxyError(DevstackError):
    """The shared proxy cannot do what was asked (a port taken, a token refused, ...)."""
