"""Fixtures shared by the integration tests that kill processes (test_crash.py,
test_bot_failover.py)."""

from __future__ import annotations

import os
import random

import pytest


@pytest.fixture
def seed() -> int:
    """The crash workload's seed: random unless BOROUGH_CRASH_SEED is set, and printed, so a
    failure can be replayed."""
    chosen = int(os.environ.get("BOROUGH_CRASH_SEED") or random.SystemRandom().randrange(10**6))
    print(f"crash seed {chosen} (replay with BOROUGH_CRASH_SEED={chosen})")
    return chosen
