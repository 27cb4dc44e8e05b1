"""DS2xx: references between services and to networks, volumes, secrets and configs."""

from __future__ import annotations

from check_helpers import codes


def test_cycle_is_reported_once_with_its_path(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  web:
    image: a
    depends_on: [api]
  api:
    image: b
    links: [worker]
  worker:
    image: c
    volumes_from: [web]
"""
        }
    )
    (cycle,) = [f for f in found if f.code == "DS209"]
    assert cycle.message == "dependency cycle: api -> worker -> web -> api"


def test_network_mode_cycle(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  a: {image: a, network_mode: "service:b"}
  b: {image: b, depends_on: [a]}
"""
        }
    )
    assert codes(found).count("DS209") == 1


def test_undefined_dependency_suggests_a_name(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  web:
    image: a
    depends_on:
      databse:
        condition: service_healthy
  database:
    image: b
    healthcheck: {test: [CMD, "true"]}
"""
        }
    )
    (undefined,) = [f for f in found if f.code == "DS201"]
    assert undefined.hint == "did you mean `database`?"
    assert undefined.location == "compose.yaml:5"


def test_services_of_inactive_profiles_are_still_defined(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  tool:
    image: a
    profiles: [tools]
    depends_on: [helper]
    volumes_from: [helper]
  helper:
    image: b
    profiles: [tools]
"""
        }
    )
    assert not {"DS201", "DS205", "DS212"} & set(codes(found))


def test_inactive_profile_dependency_names_the_profile(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  web:
    image: a
    depends_on: [debug]
  debug:
    image: b
    profiles: [tools, debugging]
"""
        }
    )
    (dep,) = [f for f in found if f.code == "DS212"]
    assert "profile tools, debugging" in dep.message
    assert "COMPOSE_PROFILES=tools" in dep.hint


def test_profile_activated_in_dotenv(findings):
    files = {
        "compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [debug]\n"
        "  debug:\n    image: b\n    profiles: [tools]\n",
        ".env": "COMPOSE_PROFILES=tools\n",
    }
    assert "DS212" not in codes(findings(files))


def test_healthcheck_from_an_override_file_counts(make_project, check_project):
    project = make_project(
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
            "      db: {condition: service_healthy}\n  db:\n    image: b\n",
            "compose.override.yaml": "services:\n  db:\n    healthcheck: {test: [CMD, 'true']}\n",
        }
    )
    assert len(project.files) == 2
    assert "DS210" not in codes(check_project(project))


def test_healthcheck_inherited_through_extends(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  web:
    image: a
    depends_on: {db: {condition: service_healthy}}
  base:
    image: b
    healthcheck: {test: [CMD, "true"]}
  db:
    extends: base
"""
        }
    )
    assert "DS210" not in codes(found)


def test_test_none_disables_the_healthcheck(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  web:
    image: a
    depends_on: {db: {condition: service_healthy}}
  db:
    image: b
    healthcheck: {test: ["NONE"]}
"""
        }
    )
    assert "DS211" in codes(found)


def test_healthcheck_tuning_without_test_trusts_the_image(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  web:
    image: a
    depends_on: {db: {condition: service_healthy}}
  db:
    image: b
    healthcheck: {interval: 2s}
"""
        }
    )
    assert not {"DS210", "DS211"} & set(codes(found))


def test_extends_loop_and_missing_service_in_other_file(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  a: {extends: b}
  b: {extends: a}
  c:
    extends: {file: common.yml, service: nothere}
""",
            "common.yml": "services:\n  base: {image: x}\n",
        }
    )
    extends = [f for f in found if f.code == "DS203"]
    assert any("loops" in f.message for f in extends)
    assert any("common.yml does not define" in f.message for f in extends)


def test_declared_resources_in_another_file_count(make_project, check_project):
    project = make_project(
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    networks: [front]\n"
            "    volumes: ['data:/data']\n    configs: [cfg]\n",
            "compose.override.yaml": "networks:\n  front:\nvolumes:\n  data:\n"
            "configs:\n  cfg:\n    content: hello\n",
        }
    )
    assert not {"DS207", "DS208", "DS214"} & set(codes(check_project(project)))


def test_compose_model_is_the_authority(make_project):
    """The merged-model checks read Compose's model, not the files (which name no `db` here)."""
    from devstack.checks import static
    from devstack.checks.context import load_sources
    from devstack.compose import ComposeModel

    project = make_project({"compose.yaml": "services:\n  web:\n    image: a\n"})
    model = {
        "services": {
            "web": {"image": "a", "depends_on": {"db": {"condition": "service_healthy", "required": True}}},
            "db": {"image": "b"},
        }
    }
    assert "DS210" in codes(static.run(project, load_sources(project), ComposeModel(model)))


def test_list_entries_are_located_exactly(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  web:
    image: a
    depends_on:
      - db
      - ghost
    links:
      - db
      - phantom
  db:
    image: b
"""
        }
    )
    located = {f.code: f.location for f in found if f.code in ("DS201", "DS202")}
    assert located == {"DS201": "compose.yaml:6", "DS202": "compose.yaml:9"}
