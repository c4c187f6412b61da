"""The report's SQL on both backends: grouped counts, UTC days and meetings held, from rows
written straight into the app database (no Synapse needed for this part)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from borough.db import (
    Meeting,
    MeetingParticipant,
    Post,
    Profile,
    Reaction,
    create_engine,
    migrate,
    session_factory,
)
from management.engagement import Activity, Interaction
from management.report_data import load_activities, load_interactions, load_meetings
from tests.integration.test_audit_log import POSTGRES, _drop_postgres, _postgres_url

# Needs a real PostgreSQL (BOROUGH_TEST_POSTGRES, or 127.0.0.1:5432) as well as SQLite.
pytestmark = pytest.mark.integration

SINCE = datetime(2026, 11, 1, tzinfo=UTC)
UNTIL = datetime(2026, 11, 30, tzinfo=UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'report.db'}"
        return
    url, name = _postgres_url()
    # A server far from UTC: a day must still be the UTC day, whatever the session's zone.
    import psycopg2

    conn = psycopg2.connect(POSTGRES)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f"ALTER DATABASE \"{name}\" SET timezone TO 'Pacific/Auckland'")
    conn.close()
    try:
        yield url
    finally:
        _drop_postgres(name)


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    await migrate(database_url)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


def post(event: str, author: str, at: datetime, root: str | None = None, room: str = "!r") -> Post:
    return Post(
        event_id=event, room_id=room, author=author, sent_at=at, body="text", thread_root=root
    )


def reaction(event: str, post_id: str, sender: str, at: datetime) -> Reaction:
    return Reaction(event_id=event, post_id=post_id, sender=sender, key="👍", sent_at=at)


def person(user_id: str, organisation: str) -> Profile:
    return Profile(
        user_id=user_id,
        username=user_id[1:],
        display_name=user_id,
        organisation=organisation,
        units=[],
        role="staff",
        is_managed=True,
    )


async def test_facts_per_person_and_per_week_and_organisations(
    session: AsyncSession,
) -> None:
    late = datetime(2026, 11, 15, 23, 30, tzinfo=UTC)  # a Sunday; already Monday in Auckland
    session.add_all(
        [
            person("@ann", "council"),
            person("@cat", "police"),
            post("$a", "@ann", late),
            post("$b", "@ann", late - timedelta(days=2)),  # the same week
            post("$c", "@ann", late + timedelta(hours=1)),  # Monday: the next week
            post("$r1", "@cat", late, root="$a"),
            post("$r2", "@cat", late, root="$b"),
            post("$r3", "@ann", late, root="$r1"),  # replying to police
            post("$r4", "@cat", late, root="$gone"),  # its root is not indexed
            post("$old", "@ann", SINCE - timedelta(days=1)),  # before the period
            post("$s", "@bob", late, room="!sealed"),  # no profile
            reaction("$x1", "$a", "@cat", late),
            reaction("$x2", "$a", "@dan", late),
            reaction("$x3", "$s", "@dan", late),
            reaction("$x4", "$old", "@dan", SINCE - timedelta(days=1)),  # before the period
            # A reaction counts when it was made, not when its post was.
            reaction("$x5", "$old", "@dan", late),  # an old post, reacted to this week
            reaction("$x6", "$b", "@cat", late + timedelta(hours=1)),  # Monday: next week
        ]
    )
    await session.commit()
    week, next_week = date(2026, 11, 9), date(2026, 11, 16)
    assert sorted(await load_interactions(session, SINCE, UNTIL), key=repr) == sorted(
        [
            Interaction("!r", week, "post", "council", None, 2),
            Interaction("!r", next_week, "post", "council", None, 1),
            Interaction("!r", week, "reply", "police", "council", 2),
            Interaction("!r", week, "reply", "council", "police", 1),
            Interaction("!r", week, "reply", "police", None, 1),  # root not indexed
            Interaction("!sealed", week, "post", None, None, 1),  # no profile
            Interaction("!r", week, "reaction", "police", "council", 1),
            Interaction("!r", next_week, "reaction", "police", "council", 1),
            Interaction("!r", week, "reaction", None, "council", 2),
            Interaction("!sealed", week, "reaction", None, None, 1),
        ],
        key=repr,
    )
    assert sorted(await load_activities(session, SINCE, UNTIL), key=repr) == sorted(
        [
            Activity("!r", "@ann", "post", 3),
            Activity("!r", "@ann", "reply", 1),
            Activity("!r", "@cat", "reply", 3),
            Activity("!sealed", "@bob", "post", 1),
            Activity("!r", "@cat", "reaction", 2),
            Activity("!r", "@dan", "reaction", 2),
            Activity("!sealed", "@dan", "reaction", 1),
        ],
        key=repr,
    )


async def test_meetings_held_with_minutes_and_participants(session: AsyncSession) -> None:
    start = datetime(2026, 11, 12, 9, 0, tzinfo=UTC)

    def meeting(number: int, **times: datetime | None) -> Meeting:
        return Meeting(
            id=number,
            room_id="!m",
            widget_id=f"w{number}",
            conference_id=f"c{number}",
            title="t",
            created_by="@ann",
            timezone="UTC",
            **times,
        )

    session.add_all(
        [
            meeting(1, started_at=start, ended_at=start + timedelta(minutes=45)),
            meeting(2, started_at=UNTIL - timedelta(minutes=20)),  # still going at the end
            meeting(3, started_at=start, cancelled_at=start),  # cancelled
            meeting(4, scheduled_for=start),  # never started
            meeting(5, started_at=SINCE - timedelta(days=2), ended_at=SINCE),  # before
        ]
    )
    await session.flush()
    session.add_all(
        [
            MeetingParticipant(meeting_id=1, user_id="@ann", first_seen_at=start),
            MeetingParticipant(meeting_id=1, user_id="@cat", first_seen_at=start),
        ]
    )
    await session.commit()
    held = await load_meetings(session, SINCE, UNTIL)
    assert [(m.meeting_id, round(m.minutes), sorted(m.participants)) for m in held] == [
        (1, 45, ["@ann", "@cat"]),
        (2, 20, ["@ann"]),  # nobody admitted yet: the creator counts
    ]
    assert held[0].started_at == start
