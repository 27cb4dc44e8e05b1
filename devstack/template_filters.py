"""Jinja filters that make a value safe where a template pastes it (YAML, shell, PHP, .env).

Loaded by cookiecutter through `_extensions` in each stack's cookiecutter.json.
"""

from __future__ import annotations

import json
import re
import shlex

from jinja2 import Environment
from jinja2.ext import Extension

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


class DevstackFilters(Extension):
    """Registers |yaml, |sh, |php and |dotenv."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters.update(yaml=yaml_quote, sh=sh_quote, php=php_quote, dotenv=dotenv_quote)
