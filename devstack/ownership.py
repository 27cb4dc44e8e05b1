"""Bind-mount sources created before `compose up`, by the invoking user.

A missing bind-mount source (short syntax `./data/db:/var/lib/...`, or `create_host_path: true`)
is created by the Docker daemon, as root: on Linux `data/db` then belongs to root and resetting it
needs sudo, even when the service runs as the host user. Created here first, it belongs to the
user who runs devstack, and a service running as `user: "${HOST_UID}:${HOST_GID}"` can write
into it.

Only directories, and only inside the project directory: a source that looks like a file
(`./nginx.conf`) is left alone (the checks report it), and so is anything outside the project.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from devstack import syntax
from devstack.project import Project

# The same judgement as the DS505 check: a name with a short extension is meant to be a file.
_FILE_SUFFIX = re.compile(r"\.[A-Za-z][A-Za-z0-9]{0,7}")
_DIRECTORY_SUFFIXES = {".d", ".git"}


@dataclass
class Prepared:
    """What `prepare_bind_mounts` did: directories created, sources left to Docker and why."""

    created: list[Path] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)

    def warnings(self) -> list[str]:
        """One line per source that could not be created though it should have been."""
        return [f"could not create {path}: {why}" for path, why in self.skipped if why.startswith("cannot")]


def prepare_bind_mounts(project: Project, model: Mapping[str, Any] | None) -> Prepared:
    """Create the missing bind-mount source directories of `model`'s services under the project.

    `model` is Compose's merged model (`config --format json`; v1's YAML or the fallback model
    work too). Never raises for a single mount: what cannot be created is listed in `skipped`.
    """
    result = Prepared()
    root = Path(os.path.realpath(project.root))
    seen: set[str] = set()
    for service in syntax.services(model).values():
        for _index, mount in syntax.mounts(service):
            if mount.type != "bind" or not mount.source or not mount.create_host_path:
                continue
            if mount.source.startswith("~"):
                continue  # the home directory is never the project's
            source = os.path.normpath(os.path.join(project.root, mount.source))
            if source in seen:
                continue
            seen.add(source)
            _prepare(Path(source), mount.target, root, result)
    return result


def _prepare(source: Path, target: str, root: Path, result: Prepared) -> None:
    if os.path.lexists(source):
        return  # there already (a dangling symlink included: not ours to replace)
    if looks_like_file(source, target):
        result.skipped.append((source, "looks like a file"))
        return
    if not _inside(source, root):
        result.skipped.append((source, "outside the project"))
        return
    missing = []
    probe = source
    while not os.path.lexists(probe):
        missing.append(probe)
        probe = probe.parent
    try:
        for path in reversed(missing):
            path.mkdir()
            result.created.append(path)
    except OSError as exc:
        result.skipped.append((source, f"cannot create it: {exc.strerror or exc}"))


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


def looks_like_file(source: Path, target: str) -> bool:
    """`./nginx.conf:/etc/nginx/nginx.conf`: a name with a short extension on either side."""
    for name in (source.name, PurePosixPath(target).name):
        suffix = PurePosixPath(name).suffix
        if _FILE_SUFFIX.fullmatch(suffix) and suffix not in _DIRECTORY_SUFFIXES:
            return True
    return False
