"""The apply lock: on SQLite, which serves one process, an apply takes no lock."""

from __future__ import annotations

from pathlib import Path

from borough.db import create_engine, session_factory
from provisioning.apply_lock import apply_lock_key, apply_turn


async def test_on_sqlite_applies_take_no_lock(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'app.db'}")
    sessions = session_factory(engine)
    waits: list[str] = []
    try:
        # Nested turns of one organisation would wait for each other forever on PostgreSQL.
        async with (
            apply_turn(sessions, None, lambda: waits.append("network")),
            apply_turn(sessions, "nhs", lambda: waits.append("nhs")),
            apply_turn(sessions, "nhs", lambda: waits.append("nhs again")),
        ):
            pass
    finally:
        await engine.dispose()
    assert waits == []


def test_each_organisation_has_its_own_signed_64_bit_key() -> None:
    keys = {apply_lock_key(org) for org in ("nhs", "police", "nhs2", "")}
    assert len(keys) == 4
    assert all(-(2**63) <= key < 2**63 for key in keys)
