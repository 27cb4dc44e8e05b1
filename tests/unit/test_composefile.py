"""Compose source files: data as Compose reads it, and the line of every key."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.composefile import (
    RESET,
    ComposeFileError,
    Override,
    label_for,
    load,
    parse,
    plain,
    walk_strings,
)

TEXT = """\
x-env: &env
  A: 1
  B: yes
services:
  web:
    <<: [{image: first, restart: always}, {image: second}]
    environment:
      <<: *env
      A: two
    ports:
      - "8080:80"
      - 0755
    command: !reset null
    labels: !override {a: b}
"""


def test_lines_of_keys_and_items():
    f = parse(TEXT, Path("c.yml"), "c.yml")
    assert f.line("services", "web") == 5
    assert f.line("services", "web", "ports") == 10
    assert f.line("services", "web", "ports", 1) == 12
    assert f.where("services", "web", "ports", 0) == "c.yml:11"
    # merged keys point at the anchor they come from
    assert f.line("services", "web", "environment", "B") == 3
    assert f.line("services", "web", "environment", "A") == 9
    # unknown paths fall back to the deepest known part
    assert f.where("services", "web", "nope", 3) == "c.yml:5"
    assert f.where("nowhere") == "c.yml"


def test_merge_keys_and_yaml_1_2_scalars():
    data = parse(TEXT, Path("c.yml")).data
    web = data["services"]["web"]
    assert web["image"] == "first"  # the earlier merge source wins
    assert web["restart"] == "always"
    assert web["environment"] == {"A": "two", "B": "yes"}  # `yes` stays a string (YAML 1.2)
    assert web["ports"] == ["8080:80", 493]  # `8080:80` is not base 60; 0755 is octal
    assert web["command"] is RESET
    assert web["labels"] == Override({"a": "b"})
    assert plain(data)["services"]["web"]["labels"] == {"a": "b"}
    assert "command" not in plain(data)["services"]["web"]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("~", None),
        ("null", None),
        ("", None),
        ("true", True),
        ("False", False),
        ("on", "on"),
        ("12", 12),
        ("-3", -3),
        ("0o17", 15),
        ("0x1F", 31),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("'12'", "12"),
        ('"true"', "true"),
        ("2001-12-14", "2001-12-14"),
        ("!!str 5", "5"),
    ],
)
def test_scalars(text, value):
    assert parse(f"k: {text}\n", Path("f")).data["k"] == value


def test_duplicate_keys_are_recorded():
    f = parse("services:\n  web:\n    image: a\n    image: b\n", Path("c.yml"))
    assert [(d.key, d.line, d.first_line) for d in f.duplicates] == [(("services", "web", "image"), 4, 3)]


@pytest.mark.parametrize(
    ("text", "kind", "line", "column"),
    [
        ("services:\n  web:\n    image: [busybox\n", "yaml", 4, 1),
        ("a: b\n c: d\n", "yaml", 2, 3),
        ("- 1\n- 2\n", "structure", 1, 1),
        ("a: *nope\n", "yaml", 1, 4),
        ("a: &x\n  b: *x\n", "yaml", 1, 4),
        ("a: &x [*x]\n", "yaml", 1, 4),
    ],
)
def test_errors_have_line_and_column(text, kind, line, column):
    with pytest.raises(ComposeFileError) as exc:
        parse(text, Path("c.yml"))
    assert (exc.value.kind, exc.value.line, exc.value.column) == (kind, line, column)


def test_alias_bombs_are_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 8)]
    with pytest.raises(ComposeFileError, match="too many nodes"):
        parse("\n".join(lines) + "\n", Path("bomb.yml"))


def test_empty_file_is_an_empty_model():
    assert parse("# nothing\n", Path("c.yml")).data == {}


def test_load_errors(tmp_path):
    with pytest.raises(ComposeFileError) as exc:
        load(tmp_path / "missing.yml")
    assert exc.value.kind == "unreadable"
    bad = tmp_path / "latin1.yml"
    bad.write_bytes(b"a: 1\nb: caf\xe9\n")
    with pytest.raises(ComposeFileError) as exc:
        load(bad)
    assert (exc.value.kind, exc.value.line) == ("unreadable", 2)


def test_labels_are_relative_to_the_project(tmp_path):
    assert label_for(tmp_path / "sub" / "c.yml", tmp_path) == "sub/c.yml"
    assert label_for(Path("/elsewhere/c.yml"), tmp_path) == "/elsewhere/c.yml"


def test_walk_strings_yields_values_not_keys():
    data = {"k${X}": ["a", {"b": "c", "n": 1}], "o": Override("z")}
    assert list(walk_strings(data)) == [(("k${X}", 0), "a"), (("k${X}", 1, "b"), "c"), (("o",), "z")]
