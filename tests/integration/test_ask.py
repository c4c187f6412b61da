"""Ask the network against a real Synapse, with people acting through the client API: who is
asked, the daily limit across a restart, an accepted answer found by `!answers`, and a
question asked in a sealed channel that never leaves it."""

from __future__ import annotations

import asyncio
import csv
import json
import secrets
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from borough.db import Answer, Question, QuestionRoute, create_engine, session_factory
from borough.settings import BotSettings, load_settings
from borough.testing.waiting import wait_until
from tests.conftest import Homeserver, borough, write_settings
from tests.integration.running_bot import ThreadedBot
from widgets.app import create_app

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "ask.yaml"
OPTED_IN = ("aasker", "aana", "acat", "adan", "aeve")
EVERYONE = (*OPTED_IN, "aben")

Event = dict[str, Any]


class Person:
    """Someone in Element: a token, a direct chat with the bot, and every event their syncs
    have brought, room by room."""

    def __init__(self, hs: Homeserver, username: str, bot_id: str) -> None:
        self.hs, self.user_id = hs, hs.user_id(username)
        self.token = hs.login_as(username)
        self.since = hs.call("GET", "/_matrix/client/v3/sync?timeout=0", self.token)["next_batch"]
        self.seen: dict[str, list[Event]] = {}
        self.dm = self.call(
            "POST",
            "/_matrix/client/v3/createRoom",
            {"preset": "trusted_private_chat", "is_direct": True, "invite": [bot_id]},
        )["room_id"]
        self.wait_for(
            lambda ev: (
                ev["type"] == "m.room.member"
                and ev["state_key"] == bot_id
                and ev["content"].get("membership") == "join"
            )
        )
        self.bot_id = bot_id

    def call(self, method: str, path: str, body: Any = None) -> Any:
        return self.hs.call(method, path, self.token, body)

    def sync(self, timeout_ms: int = 5000) -> None:
        sync = self.call("GET", f"/_matrix/client/v3/sync?timeout={timeout_ms}&since={self.since}")
        self.since = sync["next_batch"]
        for room_id in sync.get("rooms", {}).get("invite", {}):
            self.call("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/join", {})
        for room_id, room in sync.get("rooms", {}).get("join", {}).items():
            self.seen.setdefault(room_id, []).extend(
                [*room.get("state", {}).get("events", []), *room["timeline"]["events"]]
            )

    def wait_for(self, matches: Callable[[Event], bool], room: str | None = None) -> Event:
        """The first event (in their DM with the bot, unless `room`) that `matches`."""
        room_id = room or self.dm
        for _ in range(12):
            found = [e for e in self.seen.get(room_id, []) if matches(e)]
            if found:
                return found[0]
            self.sync()
        raise AssertionError(f"{self.user_id} never saw the awaited event")

    def send(self, room_id: str, content: Event, event_type: str = "m.room.message") -> str:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/{event_type}/{secrets.token_hex(8)}"
        return str(self.call("PUT", path, content)["event_id"])

    def say(self, body: str, room: str | None = None, **relation: Any) -> str:
        content: Event = {"msgtype": "m.text", "body": body}
        if relation:
            content["m.relates_to"] = relation
        return self.send(room or self.dm, content)

    def ask(self, body: str) -> str:
        """A command in their DM, and the bot's answer to it."""
        event_id = self.say(body)
        return _body(self.wait_for(lambda ev: _in_reply_to(ev) == event_id))

    def questions_received(self) -> list[str]:
        """The questions the bot has sent them by direct message, as their text."""
        self.sync(timeout_ms=0)
        return [
            _body(e)
            for room_id, timeline in self.seen.items()
            for e in timeline
            if e["type"] == "m.room.message"
            and e["sender"] == self.bot_id
            and "has a question you may know" in _body(e)
        ]


def _body(event: Event) -> str:
    return str(event.get("content", {}).get("body", ""))


def _in_reply_to(event: Event) -> str | None:
    relates = event.get("content", {}).get("m.relates_to", {})
    return relates.get("m.in_reply_to", {}).get("event_id")


def _thread(event: Event) -> str | None:
    """The root of the thread the event is in (Element shows it there, not in the room)."""
    relates = event.get("content", {}).get("m.relates_to", {})
    return relates.get("event_id") if relates.get("rel_type") == "m.thread" else None


def _question_link(text: str) -> tuple[str, str]:
    """The room id and event id of the matrix.to link in a question's direct message."""
    link = text.split("](https://matrix.to/#/", 1)[1].split(")", 1)[0]
    room, event = link.split("/")
    return room.replace("%21", "!").replace("%3A", ":"), event.replace("%24", "$")


@pytest.fixture(scope="module")
def bot_account(homeserver: Homeserver) -> tuple[str, str]:
    # The modules let this bot account into sealed rooms (synapse_modules: bot_localpart).
    return homeserver.synapse.register_user("boroughbot", secrets.token_hex(8))


@pytest.fixture(scope="module")
def settings(
    homeserver: Homeserver,
    app_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    bot_account: tuple[str, str],
) -> Path:
    user_id, token = bot_account
    return write_settings(
        tmp_path_factory.mktemp("ask") / "borough.yaml",
        homeserver,
        app_database_url,
        bot={"user_id": user_id, "access_token": token},
    )


@pytest.fixture(scope="module")
def bot(
    homeserver: Homeserver, app_database_url: str, settings: Path, bot_account: tuple[str, str]
) -> Iterator[ThreadedBot]:
    result = borough("apply", "-q", str(ORG_FILE), settings=settings)
    assert result.exit_code == 0, result.output
    user_id, token = bot_account
    running = ThreadedBot(
        homeserver, app_database_url, BotSettings(user_id=user_id, access_token=token)
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def people(homeserver: Homeserver, bot: ThreadedBot) -> dict[str, Person]:
    people = {name: Person(homeserver, name, bot.user_id) for name in EVERYONE}
    for name in OPTED_IN:
        assert "visible to **partners**" in people[name].ask("!profile set available yes")
    return people


def timeline(hs: Homeserver, room_id: str) -> list[Event]:
    """The room's latest events, as Borough's service account (a member of every managed
    room) reads them."""
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=100"
    return list(hs.admin("GET", path)["chunk"])


def routes(database_url: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                rows = await session.execute(
                    select(QuestionRoute.user_id, func.count()).group_by(QuestionRoute.user_id)
                )
                return {user: int(n) for user, n in rows}
        finally:
            await engine.dispose()

    return asyncio.run(count())


def counted(database_url: str, query: Any) -> int:
    async def count() -> int:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                return int(await session.scalar(query) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(count())


def accepted(database_url: str) -> int:
    return counted(database_url, select(func.count()).where(Question.accepted_answer.is_not(None)))


def test_apply_makes_an_ask_room_per_organisation_and_one_for_the_network(
    homeserver: Homeserver, bot: ThreadedBot
) -> None:
    def members(alias: str) -> set[str]:
        room = quote(homeserver.room_id(alias))
        return set(homeserver.admin("GET", f"/_synapse/admin/v1/rooms/{room}/members")["members"])

    council = {homeserver.user_id(n) for n in ("aasker", "aana", "aben", "aeve", "aboss")}
    police = {homeserver.user_id(n) for n in ("acat", "adan")}
    service = homeserver.service_user
    assert members("ask-acouncil") == council | {bot.user_id, service}
    assert members("ask-apolice") == police | {bot.user_id, service}
    assert members("ask-the-network") == council | police | {bot.user_id, service}


def test_ask_reaches_only_opted_in_people_with_a_matching_skill_the_asker_may_see(
    homeserver: Homeserver, people: dict[str, Person]
) -> None:
    answer = people["aasker"].ask('!ask Who has dealt with damp in tower blocks? skill:"damp"')
    assert "sent it to 2 people whose skills match: Ana Damp, Dan Partner" in answer
    network = homeserver.room_id("ask-the-network")
    for name in ("aana", "adan"):
        (received,) = people[name].questions_received()
        assert "Who has dealt with damp in tower blocks?" in received
        assert _question_link(received)[0] == network
    # Not opted in; skill hidden from the asker's organisation; no matching skill; the asker.
    for name in ("aben", "acat", "aeve", "aasker"):
        assert people[name].questions_received() == [], name
    room, event_id = _question_link(people["aana"].questions_received()[0])
    (posted,) = [e for e in timeline(homeserver, room) if e["event_id"] == event_id]
    assert posted["sender"] == people["aana"].bot_id
    assert "**Asa Asker** asks" in _body(posted)


def test_a_question_typed_in_an_organisations_ask_room_stays_there(
    homeserver: Homeserver, people: dict[str, Person]
) -> None:
    """Ana asks in her council's own Ask room: Dan (police) offers the skill, but cannot
    read that room, so only Asa (council) is asked."""
    council = homeserver.room_id("ask-acouncil")
    text = "Which damp contractor does the council use?"
    command = people["aana"].say(f'!ask {text} skill:"damp"', room=council)
    answer = _body(people["aana"].wait_for(lambda ev: _in_reply_to(ev) == command, room=council))
    assert "sent it to 1 person whose skills match: Asa Asker" in answer
    (received,) = people["aasker"].questions_received()
    assert text in received and _question_link(received)[0] == council
    assert len(people["adan"].questions_received()) == 1  # only the first question
    network = homeserver.room_id("ask-the-network")
    assert not any(text in _body(e) for e in timeline(homeserver, network))


def test_an_accepted_answer_is_found_by_answers(
    homeserver: Homeserver, people: dict[str, Person], app_database_url: str
) -> None:
    room, question = _question_link(people["aana"].questions_received()[0])
    answer = people["aana"].say(
        "Ventilation first, then a damp survey of the whole stack.",
        room=room,
        rel_type="m.thread",
        event_id=question,
    )
    assert "No accepted answer matches" in people["adan"].ask("!answers ventilation")
    people["aasker"].send(
        room,
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": answer, "key": "✅"}},
        "m.reaction",
    )
    wait_until(lambda: accepted(app_database_url) == 1, 30, "the ✅ to accept the answer")
    said = people["aana"].wait_for(
        lambda ev: "✅ Accepted Ana Damp's answer" in _body(ev), room=room
    )
    assert said["sender"] == people["aana"].bot_id
    # In the question's thread, as a reply to the answer, not in the room's timeline.
    assert _thread(said) == question and _in_reply_to(said) == answer
    found = people["adan"].ask("!answers ventilation stack")
    assert "1 accepted answer" in found
    assert "Who has dealt with damp in tower blocks?" in found
    assert "Ana Damp answered" in found
    assert "Ventilation first" in found
    assert "No accepted answer matches" in people["aeve"].ask("!answers roofing")

    # `!accept` typed in the thread, replying to the answer: answered in the thread too.
    accept = people["aasker"].say(
        "!accept",
        room=room,
        rel_type="m.thread",
        event_id=question,
        **{"m.in_reply_to": {"event_id": answer}},
    )
    told = people["aasker"].wait_for(lambda ev: _in_reply_to(ev) == accept, room=room)
    assert "Accepted Ana Damp's answer: it is shared practice now" in _body(told)
    assert _thread(told) == question
    assert accepted(app_database_url) == 1


def test_a_question_asked_in_a_sealed_channel_never_leaves_it(
    homeserver: Homeserver, people: dict[str, Person]
) -> None:
    sealed = homeserver.room_id("asealed")
    asker = people["aasker"]
    before = {name: len(person.questions_received()) for name, person in people.items()}
    text = "Who has handled mould complaints from the lift lobby?"
    command = asker.say(f'!ask {text} skill:"mould"', room=sealed)
    told = asker.wait_for(lambda ev: "You asked in **Housing leadership**" in _body(ev))
    assert "I sent it to 1 person whose skills match: Ana Damp" in _body(told)
    (received,) = people["aana"].questions_received()[before["aana"] :]
    assert _question_link(received) == (sealed, command)
    for name in ("adan", "acat", "aben", "aeve"):
        assert len(people[name].questions_received()) == before[name], name
    for alias in ("ask-the-network", "ask-acouncil", "ask-apolice"):
        assert not any(text in _body(e) for e in timeline(homeserver, homeserver.room_id(alias)))
    reply = people["aana"].say(
        "Log each one; the lift contractor owes a survey.",
        room=sealed,
        rel_type="m.thread",
        event_id=command,
    )
    accept = asker.say(
        "!accept",
        room=sealed,
        rel_type="m.thread",
        event_id=command,
        **{"m.in_reply_to": {"event_id": reply}},
    )
    assert "Accepted Ana Damp's answer" in _body(
        asker.wait_for(lambda ev: "Accepted" in _body(ev) and "Housing leadership" in _body(ev))
    )
    assert accept
    public = asker.say("!public", room=sealed, rel_type="m.thread", event_id=command)
    assert public
    asker.wait_for(lambda ev: "stays in it: it cannot be public" in _body(ev))
    assert "lift contractor" in people["aana"].ask("!answers lift")
    assert "No accepted answer matches" in people["adan"].ask("!answers lift")


def widget_get(hs: Homeserver, settings: Path, path: str, username: str | None = None) -> str:
    """`path` from the widget server, as `username` signed in through a real OpenID token (as
    Element signs a widget in), or as anyone on the web."""

    async def get() -> str:
        async with TestClient(TestServer(create_app(load_settings(settings)))) as client:
            headers = {}
            if username is not None:
                token = hs.login_as(username)
                openid = (
                    f"/_matrix/client/v3/user/{quote(hs.user_id(username))}/openid/request_token"
                )
                session = await client.post(
                    "/widgets/api/session", json=hs.call("POST", openid, token, {})
                )
                assert session.status == 200, await session.text()
                headers["Authorization"] = f"Bearer {(await session.json())['token']}"
            answer = await client.get(path, headers=headers)
            assert answer.status == 200, await answer.text()
            return await answer.text()

    return asyncio.run(get())


def test_shared_answers_in_the_widget_and_public_only_when_the_asker_says(
    homeserver: Homeserver, people: dict[str, Person], settings: Path
) -> None:
    tower, lift = "damp in tower blocks", "mould complaints from the lift lobby"
    for_dan = json.loads(widget_get(homeserver, settings, "/widgets/api/answers", "adan"))
    assert [a["answer"] for a in for_dan["answers"]] == [
        "Ventilation first, then a damp survey of the whole stack."
    ]
    for_ana = widget_get(homeserver, settings, "/widgets/api/answers?q=lift", "aana")
    assert lift in for_ana and tower not in for_ana
    assert "No public answers yet" in widget_get(homeserver, settings, "/public/answers")
    room, question = _question_link(people["aana"].questions_received()[0])
    asker = people["aasker"]
    made = asker.say("!public", room=room, rel_type="m.thread", event_id=question)
    answer = asker.wait_for(lambda ev: _in_reply_to(ev) == made, room=room)
    assert "Your question is public" in _body(answer)
    assert _thread(answer) == question  # typed in the question's thread, answered there
    page = widget_get(homeserver, settings, "/public/answers")
    feed = widget_get(homeserver, settings, "/public/answers/feed.atom")
    for shown in (page, feed):
        assert tower in shown and "Ventilation first" in shown
        assert lift not in shown and "lift contractor" not in shown


def test_nobody_is_asked_more_than_three_times_a_day_across_a_restart(
    homeserver: Homeserver, people: dict[str, Person], bot: ThreadedBot, app_database_url: str
) -> None:
    dan = homeserver.user_id("adan")
    assert routes(app_database_url)[dan] == 1
    for n in (2, 3):
        answer = people["aasker"].ask(f'!ask Police question {n}? org:apolice skill:"damp"')
        assert "sent it to 1 person whose skills match: Dan Partner" in answer
    assert routes(app_database_url)[dan] == 3
    bot.stop()
    bot.start()
    answer = people["aasker"].ask('!ask Police question 4? org:apolice skill:"damp"')
    assert "Nobody who offers a matching skill could be asked just now" in answer
    assert routes(app_database_url)[dan] == 3
    assert len(people["adan"].questions_received()) == 3
    network = people["aasker"].ask('!ask One more, anyone? skill:"damp"')
    assert "sent it to 1 person whose skills match: Ana Damp" in network


def test_the_report_counts_questions_and_answers_across_organisations(
    homeserver: Homeserver,
    people: dict[str, Person],
    settings: Path,
    app_database_url: str,
    tmp_path: Path,
) -> None:
    """Known so far: Asa (council, in the Housing and Police partnership) asked 6 questions
    and Ana (council, in it too) 1; Ana answered two of Asa's. Now Dan (police) answers the first: the one answer
    given across organisations."""
    room, question = _question_link(people["adan"].questions_received()[0])
    people["adan"].say(
        "Ask the landlord for the survey.", room=room, rel_type="m.thread", event_id=question
    )
    wait_until(
        lambda: counted(app_database_url, select(func.count()).select_from(Answer)) == 3,
        30,
        "the bot to record Dan's answer",
    )
    out = tmp_path / "csv"
    result = borough("report", "--since", "1d", "--csv", str(out), settings=settings)
    assert result.exit_code == 0, result.output
    with (out / "questions.csv").open(encoding="utf-8") as f:
        rows = {(r["kind"], r["key"]): r for r in csv.DictReader(f)}
    council, police = rows[("organisation", "acouncil")], rows[("organisation", "apolice")]
    partnership = rows[("partnership", "apartners")]
    for row in (council, partnership):
        assert row["questions_asked"] == "7"
        assert row["answered_within_24_h"] == "2"
        assert row["share_answered_within_24_h"] == "0.2857"
        # Answered seconds after asking: on a quick machine that rounds to 0.00 minutes.
        assert 0 <= float(row["median_minutes_to_first_answer"]) < 5
    assert council["answers_across_organisations"] == "0"
    assert police["questions_asked"] == "0" and police["answers_across_organisations"] == "1"
    assert partnership["answers_across_organisations"] == "1"
    with (out / "answers_across_organisations.csv").open(encoding="utf-8") as f:
        weeks = list(csv.DictReader(f))
    assert weeks[-1]["across_organisations"] == "1" and weeks[-1]["apartners"] == "1"
    assert sum(int(w["across_organisations"]) for w in weeks) == 1
