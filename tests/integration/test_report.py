"""`borough report` against a real Synapse: a scripted set of posts, replies and reactions
(indexed by the real bot) and meetings (written through borough.meetings, as `!meet` and the
token service write them), checked number by number; filters, CSV, HTML and its screenshot."""

from __future__ import annotations

import asyncio
import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from borough.db import Post, Reaction, create_engine, session_factory
from borough.meetings import MeetingStore
from borough.testing.waiting import wait_until
from management.timespan import week_start
from tests.browser.chromium import screenshot_html
from tests.conftest import ARTIFACTS, Homeserver, borough
from tests.integration.management_support import Member, query, start_bot

pytestmark = pytest.mark.integration


SEALED_TEXTS = ("SEALED-SECRET-42", "SEALED-REPLY-43")


@pytest.fixture(scope="module")
def settings(
    homeserver: Homeserver, app_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    for _, path in start_bot(homeserver, app_database_url, tmp_path_factory):
        yield path


def _meetings(database_url: str, now: datetime, rooms: dict[str, str], who: dict[str, str]) -> None:
    """(room, start offset, minutes, participants); one cancelled, one too old to count."""
    plan = [
        ("mpartners-general", timedelta(hours=2), 30, ["mstaff", "mcop"]),  # crosses
        ("mteam-general", timedelta(hours=3), 45, ["mstaff", "mpeer"]),
        ("mpartners-general", timedelta(days=9), 20, ["mcop", "mpc"]),  # police only
        ("mpartners-general", timedelta(days=40), 60, ["mstaff", "mcop"]),  # before --since
    ]

    async def write() -> None:
        engine = create_engine(database_url)
        store = MeetingStore(session_factory(engine))
        try:
            for number, (room, ago, minutes, people) in enumerate(plan):
                started = now - ago
                meeting = await store.create(
                    room_id=rooms[room],
                    widget_id=f"w{number}",
                    conference_id=f"c{number}",
                    title="Catch-up",
                    is_audio_only=False,
                    created_by=who[people[0]],
                    timezone="Europe/London",
                    started_at=started,
                )
                for person in people:
                    await store.record_participant(meeting.id, who[person], started)
                await store.end(meeting.id, started + timedelta(minutes=minutes))
            cancelled = await store.create(
                room_id=rooms["mpartners-general"],
                widget_id="wx",
                conference_id="cx",
                title="Never held",
                is_audio_only=False,
                created_by=who["mcop"],
                timezone="Europe/London",
                scheduled_for=now + timedelta(days=1),
            )
            await store.cancel(rooms["mpartners-general"], cancelled.id, now)
        finally:
            await engine.dispose()

    asyncio.run(write())


@pytest.fixture(scope="module")
def scripted(homeserver: Homeserver, settings: Path, app_database_url: str) -> datetime:
    """The activity the report must count, written once for the module."""
    m = {n: Member(homeserver, n) for n in ("madmin", "mstaff", "mpeer", "mcop", "mpc")}
    rooms = {
        alias: homeserver.room_id(alias)
        for alias in ("mnews", "msealed", "mbulletin", "mpartners-general", "mteam-general")
    }
    news, sealed, bulletin = rooms["mnews"], rooms["msealed"], rooms["mbulletin"]
    p1 = m["mstaff"].post(news, "News one #update")
    p2 = m["mstaff"].post(news, "News two")
    m["mpeer"].reply(news, p1, "Thanks!")
    m["madmin"].react(news, p1)
    m["mpeer"].react(news, p2)
    s1 = m["madmin"].post(sealed, SEALED_TEXTS[0])
    m["mstaff"].reply(sealed, s1, SEALED_TEXTS[1])
    b1 = m["mstaff"].post(bulletin, "Council update for partners")
    m["mcop"].reply(bulletin, b1, "Police reply")  # crosses
    m["mpc"].react(bulletin, b1)  # crosses
    m["mpeer"].react(bulletin, b1)  # same organisation
    b2 = m["mcop"].post(bulletin, "Police update for partners")
    m["mstaff"].reply(bulletin, b2, "Council reply")  # crosses

    def indexed() -> bool:
        posts = query(app_database_url, lambda s: s.scalar(select(func.count()).select_from(Post)))
        reactions = query(
            app_database_url, lambda s: s.scalar(select(func.count()).select_from(Reaction))
        )
        return posts == 9 and reactions == 4

    try:
        wait_until(indexed, 60, "the bot to index 9 posts and replies and 4 reactions")
    except AssertionError:
        seen = query(
            app_database_url,
            lambda s: s.execute(select(Post.room_id, Post.author, Post.body, Post.thread_root)),
        ).all()
        raise AssertionError(f"indexed: {seen}; rooms: {rooms}") from None
    now = datetime.now(UTC)
    _meetings(app_database_url, now, rooms, {n: p.user_id for n, p in m.items()})
    return now


def run_report(
    settings: Path, tmp_path: Path, *args: str
) -> tuple[Any, dict[tuple[str, str], list[int]]]:
    out = tmp_path / "csv"
    result = borough("report", "--since", "30d", "--csv", str(out), *args, settings=settings)
    assert result.exit_code == 0, result.output
    with (out / "engagement.csv").open(encoding="utf-8") as f:
        rows = {
            (r["kind"], r["key"]): [
                int(r[c])
                for c in (
                    "active_people",
                    "posts",
                    "replies",
                    "reactions",
                    "meetings",
                    "meeting_minutes",
                    "new_joiners",
                )
            ]
            for r in csv.DictReader(f)
        }
    return result, rows


def test_report_numbers_match_the_script(
    settings: Path, scripted: datetime, tmp_path: Path
) -> None:
    result, rows = run_report(settings, tmp_path)
    #                                    active posts replies reactions meetings minutes new
    assert rows[("organisation", "mcouncil")] == [3, 4, 3, 3, 2, 75, 3]
    assert rows[("organisation", "mpolice")] == [2, 1, 1, 1, 2, 50, 2]
    assert rows[("unit", "mdir")] == [3, 4, 3, 3, 2, 75, 3]  # includes its team
    assert rows[("unit", "mteam")] == [2, 3, 3, 2, 2, 75, 2]
    assert rows[("unit", "mbeat")] == [2, 1, 1, 1, 2, 50, 2]
    assert rows[("partnership", "mpartners")] == [4, 2, 2, 2, 2, 50, 4]
    assert rows[("channel", "mnews")] == [3, 2, 1, 2, 0, 0, 3]
    assert rows[("channel", "msealed")] == [2, 1, 1, 0, 0, 0, 3]
    assert rows[("channel", "mbulletin")] == [4, 2, 2, 2, 0, 0, 4]
    assert "Directorate news" in result.output and "Virtuous circle" in result.output
    for text in SEALED_TEXTS:
        assert text not in result.output

    with (tmp_path / "csv" / "virtuous_circle.csv").open(encoding="utf-8") as f:
        weeks = list(csv.DictReader(f))
    assert {w["partnership"] for w in weeks} == {"mpartners"}
    totals = {
        c: sum(int(w[c]) for w in weeks)
        for c in (
            "cross_org_replies",
            "cross_org_reactions",
            "cross_org_meetings",
            "all_interactions",
        )
    }
    assert totals == {
        "cross_org_replies": 2,
        "cross_org_reactions": 1,
        "cross_org_meetings": 1,
        "all_interactions": 6,  # 2 replies, 2 reactions, 2 meetings (one police-only)
    }
    police_only = week_start((scripted - timedelta(days=9)).date()).isoformat()
    [that_week] = [w for w in weeks if w["week"] == police_only]
    assert that_week["all_interactions"] == "1" and that_week["cross_org_meetings"] == "0"
    assert len(weeks) >= 5  # every week of the 30 days, idle ones too


def test_filters_by_organisation_and_unit(
    settings: Path, scripted: datetime, tmp_path: Path
) -> None:
    _, police = run_report(settings, tmp_path, "--org", "mpolice")
    assert set(police) == {
        ("organisation", "mpolice"),
        ("unit", "mbeat"),
        ("partnership", "mpartners"),
        ("channel", "mbulletin"),
    }
    _, team = run_report(settings, tmp_path, "--unit", "mdir")
    assert set(team) == {
        ("unit", "mdir"),
        ("unit", "mteam"),
        ("channel", "mnews"),
        ("channel", "msealed"),
    }


def test_html_report_is_self_contained_and_screenshotted(
    settings: Path, scripted: datetime, tmp_path: Path
) -> None:
    page = tmp_path / "report.html"
    result = borough("report", "--html", str(page), settings=settings)
    assert result.exit_code == 0, result.output
    html = page.read_text(encoding="utf-8")
    # Activity, the virtuous circle with Ask the network's answers across organisations
    # beside it, and active people by organisation.
    assert html.count("data:image/png;base64,") == 4
    assert 'alt="Answers given across organisations, week by week"' in html
    assert "http://" not in html and "https://" not in html and "<script" not in html
    assert "Team and Beat Partnership" in html and "Directorate leadership" in html
    for text in SEALED_TEXTS:
        assert text not in html
    png = screenshot_html(page, ARTIFACTS / "engagement_report.png")
    assert png.stat().st_size > 20_000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--since", "a while"), "'a while' is neither a span"),
        (("--since", "2099-01-01"), "is in the future"),
        (("--org", "nowhere"), "unknown organisation 'nowhere' (known: mcouncil, mpolice)"),
        (("--unit", "mteem"), "unknown unit 'mteem' (did you mean mteam?)"),
        (("--org", "mpolice", "--unit", "mbeat"), "give --org or --unit, not both"),
    ],
)
def test_bad_input_is_exit_2(settings: Path, args: tuple[str, ...], message: str) -> None:
    result = borough("report", *args, settings=settings)
    assert result.exit_code == 2, result.output
    assert message in result.output
