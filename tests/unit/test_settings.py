"""Settings load once, with every problem placed, and secrets can come from the environment."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

from borough.settings import SettingsError, load_settings

REPO = Path(__file__).parents[2]
EXAMPLE = REPO / "config" / "borough.example.yaml"


def _run_script() -> ModuleType:
    """scripts/run.py (`make run`), which is a script, not a package module."""
    spec = importlib.util.spec_from_file_location("borough_run", REPO / "scripts" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


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


def test_meetings_default_to_a_jitsi_that_exists(tmp_path: Path) -> None:
    """meet.example.org went nowhere. Element's own default (element-web SdkConfig.ts,
    `jitsi.preferred_domain`) is a public Jitsi that answers."""
    path = tmp_path / "borough.yaml"
    path.write_text(
        "homeserver: {url: 'http://127.0.0.1:8008', server_name: hs}\n"
        "service_account: {user_id: '@borough:hs', access_token: t}\n"
        "bot: {user_id: '@bot:hs'}\n"
    )
    assert load_settings(path).jitsi.domain == "meet.element.io"


def test_make_run_uses_that_jitsi_writes_it_down_and_says_so(tmp_path: Path) -> None:
    run = _run_script()
    state = {"service_user": "@b:hs", "service_token": "t", "bot_user": "@bot:hs", "bot_token": "u"}
    for argv, domain in (([], "meet.element.io"), (["--jitsi-domain", "meet.x.gov.uk"], None)):
        args = run.arguments(argv)
        assert args.jitsi_domain == (domain or "meet.x.gov.uk")
        settings = run.demo_settings("http://127.0.0.1:8008", "hs", state, 8090, args.jitsi_domain)
        path = tmp_path / "borough.yaml"
        path.write_text(yaml.safe_dump(settings))
        assert load_settings(path).jitsi.domain == args.jitsi_domain
        line = run.meetings_line(args.jitsi_domain)
        assert f"https://{args.jitsi_domain}" in line and "--jitsi-domain" in line
    assert "Element's own" in run.meetings_line("meet.element.io")
