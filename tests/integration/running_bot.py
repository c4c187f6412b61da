"""The one threaded runner for the real bot in tests: `BoroughBot` on its own event loop in a
thread, as `borough bots run` would run it, stopped and started again as a test needs.

It lives with the tests, not in `borough.testing`, because it imports `bots` and the kernel
imports no component (tests/unit/test_component_boundaries.py)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from borough.db import create_engine, migrate, session_factory
from borough.settings import BotSettings
from bots.runner import BoroughBot
from tests.conftest import Homeserver


class ThreadedBot:
    """`options` go to `BoroughBot` as they are (clock, service_token, intervals, Jitsi)."""

    def __init__(
        self, hs: Homeserver, database_url: str, settings: BotSettings, **options: Any
    ) -> None:
        self.hs, self.database_url, self.settings, self.options = (
            hs,
            database_url,
            settings,
            options,
        )
        self.bot: BoroughBot | None = None
        self.thread: threading.Thread | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None

    @property
    def user_id(self) -> str:
        return self.settings.user_id

    def start(self) -> None:
        ready = threading.Event()

        async def main() -> None:
            await migrate(self.database_url)
            engine = create_engine(self.database_url)
            self.bot = BoroughBot(
                self.hs.synapse.base_url,
                self.hs.server_name,
                self.settings,
                session_factory(engine),
                **self.options,
            )
            self.loop, self.task = asyncio.get_running_loop(), asyncio.current_task()  # type: ignore[assignment]
            ready.set()
            try:
                await self.bot.run()
            except asyncio.CancelledError:
                pass
            finally:
                await self.bot.close()
                await engine.dispose()

        self.thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        self.thread.start()
        assert ready.wait(30), "the bot did not start within 30 s"

    def stop(self) -> None:
        assert self.loop is not None and self.task is not None and self.thread is not None
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(30)


@contextmanager
def running_bot(
    hs: Homeserver, database_url: str, user_id: str, token: str, **options: Any
) -> Iterator[ThreadedBot]:
    """The bot as `user_id`, started for the block and stopped after it."""
    bot = ThreadedBot(hs, database_url, BotSettings(user_id=user_id, access_token=token), **options)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()
