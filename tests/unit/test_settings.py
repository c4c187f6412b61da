"""Settings load once, with every problem placed, and secrets can come from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from borough.settings import SettingsError, load_settings

EXAMPLE = Path(__file__).parents[2] / "config" / "borough.example.yaml"


def test_the_example_settings_load_with_the_token_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BOROUGH_ACCESS_TOKEN", "syt_from_env")
    settings = load_settings(EXAMPLE)
    assert settings.homeserver.server_name == "northbridge.gov.uk"
    assert settings.access_token == "syt_from_env"
    assert "syt_from_env" not in repr(settings)  # secrets stay out of logs


def test_a_missing_token_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BOROUGH_ACCESS_TOKEN", raising=False)
    with pytest.raises(SettingsError) as caught:
        _ = load_settings(EXAMPLE).access_token
    assert "BOROUGH_ACCESS_TOKEN" in caught.value.render()


def test_wrong_types_are_placed(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "homeserver: {url: 'http://x', server_name: x}\n"
        "service_account: {user_id: '@b:x'}\n"
        "provisioning:\n  concurrency: lots\n"
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert (
        "s.yaml:4:3 provisioning.concurrency: input should be a valid integer"
        in caught.value.render()
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("foo://bar", "Borough cannot use a 'foo' database; use sqlite+aiosqlite:///"),
        ("mysql://db/borough", "Borough cannot use a 'mysql' database"),
        ("not a url", "not a database URL; use sqlite+aiosqlite:///"),
    ],
)
def test_a_database_url_borough_cannot_use_is_placed(
    tmp_path: Path, url: str, message: str
) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "homeserver: {url: 'http://x', server_name: x}\n"
        "service_account: {user_id: '@b:x'}\n"
        f"database:\n  url: '{url}'\n"
    )
    with pytest.raises(SettingsError) as caught:
        load_settings(path)
    assert f"s.yaml:4:3 database.url: {message}" in caught.value.render()


@pytest.mark.parametrize(
    ("url", "used"),
    [
        ("sqlite:///var/b.db", "sqlite+aiosqlite:///var/b.db"),
        ("postgresql://u:p%40ss@db/borough", "postgresql+asyncpg://u:p%40ss@db/borough"),
        ("postgresql+asyncpg://db/borough", "postgresql+asyncpg://db/borough"),
    ],
)
def test_a_plain_database_url_gets_its_async_driver(tmp_path: Path, url: str, used: str) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "homeserver: {url: 'http://x', server_name: x}\n"
        "service_account: {user_id: '@b:x'}\n"
        f"database: {{url: '{url}'}}\n"
    )
    assert load_settings(path).database.url == used
