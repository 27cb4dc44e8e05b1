"""Jinja filters that make a value safe where a template pastes it (YAML, shell, PHP, .env),
and `shared(NAME)`, which pastes a part that several stacks have in common.

Loaded by cookiecutter through `_extensions` in each stack's cookiecutter.json.

Shared parts live in `templates/_shared/` (no cookiecutter.json there, so it is not a stack).
`{{ shared("docker/certs/README.md") }}` renders that file with the calling template's context
(the same filters, the same strict undefined variables) and pastes the result without its final
line break, so the calling line's own line break ends it. A shared part may call `shared()` too.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, pass_context
from jinja2.ext import Extension
from jinja2.runtime import Context

_PLAIN_DOTENV = re.compile(r"[A-Za-z0-9_./:@+-]*")


def yaml_quote(value: object) -> str:
    """A double-quoted YAML scalar; JSON strings are valid YAML, escapes included."""
    return json.dumps(str(value), ensure_ascii=True)


def sh_quote(value: object) -> str:
    return shlex.quote(str(value))


def php_quote(value: object) -> str:
    """A single-quoted PHP string literal: only backslash and quote are special there."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def dotenv_quote(value: object) -> str:
    """A value for a .env file that Compose and python-dotenv read back unchanged."""
    text = str(value)
    if "\n" in text or "\r" in text:
        raise ValueError("a .env value cannot span lines")
    if _PLAIN_DOTENV.fullmatch(text):
        return text
    if "'" not in text:
        return f"'{text}'"  # single quotes: literal, no interpolation, in both readers
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "$$")
    return f'"{escaped}"'


def shared_root() -> Path:
    """The directory of the parts that several stacks share."""
    from devstack.stacks import templates_root

    return templates_root() / "_shared"


@pass_context
def shared(context: Context, name: str) -> str:
    """The shared part NAME rendered with the caller's context, without its final line break."""
    env: Any = context.environment
    overlay = getattr(env, "_devstack_shared", None)
    if overlay is None:
        # An overlay keeps the filters, extensions and StrictUndefined of cookiecutter's
        # environment; only the loader differs (cookiecutter replaces env.loader itself).
        overlay = env.overlay(loader=FileSystemLoader(str(shared_root())))
        env._devstack_shared = overlay
    text = overlay.get_template(name).render(context.get_all())
    return str(text[:-1] if text.endswith("\n") else text)


class DevstackFilters(Extension):
    """Registers |yaml, |sh, |php and |dotenv, and the global shared()."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(yaml=yaml_quote, sh=sh_quote, php=php_quote, dotenv=dotenv_quote)
        environment.globals["shared"] = shared
