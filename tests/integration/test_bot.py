"""The bot against a real Synapse with the modules loaded: commands, privacy, bad input, restarts."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from borough.db import (
    ChannelMember,
    MirroredAvatar,
    Post,
    WelcomeSent,
    create_engine,
    session_factory,
)
from borough.network import SERVICE_DISPLAY_NAME
from borough.settings import BotSettings
from borough.testing.waiting import wait_until
from bots.identity import BOT_DISPLAY_NAME
from tests.conftest import Homeserver, borough, write_settings
from tests.integration.running_bot import ThreadedBot
from tests.integration.test_modules import memberships, sign_in_at_once

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
    # With a bot in the settings, apply joins it to every channel, sealed ones too.
    result = borough("apply", "-q", str(ORG_FILE), settings=settings)
    assert result.exit_code == 0, result.output
    sealed = quote(homeserver.room_id("tsealed"))
    members = homeserver.admin("GET", f"/_synapse/admin/v1/rooms/{sealed}/members")["members"]
    assert user_id in members
    running = ThreadedBot(
        homeserver, app_database_url, BotSettings(user_id=user_id, access_token=token)
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


class Person:
    """A person in Element: a token, a DM with the bot, and a sync position to read replies."""

    def __init__(self, hs: Homeserver, username: str, bot_id: str) -> None:
        self.hs = hs
        self.token = hs.login_as(username)
        self.since = hs.call("GET", "/_matrix/client/v3/sync?timeout=0", self.token)["next_batch"]
        self.room = hs.call(
            "POST",
            "/_matrix/client/v3/createRoom",
            self.token,
            {"preset": "trusted_private_chat", "is_direct": True, "invite": [bot_id]},
        )["room_id"]
        self.wait_for(
            lambda ev: (
                ev["type"] == "m.room.member"
                and ev["state_key"] == bot_id
                and ev["content"].get("membership") == "join"
            )
        )

    def wait_for(self, matches: object, attempts: int = 12, room: str | None = None) -> dict:
        """The first event in `room` (their DM with the bot, unless named) that `matches`."""
        room_id = room or self.room
        for _ in range(attempts):
            sync = self.hs.call(
                "GET", f"/_matrix/client/v3/sync?timeout=5000&since={self.since}", self.token
            )
            self.since = sync["next_batch"]
            joined = sync.get("rooms", {}).get("join", {}).get(room_id, {})
            for event in [
                *joined.get("state", {}).get("events", []),
                *joined.get("timeline", {}).get("events", []),
            ]:
                if matches(event):  # type: ignore[operator]
                    return event
        raise AssertionError("the awaited event never came")

    def send(self, body: str) -> str:
        path = f"/_matrix/client/v3/rooms/{quote(self.room)}/send/m.room.message/{secrets.token_hex(8)}"
        return str(
            self.hs.call("PUT", path, self.token, {"msgtype": "m.text", "body": body})["event_id"]
        )

    def ask(self, body: str) -> str:
        event_id = self.send(body)
        reply = self.wait_for(lambda ev: _replies_to(ev, event_id))
        assert reply["content"]["msgtype"] == "m.notice"
        assert reply["content"]["format"] == "org.matrix.custom.html"
        return str(reply["content"]["body"])


def _replies_to(event: dict, event_id: str) -> bool:
    relates = event.get("content", {}).get("m.relates_to", {})
    return (
        event["type"] == "m.room.message"
        and relates.get("m.in_reply_to", {}).get("event_id") == event_id
    )


@pytest.fixture(scope="module")
def people(homeserver: Homeserver, bot: ThreadedBot) -> dict[str, Person]:
    return {
        name: Person(homeserver, name, bot.settings.user_id) for name in ("tstaff", "tmgr", "tcop")
    }


def test_help_is_generated_from_the_commands(people: dict[str, Person]) -> None:
    answer = people["tstaff"].ask("!help")
    assert "`!profile set title|bio|skills|location|pronouns|phone|available VALUE…`" in answer
    assert "`!whois PERSON…`" in answer
    assert "`audience`: who may see it" in people["tstaff"].ask("!help profile")


def test_profile_card_and_setting_a_field(people: dict[str, Person]) -> None:
    tara = people["tstaff"]
    card = tara.ask("!profile")
    assert (
        card.startswith("**Tara Staff**")
        and "Phone: 0207 000 0000" in card
        and "Bio: Hello" in card
    )
    # Names, not keys, one detail a line (apply keeps the names in the app database).
    assert "\n- Organisation: Test Council\n- Units: Test Team, Test Sub-team\n" in card
    assert "visible to **partners**" in tara.ask("!profile set pronouns she/her")
    assert "Pronouns: she/her" in tara.ask("!profile")


def test_whois_honours_visibility(people: dict[str, Person]) -> None:
    people["tstaff"].ask("!profile set location Town Hall, room 4")
    same_org = people["tmgr"].ask("!whois @tstaff")
    assert "Phone: 0207 000 0000" in same_org and "Location: Town Hall, room 4" in same_org
    # The card links to her profile page on the widget server (the bot's default public URL).
    assert "http://localhost:8090/widgets/people/@tstaff:" in same_org
    partner = people["tcop"].ask("!whois Tara")
    assert "Tara Staff" in partner and "Bio: Hello" in partner  # bio is for partners
    assert "Phone" not in partner and "Location" not in partner  # staff only


def test_bad_input_gets_a_usage_answer(people: dict[str, Person]) -> None:
    tara = people["tstaff"]
    assert "Unknown command `!frobnicate`" in tara.ask("!frobnicate")
    assert "`field` is missing. Usage: `!profile set" in tara.ask("!profile set")
    assert "`colour` is not a valid field" in tara.ask("!profile set colour red")
    assert "Bio comes from" not in tara.ask("!profile set pronouns x")  # their own field is fine
    assert "at most 30 characters" in tara.ask("!profile set pronouns " + "x" * 31)
    assert "does not look like a phone number" in tara.ask("!profile set phone call me")
    assert "comes from your organisation's org chart" in tara.ask("!profile set bio Something else")
    assert "Nobody matches" in tara.ask("!whois Nobody Atall")
    assert "a quote is not closed" in tara.ask('!whois "Tara')


def test_a_restart_answers_what_came_in_while_down_exactly_once(
    homeserver: Homeserver, bot: ThreadedBot, people: dict[str, Person]
) -> None:
    tom = people["tmgr"]
    before = tom.send("!help whois")
    tom.wait_for(lambda ev: _replies_to(ev, before))
    bot.stop()
    while_down = tom.send("!profile")
    bot.start()
    reply = tom.wait_for(lambda ev: _replies_to(ev, while_down))
    assert reply["content"]["body"].startswith("**Tom Manager**")
    after = tom.ask("!help")
    assert "Borough commands" in after
    # Nothing was answered twice: one reply per command in the room's history.
    messages = homeserver.call(
        "GET", f"/_matrix/client/v3/rooms/{quote(tom.room)}/messages?dir=b&limit=100", tom.token
    )["chunk"]
    replied_to = [
        m["content"]["m.relates_to"]["m.in_reply_to"]["event_id"]
        for m in messages
        if m.get("content", {}).get("msgtype") == "m.notice"
        and "m.relates_to" in m["content"]  # answers; the welcome answers nothing
    ]
    assert len(replied_to) == len(set(replied_to))
    assert before in replied_to and while_down in replied_to


def test_the_bot_recovers_by_itself_after_synapse_was_down(
    homeserver: Homeserver, bot: ThreadedBot, people: dict[str, Person]
) -> None:
    homeserver.synapse.stop(keep_database=True)
    try:
        assert bot.thread is not None and bot.thread.is_alive()
    finally:
        homeserver.synapse.start()
    people["tstaff"].since = homeserver.call(
        "GET", "/_matrix/client/v3/sync?timeout=0", people["tstaff"].token
    )["next_batch"]
    assert "Borough commands" in people["tstaff"].ask("!help")


def test_meet_is_answered_in_a_team_room_the_chart_made(
    homeserver: Homeserver, bot: ThreadedBot, people: dict[str, Person], app_database_url: str
) -> None:
    """Apply makes the bot a member of every room where people type (not of spaces), so a
    command in a unit's team or general room is answered there, and nothing said there is
    indexed as a post or kept as a channel's readers."""
    bot_id, tara = bot.settings.user_id, people["tstaff"]
    team, general = homeserver.room_id("tteam-team"), homeserver.room_id("tsub-general")
    for room_id in (team, general):
        members = homeserver.admin("GET", f"/_synapse/admin/v1/rooms/{quote(room_id)}/members")
        assert bot_id in members["members"]
    space = homeserver.room_id("tteam")
    members = homeserver.admin("GET", f"/_synapse/admin/v1/rooms/{quote(space)}/members")
    assert bot_id not in members["members"]
    chat = post(homeserver, tara.token, team, {"msgtype": "m.text", "body": "Coffee? #break"})
    asked = post(homeserver, tara.token, team, {"msgtype": "m.text", "body": "!meet"})
    answer = tara.wait_for(lambda ev: _replies_to(ev, asked), room=team)
    assert answer["sender"] == bot_id
    assert "has started" in answer["content"]["body"]
    assert "**Meeting**" not in answer["content"]["body"]
    asked = post(homeserver, tara.token, general, {"msgtype": "m.text", "body": "!help meet end"})
    answer = tara.wait_for(lambda ev: _replies_to(ev, asked), room=general)
    assert "`!meet end`" in answer["content"]["body"]

    async def indexed() -> tuple[int, int]:
        engine = create_engine(app_database_url)
        try:
            async with session_factory(engine)() as session:
                posts = await session.scalar(
                    select(func.count()).select_from(Post).where(Post.room_id.in_([team, general]))
                )
                readers = await session.scalar(
                    select(func.count())
                    .select_from(ChannelMember)
                    .where(ChannelMember.room_id.in_([team, general]))
                )
                return int(posts or 0), int(readers or 0)
        finally:
            await engine.dispose()

    assert chat and asyncio.run(indexed()) == (0, 0)


def test_the_bot_and_the_service_account_have_names_and_the_avatar_is_uploaded_once(
    homeserver: Homeserver, bot: ThreadedBot, app_database_url: str
) -> None:
    def profile(user_id: str) -> dict:
        return dict(homeserver.admin("GET", f"/_matrix/client/v3/profile/{quote(user_id)}"))

    bot_id = bot.settings.user_id
    wait_until(
        lambda: profile(bot_id).get("avatar_url", "").startswith("mxc://"), 30, "the bot's avatar"
    )
    first = profile(bot_id)
    assert first["displayname"] == BOT_DISPLAY_NAME
    service = profile(homeserver.service_user)
    assert service["displayname"] == SERVICE_DISPLAY_NAME
    assert (
        service["avatar_url"].startswith("mxc://") and service["avatar_url"] != first["avatar_url"]
    )
    # Once more, as a restart would: nothing is uploaded again and nothing changes.
    assert bot.bot is not None and bot.loop is not None
    asyncio.run_coroutine_threadsafe(bot.bot.identity.ensure(), bot.loop).result(30)
    assert profile(bot_id) == first

    async def uploads() -> int:
        engine = create_engine(app_database_url)
        try:
            async with session_factory(engine)() as session:
                return int(
                    await session.scalar(select(func.count()).select_from(MirroredAvatar)) or 0
                )
        finally:
            await engine.dispose()

    assert asyncio.run(uploads()) == 2  # the bot's avatar and the service account's, once each


def test_a_person_signing_in_is_welcomed_once_with_their_places_as_links(
    homeserver: Homeserver, bot: ThreadedBot, app_database_url: str
) -> None:
    """Signing in makes a device, which the bot's sync reports; the welcome is recorded in
    the app database and sent once, whatever restarts and later sign-ins follow."""
    bot_id, theo = bot.settings.user_id, homeserver.user_id("tnew")
    token = homeserver.login_as("tnew")  # Theo's first sign-in

    since = ""

    def invite_from_bot() -> str | None:
        """A room the bot has invited Theo to since the last look (an incremental sync:
        Synapse caches an initial sync's answer for a while)."""
        nonlocal since
        sync = homeserver.call("GET", f"/_matrix/client/v3/sync?timeout=0{since}", token)
        since = f"&since={sync['next_batch']}"
        for room_id, room in sync.get("rooms", {}).get("invite", {}).items():
            senders = {e["sender"] for e in room["invite_state"]["events"]}
            if bot_id in senders:
                return str(room_id)
        return None

    found: list[str] = []
    wait_until(lambda: found.append(invite_from_bot() or "") or any(found), 30, "the welcome")
    dm = next(room_id for room_id in found if room_id)
    homeserver.call("POST", f"/_matrix/client/v3/join/{quote(dm)}", token, {})

    def welcomes() -> list[dict]:
        messages = homeserver.call(
            "GET", f"/_matrix/client/v3/rooms/{quote(dm)}/messages?dir=b&limit=50", token
        )["chunk"]
        return [m for m in messages if "Welcome to Borough" in str(m["content"].get("body"))]

    wait_until(lambda: len(welcomes()) == 1, 30, "the welcome message")
    (welcome,) = welcomes()
    body, html = welcome["content"]["body"], welcome["content"]["formatted_body"]
    assert body.startswith("**Welcome to Borough, Theo.**")
    server = quote(f":{homeserver.server_name}")
    assert f"[Test Council](https://matrix.to/#/%23tcouncil{server})" in body
    assert f"Your team: [Test Sub-team](https://matrix.to/#/%23tsub{server})" in body
    # Theo is within tdir, so he reads its sealed channel: named to him, as to no outsider,
    # and linked by its room id, since a sealed channel has no address.
    sealed = quote(homeserver.room_id("tsealed"))
    assert f"[Directorate leadership](https://matrix.to/#/{sealed})" in body
    assert "`!profile`" in body and "`!find WORDS`" in body and "`!meet`" in body
    assert '<a href="https://matrix.to/#/%23tsub' in html
    # A restart, and another sign-in: no second welcome.
    bot.stop()
    bot.start()
    homeserver.login_as("tnew")
    theo_asks = Person(homeserver, "tnew", bot_id)
    assert "Borough commands" in theo_asks.ask("!help")  # the bot has synced past the sign-in

    async def recorded() -> int:
        engine = create_engine(app_database_url)
        try:
            async with session_factory(engine)() as session:
                found = await session.scalar(
                    select(func.count()).select_from(WelcomeSent).where(WelcomeSent.user_id == theo)
                )
                return int(found or 0)
        finally:
            await engine.dispose()

    assert asyncio.run(recorded()) == 1
    assert len(welcomes()) == 1
    assert invite_from_bot() is None


NEWCOMERS = ("tfirst1", "tfirst2")
#: Someone the chart does not know, whom onboarding places in the community.
RESIDENT = "tresident"
#: First sign-ins each newcomer makes at once.
SIGN_INS = 6


def welcomes_to(homeserver: Homeserver, bot: ThreadedBot, user_id: str) -> list[str]:
    """Each welcome the bot has sent `user_id`, in any room the two share alone (so a second
    direct room would count too), read as the bot."""
    token = bot.settings.access_token.get_secret_value()
    found = []
    for room_id in homeserver.call("GET", "/_matrix/client/v3/joined_rooms", token)["joined_rooms"]:
        members = homeserver.call(
            "GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/members", token
        )["chunk"]
        if {m["state_key"] for m in members} != {bot.settings.user_id, user_id}:
            continue
        messages = homeserver.call(
            "GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=100", token
        )["chunk"]
        found += [
            m["event_id"]
            for m in messages
            if m["sender"] == bot.settings.user_id
            and "Welcome to Borough" in str(m["content"].get("body"))
        ]
    return found


def test_first_sign_ins_at_once_on_every_process_place_and_welcome_each_person_once(
    homeserver: Homeserver, bot: ThreadedBot, app_database_url: str, tmp_path: Path
) -> None:
    """Two people new to the chart and a resident the chart does not know sign in for the
    first time, six times each and all at once, which nginx spreads over the generic
    workers on the worker topology. Each joins each of their rooms once (one membership
    event of each kind); the bot sends each placed person one welcome, and the resident,
    whom the community placed, none."""
    chart = tmp_path / "chart.yaml"
    # A unit of their own, so that the other tests' answers (`!team`, say) stay as they were.
    unit = "  - {key: tfirst, name: First-day Team, organisation: tcouncil, rooms: [general]}\n"
    newcomers = "".join(
        f"  - {{username: {name}, display_name: Fay {name}, organisation: tcouncil, "
        "units: [tfirst]}\n"
        for name in NEWCOMERS
    )
    text = ORG_FILE.read_text().replace("units:\n", "units:\n" + unit, 1)
    chart.write_text(text.replace("people:\n", "people:\n" + newcomers, 1))
    settings = write_settings(
        tmp_path / "borough.yaml",
        homeserver,
        app_database_url,
        bot={
            "user_id": bot.settings.user_id,
            "access_token": bot.settings.access_token.get_secret_value(),
        },
    )
    result = borough("apply", "-q", str(chart), settings=settings)
    assert result.exit_code == 0, result.output
    for name in NEWCOMERS:
        homeserver.admin(
            "PUT",
            f"/_synapse/admin/v2/users/{quote(homeserver.user_id(name))}",
            {"password": f"pw-{name}-123456"},
        )
    homeserver.synapse.register_user(RESIDENT, f"pw-{RESIDENT}-123456")
    everyone = [*NEWCOMERS, RESIDENT]
    tokens = sign_in_at_once(
        homeserver, [(name, f"pw-{name}-123456") for name in everyone for _ in range(SIGN_INS)]
    )
    # The newcomers' organisation space (onboarding's, by invitation), their unit's space and
    # room (the chart's, restricted: they join them themselves); the community's rooms.
    rooms = {
        **{name: ("tcouncil", "tfirst", "tfirst-general") for name in NEWCOMERS},
        RESIDENT: ("community", "community-welcome"),
    }
    for name in everyone:
        user_id = homeserver.user_id(name)
        placed = homeserver.call("GET", "/_matrix/client/v3/joined_rooms", tokens[name])
        assert {homeserver.room_id(a) for a in rooms[name]} <= set(placed["joined_rooms"])
        for room_id in placed["joined_rooms"]:
            changes = memberships(homeserver, tokens[name], room_id, user_id)
            rule = homeserver.state(room_id, "m.room.join_rules")["join_rule"]
            invited = name != RESIDENT and rule == "invite"
            once = ["join", "invite"] if invited else ["join"]  # newest first
            assert changes == once, (name, room_id, changes)

    def welcomed() -> dict[str, int]:
        return {
            name: len(welcomes_to(homeserver, bot, homeserver.user_id(name))) for name in everyone
        }

    wait_until(
        lambda: all(welcomed()[name] for name in NEWCOMERS), 60, "a welcome for each newcomer"
    )
    # Let the bot sync and look for welcomes to send a few more times: none comes twice.
    assert bot.bot is not None
    ticks = bot.bot.welcomes.ticks + 3
    wait_until(lambda: bot.bot is not None and bot.bot.welcomes.ticks >= ticks, 60, "welcome looks")
    assert welcomed() == {**dict.fromkeys(NEWCOMERS, 1), RESIDENT: 0}

    async def recorded() -> int:
        engine = create_engine(app_database_url)
        try:
            async with session_factory(engine)() as session:
                ids = [homeserver.user_id(name) for name in everyone]
                found = await session.scalar(
                    select(func.count())
                    .select_from(WelcomeSent)
                    .where(WelcomeSent.user_id.in_(ids))
                )
                return int(found or 0)
        finally:
            await engine.dispose()

    assert asyncio.run(recorded()) == len(NEWCOMERS)


# --- microblog --------------------------------------------------------------------------------


def post(
    hs: Homeserver, token: str, room_id: str, content: dict, event_type: str = "m.room.message"
) -> str:
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/{event_type}/{secrets.token_hex(8)}"
    return str(hs.call("PUT", path, token, content)["event_id"])


@pytest.fixture(scope="module")
def channel_post(homeserver: Homeserver, people: dict[str, Person]) -> str:
    sealed = homeserver.room_id("tsealed")
    poster = homeserver.login_as("tadmin")
    root = post(
        homeserver,
        poster,
        sealed,
        {
            "msgtype": "m.text",
            "body": "Budget update for #Budget and #housing: https://example.org/budget",
        },
    )
    post(
        homeserver,
        people["tmgr"].token,
        sealed,
        {
            "msgtype": "m.text",
            "body": "Thanks! #budget",
            "m.relates_to": {"rel_type": "m.thread", "event_id": root},
        },
    )
    post(
        homeserver,
        people["tstaff"].token,
        sealed,
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": "👍"}},
        "m.reaction",
    )
    return root


def test_follow_and_feed_with_counts(people: dict[str, Person], channel_post: str) -> None:
    tara = people["tstaff"]
    assert "You follow **Directorate leadership**" in tara.ask("!follow #tsealed")
    feed = tara.ask("!feed")
    assert "Budget update for #Budget" in feed
    assert "1 reply · 1 reaction" in feed
    assert channel_post.replace("$", "%24") in feed or channel_post in feed  # a link to the post
    assert "Thanks!" not in feed  # thread replies are counted, not listed


def test_outsiders_see_nothing_of_a_sealed_channel(
    people: dict[str, Person], channel_post: str
) -> None:
    partner = people["tcop"]
    assert "I know no channel `#tsealed` that you can read" in partner.ask("!follow #tsealed")
    assert "nothing to show" in partner.ask("!tag #budget")
    assert "#budget" not in partner.ask("!trending")


def test_tags_and_trending(people: dict[str, Person], channel_post: str) -> None:
    tags = people["tstaff"].ask("!tag #BUDGET")
    assert "Budget update" in tags and "Thanks!" in tags
    trending = people["tstaff"].ask("!trending")
    assert "past 24 hours: #budget (2), #housing (1)" in trending
    assert "`x` is not a page number" in people["tstaff"].ask("!feed x")


def test_a_redacted_post_leaves_the_index(
    homeserver: Homeserver, people: dict[str, Person]
) -> None:
    sealed = homeserver.room_id("tsealed")
    poster = homeserver.login_as("tadmin")
    doomed = post(
        homeserver, poster, sealed, {"msgtype": "m.text", "body": "Posted by mistake #oops"}
    )
    tara = people["tstaff"]
    tara.ask("!follow #tsealed")
    assert "Posted by mistake" in tara.ask("!feed")
    homeserver.call(
        "PUT",
        f"/_matrix/client/v3/rooms/{quote(sealed)}/redact/{quote(doomed)}/{secrets.token_hex(4)}",
        poster,
        {},
    )
    assert "Posted by mistake" not in tara.ask("!feed")
    assert "nothing to show" in tara.ask("!tag #oops")


def test_a_bot_killed_during_200_posts_indexes_each_exactly_once(
    homeserver: Homeserver, bot: ThreadedBot, people: dict[str, Person], app_database_url: str
) -> None:
    sealed = homeserver.room_id("tsealed")
    poster = homeserver.login_as("tadmin")
    for i in range(200):
        if i == 60:
            bot.stop()
        if i == 140:
            bot.start()
        post(homeserver, poster, sealed, {"msgtype": "m.text", "body": f"stream {i} #stream"})
    people["tstaff"].ask("!help")  # answered only after the batches before it are indexed

    async def count() -> tuple[int, int]:
        engine = create_engine(app_database_url)
        try:
            async with session_factory(engine)() as session:
                posts = await session.scalar(
                    select(func.count()).select_from(Post).where(Post.body.like("stream %"))
                )
                distinct = await session.scalar(
                    select(func.count(func.distinct(Post.body))).where(Post.body.like("stream %"))
                )
                return int(posts or 0), int(distinct or 0)
        finally:
            await engine.dispose()

    assert asyncio.run(count()) == (200, 200)


def test_find_ranks_people_and_never_searches_hidden_fields(people: dict[str, Person]) -> None:
    tara, tom, tina = people["tstaff"], people["tmgr"], people["tcop"]
    tara.ask("!profile set skills family support, safeguarding")
    found = tom.ask("!find tara")
    assert "Tara Staff" in found and "**1 person matches** (page 1)" in found
    assert "Tara Staff" in tina.ask('!find skill:"family support" org:tcouncil')
    assert "Tom Manager" not in tina.ask('!find skill:"family support"')
    tara.ask("!profile visibility skills staff")
    assert "Nobody matches" in tina.ask('!find skill:"family support"')  # hidden from partners
    assert "Tara Staff" in tom.ask('!find skill:"family support"')  # a colleague still finds her
    assert "`org:` needs a value" in tom.ask("!find org:")
    assert "`page:x` is not a page number" in tom.ask("!find tara page:x")


def test_team_lists_managers_first_and_sub_units(people: dict[str, Person]) -> None:
    answer = people["tstaff"].ask("!team Test Team")
    lines = answer.splitlines()
    assert lines[0] == "**Test Team** (2 people)"
    assert lines[2].startswith("- Tom Manager") and lines[3].startswith("- Tara Staff")
    assert "- Test Sub-team (`!team tsub`, 2 people)" in answer
    assert "I know no unit `Nowhere`" in people["tstaff"].ask("!team Nowhere")


# --- commands typed where people publish ---------------------------------------------------------


def test_a_command_in_a_channel_is_answered_by_direct_message_and_never_posted(
    homeserver: Homeserver,
    bot: ThreadedBot,
    people: dict[str, Person],
    channel_post: str,
    app_database_url: str,
) -> None:
    sealed, bot_id = homeserver.room_id("tsealed"), bot.settings.user_id
    tess, tom = Person(homeserver, "tadmin", bot_id), people["tmgr"]
    asked = post(homeserver, tess.token, sealed, {"msgtype": "m.text", "body": "!whois @tstaff"})
    card = tess.wait_for(lambda ev: quote(asked) in str(ev.get("content", {}).get("body", "")))
    body = card["content"]["body"]
    assert "You asked in **Directorate leadership**" in body and "**Tara Staff**" in body
    assert "Phone: 0207 000 0000" in body  # a staff-only field: fine in Tess's own DM
    # A reader's command in a thread is answered privately too; a `!word` that names no
    # command is a post there, not a command, so it gets no answer at all.
    in_thread = {"rel_type": "m.thread", "event_id": channel_post}
    post(homeserver, tess.token, sealed, {"msgtype": "m.text", "body": "!!! Road closed"})
    post(
        homeserver,
        tom.token,
        sealed,
        {"msgtype": "m.text", "body": "!x", "m.relates_to": in_thread},
    )
    threaded = post(
        homeserver,
        tom.token,
        sealed,
        {"msgtype": "m.text", "body": "!help follow", "m.relates_to": in_thread},
    )
    answer = tom.wait_for(lambda ev: quote(threaded) in str(ev.get("content", {}).get("body", "")))
    assert "`!follow CHANNEL`" in answer["content"]["body"]
    # Everything above is answered by now, in order: nothing of the bot's is in the channel,
    # nothing of the bot's is indexed, and the unknown words got no answer anywhere.
    channel = homeserver.call(
        "GET", f"/_matrix/client/v3/rooms/{quote(sealed)}/messages?dir=b&limit=100", tess.token
    )["chunk"]
    said = [m for m in channel if m["sender"] == bot_id and m["type"] == "m.room.message"]
    assert said == []
    for person in (tess, tom):
        dm = homeserver.call(
            "GET",
            f"/_matrix/client/v3/rooms/{quote(person.room)}/messages?dir=b&limit=20",
            person.token,
        )["chunk"]
        assert not any("Unknown command" in str(m["content"].get("body")) for m in dm)

    async def bot_posts() -> int:
        engine = create_engine(app_database_url)
        try:
            async with session_factory(engine)() as session:
                found = await session.scalar(
                    select(func.count()).select_from(Post).where(Post.author == bot_id)
                )
                return int(found or 0)
        finally:
            await engine.dispose()

    assert asyncio.run(bot_posts()) == 0


def test_unfollow_says_when_there_was_nothing_to_undo(people: dict[str, Person]) -> None:
    tom = people["tmgr"]
    assert "You were not following **Directorate leadership**" in tom.ask("!unfollow #tsealed")
    tom.ask("!follow #tsealed")
    assert "You no longer follow **Directorate leadership**" in tom.ask("!unfollow #tsealed")


def test_huge_and_empty_commands_get_a_short_answer(people: dict[str, Person]) -> None:
    tara = people["tstaff"]
    assert "Unknown command `!xxxx" in tara.ask("!" + "x" * 60_000)
    assert "`!help` lists the commands" in tara.ask("!")
    assert "pages are whole numbers from 1 to 1000" in tara.ask("!tag #x 99999999999999999999")
    assert "pages are whole numbers" in tara.ask("!find a page:99999999999999999999")
    assert "- `!profile set title|bio|" in tara.ask("!help profile set")


def test_a_reader_cannot_pin_a_meeting_on_a_channel(
    homeserver: Homeserver, people: dict[str, Person], channel_post: str
) -> None:
    sealed, tom = homeserver.room_id("tsealed"), people["tmgr"]
    in_thread = {"rel_type": "m.thread", "event_id": channel_post}
    asked = post(
        homeserver,
        tom.token,
        sealed,
        {"msgtype": "m.text", "body": "!meet Town hall", "m.relates_to": in_thread},
    )
    answer = tom.wait_for(lambda ev: quote(asked) in str(ev.get("content", {}).get("body", "")))
    assert "Only the posters of Directorate leadership can start or plan a meeting" in str(
        answer["content"]["body"]
    )
    state = homeserver.call("GET", f"/_matrix/client/v3/rooms/{quote(sealed)}/state", tom.token)
    assert [e for e in state if e["type"] == "im.vector.modular.widgets" and e["content"]] == []
