"""`!meet` against a real Synapse: widget and pin, power checks, ending, schedules across restarts."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from sqlalchemy import delete, select

from borough.db import (
    BotState,
    DigestSubscription,
    DirectRoom,
    HandledEvent,
    Meeting,
    create_engine,
    session_factory,
)
from borough.jitsi import STANDING_WIDGET_ID, MeetingWidget, room_conference_id
from borough.meetings import MeetingStore, room_lock_key
from borough.settings import BotSettings, JitsiSettings
from borough.testing.waiting import wait_until
from tests.conftest import Homeserver, someone_waits_for_an_advisory_lock
from tests.integration.running_bot import ThreadedBot
from tests.integration.test_bot import Person, _replies_to

pytestmark = pytest.mark.integration

APP_SECRET = "a-test-secret-that-is-long-enough-for-hs256"
JITSI = JitsiSettings(
    domain="meet.test", auth="openidtoken-jwt", app_id="borough", app_secret=APP_SECRET
)
PUBLIC_URL = "https://widgets.test"


# What the meeting tests give the bot: the Jitsi deployment, the widget host, a quick schedule loop.
MEETING_OPTIONS: dict[str, Any] = {
    "jitsi": JITSI,
    "public_url": PUBLIC_URL,
    "meeting_interval": 0.2,
}


class ShiftedClock:
    """The bot's clock, ahead of the real one by `offset`, so a schedule comes due at once."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


def wait_for_ticks(bot: ThreadedBot, count: int) -> None:
    """Wait until the schedule loop has looked `count` more times."""
    assert bot.bot is not None
    target = bot.bot.meetings.ticks + count
    wait_until(
        lambda: bot.bot is not None and bot.bot.meetings.ticks >= target,
        30,
        "the schedule loop to run",
    )


@pytest.fixture(scope="module")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="module")
def bot(
    homeserver: Homeserver, app_database_url: str, clock: ShiftedClock
) -> Iterator[ThreadedBot]:
    user_id, token = homeserver.synapse.register_user("meetbot", secrets.token_hex(8))
    running = ThreadedBot(
        homeserver,
        app_database_url,
        BotSettings(user_id=user_id, access_token=token),
        clock=clock,
        **MEETING_OPTIONS,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


class Team:
    """A team room made by alice, with the bot invited; carol is an ordinary member."""

    def __init__(self, hs: Homeserver, bot: ThreadedBot) -> None:
        self.hs = hs
        suffix = secrets.token_hex(3)
        self.alice_id, _ = hs.synapse.register_user(f"alice{suffix}")
        self.carol_id, _ = hs.synapse.register_user(f"carol{suffix}")
        self.alice = Person(hs, f"alice{suffix}", bot.settings.user_id)
        self.carol = Person(hs, f"carol{suffix}", bot.settings.user_id)
        self.bot_id = bot.settings.user_id
        self.room_id = hs.call(
            "POST",
            "/_matrix/client/v3/createRoom",
            self.alice.token,
            {
                "preset": "private_chat",
                "name": "Housing team",
                "invite": [self.bot_id, self.carol_id],
            },
        )["room_id"]
        hs.call("POST", f"/_matrix/client/v3/join/{quote(self.room_id)}", self.carol.token, {})
        for person in (self.alice, self.carol):
            person.room = self.room_id
        self.alice.wait_for(
            lambda ev: (
                ev["type"] == "m.room.member"
                and ev["state_key"] == self.bot_id
                and ev["content"].get("membership") == "join"
            )
        )

    def state(self, event_type: str, state_key: str = "") -> Any:
        return self.hs.state(self.room_id, event_type, state_key, token=self.alice.token)

    def set_power(self, user_id: str, level: int) -> None:
        path = f"/_matrix/client/v3/rooms/{quote(self.room_id)}/state/m.room.power_levels/"
        levels = self.hs.call("GET", path, self.alice.token)
        levels["users"] = {**levels.get("users", {}), user_id: level}
        self.hs.call("PUT", path, self.alice.token, levels)

    def notices(self) -> list[str]:
        messages = self.hs.call(
            "GET",
            f"/_matrix/client/v3/rooms/{quote(self.room_id)}/messages?dir=b&limit=200",
            self.alice.token,
        )["chunk"]
        return [
            m["content"]["body"]
            for m in messages
            if m["type"] == "m.room.message" and m["content"].get("msgtype") == "m.notice"
        ]


def direct_notices(hs: Homeserver, person: Person, user_id: str, database_url: str) -> list[str]:
    """Join the DM the bot opened with `person` (it did so before answering) and read it."""

    async def read() -> str:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                dm = await session.get(DirectRoom, user_id)
                assert dm is not None, "the bot opened no direct chat"
                return dm.room_id
        finally:
            await engine.dispose()

    room_id = asyncio.run(read())
    hs.call("POST", f"/_matrix/client/v3/join/{quote(room_id)}", person.token, {})
    messages = hs.call(
        "GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=50", person.token
    )["chunk"]
    return [m["content"]["body"] for m in messages if m["type"] == "m.room.message"]


@pytest.fixture(scope="module")
def team(homeserver: Homeserver, bot: ThreadedBot) -> Team:
    return Team(homeserver, bot)


def meetings(database_url: str, room_id: str) -> list[Meeting]:
    async def read() -> list[Meeting]:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                rows = await session.scalars(
                    select(Meeting).where(Meeting.room_id == room_id).order_by(Meeting.id)
                )
                return list(rows.all())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_without_power_the_bot_says_so(team: Team) -> None:
    answer = team.alice.ask("!meet")
    assert "I cannot add a meeting here" in answer
    assert "power level 50" in answer and "I have 0" in answer


def test_meet_writes_the_widget_and_pins_it(team: Team, app_database_url: str) -> None:
    team.set_power(team.bot_id, 50)
    answer = team.alice.ask("!meet Budget review")
    assert "**Budget review** has started" in answer
    assert f"{PUBLIC_URL}/meet/{quote(team.room_id, safe='!:')}" in answer
    layout = team.state("io.element.widgets.layout")
    (widget_id,) = layout["widgets"]
    # The one pin policy (borough.room_widgets) places a meeting like any other widget.
    assert layout["widgets"][widget_id] == {
        "container": "top",
        "index": 0,
        "width": 50,
        "height": 40,
    }
    widget = team.state("im.vector.modular.widgets", widget_id)
    conference = room_conference_id(team.room_id)
    assert widget["type"] == "jitsi"
    assert widget["name"] == "Budget review"
    assert widget["data"] == {
        "conferenceId": conference,
        "roomName": "Housing team",
        "isAudioOnly": False,
        "isVideoChannel": False,
        "domain": "meet.test",
        "auth": "openidtoken-jwt",
    }
    assert widget["url"].startswith(f"https://app.element.io/jitsi.html?confId={conference}#")
    assert "already on here" in team.carol.ask("!meet")

    assert "or a moderator, can invite guests" in team.carol.ask("!meet guest Pat Smith")
    answer = team.alice.ask("!meet guest Pat Smith")
    assert answer == "I have sent you the guest link for Pat Smith by direct message."
    assert not any("jwt=" in body for body in team.notices())  # never in the shared room
    notices = direct_notices(team.hs, team.alice, team.alice_id, app_database_url)
    invite = next(b for b in notices if "Pat" in b)
    assert "A guest link for Pat Smith" in invite
    link = invite.rsplit(" ", 1)[1]
    assert link.startswith(f"https://meet.test/{conference}?jwt=")
    claims = jwt.decode(
        link.split("jwt=", 1)[1], APP_SECRET, algorithms=["HS256"], audience="borough"
    )
    assert claims["room"] == conference.lower()
    assert claims["context"]["user"]["name"] == "Pat Smith (guest)"
    assert claims["context"]["user"]["affiliation"] == "member"
    assert claims["exp"] - claims["iat"] == 4 * 3600

    assert "Only the person who started this meeting" in team.carol.ask("!meet end")
    assert "has ended" in team.alice.ask("!meet end")
    assert team.state("im.vector.modular.widgets", widget_id) == {}
    assert widget_id not in team.state("io.element.widgets.layout")["widgets"]
    (meeting,) = [m for m in meetings(app_database_url, team.room_id) if m.widget_id == widget_id]
    assert meeting.ended_at is not None and meeting.created_by == team.alice_id
    assert "no meeting on" in team.alice.ask("!meet end")


def test_removing_the_widget_by_hand_ends_the_meeting(team: Team, app_database_url: str) -> None:
    assert "has started" in team.carol.ask("!meet audio Quick call")
    (meeting,) = [m for m in meetings(app_database_url, team.room_id) if m.ended_at is None]
    assert meeting.is_audio_only and meeting.title == "Quick call"
    path = (
        f"/_matrix/client/v3/rooms/{quote(team.room_id)}/state/"
        f"im.vector.modular.widgets/{quote(meeting.widget_id)}"
    )
    team.hs.call("PUT", path, team.alice.token, {})
    wait_until(
        lambda: all(m.ended_at is not None for m in meetings(app_database_url, team.room_id)),
        30,
        "ending the meeting whose widget was removed",
    )


def test_list_and_cancel(team: Team) -> None:
    day = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    answer = team.alice.ask(f"!meet at {day} 14:00 Europe/Paris Cancel me")
    assert "(Europe/Paris)" in answer and "14:00" in answer
    number = answer.split("#", 1)[1].split(" ", 1)[0]
    listing = team.carol.ask("!meet list")
    assert f"#{number} **Cancel me**" in listing
    assert "Only the person who set this meeting" in team.carol.ask(f"!meet cancel {number}")
    assert "is cancelled" in team.alice.ask(f"!meet cancel {number}")
    assert f"#{number}" not in team.alice.ask("!meet list")
    assert "There is no meeting #999999" in team.alice.ask("!meet cancel 999999")
    assert "already passed" in team.alice.ask("!meet at 2020-01-01 10:00")
    assert "not a duration" in team.alice.ask("!meet in soon")
    assert "not a timezone I know" in team.alice.ask(f"!meet at {day} 09:00 Mars/Olympus Talk")


def test_times_are_read_in_the_persons_own_timezone(team: Team, app_database_url: str) -> None:
    async def choose() -> None:
        engine = create_engine(app_database_url)
        try:
            async with session_factory(engine).begin() as session:
                session.add(
                    DigestSubscription(
                        user_id=team.carol_id,
                        frequency="daily",
                        at_time="08:00",
                        tz="America/New_York",
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(choose())
    day = (datetime.now(UTC) + timedelta(days=30)).date().isoformat()
    answer = team.carol.ask(f"!meet at {day} 09:00 Stand-up")
    assert "09:00 (America/New_York)" in answer
    assert "(Europe/London)" in team.alice.ask(f"!meet at {day} 09:00 Stand-up")


def test_ending_a_standing_meeting_keeps_its_widget(team: Team, app_database_url: str) -> None:
    widget = MeetingWidget(
        STANDING_WIDGET_ID, room_conference_id(team.room_id), "meet.test", "Standing", "Room"
    ).content()
    path = (
        f"/_matrix/client/v3/rooms/{quote(team.room_id)}/state/"
        f"im.vector.modular.widgets/{STANDING_WIDGET_ID}"
    )
    team.hs.call("PUT", path, team.alice.token, widget)

    async def session_started() -> None:
        engine = create_engine(app_database_url)
        try:
            await MeetingStore(session_factory(engine)).create(
                room_id=team.room_id,
                widget_id=STANDING_WIDGET_ID,
                conference_id=room_conference_id(team.room_id),
                title="Standing",
                is_audio_only=False,
                created_by=team.alice_id,
                timezone="UTC",
                started_at=datetime.now(UTC),
            )
        finally:
            await engine.dispose()

    asyncio.run(session_started())
    assert "the room's standing meeting stays" in team.alice.ask("!meet end")
    assert team.state("im.vector.modular.widgets", STANDING_WIDGET_ID)["type"] == "jitsi"


def test_a_scheduled_meeting_is_reminded_and_started_once_across_restarts(
    team: Team, bot: ThreadedBot, clock: ShiftedClock, app_database_url: str
) -> None:
    answer = team.alice.ask("!meet in 2h Planning")
    assert "**Planning** is set for" in answer
    number = int(answer.split("#", 1)[1].split(" ", 1)[0])
    bot.stop()
    clock.offset = timedelta(hours=1, minutes=55)
    bot.start()
    wait_for_ticks(bot, 3)
    wait_until(lambda: any(f"Meeting #{number}" in n for n in team.notices()), 30, "the reminder")
    bot.stop()
    for _ in range(2):  # two restarts after the start time: the second must do nothing
        clock.offset = timedelta(hours=2, minutes=5)
        bot.start()
        wait_for_ticks(bot, 3)
        wait_until(
            lambda: any("**Planning** has started" in n for n in team.notices()), 30, "the start"
        )
        bot.stop()
    clock.offset = timedelta(0)
    bot.start()
    notices = team.notices()
    assert sum(f"Reminder: Meeting #{number} " in n for n in notices) == 1
    assert sum("**Planning** has started" in n for n in notices) == 1
    (meeting,) = [m for m in meetings(app_database_url, team.room_id) if m.id == number]
    assert meeting.reminded_at is not None and meeting.started_at is not None
    widget = team.state("im.vector.modular.widgets", meeting.widget_id)
    assert widget["name"] == "Planning"
    assert meeting.widget_id in team.state("io.element.widgets.layout")["widgets"]


def test_a_plan_replayed_after_a_crash_is_made_once(
    team: Team, bot: ThreadedBot, app_database_url: str
) -> None:
    """A `kill -9` between answering `!meet in` and recording the command as handled leaves
    the sync position before it, so the restarted bot sees the command again (bench/crash.py
    found this). It must find the meeting it planned, not plan a second one."""

    async def position() -> str:
        engine = create_engine(app_database_url)
        try:
            async with session_factory(engine)() as session:
                state = await session.get(BotState, bot.settings.user_id)
                assert state is not None
                return state.next_batch
        finally:
            await engine.dispose()

    async def as_if_killed_before_recording(since: str, command: str) -> None:
        engine = create_engine(app_database_url)
        try:
            async with session_factory(engine).begin() as session:
                state = await session.get(BotState, bot.settings.user_id)
                assert state is not None
                state.next_batch = since
                await session.execute(delete(HandledEvent).where(HandledEvent.event_id == command))
        finally:
            await engine.dispose()

    since = asyncio.run(position())
    command = team.alice.send("!meet in 3h Replayed")
    team.alice.wait_for(lambda ev: _replies_to(ev, command))
    bot.stop()
    asyncio.run(as_if_killed_before_recording(since, command))
    bot.start()
    assert "Borough commands" in team.alice.ask("!help")  # answered after the replayed batch
    assert [m.title for m in meetings(app_database_url, team.room_id)].count("Replayed") == 1
    answers = [n for n in team.notices() if "**Replayed** is set for" in n]
    assert len(answers) == 1


def test_a_standby_does_no_scheduled_work_until_it_holds_the_lease(
    team: Team, bot: ThreadedBot, clock: ShiftedClock, app_database_url: str
) -> None:
    """Two bots on one database (docs/operations.md, "Two bots, one acting"): only the lease
    holder looks at the schedule. When it stops, the standby takes over and does what is
    still due, and each reminder and start is sent once. tests/integration/test_bot_failover.py
    kills the acting bot with `kill -9` instead, on PostgreSQL. A room of its own: in the
    team's room an earlier test's meeting is still on, and a scheduled start that finds a
    meeting on opens none."""
    room = Team(team.hs, bot)
    room.set_power(room.bot_id, 50)
    clock.offset = timedelta(0)
    answer = room.alice.ask("!meet in 2h Standby")
    number = int(answer.split("#", 1)[1].split(" ", 1)[0])
    standby = ThreadedBot(room.hs, app_database_url, bot.settings, clock=clock, **MEETING_OPTIONS)
    standby.start()
    try:
        clock.offset = timedelta(hours=1, minutes=55)
        wait_for_ticks(bot, 3)
        wait_until(lambda: any(f"Meeting #{number}" in n for n in room.notices()), 30, "reminder")
        assert standby.bot is not None
        assert standby.bot.lease.term is None and standby.bot.meetings.ticks == 0
        bot.stop()  # a clean stop hands the lease over at once
        clock.offset = timedelta(hours=2, minutes=5)
        wait_for_ticks(standby, 3)
        wait_until(
            lambda: any("**Standby** has started" in n for n in room.notices()), 30, "the start"
        )
        notices = room.notices()
        assert sum(f"Reminder: Meeting #{number} " in n for n in notices) == 1
        assert sum("**Standby** has started" in n for n in notices) == 1
    finally:
        standby.stop()
        clock.offset = timedelta(0)
        bot.start()


class WidgetServerOpening:
    """Another process (a widget server admitting the first people to a room's conference)
    holding the room's meeting lock while it opens a meeting, not yet committed; and a way to
    see that someone else is waiting for that lock."""

    def __init__(self, app_database_url: str, room: Team) -> None:
        import psycopg2

        dsn = app_database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        self.widget_server, self.watcher = psycopg2.connect(dsn), psycopg2.connect(dsn)
        self.watcher.autocommit = True
        with self.widget_server.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", (room_lock_key(room.room_id),))
            cursor.execute(
                "INSERT INTO meetings (room_id, widget_id, conference_id, title, is_audio_only, "
                "created_by, timezone, started_at, created_at) "
                "VALUES (%s, 'opened-by-a-widget-server', %s, 'Drop-in', false, %s, 'UTC', "
                "now(), now())",
                (room.room_id, room_conference_id(room.room_id), room.carol_id),
            )

    def someone_waits(self) -> bool:
        return someone_waits_for_an_advisory_lock(self.watcher)

    def commit(self) -> None:
        self.widget_server.commit()

    def close(self) -> None:
        self.widget_server.close()
        self.watcher.close()


def assert_only_the_widget_servers_meeting(
    homeserver: Homeserver, room: Team, app_database_url: str
) -> None:
    live = [
        m.widget_id
        for m in meetings(app_database_url, room.room_id)
        if m.started_at is not None and m.ended_at is None and m.cancelled_at is None
    ]
    assert live == ["opened-by-a-widget-server"]
    state = homeserver.call(
        "GET", f"/_matrix/client/v3/rooms/{quote(room.room_id)}/state", room.alice.token
    )
    assert not [event for event in state if event["type"] == "im.vector.modular.widgets"]


@pytest.mark.postgres
def test_meet_and_a_widget_server_open_one_meeting_between_them(
    homeserver: Homeserver, bot: ThreadedBot, app_database_url: str
) -> None:
    """`!meet` opens its meeting under the room's meeting lock, as a widget server does when
    it admits the first people to a room's conference (borough.meetings.live_or_open). While
    a widget server holds the lock and opens a meeting, `!meet` waits for it, then finds
    that meeting on and opens none of its own."""
    room = Team(homeserver, bot)
    room.set_power(room.bot_id, 50)
    opening = WidgetServerOpening(app_database_url, room)
    try:
        command = room.alice.send("!meet Race")
        wait_until(opening.someone_waits, 30, "`!meet` to wait for the room's meeting lock")
        opening.commit()
        reply = room.alice.wait_for(lambda ev: _replies_to(ev, command))
    finally:
        opening.close()
    assert "**Drop-in** is already on here" in reply["content"]["body"]
    assert_only_the_widget_servers_meeting(homeserver, room, app_database_url)


@pytest.mark.postgres
def test_a_scheduled_start_and_a_widget_server_open_one_meeting_between_them(
    homeserver: Homeserver, bot: ThreadedBot, clock: ShiftedClock, app_database_url: str
) -> None:
    """A scheduled start opens its meeting under the same room lock as `!meet` and the widget
    servers (borough.meetings.MeetingStore.claim_starts). When its time comes while a widget
    server is opening a meeting in the room, the bot waits for the lock, finds that meeting
    on, and says so instead of opening a second one."""
    room = Team(homeserver, bot)
    room.set_power(room.bot_id, 50)
    clock.offset = timedelta(0)
    answer = room.alice.ask("!meet in 2h Planned")
    number = int(answer.split("#", 1)[1].split(" ", 1)[0])
    opening = WidgetServerOpening(app_database_url, room)
    try:
        clock.offset = timedelta(hours=2, minutes=5)
        wait_until(opening.someone_waits, 30, "the scheduled start to wait for the room's lock")
        opening.commit()
        wait_until(
            lambda: any(f"Meeting #{number} **Planned** was due" in n for n in room.notices()),
            30,
            "the bot to say the scheduled meeting found one already on",
        )
    finally:
        opening.close()
        clock.offset = timedelta(0)
    [said] = [n for n in room.notices() if f"Meeting #{number} " in n and "due" in n]
    assert "**Drop-in** is already on here" in said
    assert not any("**Planned** has started" in n for n in room.notices())
    [planned] = [m for m in meetings(app_database_url, room.room_id) if m.id == number]
    assert planned.started_at is None and planned.cancelled_at is not None
    assert_only_the_widget_servers_meeting(homeserver, room, app_database_url)
