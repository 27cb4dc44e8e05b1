"""Every static code: one project that triggers it, one close to it that must not.

The projects go through `devstack check` as users run it: Compose v2's merged model and the
files as written (the `compose` marker). The codes that need no merged model are reported by
`devstack check` without Compose too; the others are then skipped with one DS108.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest
from check_helpers import FakeEngine, codes

from devstack.checks import Severity
from devstack.checks import codes as catalogue


class Case(NamedTuple):
    code: str
    bad: dict[str, str]
    good: dict[str, str]
    env: dict[str, str] = {}
    engine: FakeEngine | None = None  # what the engine answers (by default it is not asked)


def svc(body: str, extra: str = "") -> dict[str, str]:
    """A compose.yaml with one service `web` (body indented under it)."""
    lines = "\n".join("    " + line for line in body.strip().splitlines())
    return {"compose.yaml": f"services:\n  web:\n{lines}\n{extra}"}


DOCKERFILE = {"app/Dockerfile": "FROM scratch\n"}

CASES = [
    Case("DS102", {"compose.yaml": "services:\n  web:\n    image: [busybox\n"}, svc("image: busybox")),
    Case(
        "DS103",
        svc("image: busybox\nprots: ['127.0.0.1:28001:80']"),
        svc("image: busybox\nports: ['127.0.0.1:28001:80']"),
    ),
    Case(
        "DS104",
        {"compose.yaml": "web:\n  image: busybox\ndb:\n  image: postgres\n"},
        {"compose.yaml": "services:\n  web:\n    image: busybox\n  db:\n    image: postgres\n"},
    ),
    Case(
        "DS105",
        {**svc("build: ./app\ndockerfile: Dockerfile"), **DOCKERFILE},
        {**svc("build:\n  context: ./app\n  dockerfile: Dockerfile"), **DOCKERFILE},
    ),
    Case(
        "DS106",
        {"compose.yaml": 'version: "3.8"\nservices:\n  web:\n    image: busybox\n'},
        svc("image: busybox"),
    ),
    Case(
        "DS107",
        {"compose.yaml": "services:\n  web:\n    image: a\n    links: [db]\n  db:\n    image: b\n"},
        {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [db]\n  db:\n    image: b\n"},
    ),
    Case("DS110", svc("image: MyApp:1.0"), svc("image: registry.example:5000/team/my-app:V1.0")),
    Case("DS110", svc("image: Devstack-test/busybox"), svc("image: localhost/devstack-test/busybox")),
    Case(
        "DS109",
        {**svc("build: {context: ./app, ssh: ['key=./id_rsa']}"), **DOCKERFILE},
        {**svc("build: {context: ./app, ssh: [default]}"), **DOCKERFILE},
    ),
    Case(
        "DS201",
        svc("image: a\ndepends_on: [db]"),
        {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [db]\n  db:\n    image: b\n"},
    ),
    Case(
        "DS202",
        svc("image: a\nlinks: ['db:database']"),
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    links: ['db:database']\n"
            "  db:\n    image: b\n"
        },
    ),
    Case(
        "DS203",
        svc("image: a\nextends: base"),
        {"compose.yaml": "services:\n  web:\n    extends: base\n  base:\n    image: b\n"},
    ),
    Case(
        "DS204",
        svc("extends: {file: common.yml, service: base}"),
        {
            **svc("extends: {file: common.yml, service: base}"),
            "common.yml": "services:\n  base:\n    image: b\n",
        },
    ),
    Case(
        "DS205",
        svc("image: a\nvolumes_from: [data]"),
        svc("image: a\nvolumes_from: ['container:outside-the-project']"),
    ),
    Case("DS206", svc("image: a\nnetwork_mode: 'service:vpn'"), svc("image: a\nnetwork_mode: host")),
    Case(
        "DS207",
        svc("image: a\nnetworks: [front]"),
        svc("image: a\nnetworks: [front, default]", "networks:\n  front:\n"),
    ),
    Case(
        "DS208",
        svc("image: a\nvolumes: ['dbdata:/var/lib/data']"),
        svc(
            "image: a\nvolumes: ['./dbdata:/var/lib/data', '/anonymous', 'named:/n']", "volumes:\n  named:\n"
        ),
    ),
    Case(
        "DS209",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [api]\n"
            "  api:\n    image: b\n    depends_on: [web]\n"
        },
        {"compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [api]\n  api:\n    image: b\n"},
    ),
    Case(
        "DS210",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
            "      db: {condition: service_healthy}\n"
            "  db:\n    image: b\n"
        },
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
            "      db: {condition: service_healthy}\n"
            "  db:\n    image: b\n    healthcheck: {test: [CMD, 'true']}\n"
        },
    ),
    Case(
        "DS211",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
            "      db: {condition: service_healthy}\n"
            "  db:\n    image: b\n    healthcheck: {disable: true}\n"
        },
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
            "      db: {condition: service_started}\n"
            "  db:\n    image: b\n    healthcheck: {disable: true}\n"
        },
    ),
    Case(
        "DS212",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [debug]\n"
            "  debug:\n    image: b\n    profiles: [tools]\n"
        },
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [debug]\n"
            "  debug:\n    image: b\n    profiles: [tools]\n"
        },
        env={},
    ),
    Case(
        "DS213",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
            "      debug: {condition: service_started, required: false}\n"
            "  debug:\n    image: b\n    profiles: [tools]\n"
        },
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on:\n"
            "      debug: {condition: service_started, required: false}\n"
            "  debug:\n    image: b\n"
        },
    ),
    Case(
        "DS214",
        svc("image: a\nsecrets: [db_password]"),
        {
            **svc("image: a\nsecrets: [db_password]", "secrets:\n  db_password:\n    file: ./pw.txt\n"),
            "pw.txt": "x\n",
        },
    ),
    Case(
        "DS215",
        {
            "compose.yaml": "include: [./db/compose.yaml]\nservices:\n  web:\n"
            "    image: a\n    depends_on: [db]\n"
        },
        {
            "compose.yaml": "include: [./db/compose.yaml]\nservices:\n  web:\n"
            "    image: a\n    depends_on: [db]\n",
            "db/compose.yaml": "services:\n  db:\n    image: b\n",
        },
    ),
    Case(
        "DS216",
        {
            "compose.yaml": "services:\n  web: {image: a, container_name: app}\n"
            "  admin: {image: b, container_name: app}\n"
        },
        {
            "compose.yaml": "services:\n  web: {image: a, container_name: app}\n"
            "  admin: {image: b, container_name: adm}\n"
        },
    ),
    Case(
        "DS219",
        svc("image: a", "x-devstack:\n  tools:\n    npm: {service: app, command: [npm]}\n"),
        svc("image: a", "x-devstack:\n  tools:\n    npm: {service: web, command: [npm]}\n"),
    ),
    Case(
        "DS219",
        svc("image: a", "x-devstack:\n  tools:\n    npm: {command: [npm]}\n"),
        svc("image: a", "x-devstack:\n  tools: {}\n"),
    ),
    Case(
        "DS219",
        svc("image: mariadb:11.8", "x-devstack:\n  databases:\n    db: {}\n"),
        svc("image: mariadb:11.8", "x-devstack:\n  databases:\n    web: {}\n"),
    ),
    Case(
        "DS219",
        svc("image: mariadb:11.8", "x-devstack:\n  databases:\n    web: {passwd: x}\n"),
        svc("image: mariadb:11.8", "x-devstack:\n  databases:\n    web: {}\n"),
    ),
    Case(
        "DS217",
        svc("image: a\nnetworks: [proxy]", "networks:\n  proxy:\n    external: true\n"),
        svc("image: a\nnetworks: [proxy]", "networks:\n  proxy:\n    external: true\n"),
        engine=FakeEngine(missing={("network", "proxy")}),
    ),
    Case(
        "DS218",
        svc("image: a\nhealthcheck:\n  test: [CMD, 'curl -f http://localhost/']"),
        svc("image: a\nhealthcheck:\n  test: [CMD-SHELL, 'curl -f http://localhost/']"),
    ),
    Case(
        "DS301",
        svc("image: app:${TAG}"),
        {**svc("image: app:${TAG}\nenvironment:\n  OTHER: ${OTHER:-x}"), ".env": "TAG=1\n"},
    ),
    Case(
        "DS308",
        svc("image: a\nenvironment:\n  TOKEN: ${TOKEN}"),
        {**svc("image: a\nenvironment:\n  TOKEN: ${TOKEN}\n  OTHER: ${OTHER:-}"), ".env": "TOKEN=abc\n"},
    ),
    Case(
        "DS302",
        svc("image: a\nenvironment:\n  SECRET: ${SECRET:?set SECRET in .env}"),
        {**svc("image: a\nenvironment:\n  SECRET: ${SECRET:?set SECRET in .env}"), ".env": "SECRET=s3cret\n"},
    ),
    Case(
        "DS303",
        {**svc("image: a"), ".env.example": "A=1\nB=\n", ".env": "A=1\n"},
        {**svc("image: a"), ".env.example": "A=1\nB=\n", ".env": "A=1\nB=2\n"},
    ),
    Case(
        "DS304",
        svc("image: a\nenv_file: [web.env]"),
        svc("image: a\nenv_file:\n  - path: web.env\n    required: false"),
    ),
    Case(
        "DS306",
        svc("image: a\nenvironment:\n  DB_HOST: $$DB_PORT_3306_TCP_ADDR", "  db:\n    image: b\n"),
        svc(
            "image: a\nenvironment:\n  DB_HOST: db\n  DB_PORT: '3306'\n  DB_NAME: app",
            "  db:\n    image: b\n",
        ),
    ),
    Case(
        "DS307",
        svc("image: a\nenvironment:\n  X: ${BAD NAME}"),
        svc("image: a\nenvironment:\n  X: costs $$5 and ${NAME:-a}"),
    ),
    Case(
        "DS401",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    ports: ['127.0.0.1:28011:80']\n"
            "  admin:\n    image: b\n    ports: ['28011:80']\n"
        },
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    ports: ['127.0.0.1:28011:80']\n"
            "  admin:\n    image: b\n    ports: ['127.0.0.2:28011:80']\n"
        },
    ),
    Case(
        "DS403",
        svc("image: a\nports: ['80:80:80:80']"),
        svc("image: a\nports: ['127.0.0.1:28021:80', '[::1]:28022:80', 80]"),
    ),
    Case("DS404", svc("image: a\nports: ['28031:80']"), svc("image: a\nports: ['127.0.0.1:28031:80', '80']")),
    Case(
        "DS405",
        svc("image: a\nports: ['192.0.2.10:28041:80']"),
        svc("image: a\nports: ['127.0.0.1:28041:80']"),
    ),
    Case(
        "DS406",
        svc("image: a\nnetwork_mode: host\nports: ['127.0.0.1:28061:80']"),
        svc("image: a\nnetwork_mode: host"),
    ),
    Case("DS501", svc("build: ./app"), {**svc("build: ./app"), **DOCKERFILE}),
    Case(
        "DS502",
        {**svc("build: {context: ./app, dockerfile: Dockerfile.dev}"), **DOCKERFILE},
        {
            **svc("build: {context: ./app, dockerfile: Dockerfile.dev}"),
            "app/Dockerfile.dev": "FROM scratch\n",
        },
    ),
    Case(
        "DS503",
        svc("image: a\nvolumes:\n  - type: bind\n    source: ./conf\n    target: /conf"),
        svc(
            "image: a\nvolumes:\n  - type: bind\n    source: ./conf\n    target: /conf\n"
            "    bind: {create_host_path: true}"
        ),
    ),
    Case(
        "DS504",
        svc("image: a\nvolumes: ['./data/db:/var/lib/mysql']"),
        {**svc("image: a\nvolumes: ['./data/db:/var/lib/mysql']"), "data/db/": ""},
    ),
    Case(
        "DS505",
        svc("image: a\nvolumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro']"),
        {**svc("image: a\nvolumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro']"), "nginx.conf": "events {}\n"},
    ),
    Case(
        "DS506",
        svc("image: a\nsecrets: [pw]", "secrets:\n  pw:\n    file: ./pw.txt\n"),
        {**svc("image: a\nsecrets: [pw]", "secrets:\n  pw:\n    file: ./pw.txt\n"), "pw.txt": "x\n"},
    ),
    Case(
        "DS509",
        {**svc("image: a\nvolumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro']"), "nginx.conf/": ""},
        {**svc("image: a\nvolumes: ['./nginx.conf:/etc/nginx/nginx.conf:ro']"), "nginx.conf": "events {}\n"},
    ),
    Case(
        "DS507",
        {**svc("image: a\nvolumes: ['./a:/data', './b:/data']"), "a/": "", "b/": ""},
        {**svc("image: a\nvolumes: ['./a:/data', './b:/data/b']"), "a/": "", "b/": ""},
    ),
    Case(
        "DS508",
        {**svc("image: a\nvolumes: ['./a:data']"), "a/": ""},
        {**svc("image: a\nvolumes: ['./a:/data']"), "a/": ""},
    ),
]
GOOD_ENV = {"DS212": {"COMPOSE_PROFILES": "tools"}}
GOOD_ENGINE = {"DS217": FakeEngine()}
# Found in each file as written: reported with or without Compose.
PER_FILE = {
    "DS507",
    "DS102",
    "DS103",
    "DS104",
    "DS105",
    "DS106",
    "DS107",
    "DS203",
    "DS204",
    "DS215",
    "DS301",
    "DS308",
    "DS302",
    "DS303",
    "DS304",
    "DS306",
    "DS307",
    "DS403",
}


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}-{i}" for i, c in enumerate(CASES)])
def test_code_is_reported(case, findings):
    found = findings(case.bad, env=case.env, engine=case.engine)
    matching = [f for f in found if f.code == case.code]
    assert matching, f"{case.code} not reported; got {[(f.code, f.message) for f in found]}"
    assert all(f.severity == catalogue.CATALOGUE[case.code].severity for f in matching)
    assert all(f.message for f in matching)
    assert all(f.location for f in matching if f.code != "DS109")  # DS109 is about Compose


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}-{i}" for i, c in enumerate(CASES)])
def test_code_has_no_false_positive(case, findings):
    found = findings(case.good, env=GOOD_ENV.get(case.code, case.env), engine=GOOD_ENGINE.get(case.code))
    assert case.code not in codes(found), [f for f in found if f.code == case.code]


@pytest.mark.parametrize("case", CASES, ids=[f"{c.code}-{i}" for i, c in enumerate(CASES)])
def test_without_compose(case, per_file_findings):
    """Per-file codes are found without Compose; the others are skipped, and DS108 says so."""
    found = per_file_findings(case.bad, env=case.env)
    if case.code in PER_FILE:
        assert case.code in codes(found), found
    else:
        assert case.code not in codes(found)
        if case.code != "DS102":
            assert "DS108" in codes(found)


def test_every_static_code_has_a_case():
    covered = {c.code for c in CASES} | {"DS100", "DS101", "DS108", "DS305", "DS402"}  # own tests
    static = {c.code for c in catalogue.CODES if c.code[2] in "12345"}
    assert static == covered


def test_unreadable_file_is_ds101(per_file_findings):
    found = per_file_findings({"compose.yaml": b"services:\n  web:\n    image: \xff\xfe\n"})
    assert codes(found) == ["DS101"]
    assert found[0].location == "compose.yaml:3"


def test_utf8_with_bom_and_non_ascii_is_readable(findings):
    text = "# Café ☕\nservices:\n  web:\n    image: busybox\n    labels: {note: 'naïve'}\n"
    assert findings({"compose.yaml": b"\xef\xbb\xbf" + text.encode()}) == []


def test_without_compose_one_info_says_what_was_skipped(per_file_findings):
    found = per_file_findings(svc("image: a\nports: ['127.0.0.1:28051:80']"))
    (skipped,) = found
    assert skipped.code == "DS108" and skipped.severity is Severity.INFO
    assert "Compose is not installed" in skipped.message and "install" in skipped.hint


def rejected(make_project, files, error, model=None):
    from devstack.checks import static
    from devstack.checks.context import load_sources
    from devstack.compose import ComposeModel

    project = make_project(files)
    answer = ComposeModel(model, rejected=error)
    return static.run(project, load_sources(project), answer)


def test_compose_error_is_ds100_when_nothing_explains_it(make_project):
    found = rejected(make_project, svc("image: busybox"), "something new went wrong\nError: the reason")
    assert codes(found) == ["DS100", "DS108"]
    assert "the reason" in found[0].message


def test_compose_error_is_located_by_the_service_it_names(make_project):
    found = rejected(
        make_project,
        {"compose.yaml": "services:\n  db:\n    image: b\n  web:\n    image: a\n    ulimits: 5\n"},
        "validating /p/compose.yaml: services.web.ulimits must be a mapping",
    )
    assert (found[0].code, found[0].location) == ("DS103", "compose.yaml:6")


def test_compose_error_is_not_repeated_when_a_check_explains_it(make_project):
    model = {"services": {"web": {"image": "a", "depends_on": {"db": {"condition": "service_started"}}}}}
    found = rejected(
        make_project,
        svc("image: a\ndepends_on: [db]"),
        'service "web" depends on undefined service "db": invalid compose project',
        model,
    )
    assert codes(found) == ["DS201"]


def test_severities_are_the_catalogues():
    assert catalogue.CATALOGUE["DS404"].severity is Severity.WARNING
    assert catalogue.CATALOGUE["DS504"].severity is Severity.INFO
    assert catalogue.finding("DS301", "m").severity is Severity.ERROR
