"""Bind-mount sources created before `compose up`, by the invoking user.

A missing bind-mount source (short syntax `./data/db:/var/lib/...`, or `create_host_path: true`)
is created by the Docker daemon, as root: on Linux `data/db` then belongs to root and resetting it
needs sudo, even when the service runs as the host user. Created here first, it belongs to the
user who runs devstack, and a service running as `user: "${HOST_UID}:${HOST_GID}"` can write
into it.

Only directories, only inside the project directory, and only where the mount asks for its
source to be created (short syntax, or `create_host_path: true`): a source that looks like a
file (`./nginx.conf`) is left alone (DS505 reports it), and so is anything outside the project.

When devstack runs as root but the project's services run as another user (HOST_UID/HOST_GID
in `.env` pinned to an ordinary uid, e.g. in a CI job or under sudo), what it creates is handed
to that user, so the services can write into it.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import syntax
from devstack.project import Project


@dataclass
class Prepared:
    """What `prepare_bind_mounts` did: sources created, sources left to Docker and why."""

    created: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """One line per source that could not be created though it should have been."""
        return [f"could not create {path}: {why}" for path, why in self.skipped if why.startswith("cannot")]


def prepare_bind_mounts(
    project: Project, model: Mapping[str, Any] | None, wanted: Collection[str] | None = None
) -> Prepared:
    """Create the missing bind-mount source directories of `model`'s services under the project.

    `model` is Compose's merged model (`config --format json`; v1's YAML works too); `wanted`
    limits it to the services about to start. Never raises for a single mount: what cannot be
    created is listed in `skipped`. `created` lists the sources (their parents are made too).
    """
    from devstack.checks.paths import looks_like_file  # the DS505 judgement, shared

    result = Prepared()
    owner = _services_owner(project)
    root = Path(os.path.realpath(project.root))
    seen: set[Path] = set()
    for name, service in syntax.services(model).items():
        if wanted is not None and name not in wanted:
            continue
        for _index, mount in syntax.mounts(service):
            if mount.type != "bind" or not mount.source or not mount.create_host_path:
                continue
            source = syntax.host_path(mount.source, project.root)
            if source in seen:
                continue
            seen.add(source)
            if os.path.lexists(source):
                continue  # there already (a dangling symlink included: not ours to replace)
            if looks_like_file(source, mount.target):
                result.skipped.append((source, "looks like a file"))
            elif not _inside(source, root):
                result.skipped.append((source, "outside the project"))
            else:
                _create(source, result, owner)
    return result


def _services_owner(project: Project) -> tuple[int, int] | None:
    """HOST_UID:HOST_GID when devstack runs as root and they name another user, else None."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    env = project.interpolation_env()
    uid, gid = env.get("HOST_UID", ""), env.get("HOST_GID", "")
    if not (uid.isdigit() and gid.isdigit()) or (int(uid), int(gid)) == (0, 0):
        return None
    return int(uid), int(gid)


def _create(source: Path, result: Prepared, owner: tuple[int, int] | None = None) -> None:
    new = [source, *(p for p in source.parents if not p.exists())]
    try:
        source.mkdir(parents=True)
    except FileExistsError:
        return  # made meanwhile (by another mount, or Docker): fine
    except OSError as exc:
        result.skipped.append((source, f"cannot create it: {exc.strerror or exc}"))
        return
    if owner is not None:
        for path in new:
            try:
                os.chown(path, *owner)
            except OSError as exc:
                result.skipped.append((path, f"cannot give it to {owner[0]}:{owner[1]}: {exc.strerror}"))
    result.created.append(source)


def _inside(path: Path, root: Path) -> bool:
    """Whether `path` (which may not exist yet) lies under `root` once symlinks are followed."""
    existing = path
    rest: list[str] = []
    while not existing.exists():
        rest.append(existing.name)
        if existing.parent == existing:
            return False
        existing = existing.parent
    real = Path(os.path.realpath(existing)).joinpath(*reversed(rest))
    return real == root or real.is_relative_to(root)
