"""The loop behind the bot's clockwork (digests, meeting reminders and starts): look at the
clock every `interval` seconds until told to stop, and keep going when one look fails."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

logger = logging.getLogger(__name__)


class Ticking(Protocol):
    #: Seconds between looks at the clock.
    interval: float
    #: How many times the loop has looked; tests await it.
    ticks: int

    async def tick(self) -> None: ...


async def run_ticks(task: Ticking, stopping: asyncio.Event, what: str) -> None:
    """Call `task.tick()` every `task.interval` seconds until `stopping` is set."""
    while not stopping.is_set():
        try:
            await task.tick()
        except Exception:
            logger.exception("%s failed; trying again", what)
        task.ticks += 1
        try:
            await asyncio.wait_for(stopping.wait(), timeout=task.interval)
        except TimeoutError:
            pass
