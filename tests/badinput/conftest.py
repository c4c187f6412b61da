"""The corpus runs with none of Borough's environment variables, so each case sees only its
own files (a token or settings path from the shell would change the answers), and offline
cases share one settings file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml


@pytest.fixture(autouse=True)
def no_borough_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("BOROUGH_") and name != "BOROUGH_TEST_POSTGRES":
            monkeypatch.delenv(name)


@pytest.fixture
def offline_settings(tmp_path: Path) -> Path:
    """Settings whose homeserver is not there (127.0.0.1:9, tried once) and whose app
    database is a fresh SQLite file: for commands whose bad input is found before either."""
    path = tmp_path / "borough.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "homeserver": {"url": "http://127.0.0.1:9", "server_name": "borough.test"},
                "service_account": {"user_id": "@borough:borough.test", "access_token": "x"},
                "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"},
                "provisioning": {"max_retries": 0},
            }
        )
    )
    return path
