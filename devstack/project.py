"""A loaded devstack project: its root, compose files, env file and Compose project name.

Discovery follows Compose: `-f` files (or COMPOSE_FILE), else the first compose file found in
the working directory or its parents, plus the matching override file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path

from devstack.errors import ComposeFileMissing, ProjectNotFound

COMPOSE_FILENAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")
OVERRIDE_FILENAMES = {
    "compose.yaml": "compose.override.yaml",
    "compose.yml": "compose.override.yml",
    "docker-compose.yaml": "docker-compose.override.yaml",
    "docker-compose.yml": "docker-compose.override.yml",
}
_NAME_OK = re.compile(r"[a-z0-9][a-z0-9_-]*")


class Project:
    """Where a Compose project lives and how Compose will name and interpolate it.

    A plain class, not a dataclass: it is built at the very start of `check` and `up`, before
    `compose config` is started (prestart.py), and a dataclass costs the `dataclasses` import
    (13 ms with `inspect`) before that. Treat it as immutable.
    """

    def __init__(
        self,
        root: Path,
        files: tuple[Path, ...],
        env_file: Path,
        explicit_name: str | None = None,
        shell_env: Mapping[str, str] | None = None,
    ) -> None:
        self.root = root
        self.files = files
        self.env_file = env_file
        self.explicit_name = explicit_name
        self.shell_env: Mapping[str, str] = dict(os.environ) if shell_env is None else shell_env

    def __repr__(self) -> str:
        return f"Project(root={self.root!r}, files={self.files!r}, explicit_name={self.explicit_name!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Project):
            return NotImplemented
        fields = ("root", "files", "env_file", "explicit_name", "shell_env")
        return all(getattr(self, f) == getattr(other, f) for f in fields)

    __hash__ = None  # type: ignore[assignment]  # as the dataclass it replaces: shell_env is a dict

    @classmethod
    def load(
        cls,
        directory: Path | None = None,
        files: Sequence[Path | str] = (),
        name: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> Project:
        shell = dict(os.environ if env is None else env)
        start = Path(directory or os.getcwd()).absolute()
        chosen: list[Path] = [Path(f) if Path(f).is_absolute() else start / f for f in files]
        if not chosen and shell.get("COMPOSE_FILE"):
            sep = shell.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
            chosen = [start / f for f in shell["COMPOSE_FILE"].split(sep) if f]
        if not chosen:
            chosen = _discover(start)
        for path in chosen:
            if not path.exists():
                given = "COMPOSE_FILE" if not files else "-f"
                raise ComposeFileMissing(
                    f"compose file {path} does not exist",
                    hint=f"check {given}; without it devstack finds the project's compose file itself",
                )
        root = chosen[0].parent
        if directory is not None and files:
            root = start
        return cls(root, tuple(chosen), root / ".env", name, shell)

    def dotenv(self) -> dict[str, str]:
        """The project's .env as Compose reads it (empty when there is none)."""
        if not self.env_file.is_file():
            return {}
        from devstack.envfile import read_keys

        return {k: v or "" for k, v in read_keys(self.env_file).items()}

    def interpolation_env(self) -> dict[str, str]:
        """Variables for ${VAR} interpolation: the shell wins over .env."""
        merged = self.dotenv()
        merged.update(self.shell_env)
        return merged

    @cached_property
    def name(self) -> str:
        """-p > COMPOSE_PROJECT_NAME (shell, then .env) > top-level `name:` > directory name."""
        if self.explicit_name:
            return self.explicit_name
        env = self.interpolation_env()
        if env.get("COMPOSE_PROJECT_NAME"):
            return env["COMPOSE_PROJECT_NAME"]
        top = _top_level_name(self.files)
        if top:
            return top
        return normalize_name(self.root.name)


def normalize_name(raw: str) -> str:
    """Compose's rule: lowercase, keep [a-z0-9_-], no leading '-' or '_'."""
    name = re.sub(r"[^a-z0-9_-]", "", raw.lower()).lstrip("-_")
    return name or "default"


def _discover(start: Path) -> list[Path]:
    for directory in (start, *start.parents):
        for filename in COMPOSE_FILENAMES:
            candidate = directory / filename
            if candidate.is_file():
                found = [candidate]
                override = directory / OVERRIDE_FILENAMES[filename]
                if override.is_file():
                    found.append(override)
                return found
    raise ProjectNotFound(
        f"no compose file in {start} or its parents",
        hint="run this in a project directory, pass -f FILE, or create one with `devstack new`",
    )


def _top_level_name(files: Sequence[Path]) -> str | None:
    import yaml

    name = None
    for path in files:
        try:
            data = yaml.safe_load(path.read_text("utf-8"))
        except (OSError, ValueError, yaml.YAMLError):
            continue
        if isinstance(data, dict) and isinstance(data.get("name"), str):
            name = data["name"]
    return name if name and _NAME_OK.fullmatch(name) else None
