"""Values pasted into YAML, shell, PHP and .env come out as the same value, never as code."""

from __future__ import annotations

import shlex
import subprocess

import pytest
import yaml
from dotenv import dotenv_values

from devstack.template_filters import dotenv_quote, php_quote, sh_quote, yaml_quote

HOSTILE = ['a"b: c', "x\ny: 1", "{{ evil }}", "$(rm -rf /)", "back\\slash'quote", "ünï ☃", "- item", "#x"]


@pytest.mark.parametrize("value", HOSTILE)
def test_yaml_round_trip(value):
    doc = yaml.safe_load(f"key: {yaml_quote(value)}\nother: 1\n")
    assert doc == {"key": value, "other": 1}


@pytest.mark.parametrize("value", HOSTILE)
def test_shell_round_trip(value):
    assert shlex.split(f"echo {sh_quote(value)}") == ["echo", value]


@pytest.mark.parametrize("value", [v for v in HOSTILE if "\n" not in v] + ["$HOME ${X}"])
def test_dotenv_round_trip(value, tmp_path):
    env = tmp_path / ".env"
    env.write_text(f"KEY={dotenv_quote(value)}\nNEXT=1\n")
    values = dotenv_values(env, interpolate=False)
    assert values["NEXT"] == "1"
    if "'" in value:
        # double-quoted: Compose reads "$$" back as "$"; python-dotenv keeps it doubled
        assert values["KEY"] == value.replace("$", "$$")
    else:
        assert values["KEY"] == value


def test_dotenv_rejects_line_breaks():
    with pytest.raises(ValueError):
        dotenv_quote("a\nb")


@pytest.mark.parametrize("value", HOSTILE)
def test_php_round_trip(value, tmp_path):
    import shutil

    php = shutil.which("php")
    if not php:
        literal = php_quote(value)
        assert literal.startswith("'") and literal.endswith("'")
        assert "'" not in literal[1:-1].replace("\\'", "")
        return
    script = tmp_path / "t.php"
    script.write_text(f"<?php echo {php_quote(value)};", encoding="utf-8")
    out = subprocess.run([php, str(script)], capture_output=True, text=True, check=True).stdout
    assert out == value


def _stack_tree(root, page: str, part: str) -> None:
    """A template root with one stack, `demo`, whose page.txt calls shared("part.txt")."""
    import json

    stack = root / "demo"
    (stack / "{{cookiecutter.project_name}}").mkdir(parents=True)
    (stack / "cookiecutter.json").write_text(
        json.dumps(
            {
                "project_name": "x",
                "colour": "blue",
                "_extensions": ["devstack.template_filters.DevstackFilters"],
            }
        )
    )
    (stack / "{{cookiecutter.project_name}}" / "page.txt").write_text(page)
    (root / "_shared").mkdir()
    (root / "_shared" / "part.txt").write_text(part)


def test_shared_parts_render_with_the_callers_context(tmp_path, monkeypatch):
    from devstack import scaffold

    _stack_tree(
        tmp_path / "t",
        '{%- set mood = "calm" -%}\nbefore\n{{ shared("part.txt") }}\nafter\n',
        "colour {{ cookiecutter.colour|yaml }}, {{ mood }}\n",
    )
    monkeypatch.setattr("devstack.stacks.templates_root", lambda: tmp_path / "t")
    scaffold.create("demo", tmp_path / "out", settings={"colour": 'a"b'})
    assert (tmp_path / "out" / "page.txt").read_text() == 'before\ncolour "a\\"b", calm\nafter\n'


def test_shared_parts_are_strict_about_undefined_variables(tmp_path, monkeypatch):
    from devstack import scaffold
    from devstack.errors import TemplateError

    _stack_tree(tmp_path / "t", '{{ shared("part.txt") }}\n', "{{ nope }}\n")
    monkeypatch.setattr("devstack.stacks.templates_root", lambda: tmp_path / "t")
    with pytest.raises(TemplateError, match="nope"):
        scaffold.create("demo", tmp_path / "out")
    assert not (tmp_path / "out").exists()
