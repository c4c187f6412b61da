"""Applies take turns across processes: an organisation's `borough partner apply` runs one at
a time, and `borough apply` (every organisation) alone. On a PostgreSQL app database each holds
advisory locks from before it plans until its apply is recorded; SQLite serves one process.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

#: A lock's two statements: take it if free (true if taken), and wait for it.
Lock = tuple[TextClause, TextClause]
EXCLUSIVE: Lock = (
    text("SELECT pg_try_advisory_xact_lock(:key)"),
    text("SELECT pg_advisory_xact_lock(:key)"),
)
SHARED: Lock = (
    text("SELECT pg_try_advisory_xact_lock_shared(:key)"),
    text("SELECT pg_advisory_xact_lock_shared(:key)"),
)


def _key(label: bytes) -> int:
    """A PostgreSQL advisory lock key: a signed 64-bit number."""
    return int.from_bytes(hashlib.sha256(label).digest()[:8], "big", signed=True)


def apply_lock_key(organisation: str) -> int:
    """The advisory lock key of one organisation's scoped applies."""
    # The label is the one the widget server's SCIM auto apply locked before `partner apply`
    # took the lock itself, so replicas of both releases take turns during an upgrade.
    return _key(b"borough scim apply\x00" + organisation.encode())


#: Held shared by every scoped apply and alone by a whole-chart apply, which acts on every
#: organisation: one lock, however many organisations the chart has.
NETWORK_APPLY_LOCK = _key(b"borough apply")


def _locks(organisation: str | None) -> list[tuple[Lock, int]]:
    """The locks an apply takes, in the order every apply takes them."""
    if organisation is None:
        return [(EXCLUSIVE, NETWORK_APPLY_LOCK)]
    return [(SHARED, NETWORK_APPLY_LOCK), (EXCLUSIVE, apply_lock_key(organisation))]


@asynccontextmanager
async def apply_turn(
    sessions: async_sessionmaker[AsyncSession],
    organisation: str | None,
    on_wait: Callable[[], None],
) -> AsyncIterator[None]:
    """Hold the turn to apply `organisation` (every organisation when None) until the block
    ends. `on_wait` is called once, before waiting, when another apply holds it."""
    bind = sessions.kw.get("bind")
    if bind is None or bind.dialect.name != "postgresql":
        yield  # SQLite: one process applies
        return
    # The locks last as long as this transaction, which ends with the block or with the
    # process: a killed apply leaves nothing held.
    async with sessions.begin() as session:
        waited = False
        for (take, wait), key in _locks(organisation):
            if not await session.scalar(take, {"key": key}):
                if not waited:
                    on_wait()
                    waited = True
                await session.execute(wait, {"key": key})
        yield
