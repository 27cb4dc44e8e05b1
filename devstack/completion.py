"""Names the shell completes (services, database snapshots), read quickly and quietly.

The click side (cli.py) turns them into completion items. A look that fails completes nothing:
completion never prints an error into the user's command line.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from devstack.errors import DevstackError

if TYPE_CHECKING:
    from devstack.project import Project

# Completion runs on every Tab: a Compose that hangs must not hang the shell.
COMPOSE_TIMEOUT = 5.0


def _project(files: Sequence[str], project_name: str | None) -> Project | None:
    from devstack.project import Project

    try:
        return Project.load(files=tuple(files), name=project_name)
    except (DevstackError, OSError):
        return None


def service_names(files: Sequence[str] = (), project_name: str | None = None) -> list[str]:
    """The services of the project here (every profile), as Compose merges them.

    When Compose cannot answer (not installed, or the project has an error such as an unset
    required variable), the `services:` keys of the compose files as written.
    """
    project = _project(files, project_name)
    if project is None:
        return []
    from devstack.compose import ComposeRunner

    try:
        runner = ComposeRunner(project)
        args = ("config", "--services") if runner.binary.v1 else ("--profile", "*", "config", "--services")
        proc = runner.run(*args, check=False, timeout=COMPOSE_TIMEOUT, name=False)
        if proc.returncode == 0 and proc.stdout.strip():
            return sorted(set(proc.stdout.split()))
    except (DevstackError, OSError):
        pass
    return _services_as_written(project)


def _services_as_written(project: Project) -> list[str]:
    import yaml

    names: set[str] = set()
    for path in project.files:
        try:
            data = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, ValueError, yaml.YAMLError):
            continue
        services = data.get("services") if isinstance(data, dict) else None
        if isinstance(services, dict):
            names.update(str(name) for name in services)
    return sorted(names)


def snapshot_names(
    files: Sequence[str] = (), project_name: str | None = None, service: str | None = None
) -> list[str]:
    """Names of the project's database snapshots (`devstack db restore NAME`), newest last.

    The snapshots are `devstack db`'s (module devstack.datadir).
    """
    from devstack import datadir

    project = _project(files, project_name)
    if project is None:
        return []
    try:
        found = datadir.list_snapshots(project, service)
    except (DevstackError, OSError):
        return []
    names: list[str] = []
    for snap in found:
        if snap.name not in names:
            names.append(str(snap.name))
    return names


def tool_names(files: Sequence[str] = (), project_name: str | None = None) -> list[tuple[str, str]]:
    """The project's tools (`devstack run TOOL`) with their descriptions."""
    project = _project(files, project_name)
    if project is None:
        return []
    from devstack import tools

    try:
        found = tools.declared(project)
    except (DevstackError, OSError):
        return []
    return sorted((name, tool.description) for name, tool in found.tools.items())


def addon_names() -> list[tuple[str, str]]:
    """The catalogue of `devstack add SERVICE`, with each entry's summary."""
    from devstack import addons

    try:
        return sorted((name, entry.summary) for name, entry in addons.catalogue().items())
    except (DevstackError, OSError):
        return []
