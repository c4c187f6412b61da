"""Borough's own table in Synapse's database: per person, their refusal notices this window
and their direct chat with Borough.

A table, not account data, because several Synapse processes may refuse the same person's
posts at once: a transaction counts a notice and claims the creation of the chat atomically
(on PostgreSQL Synapse retries a transaction that lost a serialisation race), where account
data read and written back lets two processes both send, or both create a chat.
"""

from __future__ import annotations

from dataclasses import dataclass

from synapse.module_api import LoggingTransaction, ModuleApi

from synapse_modules.refusal_notice import NoticeAllowance, next_allowance

#: How long one process may take to create a person's chat before another takes over.
CLAIM_MS = 30_000

_CREATE = """
    CREATE TABLE IF NOT EXISTS borough_refusal_notices (
        user_id TEXT PRIMARY KEY,
        window_start_ms BIGINT NOT NULL,
        sent INTEGER NOT NULL,
        room_id TEXT,
        claimed_ms BIGINT
    )
"""


@dataclass(frozen=True)
class NoticeTurn:
    """This process may send one notice: into `room_id`, or, if None and `creates_room`,
    into a chat it creates; if neither, another process is creating the chat."""

    allowance: NoticeAllowance
    room_id: str | None
    creates_room: bool


class NoticeLedger:
    def __init__(self, api: ModuleApi) -> None:
        self._api = api
        self._has_table = False

    async def take_turn(self, person: str) -> NoticeTurn | None:
        """Count one more notice for `person`; None when their notices are used up."""
        await self._ensure_table()
        # A row of its own transaction first: the counting transactions then all update one
        # row, and PostgreSQL makes a loser retry rather than insert twice.
        await self._api.run_db_interaction("borough_refusal_notice_row", _ensure_row, person)
        now = self._api.get_current_time_msec()
        turn: NoticeTurn | None = await self._api.run_db_interaction(
            "borough_refusal_notice_turn", _take_turn, person, now
        )
        return turn

    async def room_of(self, person: str) -> str | None:
        room_id: str | None = await self._api.run_db_interaction(
            "borough_refusal_notice_room", _room_of, person
        )
        return room_id

    async def keep_room(self, person: str, room_id: str) -> None:
        await self._api.run_db_interaction(
            "borough_refusal_notice_keep_room", _keep_room, person, room_id
        )

    async def _ensure_table(self) -> None:
        if not self._has_table:
            await self._api.run_db_interaction("borough_refusal_notices_table", _create)
            self._has_table = True


def _create(txn: LoggingTransaction) -> None:
    txn.execute(_CREATE)


def _ensure_row(txn: LoggingTransaction, person: str) -> None:
    txn.execute(
        "INSERT INTO borough_refusal_notices (user_id, window_start_ms, sent) VALUES (?, 0, 0)"
        " ON CONFLICT (user_id) DO NOTHING",
        (person,),
    )


def _take_turn(txn: LoggingTransaction, person: str, now: int) -> NoticeTurn | None:
    txn.execute(
        "SELECT window_start_ms, sent, room_id, claimed_ms FROM borough_refusal_notices"
        " WHERE user_id = ?",
        (person,),
    )
    start, sent, room, claimed_ms = txn.fetchone() or (0, 0, None, None)
    current = NoticeAllowance(int(start), int(sent)) if sent else None
    allowance = next_allowance(current, now)
    if allowance is None:
        return None
    room_id = str(room) if room else None
    claimed = int(claimed_ms) if claimed_ms is not None else None
    creates_room = room_id is None and (claimed is None or now - claimed >= CLAIM_MS)
    txn.execute(
        "UPDATE borough_refusal_notices SET window_start_ms = ?, sent = ?, claimed_ms = ?"
        " WHERE user_id = ?",
        (allowance.window_start_ms, allowance.sent, now if creates_room else claimed, person),
    )
    return NoticeTurn(allowance, room_id, creates_room)


def _room_of(txn: LoggingTransaction, person: str) -> str | None:
    txn.execute("SELECT room_id FROM borough_refusal_notices WHERE user_id = ?", (person,))
    row = txn.fetchone()
    return str(row[0]) if row and row[0] else None


def _keep_room(txn: LoggingTransaction, person: str, room_id: str) -> None:
    txn.execute(
        "UPDATE borough_refusal_notices SET room_id = ?, claimed_ms = NULL WHERE user_id = ?",
        (room_id, person),
    )
