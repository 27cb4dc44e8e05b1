"""The catalogue of `devstack add`: every entry follows the conventions, as data (no Compose)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from devstack import addons, envfile

ENTRIES = list(addons.catalogue())


def test_add_without_a_service_lists_the_catalogue_one_line_each(run):
    result = run("add")
    assert result.exit_code == 0, result.err
    lines = result.out.splitlines()
    for name, addon in addons.catalogue().items():
        (line,) = [line for line in lines if line.split()[:1] == [name]]
        assert addon.image in line
    assert len(ENTRIES) >= 8
    assert {"redis", "postgres", "mariadb", "mysql", "memcached", "maildev", "adminer", "rabbitmq"} <= set(
        ENTRIES
    )


@pytest.mark.parametrize("name", ENTRIES)
def test_every_entry_follows_the_conventions(name):
    addon = addons.find(name)
    rendered = addons.render(addon, name, target="db")
    service = rendered.service_data
    assert service["image"] == addon.image
    check = service["healthcheck"]
    assert check["interval"] == "30s" and check["start_interval"] in ("500ms", "1s")
    assert check["start_period"] and check["timeout"] and check["test"]
    for port in service.get("ports", []):
        assert port.startswith("127.0.0.1:"), port
    binds = [v for v in service.get("volumes", []) if v.startswith(".")]
    for bind in binds:
        assert bind.startswith(f"./data/{name}:"), bind
    if binds:
        assert service["user"] == "${HOST_UID:-1000}:${HOST_GID:-1000}"
    assert service["x-devstack"] == {"addon": name}
    entries = envfile.parse_example("\n".join(rendered.env_lines))
    for entry in entries:
        if "PASSWORD" in entry.key:
            assert entry.secret and entry.line.endswith("="), entry
    assert list(rendered.env_lines[:1]) == [addons.header_line(addon, name)] or not entries
    # Compose v1 rejects `start_interval`: it is left out for it.
    v1 = addons.render(addon, name, target="db", compose_v1=True)
    assert "start_interval" not in v1.service_data["healthcheck"]


def test_as_name_renames_the_keys():
    rendered = addons.render(addons.find("redis"), "sessions")
    assert rendered.env_keys == ("SESSIONS_HOST_PORT",)
    assert rendered.wire == {
        "SESSIONS_HOST": "sessions",
        "SESSIONS_PORT": "6379",
        "SESSIONS_URL": "redis://sessions:6379",
    }
    assert rendered.service_data["volumes"] == ["./data/sessions:/data"]


def test_the_cli_does_not_import_the_editor_until_a_command_needs_it():
    code = (
        "import sys, devstack.cli; "
        "print(sorted(m for m in sys.modules if m in ('devstack.addons', 'devstack.yamledit') "
        "or m.startswith('ruamel')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
