"""`.env` from `.env.example`: secrets generated, missing keys added, values never changed."""

from __future__ import annotations

from dotenv import dotenv_values

from devstack import envfile

EXAMPLE = """# Header about the example file.

# Port of the site.
WEB_PORT=8080
# Password. devstack:secret
DB_PASSWORD=
API_TOKEN=  # devstack:secret
PLAIN=hello world
"""


def test_creates_env_with_generated_secrets(tmp_path):
    (tmp_path / ".env.example").write_text(EXAMPLE)
    result = envfile.sync(tmp_path)
    values = dotenv_values(tmp_path / ".env")
    assert result.created
    assert result.generated == ["DB_PASSWORD", "API_TOKEN"]
    assert values["WEB_PORT"] == "8080" and values["PLAIN"] == "hello world"
    assert len(values["DB_PASSWORD"]) == 32 and values["DB_PASSWORD"].isalnum()
    assert values["API_TOKEN"] != values["DB_PASSWORD"]
    assert "Header about the example" not in (tmp_path / ".env").read_text()


def test_adds_only_missing_keys_and_keeps_values(tmp_path):
    (tmp_path / ".env.example").write_text(EXAMPLE)
    (tmp_path / ".env").write_text("WEB_PORT=9999\nDB_PASSWORD=mine\nLOCAL_ONLY=1")
    result = envfile.sync(tmp_path)
    values = dotenv_values(tmp_path / ".env")
    assert result.added == ["API_TOKEN", "PLAIN"]
    assert result.generated == ["API_TOKEN"]
    assert values["WEB_PORT"] == "9999" and values["DB_PASSWORD"] == "mine"
    assert values["LOCAL_ONLY"] == "1" and values["PLAIN"] == "hello world"
    again = envfile.sync(tmp_path)
    assert not again.changed
    assert dotenv_values(tmp_path / ".env") == values


def test_empty_value_in_env_counts_as_set(tmp_path):
    (tmp_path / ".env.example").write_text("A=1\n")
    (tmp_path / ".env").write_text("A=\n")
    assert not envfile.sync(tmp_path).changed


def test_no_example_no_change(tmp_path):
    result = envfile.sync(tmp_path)
    assert not result.changed and not (tmp_path / ".env").exists()
