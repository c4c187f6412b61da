"""The real bot, with the service account's token for `!admin`, on its own loop in a thread."""

from __future__ import annotations

import asyncio
import threading

from borough.db import create_engine, session_factory
from borough.settings import BotSettings
from bots.runner import BoroughBot
from tests.conftest import Homeserver


class ThreadedBot:
    def __init__(self, hs: Homeserver, database_url: str, user_id: str, token: str) -> None:
        self.ready = threading.Event()
        self.user_id = user_id
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[None] | None = None

        async def main() -> None:
            engine = create_engine(database_url)
            bot = BoroughBot(
                hs.synapse.base_url,
                hs.server_name,
                BotSettings(user_id=user_id, access_token=token),
                session_factory(engine),
                service_token=hs.service_token,
            )
            self.loop, self.task = asyncio.get_running_loop(), asyncio.current_task()
            self.ready.set()
            try:
                await bot.run()
            except asyncio.CancelledError:
                pass
            finally:
                await bot.close()
                await engine.dispose()

        self.thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
        self.thread.start()
        assert self.ready.wait(30)

    def stop(self) -> None:
        assert self.loop is not None and self.task is not None
        self.loop.call_soon_threadsafe(self.task.cancel)
        self.thread.join(30)
