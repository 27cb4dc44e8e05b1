"""static.run as a whole: what it costs, what it never does, how it orders findings."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from devstack import scaffold
from devstack.checks import Finding, Severity, static


def test_run_never_spawns_compose(findings, monkeypatch):
    real = subprocess.Popen

    def guarded(argv, *args, **kwargs):
        assert "compose" not in " ".join(map(str, argv)), argv
        return real(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", guarded)
    findings({"compose.yaml": "services:\n  web:\n    image: a\n    ports: ['28900:80']\n"})


def test_hot_path_imports_neither_the_docker_sdk_nor_jsonschema(tmp_path):
    """`devstack check` has a startup budget: with Compose's model and free ports, the ~100 ms
    imports stay out."""
    target = tmp_path / "site"
    scaffold.create("drupal", target, settings={"web_port": "28901"})
    model = {"services": {"web": {"image": "x", "ports": [
        {"mode": "ingress", "host_ip": "127.0.0.1", "target": 80, "published": "28901",
         "protocol": "tcp"}]}, "db": {"image": "mariadb:11.8"}}}
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from devstack.project import Project
        from devstack.checks import static
        project = Project.load(Path({str(target)!r}), env={{"PATH": "/usr/bin:/bin"}})
        found = static.run(project, json.loads({json.dumps(model)!r}))
        print(json.dumps([sorted(m for m in ("docker", "jsonschema") if m in sys.modules),
                          [f.code for f in found]]))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    imported, found = json.loads(out.stdout)
    assert "jsonschema" not in imported
    if "DS402" not in found:  # a taken port is the one reason to ask the engine who holds it
        assert "docker" not in imported


def test_findings_are_ordered_errors_first_and_deduplicated():
    a = Finding("DS504", Severity.INFO, "i", None, "c.yml:9")
    b = Finding("DS301", Severity.ERROR, "e", None, "c.yml:3")
    c = Finding("DS404", Severity.WARNING, "w", None, "c.yml:1")
    assert static.ordered([a, b, c, b]) == [b, c, a]
    late = Finding("DS301", Severity.ERROR, "e2", None, "c.yml:10")
    assert static.ordered([late, b]) == [b, late]


def test_context_where_prefers_the_file_that_defines_most(make_project):
    project = make_project({
        "compose.yaml": "services:\n  web:\n    image: a\n    ports:\n      - '80:80'\n",
        "compose.override.yaml": "services:\n  web:\n    image: b\n",
    })
    sources, _ = static.files.load_sources(project)
    ctx = static.Context.create(project, sources, None)
    assert ctx.where("web", "ports", 0) == "compose.yaml:5"
    assert ctx.where("web", "image") == "compose.override.yaml:3"
    assert ctx.where("ghost") == "service ghost"
