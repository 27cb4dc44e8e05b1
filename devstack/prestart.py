"""Compose's `config` for `check` and `up`, started before click and the CLI are imported.

Both commands need `compose config` (about 90 ms, on another core) and spend their first
40-60 ms importing click and the CLI. Starting Compose from the command line as typed puts
that time in parallel. It is only a head start: ComposeRunner.run takes the process only when
its argv, directory and environment are exactly those it would run itself, and one nobody
takes is killed at exit. So a command line read wrongly here costs a process, never a result.
"""

from __future__ import annotations

from collections.abc import Sequence

_COMMANDS = ("check", "up")
_STOP = ("-h", "--help", "-V", "--version", "--")


def project_args(args: Sequence[str]) -> tuple[list[str], str | None] | None:
    """-f files and -p name of `devstack [GLOBAL...] check|up [OPTIONS...]`; None otherwise."""
    files: list[str] = []
    name: str | None = None
    command = None
    items = iter(args)
    for arg in items:
        if arg in _STOP:
            return None
        if arg in ("-f", "--file", "-p", "--project-name"):
            value = next(items, None)
            if value is None:
                return None
            if arg in ("-f", "--file"):
                files.append(value)
            else:
                name = value
        elif arg.startswith("--file="):
            files.append(arg.partition("=")[2])
        elif arg.startswith("--project-name="):
            name = arg.partition("=")[2]
        elif arg.startswith("-f") and not arg.startswith("--"):
            files.append(arg[2:])
        elif arg.startswith("-p") and not arg.startswith("--"):
            name = arg[2:]
        elif command is None and not arg.startswith("-"):
            if arg not in _COMMANDS:
                return None
            command = arg
    return (files, name) if command else None


def start(args: Sequence[str]) -> None:
    """Start `compose config` for the project of a `check` or `up` command line, if it is one."""
    parsed = project_args(args)
    if parsed is None:
        return
    try:
        from devstack.compose import ComposeRunner
        from devstack.project import Project

        files, name = parsed
        ComposeRunner(Project.load(files=files, name=name)).start_config()
    except Exception:  # a head start only: the command itself reports every error
        return
