"""!repost, !digest and blogs against a real Synapse with the modules loaded, the real bot, and
several people posting through the client API. Each command's answer, and what an outsider
does not see."""

from __future__ import annotations

import asyncio
import json
import secrets
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from borough.db import (
    BlogPost,
    DigestSent,
    DirectRoom,
    Follow,
    Repost,
    create_engine,
    session_factory,
)
from borough.digests import Schedule
from borough.settings import BotSettings
from borough.testing.waiting import wait_until
from bots.digest import digest_txn_id
from tests.conftest import Homeserver, borough, write_settings
from tests.integration.running_bot import ThreadedBot

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "sharing.yaml"


class FakeClock:
    """The digest loop's clock, moved by the test instead of waiting for the time of day."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now


def run_db(database_url: str, query: Callable[[Any], Any]) -> Any:
    async def main() -> Any:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine).begin() as session:
                return await query(session)
        finally:
            await engine.dispose()

    return asyncio.run(main())


@pytest.fixture(scope="module")
def bot_account(homeserver: Homeserver) -> tuple[str, str]:
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
        tmp_path_factory.mktemp("bot") / "borough.yaml",
        homeserver,
        app_database_url,
        bot={"user_id": user_id, "access_token": token},
    )


@pytest.fixture(scope="module")
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def bot(
    homeserver: Homeserver,
    app_database_url: str,
    settings: Path,
    bot_account: tuple[str, str],
    clock: FakeClock,
) -> Iterator[ThreadedBot]:
    user_id, token = bot_account
    result = borough("apply", "-q", str(ORG_FILE), settings=settings)
    assert result.exit_code == 0, result.output
    running = ThreadedBot(
        homeserver,
        app_database_url,
        BotSettings(user_id=user_id, access_token=token),
        clock=clock,
        digest_interval=0.2,
        service_token=homeserver.service_token,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


class Person:
    """A person in Element: a token, a DM with the bot, and a sync position to read replies."""

    def __init__(self, hs: Homeserver, username: str, bot_id: str) -> None:
        self.hs, self.username = hs, username
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

    def wait_for(self, matches: Callable[[dict], bool], room: str | None = None) -> dict:
        room = room or self.room
        for _ in range(12):
            sync = self.hs.call(
                "GET", f"/_matrix/client/v3/sync?timeout=5000&since={self.since}", self.token
            )
            self.since = sync["next_batch"]
            joined = sync.get("rooms", {}).get("join", {}).get(room, {})
            for event in [
                *joined.get("state", {}).get("events", []),
                *joined.get("timeline", {}).get("events", []),
            ]:
                if matches(event):
                    return event
        raise AssertionError("the awaited event never came")

    def ask(self, body: str) -> str:
        event_id = self.post(self.room, body)
        reply = self.wait_for(lambda ev: _replies_to(ev, event_id))
        assert reply["content"]["msgtype"] == "m.notice"
        return str(reply["content"]["body"])

    def post(self, room_id: str, body: str, **extra: Any) -> str:
        return send(self.hs, self.token, room_id, {"msgtype": "m.text", "body": body, **extra})

    def messages(self, room_id: str) -> list[dict]:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=100"
        return list(self.hs.call("GET", path, self.token)["chunk"])


def send(
    hs: Homeserver, token: str, room_id: str, content: dict, event_type: str = "m.room.message"
) -> str:
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/{event_type}/{secrets.token_hex(8)}"
    return str(hs.call("PUT", path, token, content)["event_id"])


def _replies_to(event: dict, event_id: str) -> bool:
    relates = event.get("content", {}).get("m.relates_to", {})
    return (
        event["type"] == "m.room.message"
        and relates.get("m.in_reply_to", {}).get("event_id") == event_id
    )


@pytest.fixture(scope="module")
def people(homeserver: Homeserver, bot: ThreadedBot) -> dict[str, Person]:
    return {
        name: Person(homeserver, name, bot.settings.user_id)
        for name in ("tadmin", "tmgr", "tstaff", "tcop")
    }


def upload(hs: Homeserver, token: str, data: bytes, content_type: str) -> str:
    request = urllib.request.Request(
        hs.synapse.base_url + "/_matrix/media/v3/upload?filename=photo.png",
        method="POST",
        data=data,
        headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        return str(json.loads(response.read())["content_uri"])


def link(room_id: str, event_id: str) -> str:
    return f"https://matrix.to/#/{room_id}/{event_id}?via=test"


# --- !repost ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lead_post(homeserver: Homeserver, people: dict[str, Person]) -> str:
    event_id = people["tadmin"].post(homeserver.room_id("lead"), "Budget agreed for #housing")
    people["tadmin"].ask("!help repost")  # answered once the post is indexed
    return event_id


def test_repost_into_a_narrower_sealed_channel_with_attribution(
    homeserver: Homeserver, people: dict[str, Person], lead_post: str, app_database_url: str
) -> None:
    tom = people["tmgr"]
    lead, team = homeserver.room_id("lead"), homeserver.room_id("teamnews")
    assert tom.ask(f"!repost {link(lead, lead_post)} #teamnews") == "Reposted to **Team news**."
    boost = next(m for m in tom.messages(team) if "org.borough.repost" in m["content"])
    body = boost["content"]["body"]
    assert "**Tom Manager** reposted **Tess Admin** from **Leadership**" in body
    assert "> Budget agreed for #housing" in body and quote(lead_post) in body
    assert boost["content"]["org.borough.repost"]["event_id"] == lead_post
    assert boost["content"]["m.mentions"] == {}  # nobody is pinged again
    # Asked again: recorded once, posted once.
    assert "already reposted in **Team news**" in tom.ask(f"!repost {lead_post} #teamnews")
    rows = run_db(
        app_database_url,
        lambda s: s.scalars(select(Repost).where(Repost.source_event_id == lead_post)),
    )
    assert [(r.target_room_id, r.reposter) for r in rows] == [(team, tom.hs.user_id("tmgr"))]
    assert len([m for m in tom.messages(team) if "org.borough.repost" in m["content"]]) == 1


def test_a_sealed_post_never_goes_to_a_wider_audience(
    homeserver: Homeserver, people: dict[str, Person], lead_post: str
) -> None:
    tom = people["tmgr"]
    lead = homeserver.room_id("lead")
    for channel, name in (
        ("#open", "Open updates"),
        ("#news", "Public news"),
        ("#jointwork", "Joint work"),
    ):
        answer = tom.ask(f"!repost {link(lead, lead_post)} {channel}")
        assert answer.startswith("**Leadership**") and f"**{name}**" in answer
        assert "cannot be reposted" in answer
    assert not any(
        "org.borough.repost" in m["content"] for m in tom.messages(homeserver.room_id("news"))
    )


def test_repost_needs_the_right_to_post_and_to_read(
    homeserver: Homeserver, people: dict[str, Person], lead_post: str
) -> None:
    lead = homeserver.room_id("lead")
    assert "You may not post in **Team news**" in people["tstaff"].ask(
        f"!repost {link(lead, lead_post)} #teamnews"
    )
    # An outsider learns nothing of a sealed post, and cannot name a sealed channel.
    outsider = people["tcop"].ask(f"!repost {link(lead, lead_post)} #jointwork")
    assert outsider == "I know no channel post at that link that you can read."
    public_post = people["tmgr"].post(homeserver.room_id("news"), "Open day on Friday")
    people["tmgr"].ask("!help")
    assert "I know no channel `#lead` that you can read" in people["tcop"].ask(
        f"!repost {public_post} #lead"
    )


def test_an_open_post_goes_to_a_sealed_channel_but_not_to_the_web(
    homeserver: Homeserver, people: dict[str, Person]
) -> None:
    tom = people["tmgr"]
    open_post = tom.post(homeserver.room_id("open"), "Staff survey closes Monday")
    tom.ask("!help")
    assert "cannot be reposted to **Public news**" in tom.ask(f"!repost {open_post} #news")
    assert tom.ask(f"!repost {open_post} #lead") == "Reposted to **Leadership**."


def test_an_open_post_stays_inside_its_organisation(
    homeserver: Homeserver, people: dict[str, Person]
) -> None:
    """Open updates is open to Test Council; Joint updates to Test Council and Test Police."""
    tom = people["tmgr"]
    council_post = tom.post(homeserver.room_id("open"), "Council car park closed Friday")
    joint_post = tom.post(homeserver.room_id("jointopen"), "Joint patrol on Saturday")
    tom.ask("!help")
    assert tom.ask(f"!repost {council_post} #jointopen") == (
        "**Open updates** is open only to its organisation, and **Joint updates** reaches "
        "people outside it, so that post cannot be reposted there."
    )
    assert not any(
        "org.borough.repost" in m["content"] for m in tom.messages(homeserver.room_id("jointopen"))
    )
    assert tom.ask(f"!repost {joint_post} #open") == "Reposted to **Open updates**."


def test_repost_bad_input_gets_usage(people: dict[str, Person]) -> None:
    tom = people["tmgr"]
    commands = tom.ask("!help")
    assert "`!repost LINK CHANNEL`" in commands
    assert "`!digest daily|weekly|off [TIME] [TIMEZONE]`" in commands
    assert "`!blog latest UNIT…`" in commands
    assert "`channel` is missing. Usage: `!repost LINK CHANNEL`" in tom.ask("!repost $abc")
    assert "is not a link to a post" in tom.ask("!repost https://example.org/x #lead")
    assert "I know no channel post at that link" in tom.ask("!repost $nosuchevent #lead")
    assert "Too many words" in tom.ask("!repost $a #lead extra")


# --- blogs ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def blog_posts(homeserver: Homeserver, people: dict[str, Person]) -> dict[str, str]:
    tom, tess = people["tmgr"], people["tadmin"]
    public_blog, private_blog = homeserver.room_id("tteam-pblog"), homeserver.room_id("tdir-blog")
    story = tom.post(
        public_blog,
        "# Our new family hub\n\nWe opened **today**. <script>alert(1)</script>\n\n- toys\n- tea",
    )
    mxc = upload(homeserver, tom.token, b"\x89PNG\r\n\x1a\n not really", "image/png")
    photo = send(
        homeserver,
        tom.token,
        public_blog,
        {
            "msgtype": "m.image",
            "body": "The hub's front door",
            "url": mxc,
            "info": {"mimetype": "image/png"},
        },
    )
    chat = tom.post(public_blog, "Anyone seen my mug?")
    notes = tess.post(private_blog, "## Leadership notes\n\nFor the directorate only.")
    tom.ask("!help blog")  # answered once the blog rooms are indexed
    return {"story": story, "photo": photo, "chat": chat, "notes": notes, "mxc": mxc}


def test_blog_latest_lists_readable_posts_only(
    people: dict[str, Person], blog_posts: dict[str, str]
) -> None:
    public = people["tcop"].ask("!blog latest tteam")
    assert "**Test Team: latest blog posts**" in public
    assert "**Our new family hub** by Tom Manager" in public and "1 attachment" in public
    assert "Anyone seen my mug" not in public  # chat is not a post
    # A members-only blog: its unit's members read it, the units below included (a blog room
    # reaches the whole subtree); someone outside the unit does not.
    for member in ("tadmin", "tstaff"):
        assert "**Leadership notes** by Tess Admin" in people[member].ask("!blog latest tdir")
    assert people["tcop"].ask("!blog latest Test Directorate") == (
        "No blog posts of **Test Directorate** that you can read."
    )
    assert "I know no unit or blog `Nowhere`" in people["tcop"].ask("!blog latest Nowhere")
    assert "`unit` is missing" in people["tcop"].ask("!blog latest")


def test_a_partnerships_blog_is_read_by_its_key_or_its_rooms_name(
    homeserver: Homeserver, people: dict[str, Person], blog_posts: dict[str, str]
) -> None:
    tina = people["tcop"]
    tina.post(homeserver.room_id("tpartners-blog"), "# Joint patrols\n\nStarting Monday.")
    tina.ask("!help")  # answered once the post is indexed
    by_key = people["tstaff"].ask("!blog latest tpartners")
    assert "**Test Partnership blog: latest blog posts**" in by_key
    assert "**Joint patrols** by Tina Cop" in by_key
    assert "Joint patrols" in tina.ask("!blog latest test partnership blog")
    # Not a member of the partnership: its members-only blog shows nothing.
    assert "No blog posts of **Test Partnership blog**" in people["tadmin"].ask(
        "!blog latest tpartners"
    )


def test_blog_posts_are_stored_sanitised_with_media(
    app_database_url: str, blog_posts: dict[str, str]
) -> None:
    post = run_db(app_database_url, lambda s: s.get(BlogPost, blog_posts["story"]))
    assert post.title == "Our new family hub" and post.unit == "tteam" and post.is_public
    assert "<strong>today</strong>" in post.html and "<li>toys</li>" in post.html
    assert "script" not in post.html and "alert" not in post.html + post.summary
    assert post.media == [
        {"url": blog_posts["mxc"], "mimetype": "image/png", "alt": "The hub's front door"}
    ]
    notes = run_db(app_database_url, lambda s: s.get(BlogPost, blog_posts["notes"]))
    assert notes.unit == "tdir" and not notes.is_public


def test_blog_edits_update_and_redactions_delete(
    homeserver: Homeserver,
    people: dict[str, Person],
    blog_posts: dict[str, str],
    app_database_url: str,
) -> None:
    tom = people["tmgr"]
    public_blog = homeserver.room_id("tteam-pblog")
    send(
        homeserver,
        tom.token,
        public_blog,
        {
            "msgtype": "m.text",
            "body": "* # Our family hub is open",
            "m.new_content": {"msgtype": "m.text", "body": "# Our family hub is open\n\nAll week."},
            "m.relates_to": {"rel_type": "m.replace", "event_id": blog_posts["story"]},
        },
    )
    assert "**Our family hub is open**" in tom.ask("!blog latest tteam")
    homeserver.call(
        "PUT",
        f"/_matrix/client/v3/rooms/{quote(public_blog)}/redact/{quote(blog_posts['photo'])}/{secrets.token_hex(4)}",
        tom.token,
        {},
    )
    tom.ask("!help")
    assert run_db(app_database_url, lambda s: s.get(BlogPost, blog_posts["story"])).media == []
    homeserver.call(
        "PUT",
        f"/_matrix/client/v3/rooms/{quote(public_blog)}/redact/{quote(blog_posts['story'])}/{secrets.token_hex(4)}",
        tom.token,
        {},
    )
    assert "No blog posts of **Test Team**" in tom.ask("!blog latest tteam")


def test_a_blog_made_members_only_leaves_the_outsiders_list(
    homeserver: Homeserver, people: dict[str, Person], app_database_url: str
) -> None:
    tom, tina = people["tmgr"], people["tcop"]
    blog = homeserver.room_id("tteam-pblog")
    story = tom.post(blog, "# Summer fair\n\nSee you there.")
    assert "**Summer fair**" in tina.ask("!blog latest tteam")
    path = f"/_matrix/client/v3/rooms/{quote(blog)}/state/org.borough.blog/"
    homeserver.call("PUT", path, homeserver.service_token, {"unit": "tteam", "public": False})
    try:
        assert "No blog posts of **Test Team**" in tina.ask("!blog latest tteam")
        assert "**Summer fair**" in tom.ask("!blog latest tteam")  # members still read it
        assert not run_db(app_database_url, lambda s: s.get(BlogPost, story)).is_public
    finally:
        homeserver.call("PUT", path, homeserver.service_token, {"unit": "tteam", "public": True})
    assert "**Summer fair**" in tina.ask("!blog latest tteam")


# --- !digest ----------------------------------------------------------------------------------


def digests_in(person: Person, room_id: str) -> list[str]:
    return [
        m["content"]["body"]
        for m in person.messages(room_id)
        if m.get("type") == "m.room.message"
        and str(m.get("content", {}).get("body", "")).startswith("**Your daily digest**")
    ]


def test_digest_bad_input_gets_usage(people: dict[str, Person]) -> None:
    tara = people["tstaff"]
    assert "`hourly` is not a valid frequency" in tara.ask("!digest hourly")
    assert "`25:00` is not a time" in tara.ask("!digest daily 25:00")
    assert "`Mars/Olympus` is not a timezone" in tara.ask("!digest daily 08:00 Mars/Olympus")
    assert "`frequency` is missing" in tara.ask("!digest")
    assert "takes nothing after it" in tara.ask("!digest off 08:00")


def test_a_digest_comes_once_across_a_restart_and_holds_only_what_the_reader_may_read(
    homeserver: Homeserver,
    bot: ThreadedBot,
    clock: FakeClock,
    people: dict[str, Person],
    app_database_url: str,
) -> None:
    tara, tina = people["tstaff"], people["tcop"]
    lead, news = homeserver.room_id("lead"), homeserver.room_id("news")
    assert "You follow" in tara.ask("!follow #lead")
    assert "You follow" in tina.ask("!follow #news")
    assert "I know no channel `#lead`" in tina.ask("!follow #lead")
    # Tina once followed #lead (say, before she left it): the digest must still leave it out.
    run_db(
        app_database_url,
        lambda s: _add(s, Follow(user_id=homeserver.user_id("tcop"), room_id=lead)),
    )
    clock.now = datetime.now(UTC)
    people["tadmin"].post(lead, "Sealed: restructure plans")
    people["tadmin"].post(news, "Public: the library reopens")

    zone = ZoneInfo("Europe/London")
    at = (clock.now + timedelta(minutes=5)).astimezone(zone).replace(second=0, microsecond=0)
    hhmm = f"{at:%H:%M}"
    for person in (tara, tina):
        answer = person.ask(f"!digest daily {hhmm}")
        assert (
            f"**daily** digest of the channels you follow at **{hhmm}** (Europe/London)" in answer
        )
    # Nothing is due before the chosen time.
    assert bot.bot is not None
    ticks = bot.bot.digests.ticks
    wait_until(
        lambda: bot.bot is not None and bot.bot.digests.ticks >= ticks + 3,
        30,
        "three more digest ticks",
    )
    assert digests_in(tara, tara.room) == []

    clock.now = at.astimezone(UTC) + timedelta(minutes=1)
    digest = tara.wait_for(
        lambda ev: str(ev.get("content", {}).get("body", "")).startswith("**Your daily digest**")
    )["content"]["body"]
    assert "Sealed: restructure plans" in digest and "**Tess Admin** in **Leadership**" in digest
    outsider = tina.wait_for(
        lambda ev: str(ev.get("content", {}).get("body", "")).startswith("**Your daily digest**")
    )["content"]["body"]
    assert "the library reopens" in outsider and "restructure" not in outsider

    bot.stop()
    bot.start()
    wait_until(
        lambda: bot.bot is not None and bot.bot.digests.ticks >= 3,
        30,
        "three digest ticks after the restart",
    )
    assert "Borough commands" in tara.ask("!help")  # the restarted bot is up and answering
    assert len(digests_in(tara, tara.room)) == 1
    assert len(digests_in(tina, tina.room)) == 1
    period = f"daily:{at.date().isoformat()}"
    sent = run_db(
        app_database_url, lambda s: s.scalars(select(DigestSent).where(DigestSent.period == period))
    )
    assert sorted(r.user_id for r in sent) == [
        homeserver.user_id("tcop"),
        homeserver.user_id("tstaff"),
    ]


def test_a_digest_opens_a_dm_when_there_is_none(
    homeserver: Homeserver,
    bot: ThreadedBot,
    clock: FakeClock,
    people: dict[str, Person],
    app_database_url: str,
) -> None:
    tom = people["tmgr"]
    assert "You follow" in tom.ask("!follow #news")
    assert "**daily** digest" in tom.ask("!digest daily 07:00 UTC")
    # Forget the DM the command came from: the bot must open one of its own.
    run_db(
        app_database_url,
        lambda s: s.execute(
            DirectRoom.__table__.delete().where(DirectRoom.user_id == homeserver.user_id("tmgr"))
        ),
    )
    people["tadmin"].post(homeserver.room_id("news"), "Public: bin day moves to Tuesday")
    tom.ask("!help")
    assert bot.bot is not None
    clock.now = clock.now + timedelta(days=1)
    invite = _wait_for_invite(tom, bot.settings.user_id)
    homeserver.call("POST", f"/_matrix/client/v3/join/{quote(invite)}", tom.token, {})
    wait_until(
        lambda: any("bin day" in b for b in _bodies(tom, invite)), 30, "the digest in the new DM"
    )
    dm = run_db(app_database_url, lambda s: s.get(DirectRoom, homeserver.user_id("tmgr")))
    assert dm.room_id == invite != tom.room


def test_a_digest_sent_just_before_a_crash_is_not_sent_again(
    homeserver: Homeserver,
    bot: ThreadedBot,
    clock: FakeClock,
    people: dict[str, Person],
    app_database_url: str,
    bot_account: tuple[str, str],
) -> None:
    tess = people["tadmin"]
    user_id = homeserver.user_id("tadmin")
    clock.now = datetime.now(UTC)
    at = (clock.now + timedelta(minutes=3)).replace(second=0, microsecond=0)
    assert "You follow" in tess.ask("!follow #open")
    assert "**daily** digest" in tess.ask(f"!digest daily {at:%H:%M} UTC")
    people["tmgr"].post(homeserver.room_id("open"), "Open: the canteen is closed on Friday")
    tess.ask("!help")
    # The crash: the period was recorded and the message sent, but not marked as sent.
    period = Schedule("daily", at.time(), "UTC").period(at)
    txn_id = digest_txn_id(user_id, period)
    run_db(
        app_database_url,
        lambda s: _add(s, DigestSent(user_id=user_id, period=period, txn_id=txn_id)),
    )
    path = f"/_matrix/client/v3/rooms/{quote(tess.room)}/send/m.room.message/{txn_id}"
    first = homeserver.call(
        "PUT",
        path,
        bot_account[1],
        {"msgtype": "m.notice", "body": "**Your daily digest**\n\n(before the crash)"},
    )["event_id"]

    clock.now = at + timedelta(minutes=1)

    def marked() -> bool:
        row = run_db(app_database_url, lambda s: s.get(DigestSent, (user_id, period)))
        return row.sent_at is not None

    wait_until(marked, 30, "the digest marked sent")
    row = run_db(app_database_url, lambda s: s.get(DigestSent, (user_id, period)))
    assert row.event_id == first  # Synapse answered the retry with the first event
    assert len(digests_in(tess, tess.room)) == 1


async def _add(session: Any, row: Any) -> None:
    session.add(row)


def _bodies(person: Person, room_id: str) -> list[str]:
    return [str(m.get("content", {}).get("body", "")) for m in person.messages(room_id)]


def _wait_for_invite(person: Person, inviter: str) -> str:
    for _ in range(12):
        sync = person.hs.call(
            "GET", f"/_matrix/client/v3/sync?timeout=5000&since={person.since}", person.token
        )
        person.since = sync["next_batch"]
        for room_id, room in sync.get("rooms", {}).get("invite", {}).items():
            if any(
                e.get("sender") == inviter for e in room.get("invite_state", {}).get("events", [])
            ):
                return str(room_id)
    raise AssertionError("no invite came")


# --- profile mirroring (borough apply) ---------------------------------------------------------


def profile_of(hs: Homeserver, username: str) -> dict[str, Any]:
    return dict(hs.call("GET", f"/_matrix/client/v3/profile/{quote(hs.user_id(username))}"))


def test_a_persons_own_public_field_reaches_their_matrix_profile_and_apply_keeps_it(
    homeserver: Homeserver, people: dict[str, Person], settings: Path
) -> None:
    sam = people["tstaff"]
    assert "visible to **partners**" in sam.ask("!profile set pronouns they/them")
    assert "org.borough.pronouns" not in profile_of(homeserver, "tstaff")  # not public yet
    assert "now visible to **public**" in sam.ask("!profile visibility pronouns public")
    assert profile_of(homeserver, "tstaff")["org.borough.pronouns"] == "they/them"
    sam.ask("!profile visibility pronouns staff")
    assert "org.borough.pronouns" not in profile_of(homeserver, "tstaff")
    sam.ask("!profile visibility pronouns public")
    sam.ask("!profile set pronouns she/her")
    assert profile_of(homeserver, "tstaff")["org.borough.pronouns"] == "she/her"
    # The org chart does not set pronouns, so apply leaves the person's own public field be.
    plan = borough("plan", str(ORG_FILE), settings=settings)
    assert "No changes." in plan.output, plan.output


def test_apply_mirrors_avatar_and_public_fields_and_a_second_apply_changes_nothing(
    homeserver: Homeserver, bot: ThreadedBot, settings: Path, app_database_url: str
) -> None:
    tom = profile_of(homeserver, "tmgr")
    assert tom["displayname"] == "Tom Manager"
    assert tom["avatar_url"].startswith("mxc://")
    assert tom["org.borough.job_title"] == "Team Manager"
    assert tom["org.borough.bio"] == "Runs the team"
    assert not any("phone" in key for key in tom)  # staff-only: never on the open profile
    assert "org.borough.bio" not in profile_of(homeserver, "tstaff")
    again = borough("plan", str(ORG_FILE), settings=settings)
    assert again.exit_code == 0, again.output
    assert "No changes. The homeserver matches the org chart." in again.output


def test_a_changed_field_is_pushed_and_a_hidden_one_removed_without_a_new_upload(
    homeserver: Homeserver, bot: ThreadedBot, settings: Path, app_database_url: str, tmp_path: Path
) -> None:
    before = profile_of(homeserver, "tmgr")["avatar_url"]
    changed = tmp_path / "org.yaml"
    changed.write_text(
        ORG_FILE.read_text(encoding="utf-8")
        .replace("job_title: Team Manager", "job_title: Head of Team")
        .replace("bio: {value: Runs the team, visibility: public}", "bio: Runs the team")
        .replace("avatar: avatars/tmgr.png", f"avatar: {ORG_FILE.parent / 'avatars' / 'tmgr.png'}"),
        encoding="utf-8",
    )
    plan = borough("plan", str(changed), settings=settings)
    assert (
        "~ @tmgr:" in plan.output
        and "set org.borough.job_title; remove org.borough.bio" in plan.output
    )
    result = borough("apply", "-q", str(changed), settings=settings)
    assert result.exit_code == 0, result.output
    tom = profile_of(homeserver, "tmgr")
    assert tom["org.borough.job_title"] == "Head of Team" and "org.borough.bio" not in tom
    assert tom["avatar_url"] == before  # same file, same upload
    assert "No changes" in borough("plan", str(changed), settings=settings).output


def test_export_keeps_blogs_and_public_channels(
    bot: ThreadedBot, settings: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "exported.yaml"
    result = borough("export", "-o", str(exported), settings=settings)
    assert result.exit_code == 0, result.output
    text = exported.read_text(encoding="utf-8")
    assert "public: true" in text and "pblog" in text
    plan = borough("plan", str(exported), settings=settings)
    assert plan.exit_code == 0, plan.output
    assert "No changes." in plan.output, plan.output


def test_an_unreadable_avatar_is_a_clear_error(
    bot: ThreadedBot, settings: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "org.yaml"
    broken.write_text(ORG_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    result = borough("plan", str(broken), settings=settings)
    assert result.exit_code == 2
    line = next(n for n, text in enumerate(broken.read_text().splitlines(), 1) if "avatar:" in text)
    assert f"{broken}:{line}:5 people[" in result.output, result.output
    assert "].avatar: cannot read" in result.output and "Traceback" not in result.output
