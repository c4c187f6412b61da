"""The town hall widget in a real browser, hosted as Element hosts it: the live list, most
upvoted first, for someone who may read the channel; photographed and audited (harness.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, expect

from borough.db import (
    ChannelMember,
    ChannelRow,
    TownHall,
    TownHallQuestion,
    TownHallVote,
    create_engine,
    session_factory,
)
from borough.settings import load_settings
from tests.browser.harness import TILE, assert_fits, check_page, open_widget, widget_frame
from tests.conftest import Homeserver, borough, write_settings
from widgets.app import create_app

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "townhall.yaml"
NOW = datetime(2026, 12, 3, 14, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def applied(
    homeserver: Homeserver, app_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    settings = write_settings(
        tmp_path_factory.mktemp("settings") / "borough.yaml", homeserver, app_database_url
    )
    result = borough("apply", "-q", str(ORG_FILE), settings=settings)
    assert result.exit_code == 0, result.output
    return settings


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def widget_server(applied: Path) -> AsyncIterator[str]:
    server = TestServer(create_app(load_settings(applied)), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def store(settings: Path, rows: list[Any]) -> None:
    """Rows straight into the app database, as the bot would have written them."""
    engine = create_engine(load_settings(settings).database.url)
    async with session_factory(engine).begin() as session:
        for row in rows:
            session.add(row)
            await session.flush()
    await engine.dispose()


async def test_the_town_hall_widget_lists_questions_most_upvoted_first(
    browser: Browser,
    host_server: str,
    widget_server: str,
    homeserver: Homeserver,
    applied: Path,
) -> None:
    hall = homeserver.room_id("hall")
    viewer = homeserver.user_id("tv02")
    town_hall = TownHall(
        id=1,
        room_id=hall,
        title="Budget 2027",
        created_by=homeserver.user_id("tadmin"),
        timezone="Europe/London",
        command_event_id="$command",
        started_at=NOW,
        root_event_id="$root",
        edits_sent=0,
        created_at=NOW,
    )
    asked = [
        ("Voter 05", "Will pay rise with inflation?", 2, False),
        ("Anonymous (Housing)", "Will the Housing office move to the new depot?", 5, False),
        ("Voter 06", "Can we work from home on Fridays?", 1, True),
    ]
    rows: list[Any] = [
        ChannelRow(
            room_id=hall,
            key="channel/hall",
            alias=None,
            name="Council hall",
            is_sealed=False,
            posters=[],
            max_length=500,
        ),
        ChannelMember(room_id=hall, user_id=viewer),
        town_hall,
    ]
    for number, (label, body, votes, answered) in enumerate(asked, 1):
        rows.append(
            TownHallQuestion(
                id=number,
                town_hall_id=1,
                number=number,
                event_id=f"$q{number}",
                source_event_id=f"$s{number}",
                asker=homeserver.user_id(f"tv{number:02d}"),
                is_anonymous=label.startswith("Anonymous"),
                label=label,
                body=body,
                asked_at=NOW,
                answered_at=NOW if answered else None,
            )
        )
        rows += [
            TownHallVote(reaction_event_id=f"$v{number}-{n}", question_id=number, voter=f"@v{n}:x")
            for n in range(votes)
        ]
    await store(applied, rows)

    path = f"/widgets/townhall?room={quote(hall)}&"
    page = await open_widget(
        browser, host_server, widget_server, homeserver, "tv02", width=TILE, path=path
    )
    frame = page.frame_locator("iframe")
    await expect(frame.locator("#heading")).to_have_text("Budget 2027")
    questions = frame.locator("#questions li")
    await expect(questions).to_have_count(2)
    await expect(questions.nth(0)).to_contain_text("Will the Housing office move")
    await expect(questions.nth(0)).to_contain_text("#2 · Anonymous (Housing) · 5 votes")
    await expect(questions.nth(1)).to_contain_text("#1 · Voter 05 · 2 votes")
    await expect(frame.locator("#answered")).to_contain_text("Can we work from home on Fridays?")
    await assert_fits(widget_frame(page), TILE)
    await check_page(page, "townhall-widget")
    await page.close()
