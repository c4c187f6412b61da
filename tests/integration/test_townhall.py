"""Town halls against a real Synapse with the modules loaded and real people acting through the
client API: planned, started and ended across bot restarts; questions asked openly and
anonymously; twenty people voting at once; the summary; a sealed channel's town hall."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from borough.db import Meeting, TownHall, TownHallQuestion, create_engine, session_factory
from borough.events import WIDGETS
from borough.settings import BotSettings, JitsiSettings, load_settings
from borough.testing.waiting import wait_until
from tests.conftest import Homeserver, borough, write_settings
from tests.integration.running_bot import ThreadedBot
from tests.integration.test_bot import Person
from widgets.app import create_app

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "townhall.yaml"
JITSI = JitsiSettings(domain="meet.test", auth="openidtoken-jwt")
EDIT_INTERVAL = 1.0


class ShiftedClock:
    """The bot's clock, ahead of the real one by `offset`, so a planned start comes due."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(scope="module")
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture(scope="module")
def settings_path(
    homeserver: Homeserver, app_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    # The modules trust `boroughbot`: it may post in channels and enter sealed rooms.
    user_id, token = homeserver.synapse.register_user("boroughbot", secrets.token_hex(8))
    path = write_settings(
        tmp_path_factory.mktemp("townhall") / "borough.yaml",
        homeserver,
        app_database_url,
        bot={"user_id": user_id, "access_token": token},
    )
    result = borough("apply", "-q", str(ORG_FILE), settings=path)
    assert result.exit_code == 0, result.output
    return path


@pytest.fixture(scope="module")
def bot(
    homeserver: Homeserver, app_database_url: str, settings_path: Path, clock: ShiftedClock
) -> Iterator[ThreadedBot]:
    bot_settings = load_settings(settings_path).bot
    assert bot_settings is not None and bot_settings.access_token is not None
    running = ThreadedBot(
        homeserver,
        app_database_url,
        BotSettings(
            user_id=bot_settings.user_id,
            access_token=bot_settings.access_token.get_secret_value(),
        ),
        clock=clock,
        jitsi=JITSI,
        public_url="https://widgets.test",
        meeting_interval=0.2,
        townhall_edit_interval=EDIT_INTERVAL,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def people(homeserver: Homeserver, bot: ThreadedBot) -> dict[str, Person]:
    """Those who talk to the bot, each with a direct chat with it."""
    return {
        name: Person(homeserver, name, bot.settings.user_id)
        for name in ("tadmin", "tlone", "tcop", "tv01", "tv02")
    }


@pytest.fixture(scope="module")
def voters(homeserver: Homeserver, bot: ThreadedBot) -> dict[int, str]:
    """The twenty Housing staff, signed in: number -> access token."""
    return {n: homeserver.login_as(f"tv{n:02d}") for n in range(1, 21)}


# --- acting as people ------------------------------------------------------------------------


def send(hs: Homeserver, token: str, room_id: str, event_type: str, content: dict) -> str:
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/{event_type}/{secrets.token_hex(8)}"
    return str(hs.call("PUT", path, token, content)["event_id"])


def say(hs: Homeserver, token: str, room_id: str, body: str) -> str:
    return send(hs, token, room_id, "m.room.message", {"msgtype": "m.text", "body": body})


def ask_in_thread(hs: Homeserver, token: str, room_id: str, root: str, body: str) -> str:
    relation = {
        "rel_type": "m.thread",
        "event_id": root,
        "is_falling_back": True,
        "m.in_reply_to": {"event_id": root},
    }
    content = {"msgtype": "m.text", "body": body, "m.relates_to": relation}
    return send(hs, token, room_id, "m.room.message", content)


def react(hs: Homeserver, token: str, room_id: str, target: str, key: str = "👍") -> str:
    relation = {"rel_type": "m.annotation", "event_id": target, "key": key}
    return send(hs, token, room_id, "m.reaction", {"m.relates_to": relation})


def redact(hs: Homeserver, token: str, room_id: str, event_id: str) -> None:
    path = (
        f"/_matrix/client/v3/rooms/{quote(room_id)}/redact/{quote(event_id)}/{secrets.token_hex(8)}"
    )
    hs.call("PUT", path, token, {})


def command_in(person: Person, room_id: str, body: str) -> str:
    """Type a command in a channel; the bot answers it by direct message, in whichever direct
    chat it holds with the person (it may have opened its own, to welcome them): an invite
    from it is accepted, as Element would show it."""
    hs = person.hs
    event_id = say(hs, person.token, room_id, body)
    for _ in range(24):
        sync = hs.call(
            "GET", f"/_matrix/client/v3/sync?timeout=5000&since={person.since}", person.token
        )
        person.since = sync["next_batch"]
        for invited in sync.get("rooms", {}).get("invite", {}):
            hs.call("POST", f"/_matrix/client/v3/join/{quote(invited)}", person.token, {})
        for joined in sync.get("rooms", {}).get("join", {}).values():
            for event in joined.get("timeline", {}).get("events", []):
                text = str(event.get("content", {}).get("body", ""))
                if event["type"] == "m.room.message" and quote(event_id) in text:
                    return text
    raise AssertionError(f"no answer to {body!r}")


def messages(hs: Homeserver, token: str, room_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    start = ""
    while True:
        page = hs.call(
            "GET",
            f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=500{start}",
            token,
        )
        found += page["chunk"]
        if not page.get("end") or not page["chunk"]:
            return found
        start = f"&from={quote(page['end'])}"


def edits(hs: Homeserver, token: str, room_id: str, root: str) -> list[dict[str, Any]]:
    """Every edit of the pinned list, oldest first."""
    found: list[dict[str, Any]] = []
    start = ""
    while True:
        page = hs.call(
            "GET",
            f"/_matrix/client/v1/rooms/{quote(room_id)}/relations/{quote(root)}/m.replace"
            f"?dir=f&limit=100{start}",
            token,
        )
        found += page["chunk"]
        if not page.get("next_batch"):
            return found
        start = f"&from={quote(page['next_batch'])}"


def pinned_list(hs: Homeserver, token: str, room_id: str, root: str) -> str:
    """What the pinned list says now: its newest edit, or the message as first sent."""
    changes = edits(hs, token, room_id, root)
    if changes:
        return str(
            max(changes, key=lambda e: e["origin_server_ts"])["content"]["m.new_content"]["body"]
        )
    event = hs.call("GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/event/{quote(root)}", token)
    return str(event["content"]["body"])


def listed_votes(text: str) -> list[tuple[int, int]]:
    """(question number, votes) in the list's order."""
    return [(int(n), int(v)) for n, v in re.findall(r"^\d+\. #(\d+) · (\d+) 👍", text, re.M)]


def db(url: str, read: Callable[[Any], Any]) -> Any:
    async def run() -> Any:
        engine = create_engine(url)
        try:
            async with session_factory(engine)() as session:
                return await read(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def town_halls(url: str, room_id: str) -> list[TownHall]:
    async def read(session: Any) -> list[TownHall]:
        rows = await session.scalars(
            select(TownHall).where(TownHall.room_id == room_id).order_by(TownHall.id)
        )
        return list(rows)

    return list(db(url, read))


def questions(url: str, town_hall_id: int) -> list[TownHallQuestion]:
    async def read(session: Any) -> list[TownHallQuestion]:
        rows = await session.scalars(
            select(TownHallQuestion)
            .where(TownHallQuestion.town_hall_id == town_hall_id)
            .order_by(TownHallQuestion.number)
        )
        return list(rows)

    return list(db(url, read))


def latest(url: str, room_id: str, condition: Callable[[TownHall], bool], what: str) -> TownHall:
    found: list[TownHall] = []

    def holds() -> bool:
        rows = [t for t in town_halls(url, room_id) if condition(t)]
        found[:] = rows[-1:]
        return bool(rows)

    wait_until(holds, 30, what)
    return found[0]


def notices(hs: Homeserver, token: str, room_id: str, starting: str) -> list[dict[str, Any]]:
    return [
        m
        for m in messages(hs, token, room_id)
        if m["type"] == "m.room.message"
        and m["content"].get("msgtype") == "m.notice"
        and str(m["content"].get("body", "")).startswith(starting)
    ]


def without_membership(value: Any) -> Any:
    """What a member reads, less who is in the room and at what level: the asker is a member
    like everyone else, and that says nothing about who asked."""
    if isinstance(value, dict):
        if value.get("type") in ("m.room.member", "m.room.power_levels"):
            return None
        return {k: without_membership(v) for k, v in value.items()}
    if isinstance(value, list):
        return [without_membership(v) for v in value]
    return value


def widget_json(settings_path: Path, hs: Homeserver, username: str, room: str) -> tuple[int, Any]:
    """The town hall widget's API as `username` sees it, signed in with a real OpenID token."""
    token = hs.login_as(username)
    path = f"/_matrix/client/v3/user/{quote(hs.user_id(username))}/openid/request_token"
    credentials = hs.call("POST", path, token, {})

    async def fetch() -> tuple[int, Any]:
        app = create_app(load_settings(settings_path))
        async with TestClient(TestServer(app)) as client:
            session = await client.post("/widgets/api/session", json=credentials)
            assert session.status == 200, await session.text()
            bearer = {"Authorization": f"Bearer {(await session.json())['token']}"}
            answer = await client.get(
                "/widgets/api/townhall", params={"room": room}, headers=bearer
            )
            return answer.status, await answer.json()

    return asyncio.run(fetch())


# --- the tests -------------------------------------------------------------------------------


def test_a_planned_town_hall_starts_once_across_restarts_and_ends_with_a_summary(
    homeserver: Homeserver,
    bot: ThreadedBot,
    people: dict[str, Person],
    voters: dict[int, str],
    clock: ShiftedClock,
    app_database_url: str,
) -> None:
    hs, tess = homeserver, people["tadmin"]
    hall = hs.room_id("hall")
    assert "Town halls are held in channels" in tess.ask("!townhall")
    assert "is not a time" in command_in(tess, hall, "!townhall Budget at tomorrow 25:00")
    when = (clock() + timedelta(hours=2)).astimezone(UTC)
    answer = command_in(tess, hall, f"!townhall Budget 2027 at {when:%Y-%m-%d %H:%M} UTC")
    assert "**Budget 2027** is set for" in answer, answer
    planned = latest(app_database_url, hall, lambda t: t.title == "Budget 2027", "the plan")
    assert planned.started_at is None

    # The bot is away when the time comes; back, it starts the town hall once.
    bot.stop()
    clock.offset += timedelta(hours=3)
    bot.start()
    started = latest(
        app_database_url, hall, lambda t: t.root_event_id is not None, "the town hall to start"
    )
    root = str(started.root_event_id)
    assert [n["event_id"] for n in notices(hs, tess.token, hall, "🎤 Town hall: Budget")] == [root]
    assert root in hs.state(hall, "m.room.pinned_events")["pinned"]
    meeting = db(app_database_url, lambda s: s.get(Meeting, started.meeting_id))
    assert meeting.started_at is not None and meeting.ended_at is None
    assert hs.state(hall, WIDGETS, meeting.widget_id)["type"] == "jitsi"

    ask_in_thread(hs, voters[2], hall, root, "How will the budget affect repairs?")
    wait_until(
        lambda: (
            "#1 · 0 👍 · Voter 02: How will the budget" in pinned_list(hs, tess.token, hall, root)
        ),
        30,
        "the open question in the list",
    )
    # Votes while the bot is away count when it is back.
    bot.stop()
    question = questions(app_database_url, started.id)[0]
    for n in (3, 4):
        react(hs, voters[n], hall, str(question.event_id))
    bot.start()
    wait_until(
        lambda: listed_votes(pinned_list(hs, tess.token, hall, root)) == [(1, 2)],
        30,
        "the votes cast while the bot was away",
    )
    assert "marked answered" in command_in(tess, hall, "!answered 1")
    wait_until(
        lambda: "Answered: #1" in pinned_list(hs, tess.token, hall, root), 30, "the answered mark"
    )

    assert "has ended" in command_in(tess, hall, "!townhall end")
    summaries = notices(hs, tess.token, hall, "🎤 Town hall **Budget 2027** has ended")
    assert len(summaries) == 1
    summary = summaries[0]["content"]["body"]
    assert "1 question asked, 1 answered" in summary
    assert "Answered: #1 · 2 👍 · Voter 02: How will the budget" in summary
    assert pinned_list(hs, tess.token, hall, root).startswith("🎤 Town hall: Budget 2027 (ended)")
    assert root not in hs.state(hall, "m.room.pinned_events").get("pinned", [])
    assert hs.state(hall, WIDGETS, meeting.widget_id) == {}

    # Another restart repeats nothing: one list, one summary.
    bot.stop()
    bot.start()
    assert bot.bot is not None
    target = bot.bot.town_halls.ticks + 3
    wait_until(lambda: bot.bot is not None and bot.bot.town_halls.ticks >= target, 30, "ticks")
    assert len(notices(hs, tess.token, hall, "🎤 Town hall: Budget")) == 1
    assert len(notices(hs, tess.token, hall, "🎤 Town hall **Budget 2027**")) == 1


def test_twenty_people_vote_at_once_and_the_list_ends_exact(
    homeserver: Homeserver,
    bot: ThreadedBot,
    people: dict[str, Person],
    voters: dict[int, str],
    app_database_url: str,
) -> None:
    hs, tess = homeserver, people["tadmin"]
    hall = hs.room_id("hall")
    assert "has started" in command_in(tess, hall, "!townhall Pay and conditions")
    town_hall = latest(
        app_database_url,
        hall,
        lambda t: t.title == "Pay and conditions" and t.root_event_id is not None,
        "the town hall",
    )
    root = str(town_hall.root_event_id)
    ask_in_thread(hs, voters[5], hall, root, "Will pay rise with inflation?")
    ask_in_thread(hs, voters[6], hall, root, "Can we work from home on Fridays?")
    wait_until(lambda: len(listed_votes(pinned_list(hs, tess.token, hall, root))) == 2, 30, "2")
    answer = people["tlone"].ask("!q Will the Solo desk be merged into Housing?")
    assert "Your question is #3 in **Pay and conditions**" in answer, answer
    wait_until(lambda: len(listed_votes(pinned_list(hs, tess.token, hall, root))) == 3, 30, "3")
    by_number = {q.number: str(q.event_id) for q in questions(app_database_url, town_hall.id)}
    before = len(edits(hs, tess.token, hall, root))

    # Twenty people vote at once: everyone for #1, the even ones for #2, every third for #3;
    # one of them twice on #1 (another skin tone), which counts once.
    ready = threading.Barrier(20)
    cast: dict[int, str] = {}

    def vote(n: int) -> None:
        ready.wait()
        react(hs, voters[n], hall, by_number[1])
        if n % 2 == 0:
            react(hs, voters[n], hall, by_number[2])
        if n % 3 == 0:
            cast[n] = react(hs, voters[n], hall, by_number[3])
        if n == 7:
            react(hs, voters[n], hall, by_number[1], "👍🏽")

    started = datetime.now(UTC)
    with ThreadPoolExecutor(20) as pool:
        list(pool.map(vote, range(1, 21)))
    redact(hs, voters[18], hall, cast[18])  # a vote taken back
    expected = [(1, 20), (2, 10), (3, 5)]
    wait_until(
        lambda: listed_votes(pinned_list(hs, tess.token, hall, root)) == expected,
        60,
        "the exact counts in the pinned list",
    )
    elapsed = (datetime.now(UTC) - started).total_seconds()
    # Nothing more comes once the list is right.
    settled = len(edits(hs, tess.token, hall, root))
    wait_until(lambda: bot.bot is not None and bot.bot.town_halls.ticks > 0, 5, "a tick")
    threading.Event().wait(EDIT_INTERVAL * 3)
    assert len(edits(hs, tess.token, hall, root)) == settled
    assert listed_votes(pinned_list(hs, tess.token, hall, root)) == expected
    sent = settled - before
    print(f"\n41 reactions and a redaction by 20 people: {sent} edits in {elapsed:.1f} s")
    # One edit at a burst's start, then at most one per interval until it is right.
    assert 1 <= sent <= 2 + elapsed / EDIT_INTERVAL, (sent, elapsed)


def test_an_anonymous_asker_cannot_be_identified(
    homeserver: Homeserver,
    bot: ThreadedBot,
    people: dict[str, Person],
    voters: dict[int, str],
    app_database_url: str,
    settings_path: Path,
) -> None:
    hs = homeserver
    hall = hs.room_id("hall")
    town_hall = latest(app_database_url, hall, lambda t: t.title == "Pay and conditions", "it")
    anonymous = questions(app_database_url, town_hall.id)[2]
    assert anonymous.is_anonymous and anonymous.asker == hs.user_id("tlone")
    # The Solo desk is one person: the label names the directorate above it instead.
    assert anonymous.label == "Anonymous (Directorate)"

    member = voters[9]
    event = hs.call(
        "GET",
        f"/_matrix/client/v3/rooms/{quote(hall)}/event/{quote(str(anonymous.event_id))}",
        member,
    )
    assert event["sender"] == bot.settings.user_id
    assert event["content"]["body"].startswith("**Anonymous (Directorate)** asks: Will the Solo")
    assert event["content"]["m.relates_to"]["event_id"] == town_hall.root_event_id
    context = hs.call(
        "GET",
        f"/_matrix/client/v3/rooms/{quote(hall)}/context/{quote(str(anonymous.event_id))}?limit=50",
        member,
    )
    sync = hs.call("GET", "/_matrix/client/v3/sync?timeout=0&full_state=true", member)
    readable = {
        "messages": messages(hs, member, hall),
        "context": context,
        "thread": hs.call(
            "GET",
            f"/_matrix/client/v1/rooms/{quote(hall)}/relations/{quote(str(town_hall.root_event_id))}",
            member,
        ),
        "sync": sync["rooms"]["join"].get(hall),
        "widget": widget_json(settings_path, hs, "tv09", hall),
    }
    shown = json.dumps(without_membership(readable), ensure_ascii=False)
    assert "Will the Solo desk" in shown  # the question is there to read…
    for trace in ("tlone", "Lone Asker"):  # …and nothing says who asked it
        assert trace not in shown

    audit = borough(
        "audit", "--action", "townhall.anonymous_question", "--json", settings=settings_path
    )
    entries = [json.loads(line) for line in audit.output.splitlines()]
    assert [(e["actor"], e["details"]["question"]) for e in entries] == [(hs.user_id("tlone"), 3)]

    assert "is withdrawn" in people["tlone"].ask("!q withdraw 3")
    assert "You have no question #3" in people["tv02"].ask("!q withdraw 3")
    wait_until(
        lambda: (
            [
                n
                for n, _ in listed_votes(
                    pinned_list(hs, voters[9], hall, str(town_hall.root_event_id))
                )
            ]
            == [1, 2]
        ),
        30,
        "the withdrawn question to leave the list",
    )
    redacted = hs.call(
        "GET",
        f"/_matrix/client/v3/rooms/{quote(hall)}/event/{quote(str(anonymous.event_id))}",
        member,
    )
    assert "body" not in redacted["content"]


def test_the_summary_says_who_joined_and_what_was_answered(
    homeserver: Homeserver,
    bot: ThreadedBot,
    people: dict[str, Person],
    app_database_url: str,
    settings_path: Path,
) -> None:
    hs, tess = homeserver, people["tadmin"]
    hall = hs.room_id("hall")
    for username in ("tv10", "tv11"):  # two people open the widget, one of them twice
        status, body = widget_json(settings_path, hs, username, hall)
        assert status == 200 and body["town_hall"]["title"] == "Pay and conditions"
    widget_json(settings_path, hs, "tv10", hall)
    assert "marked answered" in command_in(tess, hall, "!answered 2")
    assert "marked hidden" in command_in(tess, hall, "!hide 1")
    assert "has ended" in command_in(tess, hall, "!townhall end")
    summary = notices(hs, tess.token, hall, "🎤 Town hall **Pay and conditions** has ended")
    assert len(summary) == 1
    text = summary[0]["content"]["body"]
    # tv09 opened it in the test before: three people, each counted once.
    assert "3 people joined" in text and "1 answered" in text
    assert "- Answered: #2 · 10 👍 · Voter 06: Can we work from home on Fridays?" in text
    assert "Will pay rise" not in text  # hidden


def test_a_sealed_channels_town_hall_is_invisible_from_outside(
    homeserver: Homeserver,
    bot: ThreadedBot,
    people: dict[str, Person],
    app_database_url: str,
    settings_path: Path,
) -> None:
    hs = homeserver
    sealed = hs.room_id("housinghall")
    hall = hs.room_id("hall")
    assert "has started" in command_in(people["tv01"], sealed, "!townhall Housing only")
    town_hall = latest(
        app_database_url, sealed, lambda t: t.root_event_id is not None, "the sealed town hall"
    )
    # Inside, a question is asked anonymously, labelled with the Housing team.
    answer = people["tv02"].ask("!q Will the Housing office move?")
    assert "Your question is #1 in **Housing only**" in answer
    assert "“Anonymous (Housing)”" in answer

    # Outside (the directorate's head, a partner), there is nothing to ask or to see.
    for outsider in ("tadmin", "tcop"):
        assert "No town hall that you can join is on now" in people[outsider].ask("!q Hello?")
        assert "No town hall that you can join is on now" in people[outsider].ask(
            "!q #housinghall Hello?"
        )
        status, body = widget_json(settings_path, hs, outsider, sealed)
        nowhere = widget_json(settings_path, hs, outsider, "!nowhere:" + hs.server_name)
        assert (status, body) == nowhere and status == 404
    status, body = widget_json(settings_path, hs, "tv02", sealed)
    assert status == 200 and body["town_hall"]["title"] == "Housing only"
    assert body["town_hall"]["questions"][0]["asked_by"] == "Anonymous (Housing)"

    assert "has ended" in command_in(people["tv01"], sealed, "!townhall end")
    inside = notices(hs, people["tv01"].token, sealed, "🎤 Town hall **Housing only** has ended")
    assert len(inside) == 1 and "1 person joined" in inside[0]["content"]["body"]
    assert town_hall.id in {t.id for t in town_halls(app_database_url, sealed)}
    outside = json.dumps(messages(hs, people["tadmin"].token, hall), ensure_ascii=False)
    assert "Housing only" not in outside and "Housing office" not in outside


def test_a_planned_town_hall_called_off_never_starts(
    homeserver: Homeserver,
    bot: ThreadedBot,
    people: dict[str, Person],
    clock: ShiftedClock,
    app_database_url: str,
) -> None:
    hs, tess = homeserver, people["tadmin"]
    hall, sealed = hs.room_id("hall"), hs.room_id("housinghall")
    when = (clock() + timedelta(hours=2)).astimezone(UTC)
    answer = command_in(tess, hall, f"!townhall Roadworks at {when:%Y-%m-%d %H:%M} UTC")
    found = re.search(r"`!townhall cancel (\d+)` calls it off", answer)
    assert found is not None, answer
    number = int(found.group(1))

    # Another room's number is not this room's town hall, whoever runs that room.
    assert f"There is no town hall #{number} in this room" in command_in(
        people["tv01"], sealed, f"!townhall cancel {number}"
    )
    assert "There is no town hall #999999 in this room" in command_in(
        tess, hall, "!townhall cancel 999999"
    )
    assert f"Town hall #{number} **Roadworks** is called off" in command_in(
        tess, hall, f"!townhall cancel {number}"
    )
    assert "was already called off" in command_in(tess, hall, f"!townhall cancel {number}")

    # Its time comes and goes: it does not start.
    clock.offset += timedelta(hours=3)
    assert bot.bot is not None
    target = bot.bot.town_halls.ticks + 3
    wait_until(lambda: bot.bot is not None and bot.bot.town_halls.ticks >= target, 30, "ticks")
    (called_off,) = [t for t in town_halls(app_database_url, hall) if t.id == number]
    assert called_off.cancelled_at is not None
    assert called_off.started_at is None and called_off.root_event_id is None
    assert called_off.meeting_id is None
    assert notices(hs, tess.token, hall, "🎤 Town hall: Roadworks") == []


def test_removing_the_meeting_widget_ends_the_town_hall(
    homeserver: Homeserver,
    bot: ThreadedBot,
    people: dict[str, Person],
    app_database_url: str,
) -> None:
    """The meeting is the town hall's: whoever removes its widget from the room ends both,
    as `!townhall end` would (the list says ended and is unpinned, the summary is posted)."""
    hs, tess = homeserver, people["tadmin"]
    hall = hs.room_id("hall")
    assert "has started" in command_in(tess, hall, "!townhall Depot move")
    town_hall = latest(
        app_database_url,
        hall,
        lambda t: t.title == "Depot move" and t.root_event_id is not None,
        "the town hall",
    )
    root = str(town_hall.root_event_id)
    assert root in hs.state(hall, "m.room.pinned_events")["pinned"]
    assert "has started or was already called off" in command_in(
        tess, hall, f"!townhall cancel {town_hall.id}"
    )
    meeting = db(app_database_url, lambda s: s.get(Meeting, town_hall.meeting_id))
    assert hs.state(hall, WIDGETS, meeting.widget_id)["type"] == "jitsi"

    path = f"/_matrix/client/v3/rooms/{quote(hall)}/state/{WIDGETS}/{quote(meeting.widget_id)}"
    hs.call("PUT", path, tess.token, {})
    ended = latest(
        app_database_url,
        hall,
        lambda t: t.id == town_hall.id and t.summary_event_id is not None,
        "the town hall to end with its summary",
    )
    assert ended.ended_at is not None
    summaries = notices(hs, tess.token, hall, "🎤 Town hall **Depot move** has ended")
    assert [s["event_id"] for s in summaries] == [ended.summary_event_id]
    assert pinned_list(hs, tess.token, hall, root).startswith("🎤 Town hall: Depot move (ended)")
    assert root not in hs.state(hall, "m.room.pinned_events").get("pinned", [])
    assert hs.state(hall, WIDGETS, meeting.widget_id) == {}
    assert "There is no town hall on in this room" in command_in(tess, hall, "!townhall end")
