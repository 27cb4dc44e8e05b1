"""DS1xx: the compose files themselves, and Compose's own error output."""

from __future__ import annotations

import pytest
from check_helpers import codes

from devstack.checks import files
from devstack.checks.context import Context, load_sources
from devstack.compose import diagnose


def test_yaml_error_location_has_line_and_column(findings):
    found = findings({"compose.yaml": "services:\n  web:\n    image: busybox\n   ports: []\n"})
    assert codes(found) == ["DS102"]
    assert found[0].location == "compose.yaml:4:4"


def test_duplicate_key_names_both_lines(findings):
    found = findings({"compose.yaml": "services:\n  web:\n    image: a\n    image: b\n"})
    (dup,) = [f for f in found if f.code == "DS102"]
    assert dup.location == "compose.yaml:4"
    assert "first at line 3" in dup.message


def test_broken_override_stops_model_checks_but_not_env_checks(make_project, check_project):
    project = make_project(
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [nothere]\n",
            "compose.override.yaml": "services: [\n",
            ".env.example": "A=1\n",
        }
    )
    found = check_project(project)
    assert set(codes(found)) == {"DS102", "DS303"}
    assert any(f.location.startswith("compose.override.yaml:") for f in found)


def test_schema_errors_have_locations(findings):
    found = findings(
        {
            "compose.yaml": """\
services:
  web:
    image: busybox
    ports: 80
    healthcheck:
      test: [CMD, "true"]
      retries: [3]
"""
        }
    )
    schema = sorted((f.location, f.message) for f in found if f.code == "DS103")
    assert schema == [
        ("compose.yaml:4", "services.web.ports: 80 is not of type 'array'"),
        ("compose.yaml:7", "services.web.healthcheck.retries: [3] is not of type 'number', 'string'"),
    ]


def test_unknown_option_is_named_alone(findings):
    found = findings(
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    prots: []\n"
            "    depends_on: []\n    x-note: fine\n"
        }
    )
    (unknown,) = [f for f in found if f.code == "DS103"]
    assert unknown.message == "services.web.prots: `prots` is not a Compose service option"
    assert unknown.location == "compose.yaml:4" and unknown.hint == "did you mean `ports`?"


def test_schema_is_skipped_when_compose_validated(findings, monkeypatch):
    def not_wanted():
        raise AssertionError("Compose validated the files: no schema check")

    monkeypatch.setattr(files, "_validator", not_wanted)
    assert findings({"compose.yaml": "services:\n  web:\n    image: a\n"}) == []


def test_schema_is_checked_when_compose_rejects_the_project(findings):
    """Compose's own message has no line; the schema check finds the key, and says where."""
    found = findings({"compose.yaml": "services:\n  web:\n    image: a\n    prots: []\n"})
    assert [(f.code, f.location) for f in found if f.code == "DS103"] == [("DS103", "compose.yaml:4")]
    assert not any(f.message.startswith("Compose:") for f in found)


def test_schema_is_skipped_without_jsonschema(per_file_findings, monkeypatch):
    monkeypatch.setattr(files, "_validator", lambda: None)
    found = per_file_findings({"compose.yaml": "services:\n  web:\n    prots: 1\n"})
    assert "DS103" not in codes(found)


def test_legacy_format_hint_gives_the_modern_form(findings):
    found = findings(
        {
            "compose.yaml": "web:\n  build: .\n  links: [db]\ndb:\n  image: mysql\n",
            "Dockerfile": "FROM scratch\n",
        }
    )
    (legacy,) = [f for f in found if f.code == "DS104"]
    assert "services (web, db)" in legacy.message
    assert "top-level `services:`" in legacy.hint
    assert "DS103" not in codes(found)  # not also a schema error per top-level key


def test_v1_options_are_not_also_schema_errors(findings):
    found = findings(
        {"compose.yaml": "services:\n  web:\n    image: a\n    net: host\n    log_driver: syslog\n"}
    )
    found = [f for f in found if f.code != "DS108"]  # Compose rejects them: its model is skipped
    assert sorted(codes(found)) == ["DS105", "DS105"]
    hints = sorted(f.hint for f in found)
    assert hints[0].startswith("use logging:") and hints[1].startswith("use network_mode:")


@pytest.mark.parametrize(
    ("stderr", "code"),
    [
        ("yaml: line 2: did not find expected ',' or ']'", "DS102"),
        ('yaml: unmarshal errors:\n  line 4: mapping key "image" already defined at line 3', "DS102"),
        ("validating /p/compose.yaml: services.web Additional property prots is not allowed", "DS103"),
        (
            "The Compose file './compose.yaml' is invalid because:\nUnsupported config option for "
            "services.web: 'prots'",
            "DS103",
        ),
        ('service "web" depends on undefined service "db": invalid compose project', "DS201"),
        ("Service 'web' depends on service 'db' which is undefined.", "DS201"),
        ("dependency cycle detected: a -> b -> a", "DS209"),
        ("Circular dependency between a and b", "DS209"),
        (
            "error while interpolating services.a.environment.X: required variable NOPE is missing a "
            "value: you must set NOPE",
            "DS302",
        ),
        ("env file /p/missing.env not found: stat /p/missing.env: no such file or directory", "DS304"),
        ("Couldn't find env file: /p/missing.env", "DS304"),
        ('service "a" refers to undefined network front: invalid compose project', "DS207"),
        ('service "a" refers to undefined volume data: invalid compose project', "DS208"),
        (
            'Named volume "data:/data:rw" is used in service "a" but no declaration was found in the '
            "volumes section.",
            "DS208",
        ),
        ('cannot extend service "a" in /p/compose.yaml: service "zz" not found', "DS203"),
        ("Service 'a' uses the network stack of service 'zz' which is undefined.", "DS206"),
        ("build path /p/nodir either does not exist, is not accessible, or is not a valid URL.", "DS501"),
        ('Invalid template: "${A B}"', "DS307"),
        ("Invalid ip address ::1: address ::1:: too many colons in address", "DS403"),
        ("something nobody has seen before", "DS100"),
    ],
)
def test_compose_errors_are_classified(stderr, code):
    assert diagnose(stderr).code == code


def test_compose_error_location_from_v1_message(make_project):
    project = make_project({"compose.yaml": "services:\n  web:\n    image: a\n"})
    ctx = Context(project, load_sources(project), {}, None)
    finding = files.from_compose_error(
        'while parsing a flow sequence\n  in "./compose.yaml", line 3, column 12\n'
        "expected ',' or ']', but got '<stream end>'\n  in \"./compose.yaml\", line 4, column 1",
        ctx,
    )
    assert (finding.code, finding.location) == ("DS102", "compose.yaml:3")


def test_an_indentation_slip_is_named_at_its_lines(findings):
    """`environment:` left empty and its entry one level too far left: two plain findings at the
    lines concerned, no "None is not valid under any of the given schemas"."""
    found = findings({"compose.yaml": "services:\n  web:\n    image: a\n    environment:\n    FOO: bar\n"})
    schema = [(f.location, f.message, f.hint) for f in found if f.code == "DS103"]
    assert schema == [
        (
            "compose.yaml:4",
            "services.web.environment: `environment` has no value",
            "give it a value, or indent the lines that belong to it under `environment:`",
        ),
        (
            "compose.yaml:5",
            "services.web.FOO: `FOO` is not a Compose service option",
            "is it part of `environment` above, which has no value? indent it under `environment:`",
        ),
    ]
    assert not any("None is not valid" in f.message for f in found)


def test_misspelled_keys_get_a_did_you_mean(findings):
    found = findings(
        {
            "compose.yaml": "servics:\n  x: {}\nservices:\n  web:\n    image: a\n    enviroment: {A: b}\n"
            "    healthcheck:\n      test: [CMD, 'true']\n      intervall: 5s\n"
        }
    )
    hints = {f.location: f.hint for f in found if f.code == "DS103"}
    assert hints == {
        "compose.yaml:1": "did you mean `services`?",
        "compose.yaml:6": "did you mean `environment`?",
        "compose.yaml:9": "did you mean `interval`?",
    }
