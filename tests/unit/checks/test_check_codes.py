"""Every static code: one project that triggers it, one close to it that must not.

The projects run through `static.run` without Compose (the fallback model), so these tests
need no Docker; tests/unit/checks/test_corpus.py runs the same checks on Compose's model.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest
from check_helpers import codes

from devstack.checks import Severity
from devstack.checks import codes as catalogue


class Case(NamedTuple):
    code: str
    bad: dict[str, str]
    good: dict[str, str]
    env: dict[str, str] = {}


def svc(body: str, extra: str = "") -> dict[str, str]:
    """A compose.yaml with one service `web` (body indented under it)."""
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return {"compose.yaml": f"services:\n  web:\n{lines}\n{extra}"}


DOCKERFILE = {"app/Dockerfile": "FROM scratch\n"}

CASES = [
    Case("DS102", {"compose.yaml": "services:\n  web:\n    image: [busybox\n"},
         svc("image: busybox")),
    Case("DS103", svc("image: busybox\nprots: ['127.0.0.1:28001:80']"),
         svc("image: busybox\nports: ['127.0.0.1:28001:80']")),
    Case("DS104", {"compose.yaml": "web:\n  image: busybox\ndb:\n  image: postgres\n"},
         {"compose.yaml": "services:\n  web:\n    image: busybox\n  db:\n    image: postgres\n"}),
    Case("DS105", {**svc("build: ./app\ndockerfile: Dockerfile"), **DOCKERFILE},
         {**svc("build:\n  context: ./app\n  dockerfile: Dockerfile"), **DOCKERFILE}),
    Case("DS106", {"compose.yaml": 'version: "3.8"\nservices:\n  web:\n    image: busybox\n'},
         svc("image: busybox")),
    Case("DS107", {"compose.yaml": "services:\n  web:\n    image: a\n    links: [db]\n"
                                   "  db:\n    image: b\n"},
         {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [db]\n"
                          "  db:\n    image: b\n"}),
    Case("DS201", svc("image: a\ndepends_on: [db]"),
         {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [db]\n"
                          "  db:\n    image: b\n"}),
    Case("DS202", svc("image: a\nlinks: ['db:database']"),
         {"compose.yaml": "services:\n  web:\n    image: a\n    links: ['db:database']\n"
                          "  db:\n    image: b\n"}),
    Case("DS203", svc("image: a\nextends: base"),
         {"compose.yaml": "services:\n  web:\n    extends: base\n  base:\n    image: b\n"}),
    Case("DS204", svc("extends: {file: common.yml, service: base}"),
         {**svc("extends: {file: common.yml, service: base}"),
          "common.yml": "services:\n  base:\n    image: b\n"}),
    Case("DS205", svc("image: a\nvolumes_from: [data]"),
         svc("image: a\nvolumes_from: ['container:outside-the-project']")),
    Case("DS206", svc("image: a\nnetwork_mode: 'service:vpn'"),
         svc("image: a\nnetwork_mode: host")),
    Case("DS207", svc("image: a\nnetworks: [front]"),
         svc("image: a\nnetworks: [front, default]", "networks:\n  front:\n")),
    Case("DS208", svc("image: a\nvolumes: ['dbdata:/var/lib/data']"),
         svc("image: a\nvolumes: ['./dbdata:/var/lib/data', '/anonymous', 'named:/n']",
             "volumes:\n  named:\n")),
    Case("DS209", {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [api]\n"
                                   "  api:\n    image: b\n    depends_on: [web]\n"},
         {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [api]\n"
                          "  api:\n    image: b\n"}),
    Case("DS210", {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
                                   "      db: {condition: service_healthy}\n"
                                   "  db:\n    image: b\n"},
         {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
                          "      db: {condition: service_healthy}\n"
                          "  db:\n    image: b\n    healthcheck: {test: [CMD, 'true']}\n"}),
    Case("DS211", {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
                                   "      db: {condition: service_healthy}\n"
                                   "  db:\n    image: b\n    healthcheck: {disable: true}\n"},
         {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
                          "      db: {condition: service_started}\n"
                          "  db:\n    image: b\n    healthcheck: {disable: true}\n"}),
    Case("DS212", {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [debug]\n"
                                   "  debug:\n    image: b\n    profiles: [tools]\n"},
         {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [debug]\n"
                          "  debug:\n    image: b\n    profiles: [tools]\n"},
         env={}),
    Case("DS213", {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
                                   "      debug: {condition: service_started, required: false}\n"
                                   "  debug:\n    image: b\n    profiles: [tools]\n"},
         {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
                          "      debug: {condition: service_started, required: false}\n"
                          "  debug:\n    image: b\n"}),
    Case("DS214", svc("image: a\nsecrets: [db_password]"),
         {**svc("image: a\nsecrets: [db_password]",
                "secrets:\n  db_password:\n    file: ./pw.txt\n"), "pw.txt": "x\n"}),
    Case("DS215", {"compose.yaml": "include: [./db/compose.yaml]\nservices:\n  web:\n"
                                   "    image: a\n    depends_on: [db]\n"},
         {"compose.yaml": "include: [./db/compose.yaml]\nservices:\n  web:\n"
                          "    image: a\n    depends_on: [db]\n",
          "db/compose.yaml": "services:\n  db:\n    image: b\n"}),
    Case("DS301", svc("image: a\nenvironment:\n  TOKEN: ${TOKEN}"),
         {**svc("image: a\nenvironment:\n  TOKEN: ${TOKEN}\n  OTHER: ${OTHER:-x}"),
          ".env": "TOKEN=abc\n"}),
    Case("DS302", svc("image: a\nenvironment:\n  SECRET: ${SECRET:?set SECRET in .env}"),
         {**svc("image: a\nenvironment:\n  SECRET: ${SECRET:?set SECRET in .env}"),
          ".env": "SECRET=s3cret\n"}),
    Case("DS303", {**svc("image: a"), ".env.example": "A=1\nB=\n", ".env": "A=1\n"},
         {**svc("image: a"), ".env.example": "A=1\nB=\n", ".env": "A=1\nB=2\n"}),
    Case("DS304", svc("image: a\nenv_file: [web.env]"),
         svc("image: a\nenv_file:\n  - path: web.env\n    required: false")),
    Case("DS306", svc("image: a\nenvironment:\n  DB_HOST: $$DB_PORT_3306_TCP_ADDR",
                      "  db:\n    image: b\n"),
         svc("image: a\nenvironment:\n  DB_HOST: db\n  DB_PORT: '3306'\n  DB_NAME: app",
             "  db:\n    image: b\n")),
    Case("DS307", svc("image: a\nenvironment:\n  X: ${BAD NAME}"),
         svc("image: a\nenvironment:\n  X: costs $$5 and ${NAME:-a}")),
    Case("DS401", {"compose.yaml": "services:\n  web:\n    image: a\n    ports: ['127.0.0.1:28011:80']\n"
                                   "  admin:\n    image: b\n    ports: ['28011:80']\n"},
         {"compose.yaml": "services:\n  web:\n    image: a\n    ports: ['127.0.0.1:28011:80']\n"
                          "  admin:\n    image: b\n    ports: ['127.0.0.2:28011:80']\n"}),
    Case("DS403", svc("image: a\nports: ['80:80:80:80']"),
         svc("image: a\nports: ['127.0.0.1:28021:80', '[::1]:28022:80', 80]")),
    Case("DS404", svc("image: a\nports: ['28031:80']"),
         svc("image: a\nports: ['127.0.0.1:28031:80', '80']")),
    Case("DS405", svc("image: a\nports: ['192.0.2.10:28041:80']"),
         svc("image: a\nports: ['127.0.0.1:28041:80']")),
    Case("DS501", svc("build: ./app"), {**svc("build: ./app"), **DOCKERFILE}),
    Case("DS502", {**svc("build: {context: ./app, dockerfile: Dockerfile.dev}"), **DOCKERFILE},
         {**svc("build: {context: ./app, dockerfile: Dockerfile.dev}"),
          "app/Dockerfile.dev": "FROM scratch\n"}),
    Case("DS503", svc("image: a\nvolumes:\n  - type: bind\n    source: ./conf\n    target: /conf"),
         svc("image: a\nvolumes:\n  - type: bind\n    source: ./conf\n    target: /conf\n"
             "    bind: {create_host_path: true}")),
    Case("DS504", svc("image: a\nvolumes: ['./data/db:/var/lib/mysql']"),
         {**svc("image: a\nvolumes: ['./data/db:/var/lib/mysql']"), "data/db/": ""}),
    Case("DS505", svc("image: a\nvolumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro']"),
         {**svc("image: a\nvolumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro']"),
          "nginx.conf": "events {}\n"}),
    Case("DS506", svc("image: a\nsecrets: [pw]", "secrets:\n  pw:\n    file: ./pw.txt\n"),
         {**svc("image: a\nsecrets: [pw]", "secrets:\n  pw:\n    file: ./pw.txt\n"),
          "pw.txt": "x\n"}),
]
GOOD_ENV = {"DS212": {"COMPOSE_PROFILES": "tools"}}


@pytest.mark.parametrize("case", CASES, ids=[c.code for c in CASES])
def test_code_is_reported(case, findings):
    found = findings(case.bad, env=case.env)
    matching = [f for f in found if f.code == case.code]
    assert matching, f"{case.code} not reported; got {[(f.code, f.message) for f in found]}"
    assert all(f.severity == catalogue.CATALOGUE[case.code].severity for f in matching)
    assert all(f.message and f.location for f in matching)


@pytest.mark.parametrize("case", CASES, ids=[c.code for c in CASES])
def test_code_has_no_false_positive(case, findings):
    found = findings(case.good, env=GOOD_ENV.get(case.code, case.env))
    assert case.code not in codes(found), [f for f in found if f.code == case.code]


def test_every_static_code_has_a_case():
    covered = {c.code for c in CASES} | {"DS100", "DS101", "DS305", "DS402"}  # own tests below
    static = {c.code for c in catalogue.CODES if c.code[2] in "12345"}
    assert static == covered


def test_unreadable_file_is_ds101(make_project):
    project = make_project({"compose.yaml": "services: {}\n"})
    (project.root / "compose.yaml").write_bytes(b"services:\n  web:\n    image: \xff\xfe\n")
    from devstack.checks import static

    found = static.run(project, None)
    assert codes(found) == ["DS101"]
    assert found[0].location == "compose.yaml:3"


def test_utf8_with_bom_and_non_ascii_is_readable(make_project):
    project = make_project({"compose.yaml": "services: {}\n"})
    text = "# Café ☕\nservices:\n  web:\n    image: busybox\n    labels: {note: 'naïve'}\n"
    (project.root / "compose.yaml").write_bytes(b"\xef\xbb\xbf" + text.encode())
    from devstack.checks import static

    assert static.run(project, None) == []


def test_compose_error_is_ds100_when_nothing_explains_it(findings):
    good = svc("image: busybox")
    found = findings(good, compose_error="something new went wrong\nError: the reason")
    assert codes(found) == ["DS100"]
    assert "the reason" in found[0].message
    assert findings(good) == []


def test_compose_error_is_not_repeated_when_a_check_explains_it(findings):
    found = findings(svc("image: a\ndepends_on: [db]"),
                     compose_error='service "web" depends on undefined service "db"')
    assert codes(found) == ["DS201"]


def test_severities_are_the_catalogues():
    assert catalogue.CATALOGUE["DS404"].severity is Severity.WARNING
    assert catalogue.CATALOGUE["DS504"].severity is Severity.INFO
    assert catalogue.finding("DS301", "m").severity is Severity.ERROR
