"""The command registry, its parsing of numbers and help, profile visibility, and what the
index takes as a post."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from borough import events
from borough.db import ChannelMember, Post, Profile, create_engine, migrate, session_factory
from borough.directory import EXACT_TOTAL, Card, Place
from borough.visibility import Viewer, may_see
from borough.wording import MAX_PAGE, count, quoted
from bots.assembly import command_registry
from bots.commands import Arg, CommandRegistry, Commands, Request, UnknownCommand, UsageError
from bots.index import Indexer
from bots.meet import parse_duration, parse_local_time, zone
from bots.profiles import ProfileDirectory, parse_query, render_card
from bots.replies import notice
from bots.welcome import Newcomer, welcome_text

registry = command_registry()


def test_parsing_binds_typed_arguments_and_longest_names() -> None:
    invocation = registry.parse('!profile set skills "family support, safeguarding"')
    assert invocation is not None
    assert invocation.command.name == "profile set"
    assert invocation.arguments == {"field": "skills", "value": "family support, safeguarding"}
    assert registry.parse("just chatting") is None
    assert registry.parse("!PROFILE") is not None


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ("!nope", "Unknown command `!nope`"),
        ("!profile set", "`field` is missing"),
        ("!profile set shoe 9", "`shoe` is not a valid field"),
        ("!profile visibility bio everyone", "`everyone` is not a valid audience"),
        ('!whois "open', "a quote is not closed"),
        ("!profile extra words", "Too many words"),
    ],
)
def test_bad_commands_get_usage_answers(body: str, answer: str) -> None:
    with pytest.raises(UsageError, match=answer.replace("`", "`")):
        registry.parse(body)


def test_help_comes_from_the_registrations() -> None:
    declared = Commands(str)

    @declared.command("ping", Arg("target", "who to ping", is_optional=True), help="Say hello.")
    async def ping(service: str, request: Request, target: str | None) -> str:
        return "pong"

    local = CommandRegistry([declared])
    assert "- `!ping [TARGET]`: Say hello." in local.help()
    assert "`target`: who to ping" in local.help("ping")
    with pytest.raises(UsageError, match="There is no `!pong` command"):
        local.help("pong")


def test_an_alias_runs_its_command_and_shows_in_its_help() -> None:
    declared = Commands(str)

    @declared.command("meet list", help="Planned meetings.", aliases=("meetings",))
    async def meet_list(service: str, request: Request) -> str:
        return "none"

    local = CommandRegistry([declared])
    invocation = local.parse("!meetings")
    assert invocation is not None and invocation.command.name == "meet list"
    assert "- `!meet list` (also `!meetings`): Planned meetings." in local.help()
    assert local.help("meetings") == local.help("meet list")
    clashing = Commands(str)

    @clashing.command("meetings", help="Another command by the alias's name.")
    async def meetings(service: str, request: Request) -> str:
        return "other"

    with pytest.raises(ValueError, match="two commands are called `!meetings`"):
        CommandRegistry([declared, clashing])


def test_replies_are_sanitised_notices() -> None:
    content = notice("**hi** <script>alert(1)</script> [x](javascript:alert(1))", reply_to="$e")
    assert content["msgtype"] == "m.notice"
    assert "<strong>hi</strong>" in content["formatted_body"]
    assert (
        "<script>" not in content["formatted_body"]
        and "javascript:" not in content["formatted_body"]
    )
    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$e"}}


def test_visibility_levels() -> None:
    colleague = Viewer("@a:hs", "council", "staff")
    partner = Viewer("@b:hs", "police", "partner")
    resident = Viewer("@c:hs", None, None)
    owner = ("@o:hs", "council")
    assert may_see(colleague, *owner, "staff") and may_see(partner, *owner, "partners")
    assert not may_see(partner, *owner, "staff")
    assert may_see(resident, *owner, "public") and not may_see(resident, *owner, "partners")
    assert may_see(Viewer("@o:hs", None, None), *owner, "staff")  # one's own fields


def test_posts_yield_hashtags_mentions_and_links_but_not_aliases() -> None:
    from bots.index import parse_text

    parsed = parse_text(
        "Budget for #Budget and #housing: ask @tmgr:hs, see #council-news:hs and https://a.example/x?y=1)."
    )
    assert parsed.tags == {"budget", "housing"}
    assert parsed.mentions == {"@tmgr:hs"}
    assert parsed.links == ("https://a.example/x?y=1",)


PAGE_RANGE = f"pages are whole numbers from 1 to {MAX_PAGE}"


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ("!tag #x 99999999999999999999", PAGE_RANGE),
        ("!feed 0", PAGE_RANGE),
        (f"!feed {MAX_PAGE + 1}", PAGE_RANGE),
        ("!feed ²", PAGE_RANGE),  # a digit to str.isdigit, not to int()
        ("!meet cancel 99999999999999999999", "`99999999999999999999` is not a meeting number"),
        ("!meet cancel #x", "`#x` is not a meeting number"),
    ],
)
def test_numbers_out_of_range_get_the_range_not_an_overflow(body: str, answer: str) -> None:
    with pytest.raises(UsageError, match=answer):
        registry.parse(body)


def test_a_page_in_range_is_bound_as_a_number() -> None:
    invocation = registry.parse(f"!tag #x {MAX_PAGE}")
    assert invocation is not None and invocation.arguments == {"hashtag": "#x", "page": MAX_PAGE}
    invocation = registry.parse("!feed")
    assert invocation is not None and invocation.arguments == {"page": None}


def test_find_bounds_its_page_filter() -> None:
    with pytest.raises(
        UsageError, match=f"`page:99999999999999999999` is not a page number: {PAGE_RANGE}"
    ):
        parse_query(["a", "page:99999999999999999999"])
    assert parse_query(["a", "page:3"]).page == 3


def test_huge_durations_and_far_dates_get_a_usage_answer() -> None:
    with pytest.raises(UsageError, match="from a minute to a year ahead"):
        parse_duration("99999999999h")
    now = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
    with pytest.raises(UsageError, match="at most a year ahead"):
        parse_local_time("9999-12-31", "23:59", zone("America/New_York"), now)
    with pytest.raises(UsageError, match="already passed"):
        parse_local_time("0001-01-01", "00:00", zone("Pacific/Kiritimati"), now)


def test_answers_quote_only_a_short_prefix_of_what_was_typed() -> None:
    with pytest.raises(UnknownCommand) as unknown:
        registry.parse("!" + "x" * 60_000)
    assert "Unknown command `!xxxx" in str(unknown.value) and len(str(unknown.value)) < 500
    with pytest.raises(UsageError) as bad_choice:
        registry.parse("!profile set " + "y" * 999)
    assert len(str(bad_choice.value)) < 500
    assert quoted("a`b\n c") == "`a'b c`"


def test_a_bare_prefix_points_to_help() -> None:
    with pytest.raises(UnknownCommand, match="`!help` lists the commands"):
        registry.parse("!")
    with pytest.raises(UnknownCommand, match="`!help` lists the commands"):
        registry.parse("  !  ")


def test_help_explains_a_sub_command() -> None:
    invocation = registry.parse("!help profile set")
    assert invocation is not None and invocation.arguments == {"command": "profile set"}
    answer = registry.help("profile set")
    assert answer.startswith("- `!profile set title|bio|") and "!profile visibility" not in answer
    assert "!profile visibility" in registry.help("profile")
    with pytest.raises(UsageError, match="There is no `!profile colour` command"):
        registry.help("profile colour")


def test_admin_commands_are_listed_only_to_admins() -> None:
    staff, admin = registry.help(), registry.help(is_admin=True)
    assert "!admin" not in staff and "- `!admin suspend PERSON REASON…`" in admin
    assert "- `!meet [TITLE…]`" in staff and "- `!meet [TITLE…]`" in admin
    assert "`!admin people`" in registry.help("admin", is_admin=True)
    with pytest.raises(UsageError, match="There is no `!admin` command"):
        registry.help("admin")
    with pytest.raises(UnknownCommand) as unknown:
        registry.parse("!frobnicate")
    assert "`!meet`" in str(unknown.value) and "`!admin`" not in str(unknown.value)


def test_help_says_where_the_bot_cannot_hear() -> None:
    answer = registry.help()
    assert "Spaces have no chat, so I cannot hear you there" in answer
    assert "every room of your teams, channels and partnerships" in answer


def test_a_bad_choice_names_the_thing_and_its_choices() -> None:
    with pytest.raises(
        UsageError, match="`nope` is not a valid widget: choose `people`, `timeline` or `townhall`"
    ):
        registry.parse("!widget nope")


def test_counts_agree_with_their_nouns() -> None:
    assert count(1, "person", "people") == "1 person"
    assert count(2, "person", "people") == "2 people"
    assert count(0, "reaction") == "0 reactions"
    assert count(1, "reply", "replies") == "1 reply"


async def test_the_bots_own_notices_in_a_channel_are_never_posts(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    await migrate(url)
    engine = create_engine(url)
    indexer = Indexer("@bot:hs")
    channel = {"type": events.CHANNEL, "state_key": "", "content": {"posters": ["@lead:hs"]}}

    def message(event_id: str, sender: str, msgtype: str) -> dict[str, object]:
        content = {"msgtype": msgtype, "body": f"{event_id} #budget"}
        return {
            "type": "m.room.message",
            "event_id": event_id,
            "sender": sender,
            "content": content,
        }

    try:
        async with session_factory(engine).begin() as session:
            await indexer.state(session, "!c:hs", [channel])
            for event in (
                message("$answer", "@bot:hs", "m.notice"),  # an answer or a reminder
                message("$boost", "@bot:hs", "m.text"),  # a `!repost`
                message("$news", "@lead:hs", "m.notice"),  # a person's notice is a post
            ):
                await indexer.timeline(session, "!c:hs", event)
        async with session_factory(engine)() as session:
            assert set(await session.scalars(select(Post.event_id))) == {"$boost", "$news"}
    finally:
        await engine.dispose()


async def test_members_are_kept_for_channels_and_blogs_not_for_talk_rooms(tmp_path: Path) -> None:
    """`!blog latest` reads a blog's members from `channel_members`, as the feeds read a
    channel's; the bot sits in team rooms too, whose members are not kept."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    await migrate(url)
    engine = create_engine(url)
    known_blogs = {"!known-blog:hs"}
    indexer = Indexer("@bot:hs", is_blog=known_blogs.__contains__)
    channel = {"type": events.CHANNEL, "state_key": "", "content": {"posters": []}}
    blog = {"type": events.BLOG, "state_key": "", "content": {"unit": "comms"}}

    def joined(user_id: str) -> dict[str, object]:
        return {"type": "m.room.member", "state_key": user_id, "content": {"membership": "join"}}

    try:
        async with session_factory(engine).begin() as session:
            await indexer.state(session, "!channel:hs", [joined("@a:hs"), channel])
            await indexer.state(session, "!new-blog:hs", [joined("@b:hs"), blog])
            await indexer.state(session, "!known-blog:hs", [joined("@c:hs")])
            await indexer.state(session, "!team:hs", [joined("@d:hs")])
        async with session_factory(engine)() as session:
            kept = set(
                (await session.execute(select(ChannelMember.room_id, ChannelMember.user_id))).all()
            )
        assert kept == {
            ("!channel:hs", "@a:hs"),
            ("!new-blog:hs", "@b:hs"),
            ("!known-blog:hs", "@c:hs"),
        }
    finally:
        await engine.dispose()


def test_a_profile_card_is_laid_out_line_by_line_with_names_not_keys() -> None:
    """Element showed the card as one grey paragraph joined by " - ", with keys
    (`Organisation: northbridge`); the card's HTML now has a line per detail, by name."""
    card = Card(
        user_id="@tara:hs",
        display_name="Tara Staff",
        title="Housing officer",
        organisation="northbridge",
        units=("comms",),
        manager_name="Tom Manager",
        email=None,
        fields=(("bio", "Hello <script>x</script>"),),
    )
    page = "https://widgets.example/widgets/people/@tara:hs"
    text = render_card(card, Place("Northbridge Council", ("Communications",)), page)
    html = notice(text)["formatted_body"]
    assert html.startswith("<p><strong>Tara Staff</strong> — Housing officer</p>\n<ul>")
    assert "<li>Organisation: Northbridge Council</li>" in html
    assert "<li>Unit: Communications</li>" in html and "<li>Manager: Tom Manager</li>" in html
    assert "northbridge" not in html and "comms" not in html
    assert "<script>" not in html
    assert "\n- Organisation: Northbridge Council\n" in text  # the plain body reads too
    assert f'<li>Profile page: <a href="{page}" rel="noopener">Tara Staff</a></li>' in html


def test_the_welcome_names_places_as_links_and_three_commands() -> None:
    text = welcome_text(
        Newcomer(
            first_name="Ana",
            organisation=("Northbridge Council", "#northbridge:hs"),
            units=(("Communications", "#comms:hs"),),
            channels=(("Housing news", "!room:hs"),),
        )
    )
    html = notice(text)["formatted_body"]
    assert text.startswith("**Welcome to Borough, Ana.**")
    assert (
        "Your organisation: [Northbridge Council](https://matrix.to/#/%23northbridge%3Ahs)" in text
    )
    assert "Your team: [Communications](https://matrix.to/#/%23comms%3Ahs)" in text
    assert 'href="https://matrix.to/#/%21room%3Ahs"' in html and ">Housing news</a>" in html
    assert [line for line in text.splitlines() if line.startswith("- `!")] == [
        "- `!profile`: your profile card, as colleagues see it",
        "- `!find WORDS`: search the people directory",
        "- `!meet`: start a meeting in the room you type it in",
    ]
    assert all(registry.parse(tried) is not None for tried in ("!profile", "!find x", "!meet"))


async def test_find_says_more_than_a_thousand_and_how_to_narrow_it(tmp_path: Path) -> None:
    """Totals are exact up to 1,000 (`directory.EXACT_TOTAL`); past it, `!find` says "more
    than 1,000" in plain words and how to narrow the search, and still pages."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    await migrate(url)
    engine = create_engine(url)
    sessions = session_factory(engine)
    profiles = ProfileDirectory(sessions, "hs")

    def smiths(first: int, count: int) -> list[Profile]:
        return [
            Profile(
                user_id=f"@s{n:04d}:hs",
                username=f"s{n:04d}",
                display_name=f"Sam Smith {n:04d}",
                units=[],
                role="community",
                is_managed=False,
            )
            for n in range(first, first + count)
        ]

    try:
        async with sessions.begin() as session:
            session.add_all(smiths(0, EXACT_TOTAL))
        exact = await profiles.search("@s0000:hs", parse_query(["smith"]))
        assert exact.startswith("**1,000 people match** (page 1)\n\n- Sam Smith 0000 (@s0000:hs)")
        assert "narrow" not in exact and exact.endswith("More: add `page:2` to your search.")
        async with sessions.begin() as session:
            session.add_all(smiths(EXACT_TOTAL, 1))
        first = await profiles.search("@s0000:hs", parse_query(["smith"]))
        assert first.splitlines()[:3] == [
            "**More than 1,000 people match** (page 1)",
            "",
            "Add a word, a unit or an organisation to narrow the search, "
            "e.g. `unit:housing` or `org:police`.",
        ]
        assert "- Sam Smith 0009 (@s0009:hs)" in first and "Smith 0010" not in first
        last = await profiles.search("@s0000:hs", parse_query(["smith", "page:101"]))
        assert "- Sam Smith 1000 (@s1000:hs)" in last and "More: add" not in last
        past = await profiles.search("@s0000:hs", parse_query(["smith", "page:102"]))
        assert past == "Page 102 is past the end: more than 1,000 people match."
    finally:
        await engine.dispose()
