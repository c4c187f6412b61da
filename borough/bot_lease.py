"""The bot's lease: of several `borough bots run` processes on one app database, exactly one
acts; the others stand by and take over when it stops renewing.

The lease is a row in `bot_leases` (one per bot account), not a PostgreSQL advisory lock:
docs/operations.md ("Two bots, one acting") says why. The row names the holder (host,
process id, since when) so `borough doctor` can say who acts, and carries a `term` that
grows by one at every takeover. Every write the acting bot makes begins with `confirm()`,
which renews the row only if the term is still this process's: a process that lost the lease
(paused past its expiry, cut off from the database) fails there and writes nothing, whatever
the clocks say. On PostgreSQL the renewal locks the row for the rest of the transaction, so
a takeover waits until the old holder's last write has committed or rolled back.

SQLite is one file on one machine, so there is only ever one bot; the lease is taken there
all the same (the same statements, without rivals), so the code has one path and a second
bot started by mistake on the same file stands by instead of answering twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from borough.db import BotLeaseRow, rows_changed, session_factory

logger = logging.getLogger(__name__)

#: A holder that has not renewed for this long may be replaced.
LEASE_SECONDS = 8.0
#: The holder renews this often, so a missed renewal or two is not a takeover.
RENEW_SECONDS = 2.0
#: A standby looks at the lease this often. Takeover after a kill -9 takes at most
#: LEASE_SECONDS + STANDBY_SECONDS, plus the new holder's first sync.
STANDBY_SECONDS = 1.0


class LeaseLost(Exception):
    """Another process holds the bot's lease now, or this one could not renew it in time."""


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a bot's lease, as `borough doctor` reports it."""

    bot: str
    host: str
    pid: int
    since: datetime
    renewed_at: datetime
    expires_at: datetime
    term: int

    def expired(self, now: datetime | None = None) -> bool:
        """True when the holder has stopped renewing (killed, hung or cut off)."""
        return (now or _now()) >= self.expires_at

    def __str__(self) -> str:
        return f"{self.host} pid {self.pid} since {self.since:%Y-%m-%d %H:%M:%S} UTC"


def _now() -> datetime:
    return datetime.now(UTC)


def _aware(moment: datetime) -> datetime:
    """SQLite gives back naive datetimes; every time written here is UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def current_holder(engine: AsyncEngine, bot: str | None = None) -> LeaseHolder | None:
    """Who holds the lease of `bot` (of the bot that renewed last when None), or None if no
    bot has ever run on this database. An expired holder is returned too: `expired()` says
    whether it still acts."""
    statement = select(BotLeaseRow).order_by(BotLeaseRow.renewed_at.desc()).limit(1)
    if bot is not None:
        statement = statement.where(BotLeaseRow.bot == bot)
    async with session_factory(engine)() as session:
        row = await session.scalar(statement)
    return _holder_of(row)


def _holder_of(row: BotLeaseRow | None) -> LeaseHolder | None:
    if row is None:
        return None
    return LeaseHolder(
        bot=row.bot,
        host=row.host,
        pid=row.pid,
        since=_aware(row.since),
        renewed_at=_aware(row.renewed_at),
        expires_at=_aware(row.expires_at),
        term=row.term,
    )


@dataclass
class BotLease:
    """This process's claim on `bot`'s lease: `acquire()` waits as a standby until it holds
    it, `keep()` renews it while the bot acts, `confirm(session)` fences each write."""

    sessions: async_sessionmaker[AsyncSession]
    bot: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    seconds: float = LEASE_SECONDS
    #: The term this process holds, once it does.
    term: int | None = None

    async def try_acquire(self) -> bool:
        """Take the lease if nobody holds it or its holder stopped renewing."""
        now = _now()
        values = {
            "host": self.host,
            "pid": self.pid,
            "since": now,
            "renewed_at": now,
            "expires_at": now + timedelta(seconds=self.seconds),
        }
        try:
            async with self.sessions.begin() as session:
                taken = await rows_changed(
                    session,
                    update(BotLeaseRow)
                    .where(BotLeaseRow.bot == self.bot, BotLeaseRow.expires_at <= now)
                    .values(term=BotLeaseRow.term + 1, **values),
                )
                if taken:
                    term = await session.scalar(
                        select(BotLeaseRow.term).where(BotLeaseRow.bot == self.bot)
                    )
                elif await session.get(BotLeaseRow, self.bot) is None:
                    session.add(BotLeaseRow(bot=self.bot, term=1, **values))
                    term = 1
                else:
                    return False
        except IntegrityError:
            return False  # another process inserted the first row at the same moment
        self.term = term
        logger.info(
            "holding the lease of %s (term %s) as %s pid %s", self.bot, term, self.host, self.pid
        )
        return True

    async def acquire(self, stopping: asyncio.Event) -> bool:
        """Wait, as a standby, until this process holds the lease (True) or `stopping` is
        set (False). A database that does not answer is waited out too."""
        announced: LeaseHolder | None = None
        while not stopping.is_set():
            try:
                if await self.try_acquire():
                    return True
                holder = await self._holder()
                if holder is not None and (announced is None or holder.term != announced.term):
                    logger.info("standing by: %s acts for %s", holder, self.bot)
                    announced = holder
            except SQLAlchemyError as exc:
                logger.warning("could not look at the bot's lease: %s", exc)
            try:
                await asyncio.wait_for(stopping.wait(), timeout=STANDBY_SECONDS)
            except TimeoutError:
                pass
        return False

    async def confirm(self, session: AsyncSession) -> None:
        """Renew the lease inside `session`'s transaction, or LeaseLost if this process no
        longer holds it. Call it first in every transaction that acts as the bot."""
        now = _now()
        renewed = await rows_changed(
            session,
            update(BotLeaseRow)
            .where(BotLeaseRow.bot == self.bot, BotLeaseRow.term == self.term)
            .values(renewed_at=now, expires_at=now + timedelta(seconds=self.seconds)),
        )
        if not renewed:
            raise LeaseLost(
                f"another process took over the lease of {self.bot}; this one stops acting"
            )

    async def keep(self) -> None:
        """Renew every RENEW_SECONDS until cancelled. Raises LeaseLost when another process
        has the lease, or when renewals failed for so long that one may have taken it."""
        renewed = time.monotonic()
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            try:
                async with self.sessions.begin() as session:
                    await self.confirm(session)
                renewed = time.monotonic()
            except SQLAlchemyError as exc:
                silent = time.monotonic() - renewed
                if silent >= self.seconds - RENEW_SECONDS:
                    raise LeaseLost(
                        f"could not renew the lease of {self.bot} for {silent:.0f} s ({exc}); "
                        "a standby may act now, so this one stops"
                    ) from None
                logger.warning("could not renew the bot's lease: %s", exc)

    async def release(self) -> None:
        """Let a standby take over at once (a clean stop), if this process still holds it."""
        if self.term is None:
            return
        try:
            async with self.sessions.begin() as session:
                await session.execute(
                    update(BotLeaseRow)
                    .where(BotLeaseRow.bot == self.bot, BotLeaseRow.term == self.term)
                    .values(expires_at=_now())
                )
        except SQLAlchemyError as exc:
            logger.warning("could not release the bot's lease: %s", exc)
        self.term = None

    async def _holder(self) -> LeaseHolder | None:
        async with self.sessions() as session:
            return _holder_of(await session.get(BotLeaseRow, self.bot))
