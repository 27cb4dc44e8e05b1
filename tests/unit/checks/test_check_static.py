"""static.run as a whole: what it costs, what it never does, how it orders findings."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import textwrap

from devstack import scaffold
from devstack.checks import Finding, Severity, static
from devstack.checks.context import Context, load_sources
from devstack.compose import ComposeModel


def test_run_never_spawns_compose(make_project, monkeypatch):
    real = subprocess.Popen

    def guarded(argv, *args, **kwargs):
        assert "compose" not in " ".join(map(str, argv)), argv
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", guarded)
    project = make_project({"compose.yaml": "services:\n  web:\n    image: a\n    ports: ['28900:80']\n"})
    model = {"services": {"web": {"image": "a", "ports": [{"target": 80, "published": "28900"}]}}}
    found = static.run(project, load_sources(project), ComposeModel(model))
    assert [f.code for f in found] == ["DS404"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_hot_path_imports_neither_the_docker_sdk_nor_jsonschema(tmp_path):
    """`devstack check` has a start-up budget: with Compose's model and a free port, the heavy
    imports stay out."""
    port = free_port()
    target = tmp_path / "site"
    scaffold.create("drupal", target, settings={"web_port": str(port)})
    model = {
        "services": {
            "web": {
                "image": "x",
                "ports": [
                    {
                        "mode": "ingress",
                        "host_ip": "127.0.0.1",
                        "target": 80,
                        "published": str(port),
                        "protocol": "tcp",
                    }
                ],
            },
            "db": {"image": "mariadb:11.8"},
        }
    }
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from devstack.project import Project
        from devstack.checks import static
        from devstack.checks.context import load_sources
        from devstack.compose import ComposeModel
        project = Project.load(Path({str(target)!r}), env={{"PATH": "/usr/bin:/bin"}})
        found = static.run(project, load_sources(project), ComposeModel(json.loads({json.dumps(model)!r})))
        print(json.dumps([sorted(m for m in ("docker", "jsonschema") if m in sys.modules),
                          [f.code for f in found]]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    imported, found = json.loads(out.stdout)
    assert "DS402" not in found, "the port was free a moment ago"
    assert imported == []


def test_findings_are_ordered_errors_first_and_deduplicated():
    a = Finding("DS504", Severity.INFO, "i", None, "c.yml:9")
    b = Finding("DS301", Severity.ERROR, "e", None, "c.yml:3")
    c = Finding("DS404", Severity.WARNING, "w", None, "c.yml:1")
    assert static.ordered([a, b, c, b]) == [b, c, a]
    late = Finding("DS301", Severity.ERROR, "e2", None, "c.yml:10")
    assert static.ordered([late, b]) == [b, late]


def test_context_where_prefers_the_file_that_defines_most(make_project):
    project = make_project(
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    ports:\n      - '80:80'\n",
            "compose.override.yaml": "services:\n  web:\n    image: b\n",
        }
    )
    ctx = Context(project, load_sources(project), {}, None)
    assert ctx.where("web", "ports", 0) == "compose.yaml:5"
    assert ctx.where("web", "image") == "compose.override.yaml:3"
    assert ctx.where("ghost") == "service ghost"


def test_where_entry_finds_list_entries_by_content(make_project):
    project = make_project(
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [db, cache]\n",
            "compose.override.yaml": "services:\n  web:\n    depends_on:\n      - queue\n",
        }
    )
    ctx = Context(project, load_sources(project), {}, None)
    assert ctx.where_entry("web", "depends_on", lambda e: e == "cache") == "compose.yaml:4"
    assert ctx.where_entry("web", "depends_on", lambda e: e == "queue") == "compose.override.yaml:4"
    assert ctx.where_entry("web", "depends_on", lambda e: e == "nope") == "compose.override.yaml:3"


def test_sources_follow_extends_and_include_files(make_project):
    project = make_project(
        {
            "compose.yaml": "include: [./db/compose.yaml]\nservices:\n  web:\n"
            "    extends: {file: common/base.yml, service: base}\n",
            "common/base.yml": "services:\n  base:\n    image: a\n",
            "db/compose.yaml": "services:\n  db:\n    image: b\n    image: c\n",
        }
    )
    sources = load_sources(project)
    assert [(f.label, f.role) for f in sources.files] == [
        ("compose.yaml", "file"),
        ("common/base.yml", "extends"),
        ("db/compose.yaml", "include"),
    ]
    assert [(f.code, f.location) for f in sources.findings] == [("DS102", "db/compose.yaml:4")]
    assert sources.complete
