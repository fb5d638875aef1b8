"""Settings and database URLs: the embedded default, PostgreSQL, and clear refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from phoenix_api.settings import ApiSettings
from phoenix_core.errors import ConfigurationError
from phoenix_core.settings import DatabaseSettings, load_settings
from phoenix_core.store.database import is_postgresql, parse_database_url


def test_default_database_is_sqlite_in_the_data_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PHOENIX_DATABASE_URL", raising=False)
    monkeypatch.setenv("PHOENIX_DATA_DIR", str(tmp_path))
    settings = load_settings(DatabaseSettings)
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'phoenix.db'}"


def test_data_folder_defaults_to_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("PHOENIX_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert load_settings(DatabaseSettings).data_dir == tmp_path / "phoenix"


def test_postgresql_url_switches_to_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOENIX_DATABASE_URL", "postgresql://phoenix:pw@db:5432/phoenix")
    settings = load_settings(ApiSettings, port=9000)
    url = parse_database_url(settings.effective_database_url)
    assert is_postgresql(url)
    assert url.drivername == "postgresql+psycopg"
    assert settings.port == 9000


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("not a url", "is not a valid database URL"),
        ("postgresql+psycopg://u@h:port/db", "is not a valid database URL"),
        ("mysql://u@h/db", "uses 'mysql', which Phoenix does not support"),
        ("postgresql+asyncpg://u@h/db", "uses 'postgresql+asyncpg'"),
        ("postgresql+psycopg:///db", "names no PostgreSQL host"),
        ("postgresql+psycopg://u@h", "names no database"),
    ],
)
def test_bad_urls_are_one_sentence(raw: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(message)) as caught:
        parse_database_url(raw)
    text = str(caught.value)
    assert text.endswith(".")
    assert "\n" not in text


def test_passwords_never_appear_in_errors() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_database_url("mysql://user:hunter2@db/x")
    assert "hunter2" not in str(caught.value)
    with pytest.raises(ConfigurationError) as caught:
        parse_database_url("postgresql+psycopg://user:hunter2@/")
    assert "hunter2" not in str(caught.value)


def test_bad_setting_names_the_environment_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PHOENIX_PORT", "eighty")
    with pytest.raises(ConfigurationError, match="PHOENIX_PORT: Input should be a valid integer"):
        load_settings(ApiSettings)
