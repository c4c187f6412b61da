"""The corpus runs with none of Borough's environment variables, so each case sees only its
own files (a token or settings path from the shell would change the answers)."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def no_borough_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("BOROUGH_") and name != "BOROUGH_TEST_POSTGRES":
            monkeypatch.delenv(name)
