"""Compose's ${VAR} grammar: references with modifiers, $$ escapes, nesting, substitution."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from devstack.interpolation import (
    MissingRequired,
    TemplateSyntaxError,
    evaluate,
    names,
    references,
    substitute,
)

ENV = {"A": "aval", "B": "bval", "E": ""}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", []),
        ("$A", [("A", None, None)]),
        ("${A}", [("A", None, None)]),
        ("${A:-d}", [("A", ":-", "d")]),
        ("${A-d}", [("A", "-", "d")]),
        ("${A:?msg}", [("A", ":?", "msg")]),
        ("${A?msg}", [("A", "?", "msg")]),
        ("${A:+alt}", [("A", ":+", "alt")]),
        ("${A+alt}", [("A", "+", "alt")]),
        ("$$A ${B}", [("B", None, None)]),
        ("x$A_1.y", [("A_1", None, None)]),
        ("${A:-a:b}", [("A", ":-", "a:b")]),
        ("${A-b:-c}", [("A", "-", "b:-c")]),
    ],
)
def test_references_and_modifiers(text, expected):
    assert [(r.name, r.modifier, r.argument) for r in references(text)] == expected


def test_nested_references():
    (ref,) = references("${A:-${B:?need B}}")
    assert (ref.name, ref.modifier, ref.argument) == ("A", ":-", "${B:?need B}")
    assert [(n.name, n.modifier) for n in ref.nested] == [("B", ":?")]
    assert names("x ${A:-${B:-$C}} $$D $E") == ["A", "B", "C", "E"]


def test_reference_spans():
    text = "pre ${A:-x} $B post"
    first, second = references(text)
    assert text[first.start : first.end] == "${A:-x}"
    assert text[second.start : second.end] == "$B"
    assert second.modifier is None and second.name == "B"


@pytest.mark.parametrize(
    ("text", "value", "missing"),
    [
        ("${A:-d}", "aval", []),
        ("${U:-d}", "d", []),
        ("${E:-d}", "d", []),
        ("${E-d}", "", []),
        ("${U-d}", "d", []),
        ("${A:+alt}", "alt", []),
        ("${E:+alt}", "", []),
        ("${E+alt}", "alt", []),
        ("${U+alt}", "", []),
        ("${A:-${B:-${U:-deep}}}", "aval", []),
        ("${U:-${U2:-deep}}", "deep", []),
        ("${U:-${NOPE}}", "", ["NOPE"]),
        ("${A:-${NOPE}}", "aval", []),  # an unused default does not need its variables
        ("${U:+${NOPE:?x}}", "", []),  # nor does an unused alternative
        ("$$A $$$A", "$A $aval", []),
        ("a $ b, end$, $1x, $-", "a $ b, end$, $1x, $-", []),
        ("$U and ${U2}", " and ", ["U", "U2"]),
        # Compose's delimiting: the expression ends at the brace that closes it.
        ("${U:-a}b}", "ab}", []),
        ("${U:-{}}", "{}", []),
        ("${A:-{}}", "aval", []),
        ("${U:-x}${U:-y}", "xy", []),
        ("${U:-$$}", "$", []),
    ],
)
def test_evaluate(text, value, missing):
    result = evaluate(text, ENV)
    assert (result.value, result.missing) == (value, missing)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("${U:?set U please}", "set U please"),
        ("${E:?}", ""),
        ("${U?x-y}", "x-y"),
        ("${A:+${U:?inner}}", "inner"),
    ],
)
def test_required(text, reason):
    with pytest.raises(MissingRequired) as exc:
        evaluate(text, ENV)
    assert exc.value.reason == reason
    assert "is missing a value" in str(exc.value)


def test_required_is_satisfied_by_an_empty_value_only_without_colon():
    assert evaluate("${E?msg}", ENV).value == ""


@pytest.mark.parametrize("text", ["${}", "${1A}", "${A:x}", "${A }", "${A.B}", "${A", "${A:-${U}"])
def test_invalid_templates(text):
    with pytest.raises(TemplateSyntaxError):
        evaluate(text, ENV)


def test_substitute_is_lenient_about_unset():
    assert substitute("x${U}y", {}) == "xy"


# Differential test: the same strings through `docker compose config`.
DIFF = [
    "plain",
    "$A$B",
    "${A}_${B}",
    "x$$y",
    "$$$A",
    "a $ b",
    "end$",
    "$1x",
    "${A:+alt}",
    "${U:+alt}",
    "${A:-${B:-${U:-deep}}}",
    "${U:-a}b}",
    "${U-}x",
    "${U:-a:b}",
    "${E:-d}",
    "${E-d}",
    "${E:+x}",
    "${E+x}",
    "${A-b-c}",
    "${U:-x?y}",
    "${U:-{}}",
    "${U:-a}}",
    "${U:-${A}x}",
    "${U:-x}${U:-y}",
    "${U:-$$}",
    "pre${A}post$B.x",
    "${_x:-u}",
]


def test_agrees_with_compose(tmp_path, compose_v2):
    environment = {f"V{i}": text for i, text in enumerate(DIFF)}
    (tmp_path / "compose.yaml").write_text(
        json.dumps({"services": {"s": {"image": "busybox", "environment": environment}}})
    )
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), **ENV}
    proc = subprocess.run(
        [*compose_v2.argv, "config", "--format", "json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    theirs = json.loads(proc.stdout)["services"]["s"]["environment"]
    for key, text in environment.items():
        assert substitute(text, ENV) == theirs[key].replace("$$", "$"), text
