"""Shared by the moderation and report tests: the real bot indexing a real Synapse, people
posting as Element would, and a bounded wait for the index to catch up."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest

from borough.db import BotState, create_engine, session_factory
from borough.settings import BotSettings
from borough.testing.waiting import wait_until
from tests.conftest import Homeserver, borough, write_settings
from tests.integration.running_bot import ThreadedBot

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "management.yaml"
T = TypeVar("T")


def start_bot(
    homeserver: Homeserver, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ThreadedBot, Path]]:
    """Apply the management chart with a bot in the settings, then run the bot."""
    user_id, token = homeserver.synapse.register_user("boroughbot", secrets.token_hex(8))
    settings = write_settings(
        tmp_path_factory.mktemp("mgmt") / "borough.yaml",
        homeserver,
        database_url,
        bot={"user_id": user_id, "access_token": token},
    )
    result = borough("apply", "-q", str(ORG_FILE), settings=settings)
    assert result.exit_code == 0, result.output
    running = ThreadedBot(
        homeserver, database_url, BotSettings(user_id=user_id, access_token=token)
    )
    running.start()

    def bot_synced() -> bool:
        # Its first sync is backlog and skipped: posts count only once a position is saved.
        return query(database_url, lambda s: s.get(BotState, user_id)) is not None

    wait_until(bot_synced, 60, "the bot's first sync")
    try:
        yield running, settings
    finally:
        running.stop()


class Member:
    """A provisioned person acting through the client API, as Element does."""

    def __init__(self, hs: Homeserver, username: str) -> None:
        self.hs, self.user_id = hs, hs.user_id(username)
        self.token = hs.login_as(username)

    def _send(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/{event_type}/{secrets.token_hex(8)}"
        return str(self.hs.call("PUT", path, self.token, content)["event_id"])

    def post(self, room_id: str, body: str) -> str:
        return self._send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})

    def reply(self, room_id: str, root: str, body: str) -> str:
        return self._send(
            room_id,
            "m.room.message",
            {
                "msgtype": "m.text",
                "body": body,
                "m.relates_to": {"rel_type": "m.thread", "event_id": root},
            },
        )

    def react(self, room_id: str, event_id: str, key: str = "👍") -> str:
        return self._send(
            room_id,
            "m.reaction",
            {"m.relates_to": {"rel_type": "m.annotation", "event_id": event_id, "key": key}},
        )


def query(database_url: str, read: Callable[[Any], Awaitable[T]]) -> T:
    """Run one read against the app database on a fresh engine (the test's own loop)."""

    async def run() -> T:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                return await read(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())
