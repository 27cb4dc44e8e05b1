"""Compose's `${VAR}` interpolation: find references, and substitute them as Compose does.

Grammar (as Compose v2 implements it): `$$` is a literal `$`; `$NAME` and `${NAME}` substitute;
`${NAME:-default}` / `${NAME-default}` default when unset-or-empty / unset; `${NAME:?message}` /
`${NAME?message}` fail when unset-or-empty / unset; `${NAME:+alt}` / `${NAME+alt}` give `alt`
when set-and-non-empty / set. Defaults and messages may nest references. A braced expression
ends at the first `}` that closes it; a malformed one is an error ("Invalid template"). A `$`
followed by anything else stays a literal `$`. An unset variable without a default becomes ""
(Compose only warns).

Compose itself interpolates the project; the checks use the reference finder and `evaluate`
on each file as written, to say which variables are missing and on which line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

MODIFIERS = (":-", ":?", ":+", "-", "?", "+")  # longest first: the order they are matched in
_NAME = re.compile(r"[_A-Za-z][_A-Za-z0-9]*")


class InterpolationError(ValueError):
    """A value Compose refuses to interpolate."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.message = message
        self.text = text


class TemplateSyntaxError(InterpolationError):
    """A malformed `${...}` expression (Compose: "Invalid template")."""


class MissingRequired(InterpolationError):
    """`${VAR:?message}` or `${VAR?message}` with VAR unset (or empty, for `:?`)."""

    def __init__(self, name: str, reason: str, text: str, modifier: str) -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"required variable {name} is missing a value{detail}", text)
        self.name = name
        self.reason = reason
        self.modifier = modifier


class Reference(NamedTuple):
    """One `$VAR` or `${VAR...}` in a string."""

    name: str
    modifier: str | None  # one of MODIFIERS, or None for $VAR / ${VAR}
    argument: str | None  # the text after the modifier, unsubstituted
    start: int
    end: int  # text[start:end] is the whole reference
    nested: tuple[Reference, ...] = ()

    @property
    def required(self) -> bool:
        return self.modifier in (":?", "?")


class Evaluation(NamedTuple):
    """The substituted value and the variables it used that were unset with no default."""

    value: str
    missing: list[str]


def references(text: str) -> list[Reference]:
    """The top-level references in text (nested ones are in `.nested`)."""
    return [part for part in _parse(text) if isinstance(part, Reference)]


def names(text: str) -> list[str]:
    """Every variable name referenced, nested ones included, in order of appearance."""
    found: list[str] = []

    def visit(refs: tuple[Reference, ...] | list[Reference]) -> None:
        for ref in refs:
            if ref.name not in found:
                found.append(ref.name)
            visit(ref.nested)

    visit(references(text))
    return found


def evaluate(text: str, env: Mapping[str, str]) -> Evaluation:
    """Substitute as Compose does; raises TemplateSyntaxError or MissingRequired."""
    missing: list[str] = []
    return Evaluation(_substitute(text, env, missing), missing)


def substitute(text: str, env: Mapping[str, str]) -> str:
    """The substituted string (unset variables become "", as in Compose)."""
    return _substitute(text, env, [])


def _parse(text: str) -> list[str | Reference]:
    """Literal runs (with `$$` already unescaped) and references, in order."""
    parts: list[str | Reference] = []
    literal: list[str] = []
    i, n = 0, len(text)
    while i < n:
        dollar = text.find("$", i)
        if dollar < 0:
            literal.append(text[i:])
            break
        literal.append(text[i:dollar])
        nxt = text[dollar + 1 : dollar + 2]
        if nxt == "$":
            literal.append("$")
            i = dollar + 2
            continue
        if nxt == "{":
            ref = _braced(text, dollar)
        else:
            match = _NAME.match(text, dollar + 1)
            if not match:
                literal.append("$")  # Compose keeps a `$` that starts nothing
                i = dollar + 1
                continue
            ref = Reference(match.group(), None, None, dollar, match.end())
        if literal:
            parts.append("".join(literal))
            literal = []
        parts.append(ref)
        i = ref.end
    if literal and any(literal):
        parts.append("".join(literal))
    return parts


def _braced(text: str, start: int) -> Reference:
    """The `${...}` at text[start], delimited exactly as Compose delimits it."""
    match = _NAME.match(text, start + 2)
    if not match:
        raise TemplateSyntaxError(f"invalid interpolation {_excerpt(text, start)!r}", text)
    name, after = match.group(), match.end()
    if text.startswith("}", after):
        return Reference(name, None, None, start, after + 1)
    modifier = next((m for m in MODIFIERS if text.startswith(m, after)), None)
    line_end = text.find("\n", after)
    last = text.rfind("}", after, len(text) if line_end < 0 else line_end)
    if modifier is None or last < 0:
        raise TemplateSyntaxError(f"invalid interpolation {_excerpt(text, start)!r}", text)
    # Compose's pattern runs to the last `}` on the line, then cuts at the brace that closes
    # the expression (its counter skips the character after each `{`: kept for fidelity).
    candidate = text[start : last + 1]
    closing = _closing_brace(candidate)
    end = start + (closing + 1 if closing >= 0 else len(candidate))
    argument = text[after + len(modifier) : end - 1]
    return Reference(name, modifier, argument, start, end, tuple(references(argument)))


def _closing_brace(s: str) -> int:
    depth, i = 0, 0
    while i < len(s):
        if s[i] == "}":
            depth -= 1
            if depth == 0:
                return i
        if s[i] == "{":
            depth += 1
            i += 1
        i += 1
    return -1


def _excerpt(text: str, start: int) -> str:
    end = text.find("}", start)
    return text[start : end + 1] if end >= 0 else text[start:]


def _substitute(text: str, env: Mapping[str, str], missing: list[str]) -> str:
    if "$" not in text:
        return text
    out: list[str] = []
    for part in _parse(text):
        out.append(part if isinstance(part, str) else _resolve(part, env, missing, text))
    return "".join(out)


def _resolve(ref: Reference, env: Mapping[str, str], missing: list[str], text: str) -> str:
    value = env.get(ref.name)
    is_set = value is not None
    modifier = ref.modifier
    if modifier is None:
        if not is_set and ref.name not in missing:
            missing.append(ref.name)
        return value or ""
    # The argument is substituted only when it is used, as current Compose does (older
    # releases, 2.26 among them, substituted it eagerly: a `:?` in an unused default failed).
    if modifier in (":?", "?"):
        if not is_set or (modifier == ":?" and not value):
            raise MissingRequired(ref.name, substitute(ref.argument or "", env), text, modifier)
        return value or ""
    if modifier == ":-":
        use = not value
    elif modifier == "-":
        use = not is_set
    elif modifier == ":+":
        use = bool(value)
    else:  # "+"
        use = is_set
    if use:
        return _substitute(ref.argument or "", env, missing)
    return "" if modifier in (":+", "+") else (value or "")
