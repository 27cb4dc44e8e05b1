"""The fallback model (no Compose installed): merge, extends, normalisation."""

from __future__ import annotations

import textwrap
from pathlib import Path

from devstack import model
from devstack.composefile import load


def build(tmp_path: Path, files: dict[str, str], env: dict[str, str] | None = None):
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    sources = [load(tmp_path / name, tmp_path) for name in files if name.startswith("compose")]
    return model.build(sources, tmp_path, env or {})


def test_override_file_merge_rules(tmp_path):
    merged, problems = build(tmp_path, {
        "compose.yaml": """
            services:
              web:
                image: a
                command: [serve, --prod]
                environment: {A: "1", B: "2"}
                ports: ["127.0.0.1:8080:80"]
                volumes: ["./src:/app", "data:/data"]
                depends_on: [db]
                labels: [x=1]
              db: {image: postgres}
            volumes: {data: {}}
        """,
        "compose.override.yaml": """
            services:
              web:
                image: b
                command: [serve, --dev]
                environment: [B=3, C=4]
                ports: ["127.0.0.1:8080:80", "127.0.0.1:9229:9229"]
                volumes: ["./other:/app"]
                depends_on: {cache: {condition: service_healthy}}
                labels: {y: "2"}
              cache: {image: redis}
        """,
    })
    assert problems == []
    web = merged["services"]["web"]
    assert web["image"] == "b"
    assert web["command"] == ["serve", "--dev"]  # replaced, not appended
    assert web["environment"] == {"A": "1", "B": "3", "C": "4"}
    assert [p["published"] for p in web["ports"]] == ["8080", "9229"]  # the same port once
    assert [(v["source"], v["target"]) for v in web["volumes"]] == [
        (str(tmp_path / "other"), "/app"), ("data", "/data")]  # merged by target
    assert web["depends_on"] == {
        "db": {"condition": "service_started", "required": True},
        "cache": {"condition": "service_healthy", "required": True},
    }
    assert web["labels"] == {"x": "1", "y": "2"}


def test_reset_and_override_tags(tmp_path):
    merged, _ = build(tmp_path, {
        "compose.yaml": "services:\n  web:\n    image: a\n    ports: ['80:80']\n"
                        "    environment: {A: '1', B: '2'}\n",
        "compose.override.yaml": "services:\n  web:\n    ports: !override ['81:80']\n"
                                 "    environment: {B: !reset null}\n",
    })
    web = merged["services"]["web"]
    assert [p["published"] for p in web["ports"]] == ["81"]
    assert web["environment"] == {"A": "1"}


def test_extends_same_file_other_file_and_relative_paths(tmp_path):
    merged, problems = build(tmp_path, {
        "common/base.yml": """
            services:
              base:
                build: ./app
                env_file: ./base.env
                environment: {FROM_BASE: "yes"}
                volumes: ["./conf:/conf"]
        """,
        "common/base.env": "FROM_FILE=1\n",
        "compose.yaml": """
            services:
              web:
                extends: {file: common/base.yml, service: base}
                environment: {OWN: "1"}
              worker:
                extends: web
                command: [work]
        """,
    })
    assert problems == []
    for name in ("web", "worker"):
        service = merged["services"][name]
        assert service["build"]["context"] == str(tmp_path / "common" / "app")
        assert service["volumes"][0]["source"] == str(tmp_path / "common" / "conf")
        assert service["environment"] == {"FROM_FILE": "1", "FROM_BASE": "yes", "OWN": "1"}
    assert merged["services"]["worker"]["command"] == ["work"]


def test_extends_problems(tmp_path):
    _, problems = build(tmp_path, {
        "compose.yaml": """
            services:
              a: {extends: b}
              b: {extends: a}
              c: {extends: nothere}
              d: {extends: {file: missing.yml, service: x}}
        """,
    })
    kinds = sorted({(p.kind, p.service) for p in problems})
    assert ("loop", "a") in kinds or ("loop", "b") in kinds
    assert ("service", "c") in kinds
    assert ("file", "d") in kinds


def test_interpolation_and_normalisation(tmp_path):
    merged, _ = build(tmp_path, {
        "compose.yaml": """
            services:
              web:
                image: "app:${TAG:-latest}"
                build:
                  context: .
                  args: [SET, UNSET, FIXED=1]
                environment: [FROM_ENV, LITERAL=$$HOME]
                ports: ["${PORT}:80", "8000-8001:9000-9001", "[::1]::81"]
                links: [db]
                volumes_from: [db]
              db: {image: postgres}
        """,
    }, env={"SET": "s", "FROM_ENV": "e", "PORT": "8080"})
    web = merged["services"]["web"]
    assert web["image"] == "app:latest"
    assert web["build"] == {"context": str(tmp_path), "dockerfile": "Dockerfile",
                            "args": {"SET": "s", "FIXED": "1"}}
    assert web["environment"] == {"FROM_ENV": "e", "LITERAL": "$HOME"}
    assert [(p.get("host_ip"), p.get("published"), p["target"]) for p in web["ports"]] == [
        (None, "8080", 80), (None, "8000", 9000), (None, "8001", 9001), ("::1", None, 81)]
    assert web["depends_on"] == {"db": {"condition": "service_started", "restart": True,
                                        "required": True}}


def test_active_model_filters_profiles():
    data = {"services": {"a": {}, "b": {"profiles": ["x"]}}}
    assert list(model.active_model(data, {})) == ["a"]
    assert list(model.active_model(data, {"COMPOSE_PROFILES": "x"})) == ["a", "b"]
