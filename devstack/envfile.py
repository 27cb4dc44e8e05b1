"""The project's `.env`: created from `.env.example`, secrets generated, existing values kept.

Convention: in `.env.example`, a key whose comment (the comment lines just above it, or an
inline comment) contains `devstack:secret` is a secret. Its example value stays empty; devstack
generates a fresh random value for it in `.env`.
"""

from __future__ import annotations

import io
import os
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

SECRET_MARK = "devstack:secret"
_ALPHABET = string.ascii_letters + string.digits
_KEY_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*=")


@dataclass(frozen=True)
class ExampleEntry:
    key: str
    line: str  # the line as written in .env.example
    comments: tuple[str, ...]  # comment lines directly above it
    secret: bool


@dataclass
class SyncResult:
    path: Path
    created: bool = False
    added: list[str] = field(default_factory=list)
    generated: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.created or bool(self.added)


def generate_secret(length: int = 32) -> str:
    """Letters and digits only: safe unquoted in .env, YAML, shell and SQL."""
    import secrets

    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def read_keys(path: Path) -> dict[str, str | None]:
    """Keys and values of a .env file, parsed as python-dotenv (and Compose) parse them."""
    from dotenv import dotenv_values

    return dict(dotenv_values(path, interpolate=False))


def parse_example(text: str) -> list[ExampleEntry]:
    entries: list[ExampleEntry] = []
    comments: list[str] = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("#"):
            comments.append(line)
            continue
        match = _KEY_LINE.match(line)
        if match:
            secret = SECRET_MARK in line or any(SECRET_MARK in c for c in comments)
            entries.append(ExampleEntry(match.group(1), line, tuple(comments), secret))
        comments = []
    return entries


def _secret_line(key: str) -> str:
    return f"{key}={generate_secret()}"


def sync(project_dir: Path, example: str = ".env.example", target: str = ".env") -> SyncResult:
    """Create `.env` from `.env.example`, or add the keys it lacks; never change a set value."""
    example_path = project_dir / example
    env_path = project_dir / target
    result = SyncResult(env_path)
    if not example_path.is_file():
        return result
    example_text = example_path.read_text("utf-8")
    entries = parse_example(example_text)
    if not env_path.exists():
        secret_keys = {e.key for e in entries if e.secret}
        out = io.StringIO()
        out.write("# Local settings and secrets for this checkout. Never commit this file.\n")
        out.write(f"# Created by devstack from {example}; add new keys there too.\n\n")
        for line in _without_header(example_text).splitlines():
            match = _KEY_LINE.match(line)
            if match and match.group(1) in secret_keys:
                line = _secret_line(match.group(1))
                result.generated.append(match.group(1))
            out.write(line + "\n")
        _write_private(env_path, out.getvalue())
        result.created = True
        result.added = [e.key for e in entries]
        return result
    present = read_keys(env_path)
    missing = [e for e in entries if e.key not in present]
    if not missing:
        return result
    current = env_path.read_text("utf-8")
    out = io.StringIO(current)
    out.seek(0, io.SEEK_END)
    if current and not current.endswith("\n"):
        out.write("\n")
    out.write(f"\n# Added by devstack from {example}:\n")
    for entry in missing:
        for comment in entry.comments:
            out.write(comment + "\n")
        if entry.secret:
            out.write(_secret_line(entry.key) + "\n")
            result.generated.append(entry.key)
        else:
            out.write(entry.line + "\n")
        result.added.append(entry.key)
    _write_private(env_path, out.getvalue())
    return result


def _without_header(text: str) -> str:
    """Drop the example's opening comment block: it describes .env.example, not .env."""
    lines = text.splitlines()
    start = 0
    while start < len(lines) and lines[start].lstrip().startswith("#"):
        start += 1
    while start < len(lines) and not lines[start].strip():
        start += 1
    return "\n".join(lines[start:]) if start < len(lines) else text


def _write_private(path: Path, text: str) -> None:
    """Write atomically with mode 0600 (the file holds secrets)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".env.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
