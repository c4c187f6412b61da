"""Reading `!meet` times, and the claims that keep a reminder or a start from happening twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from borough.db import Meeting, MeetingParticipant, create_engine, migrate, session_factory
from borough.jitsi import STANDING_WIDGET_ID
from borough.meetings import MeetingStore, as_utc
from borough.room_power import RoomPower
from bots.commands import UsageError
from bots.meet import (
    UNTITLED,
    called,
    check_ahead,
    looks_like_zone,
    numbered,
    parse_duration,
    parse_local_time,
    show_time,
    split_audio_title,
)
from tests.conftest import APP_BACKENDS, app_database
from widgets.admission import Admission, RoomSnapshot
from widgets.admissions_log import AdmissionLog

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 25, 21, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", timedelta(minutes=30)),
        ("2h", timedelta(hours=2)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d", timedelta(days=1)),
        ("90min", timedelta(minutes=90)),
        ("2H", timedelta(hours=2)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "0m", "h", "2x", "400d", "-1h", "1.5h"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


def test_local_times_are_read_in_the_zone() -> None:
    # Winter: London is UTC+0; summer: UTC+1.
    assert parse_local_time("2026-12-01", "14:00", LONDON, NOW) == datetime(
        2026, 12, 1, 14, 0, tzinfo=UTC
    )
    assert parse_local_time("2027-06-01", "14:00", LONDON, NOW) == datetime(
        2027, 6, 1, 13, 0, tzinfo=UTC
    )
    assert parse_local_time("tomorrow", "9:30", LONDON, NOW) == datetime(
        2026, 11, 26, 9, 30, tzinfo=UTC
    )
    paris = ZoneInfo("Europe/Paris")
    assert parse_local_time("2026-12-01", "14:00", paris, NOW) == datetime(
        2026, 12, 1, 13, 0, tzinfo=UTC
    )


def test_a_time_the_clocks_skip_is_refused() -> None:
    with pytest.raises(UsageError, match="clocks change"):
        parse_local_time("2027-03-28", "01:30", LONDON, NOW)


@pytest.mark.parametrize(("day", "clock"), [("2026-13-01", "10:00"), ("1/12", "10:00"),
                                           ("2026-12-01", "25:00"), ("2026-12-01", "10h")])  # fmt: skip
def test_bad_dates_and_times(day: str, clock: str) -> None:
    with pytest.raises(UsageError):
        parse_local_time(day, clock, LONDON, NOW)


def test_past_and_far_times_are_refused() -> None:
    with pytest.raises(UsageError, match="already passed"):
        check_ahead(NOW - timedelta(minutes=1), NOW)
    with pytest.raises(UsageError, match="a year ahead"):
        check_ahead(NOW + timedelta(days=400), NOW)
    assert check_ahead(NOW + timedelta(minutes=1), NOW) == NOW + timedelta(minutes=1)


def test_audio_and_titles() -> None:
    assert split_audio_title("audio Budget review") == (True, "Budget review")
    assert split_audio_title("Audio") == (True, None)
    assert split_audio_title("Audiology clinic") == (False, "Audiology clinic")
    assert split_audio_title(None) == (False, None)
    assert looks_like_zone("Europe/Paris") and looks_like_zone("UTC")
    assert not looks_like_zone("Budget")
    assert show_time(datetime(2026, 12, 1, 14, 0, tzinfo=UTC), "Europe/London") == (
        "Tue 1 Dec 2026, 14:00 (Europe/London)"
    )


#: The claims are row-level races, so they also run on PostgreSQL when the suite has one.
@pytest.fixture(params=APP_BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MeetingStore]:
    with app_database(request.param, tmp_path, "borough_meet") as url:
        await migrate(url)
        engine = create_engine(url)
        yield MeetingStore(session_factory(engine))
        await engine.dispose()


async def schedule(store: MeetingStore, at: datetime, room: str = "!r:x") -> int:
    meeting = await store.create(
        room_id=room,
        widget_id="w",
        conference_id="c",
        title="T",
        is_audio_only=False,
        created_by="@a:x",
        timezone="Europe/London",
        scheduled_for=at,
    )
    return meeting.id


async def test_a_start_is_claimed_once_even_by_racing_loops(store: MeetingStore) -> None:
    meeting_id = await schedule(store, NOW + timedelta(hours=1))
    assert await store.claim_starts(NOW) == []
    later = NOW + timedelta(hours=1, minutes=1)
    first, second = await asyncio.gather(store.claim_starts(later), store.claim_starts(later))
    assert [s.meeting.id for s in first + second] == [meeting_id]
    assert [s.already_on for s in first + second] == [None]
    assert await store.claim_starts(later) == []
    live = await store.live("!r:x")
    assert live is not None and live.id == meeting_id
    assert live.started_at is not None and as_utc(live.started_at) == later


async def test_a_start_finds_a_meeting_already_on_and_opens_no_second(
    store: MeetingStore,
) -> None:
    """A `!meet` or a widget server opened a meeting before the scheduled one came due: the
    scheduled one is claimed as cancelled in favour of it, so the room has one meeting on."""
    meeting_id = await schedule(store, NOW)
    drop_in, opened = await store.live_or_open(
        room_id="!r:x", started_at=NOW - timedelta(minutes=5), widget_id="drop-in",
        conference_id="c", title="Drop-in", is_audio_only=False, created_by="@b:x",
        timezone="UTC",
    )  # fmt: skip
    assert opened
    [start] = await store.claim_starts(NOW + timedelta(minutes=1))
    assert start.meeting.id == meeting_id and start.meeting.started_at is None
    assert start.meeting.cancelled_at is not None
    assert start.already_on is not None and start.already_on.id == drop_in.id
    assert await store.claim_starts(NOW + timedelta(minutes=2)) == []
    live = await store.live("!r:x")
    assert live is not None and live.id == drop_in.id


async def test_reminders_come_ten_minutes_before_and_once(store: MeetingStore) -> None:
    meeting_id = await schedule(store, NOW + timedelta(minutes=30))
    assert await store.claim_reminders(NOW) == []
    reminded = await store.claim_reminders(NOW + timedelta(minutes=21))
    assert [m.id for m in reminded] == [meeting_id]
    assert await store.claim_reminders(NOW + timedelta(minutes=22)) == []


async def test_cancelled_meetings_never_start(store: MeetingStore) -> None:
    meeting_id = await schedule(store, NOW + timedelta(minutes=30))
    assert await store.cancel("!other:x", meeting_id, NOW) is None  # not that room's
    cancelled = await store.cancel("!r:x", meeting_id, NOW)
    assert cancelled is not None and cancelled.cancelled_at is not None
    assert await store.cancel("!r:x", meeting_id, NOW) is None
    assert await store.claim_reminders(NOW + timedelta(minutes=25)) == []
    assert await store.claim_starts(NOW + timedelta(hours=1)) == []
    assert await store.upcoming("!r:x") == []


async def test_participants_are_recorded_once(store: MeetingStore) -> None:
    meeting_id = await schedule(store, NOW)
    results = await asyncio.gather(
        *(store.record_participant(meeting_id, "@a:x", NOW) for _ in range(3))
    )
    assert sorted(results) == [False, False, True]


async def test_last_activity_is_the_latest_admission(store: MeetingStore) -> None:
    meeting_id = await schedule(store, NOW)
    await store.claim_starts(NOW)
    meeting = await store.get(meeting_id)
    assert meeting is not None
    assert await store.last_activity(meeting) == NOW
    await store.record_participant(meeting_id, "@a:x", NOW + timedelta(hours=1))
    assert await store.last_activity(meeting) == NOW + timedelta(hours=1)


async def test_an_idle_standing_session_ends_and_the_next_admission_starts_another(
    store: MeetingStore,
) -> None:
    widget = (
        STANDING_WIDGET_ID,
        "@service:x",
        {"type": "jitsi", "url": "u", "name": "Team standing meeting", "data": {}},
    )
    snapshot = RoomSnapshot({"@a:x": "A"}, RoomPower({}), "Team", (widget,))

    async def snapshot_of(room_id: str) -> RoomSnapshot:
        return snapshot

    log = AdmissionLog(store, snapshot_of)
    log.start()
    log.note("!r:x", Admission("@a:x", snapshot))
    await log.drain()
    first = await store.live("!r:x")
    assert first is not None and first.widget_id == STANDING_WIDGET_ID
    log.note("!r:x", Admission("@a:x", snapshot))
    await log.drain()
    assert (await store.live("!r:x")).id == first.id  # type: ignore[union-attr]
    # Three hours later nobody has joined: that session is over.
    async with store.sessions.begin() as session:
        await session.execute(
            update(Meeting)
            .where(Meeting.id == first.id)
            .values(started_at=NOW - timedelta(hours=3), created_at=NOW - timedelta(hours=3))
        )
        await session.execute(
            update(MeetingParticipant)
            .where(MeetingParticipant.meeting_id == first.id)
            .values(first_seen_at=NOW - timedelta(hours=3))
        )
    log.note("!r:x", Admission("@a:x", snapshot))
    await log.drain()
    await log.stop()
    second = await store.live("!r:x")
    assert second is not None and second.id != first.id
    ended = await store.get(first.id)
    assert ended is not None and ended.ended_at is not None


def test_a_meeting_without_a_title_is_never_called_meeting_meeting() -> None:
    untitled = Meeting(id=3, title=UNTITLED, is_audio_only=False)
    assert f"{called(untitled)} has started" == "The meeting has started"
    assert f"{called(untitled)} is already on here." == "The meeting is already on here."
    assert numbered(untitled) == "Meeting #3"
    audio = Meeting(id=4, title=UNTITLED, is_audio_only=True)
    assert called(audio) == "The audio meeting"
    titled = Meeting(id=5, title="Budget review", is_audio_only=True)
    assert called(titled) == "Audio meeting **Budget review**"
    assert numbered(titled) == "Meeting #5 **Budget review**"
