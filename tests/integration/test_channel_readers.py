"""Who may read a channel is kept in the app database from member events, across restarts;
and what happened in a channel while the bot was down is indexed, however much it was.

The real bot and Synapse: a member who leaves a sealed channel while the bot is down loses
its posts from `!feed` once the bot is back (the resumed full-state sync carries the leave),
and the remaining members keep reading without waiting for any new event.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import select

from borough.db import Post, create_engine, session_factory
from borough.readers import readable_channel_ids
from borough.settings import BotSettings
from tests.conftest import Homeserver, borough, write_settings
from tests.integration.running_bot import ThreadedBot
from tests.integration.test_bot import Person, post

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml"


@pytest.fixture(scope="module")
def bot(
    homeserver: Homeserver, app_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ThreadedBot]:
    user_id, token = homeserver.synapse.register_user("boroughbot", secrets.token_hex(8))
    settings = write_settings(
        tmp_path_factory.mktemp("bot") / "borough.yaml",
        homeserver,
        app_database_url,
        bot={"user_id": user_id, "access_token": token},
    )
    result = borough("apply", "-q", str(ORG_FILE), settings=settings)
    assert result.exit_code == 0, result.output
    running = ThreadedBot(
        homeserver, app_database_url, BotSettings(user_id=user_id, access_token=token)
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


def readable(database_url: str, user_id: str) -> set[str]:
    async def read() -> set[str]:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                return await readable_channel_ids(session, user_id)
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_a_member_who_left_while_the_bot_was_down_reads_no_more(
    homeserver: Homeserver, bot: ThreadedBot, app_database_url: str
) -> None:
    sealed = homeserver.room_id("tsealed")
    tara = Person(homeserver, "tstaff", bot.settings.user_id)
    tom = Person(homeserver, "tmgr", bot.settings.user_id)
    poster = homeserver.login_as("tadmin")
    post(homeserver, poster, sealed, {"msgtype": "m.text", "body": "Leadership note #quiet"})
    assert "You follow **Directorate leadership**" in tara.ask("!follow #tsealed")
    assert "You follow **Directorate leadership**" in tom.ask("!follow #tsealed")
    assert "Leadership note" in tara.ask("!feed")
    assert sealed in readable(app_database_url, homeserver.user_id("tstaff"))

    bot.stop()
    homeserver.call("POST", f"/_matrix/client/v3/rooms/{quote(sealed)}/leave", tara.token, {})
    assert sealed in readable(app_database_url, homeserver.user_id("tstaff"))  # not seen yet
    bot.start()

    # Tom's answer comes only after the bot has handled the sync that carried Tara's leave.
    assert "Leadership note" in tom.ask("!feed")
    assert sealed not in readable(app_database_url, homeserver.user_id("tstaff"))
    assert sealed in readable(app_database_url, homeserver.user_id("tmgr"))
    assert "Leadership note" not in tara.ask("!feed")
    assert "nothing to show" in tara.ask("!tag #quiet")


def test_posts_beyond_the_sync_window_while_down_are_all_indexed(
    homeserver: Homeserver, bot: ThreadedBot, app_database_url: str
) -> None:
    """More posts arrive while the bot is down than one sync carries (its timeline limit is
    100): the bot reads the gap back and indexes every post exactly once."""
    sealed = homeserver.room_id("tsealed")
    tom = Person(homeserver, "tmgr", bot.settings.user_id)
    poster = homeserver.login_as("tadmin")
    bot.stop()
    sent = [
        post(homeserver, poster, sealed, {"msgtype": "m.text", "body": f"Backlog {n} #gap"})
        for n in range(130)
    ]
    bot.start()
    assert "Borough commands" in tom.ask("!help")  # answered after the gap is indexed

    async def indexed() -> list[str]:
        engine = create_engine(app_database_url)
        try:
            async with session_factory(engine)() as session:
                rows = await session.scalars(select(Post.event_id).where(Post.event_id.in_(sent)))
                return list(rows)
        finally:
            await engine.dispose()

    assert sorted(asyncio.run(indexed())) == sorted(sent)
