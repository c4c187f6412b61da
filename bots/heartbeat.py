"""The bot's heartbeat: a row in `bot_heartbeats` that says which process runs the bot and
when it last said so. `borough doctor` reads it to tell a running bot from a stopped one.

It beats on its own task, beside the sync loop, so a long sync or a slow homeserver does not
make a live bot look dead; a clean stop says so, a killed bot just stops beating.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import BotHeartbeat

logger = logging.getLogger(__name__)

#: Seconds between beats. `borough doctor` calls a bot silent for six of these stopped.
BEAT_SECONDS = 10.0


def this_process() -> str:
    """How a person finds the process that holds the bot: host and process id."""
    return f"{socket.gethostname()} pid {os.getpid()}"


@dataclass
class Heartbeat:
    sessions: async_sessionmaker[AsyncSession]
    bot: str
    holder: str = field(default_factory=this_process)
    interval: float = BEAT_SECONDS

    async def run(self, stopping: asyncio.Event) -> None:
        """Beat until `stopping` is set (or the task is cancelled)."""
        started = datetime.now(UTC)
        while not stopping.is_set():
            try:
                async with self.sessions.begin() as session:
                    await session.merge(
                        BotHeartbeat(
                            bot=self.bot,
                            holder=self.holder,
                            started_at=started,
                            beat_at=datetime.now(UTC),
                            stopped_at=None,
                        )
                    )
            except SQLAlchemyError as exc:  # the database is away: try again next beat
                logger.warning("could not write the bot's heartbeat: %s", exc)
            try:
                await asyncio.wait_for(stopping.wait(), timeout=self.interval)
            except TimeoutError:
                pass

    async def stopped(self) -> None:
        """Say the bot stopped, unless another process has taken the row since."""
        try:
            async with self.sessions.begin() as session:
                row = await session.get(BotHeartbeat, self.bot)
                if row is not None and row.holder == self.holder:
                    row.stopped_at = datetime.now(UTC)
        except SQLAlchemyError as exc:
            logger.warning("could not record that the bot stopped: %s", exc)
