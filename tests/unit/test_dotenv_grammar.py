"""devstack reads `.env` and env_file files with Compose's grammar (envfile.parse), checked
against Compose itself."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from devstack.compose import ComposeBinary
from devstack.envfile import parse, read_keys

# Lines and what Compose makes of them (checked against Compose 2.26 by the test below).
CASES = {
    "A=1": "1",
    "export B=two words  # comment": "two words",
    'C="multi\nline \\"q\\" \\n end"  # c': 'multi\nline "q" \n end',
    "D='single \\' q'": "single ' q",
    "F: yaml style": "yaml style",
    " G = spaced ": "spaced",
    "H=#not a comment": "#not a comment",
    "I=a#b": "a#b",
    "J=": "",
    "M= # after a space": "# after a space",
    'N="a\\tb\\\\c\\$d"': "a\tb\\c$d",
    "O=tab\t#x": "tab\t#x",
    'P="1\\a2\\b3\\f4\\v5\\z6\\x417"': "1\a2\b3\f4\v5\\z6\\x417",
    "Q=raw\\tx\\\\y": "raw\\tx\\\\y",
    "R='s\\tq\\\\'": "s\\tq\\\\",
    "S.dot-dash[0]=x": "x",
    "T='spans\n  two lines'": "spans\n  two lines",
}


def test_each_line_as_compose_reads_it() -> None:
    for line, value in CASES.items():
        key = line.strip().removeprefix("export ").split("=")[0].split(":")[0].strip()
        assert parse(line) == {key: value}, line


def test_comments_blank_lines_bom_and_crlf() -> None:
    text = "\ufeff# a comment\r\n\r\nA=1\r\n  # indented comment\r\nB='x'\r\n"
    assert parse(text) == {"A": "1", "B": "x"}


def test_a_bare_key_takes_the_shells_value() -> None:
    assert parse("E\nF=1") == {"E": None, "F": "1"}


def test_lines_compose_refuses_are_skipped() -> None:
    assert parse('bad key=1\nA=1\nB="never closed\nC=3') == {"A": "1"}
    assert parse("K$Y=1\nA=2") == {"A": "2"}


def test_values_are_not_interpolated() -> None:
    assert parse("K=${X:-y}\nL=$HOME") == {"K": "${X:-y}", "L": "$HOME"}


def test_a_later_line_wins() -> None:
    assert parse("A=1\nA=2") == {"A": "2"}


def test_the_same_values_as_compose(compose_v2: ComposeBinary, tmp_path: Path) -> None:
    """Each case through `compose config`: the value Compose interpolates for ${KEY}."""
    text = "\n".join(CASES) + "\nE\n"
    (tmp_path / ".env").write_text(text, "utf-8")
    ours = read_keys(tmp_path / ".env")
    assert len(ours) == len(CASES) + 1
    keys = [key for key in ours if key.isidentifier()]  # what ${...} can name
    environment = "".join(f'      V{n}: "${{{key}-<unset>}}"\n' for n, key in enumerate(keys))
    compose_file = f"services:\n  a:\n    image: busybox\n    environment:\n{environment}"
    (tmp_path / "compose.yaml").write_text(compose_file)
    proc = subprocess.run(
        [*compose_v2.argv, "config", "--format", "json"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    seen = json.loads(proc.stdout)["services"]["a"]["environment"]
    for n, key in enumerate(keys):
        expected = "<unset>" if ours[key] is None else ours[key]
        assert seen[f"V{n}"].replace("$$", "$") == expected, key


@pytest.mark.parametrize("text", ["A=1\n", "A=1", "export A=1\n"])
def test_endings(text: str) -> None:
    assert parse(text) == {"A": "1"}
