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
from collections.abc import Callable, Mapping, Sequence
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
    # Secrets not generated, and why: a database already initialised with the old value.
    held: dict[str, str] = field(default_factory=dict)

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


Hold = Callable[[Sequence[str]], Mapping[str, str]]


def _held_line(key: str, reason: str) -> str:
    """What .env gets instead of a secret that must not be generated (see `sync`'s `hold`)."""
    return (
        f"# {key} was not generated: {reason}.\n"
        f"# Put that value here (and remove the '#'), or run `devstack db reset` to start afresh:\n"
        f"# {key}="
    )


def sync(
    project_dir: Path, example: str = ".env.example", target: str = ".env", *, hold: Hold | None = None
) -> SyncResult:
    """Create `.env` from `.env.example`, or add the keys it lacks; never change a set value.

    `hold` is asked (once, only when secrets are about to be generated) which of them must not
    be: a database initialised with the old value would refuse a fresh one. Those keys get a
    comment instead of a value and are listed in `SyncResult.held` with the reason.
    """
    example_path = project_dir / example
    env_path = project_dir / target
    result = SyncResult(env_path)
    if not example_path.is_file():
        return result
    example_text = example_path.read_text("utf-8")
    entries = parse_example(example_text)
    present_now = read_keys(env_path) if env_path.exists() else {}
    to_generate = [e.key for e in entries if e.secret and e.key not in present_now]
    if hold is not None and to_generate:
        result.held = dict(hold(to_generate))
    if not env_path.exists():
        secret_keys = {e.key for e in entries if e.secret}
        out = io.StringIO()
        out.write("# Local settings and secrets for this checkout. Never commit this file.\n")
        out.write(f"# Created by devstack from {example}; add new keys there too.\n\n")
        for line in _without_header(example_text).splitlines():
            match = _KEY_LINE.match(line)
            if match and match.group(1) in result.held:
                line = _held_line(match.group(1), result.held[match.group(1)])
            elif match and match.group(1) in secret_keys:
                line = _secret_line(match.group(1))
                result.generated.append(match.group(1))
            out.write(line + "\n")
        _write_private(env_path, out.getvalue())
        result.created = True
        result.added = [e.key for e in entries if e.key not in result.held]
        return result
    present = read_keys(env_path)
    current = env_path.read_text("utf-8")
    # A held key already explained in .env (an earlier sync) is not explained again.
    missing = [
        e
        for e in entries
        if e.key not in present and not (e.key in result.held and f"# {e.key} was not generated:" in current)
    ]
    if not missing:
        return result
    out = io.StringIO(current)
    out.seek(0, io.SEEK_END)
    if current and not current.endswith("\n"):
        out.write("\n")
    out.write(f"\n# Added by devstack from {example}:\n")
    for entry in missing:
        for comment in entry.comments:
            out.write(comment + "\n")
        if entry.key in result.held:
            out.write(_held_line(entry.key, result.held[entry.key]) + "\n")
            continue
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
