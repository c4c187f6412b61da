"""The directory search and the readers' queries on both database backends.

Search runs in SQL; these tests hold it to the ranking rule written plainly in Python
(`expected_ranking`) over random people, fields and visibilities, for every kind of viewer.
"""

from __future__ import annotations

import os
import random
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy import text as sql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import directory
from borough.db import (
    ChannelMember,
    ChannelRow,
    DirectoryDirty,
    Post,
    Profile,
    ProfileFieldRow,
    create_engine,
    migrate,
    session_factory,
)
from borough.directory import DirectoryQuery, parse_query
from borough.directory_index import fold, tokens
from borough.readers import latest_posts, readable_channel_ids
from borough.visibility import Viewer, may_see

POSTGRES = os.environ.get("BOROUGH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_url() -> tuple[str, str]:
    import psycopg2

    name = f"borough_directory_{secrets.token_hex(4)}"
    conn = psycopg2.connect(POSTGRES)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    base = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", name


def _drop_postgres(name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(POSTGRES)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('directory') / 'borough.db'}"
        return
    url, name = _postgres_url()
    try:
        yield url
    finally:
        _drop_postgres(name)


@pytest.fixture(scope="module")
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    await migrate(database_url)
    engine = create_engine(database_url)
    factory = session_factory(engine)
    async with factory.begin() as session:
        session.add_all(_people(random.Random(4), 240))
    try:
        yield factory
    finally:
        await engine.dispose()


ORGS = ("council", "police", "nhs", None)
UNITS = ("housing", "early-help", "finance", "youth")
WORDS = ("safeguarding", "family", "support", "budget", "housing", "youth", "ana", "émile", "lee")
VISIBILITY = ("public", "partners", "staff")


def _people(rng: random.Random, count: int) -> list[Profile]:
    firsts = ("Ana", "Émile", "Lee", "Sam", "Ola", "Ben", "ÉLODIE", "Tara")
    people = []
    for n in range(count):
        org = rng.choice(ORGS)
        name = f"{rng.choice(firsts)} {rng.choice(('Family', 'Budd', 'Young', 'Housman'))}{n % 7}"
        fields = []
        if rng.random() < 0.7:
            skills = rng.sample(["Family support", "Safeguarding", "Budgets", "Youth work"], 2)
            fields.append(
                ProfileFieldRow(name="skills", value=skills, visibility=rng.choice(VISIBILITY))
            )
        if rng.random() < 0.6:
            bio = " ".join(rng.sample(WORDS, 3))
            fields.append(ProfileFieldRow(name="bio", value=bio, visibility=rng.choice(VISIBILITY)))
        people.append(
            Profile(
                user_id=f"@p{n:03d}:hs",
                username=f"p{n:03d}",
                display_name=name,
                organisation=org,
                units=rng.sample(UNITS, rng.randint(0, 2)) if org else [],
                role=rng.choice(("staff", "manager", "senior_manager")) if org else "community",
                job_title=rng.choice((None, "Housing officer", "Youth Lead", "Budget analyst")),
                is_managed=True,
                left_at=datetime(2026, 1, 1, tzinfo=UTC) if n % 31 == 0 else None,
                fields=fields,
            )
        )
    return people


def _finds(word: str, text_words: tuple[str, ...]) -> bool:
    """The word's own words appear in order in `text_words`, the last one perhaps cut short."""
    wanted = tokens(word)
    n = len(wanted)
    return any(
        text_words[i : i + n - 1] == wanted[:-1] and text_words[i + n - 1].startswith(wanted[-1])
        for i in range(len(text_words) - n + 1)
    )


def expected_tier(viewer: Viewer, row: Profile, query: DirectoryQuery) -> int:
    """The ranking rule, plainly: 0 is no match, else 1 + how many fields (name, title,
    skills, bio) the words needed. Only fields the viewer may see count."""
    fields = {
        f.name: f.value
        for f in row.fields
        if may_see(viewer, row.user_id, row.organisation, f.visibility)
    }
    texts = (
        tokens(row.display_name) + tokens(row.username),
        tokens(row.job_title or ""),
        tuple(t for skill in fields.get("skills", []) for t in tokens(skill)),
        tokens(str(fields.get("bio", ""))),
    )
    if query.organisation and (row.organisation or "").lower() != query.organisation:
        return 0
    if query.unit and query.unit not in [u.lower() for u in row.units]:
        return 0
    if query.role and row.role != query.role:
        return 0
    if query.skill and not _finds(query.skill, texts[2]):
        return 0
    words = [w for w in query.words if tokens(w)]
    for depth in range(1, 5):
        if all(any(_finds(w, text) for text in texts[:depth]) for w in words):
            return depth
    return 0


async def expected_ranking(
    sessions: async_sessionmaker[AsyncSession], viewer: Viewer, query: DirectoryQuery
) -> list[tuple[int, str]]:
    async with sessions() as session:
        rows = list(await session.scalars(select(Profile).where(Profile.left_at.is_(None))))
    tiered = [(expected_tier(viewer, row, query), row) for row in rows]
    return [
        (tier, row.user_id)
        for tier, row in sorted(
            (pair for pair in tiered if pair[0] > 0),
            key=lambda pair: (pair[0], fold(pair[1].display_name), pair[1].user_id),
        )
    ]


QUERIES = [
    "safeguarding",
    "family support",
    "ana",
    "émile",
    "ÉMILE",
    "housing org:council",
    "lee unit:youth",
    'skill:"family support"',
    "youth role:manager",
    "budget skill:budgets org:police",
    "p007",
    "100%",
    "emile",
    "hous",
    "e",
    "youth lead",
    "budd3 ana",
    "unit:early-help",
    "role:staff",
    "%% ana",
    "youth-le",  # one phrase of two words: PostgreSQL's word lists, then the rule's LIKE
    "x" * 300,  # longer than the word lists keep: LIKE alone
]


@pytest.mark.parametrize("viewer_id", ["@p001:hs", "@p002:hs", "@p005:hs", "@stranger:hs"])
async def test_search_ranks_exactly_as_the_rule_says(
    sessions: async_sessionmaker[AsyncSession], viewer_id: str
) -> None:
    for text in QUERIES:
        query = parse_query(text.split(" ") if '"' not in text else ["skill:family support"])
        async with sessions() as session:
            viewer = await directory.viewer(session, viewer_id)
            found = await directory.search(session, viewer, query, page_size=1000)
        expected = await expected_ranking(sessions, viewer, query)
        assert [p.user_id for p in found.people] == [user_id for _, user_id in expected], text
        assert found.total == len(expected)


async def test_people_find_their_own_fields_and_their_colleagues(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Fields only their owner (and, for staff-only ones, the owner's colleagues) may read:
    found by exactly those people, ranked as the rule says."""
    people = [
        ("@own1:hs", None, "community", "partners", "staff"),
        ("@own2:hs", "police", "staff", "staff", "staff"),
        ("@own3:hs", "police", "manager", "partners", "public"),
        ("@own4:hs", "nhs", "staff", "staff", "partners"),
    ]
    async with sessions.begin() as session:
        for user_id, org, role, skills_level, bio_level in people:
            session.add(
                Profile(
                    user_id=user_id,
                    username=user_id[1:5],
                    display_name=f"Owner {user_id[4]}",
                    organisation=org,
                    units=[],
                    role=role,
                    is_managed=True,
                    fields=[
                        ProfileFieldRow(
                            name="skills", value=["Quokka care"], visibility=skills_level
                        ),
                        ProfileFieldRow(
                            name="bio", value="quokkas and qualms", visibility=bio_level
                        ),
                    ],
                )
            )
    for viewer_id in ("@own1:hs", "@own2:hs", "@own3:hs", "@own4:hs", "@p001:hs", "@x:hs"):
        for text in ("quokka", "qualms", "quokka qualms", "quokka-care", "care quokkas"):
            query = parse_query(text.split(" "))
            async with sessions() as session:
                viewer = await directory.viewer(session, viewer_id)
                found = await directory.search(session, viewer, query, page_size=1000)
            expected = await expected_ranking(sessions, viewer, query)
            assert [p.user_id for p in found.people] == [u for _, u in expected], (viewer_id, text)
            if viewer_id.startswith("@own") and text == "qualms":
                assert viewer_id in [u for _, u in expected]  # their own bio, whatever its level


async def test_the_viewers_differ(sessions: async_sessionmaker[AsyncSession]) -> None:
    # The random data must actually exercise visibility: a partner sees less than a colleague.
    async with sessions() as session:
        stranger = await directory.viewer(session, "@stranger:hs")
        staff = await directory.viewer(session, "@p001:hs")
        query = parse_query(["safeguarding"])
        seen_by_stranger = (await directory.search(session, stranger, query, 1000)).total
        seen_by_staff = (await directory.search(session, staff, query, 1000)).total
    assert stranger.is_community and not staff.is_community
    assert 0 < seen_by_stranger < seen_by_staff


async def test_pages_split_the_same_ranking(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        viewer = await directory.viewer(session, "@p001:hs")
        whole = await directory.search(session, viewer, parse_query(["a"]), page_size=1000)
        pages = [
            await directory.search(session, viewer, parse_query(["a", f"page:{n}"]), page_size=7)
            for n in range(1, 4)
        ]
    assert [p.user_id for page in pages for p in page.people] == [
        p.user_id for p in whole.people[:21]
    ]
    assert pages[0].has_more and pages[0].total == whole.total
    beyond = whole.total // 7 + 2
    async with sessions() as session:
        empty = await directory.search(session, viewer, parse_query(["a", f"page:{beyond}"]), 7)
    assert empty.people == () and empty.total == whole.total


@pytest.mark.parametrize("few", [0, directory._FEW], ids=["in-ranges", "whole"])
@pytest.mark.parametrize("size", [3, 7])
async def test_small_pages_follow_the_ranking_across_tiers_and_cuts(
    sessions: async_sessionmaker[AsyncSession],
    size: int,
    few: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """PostgreSQL reads each tier in ranges of name order (`directory._SHARES`) when more
    than `directory._FEW` match, else whole: either way, pages small enough to end inside a
    range, and pages that straddle one, still follow the rule."""
    monkeypatch.setattr(directory, "_FEW", few)
    async with sessions() as session:
        viewer = await directory.viewer(session, "@p002:hs")
    for text in ("a", "ana", "hous", "youth", "budd3 ana", "youth-le", "lee unit:youth"):
        asked = parse_query(text.split(" "))
        expected = [u for _, u in await expected_ranking(sessions, viewer, asked)]
        pages = -(-len(expected) // size) + 1  # and one past the end
        shown: list[str] = []
        async with sessions() as session:
            for n in range(1, min(pages, 12) + 1):
                query = parse_query([*text.split(" "), f"page:{n}"])
                found = await directory.search(session, viewer, query, page_size=size)
                assert found.total == len(expected) and not found.more_than_total, text
                assert found.has_more == (n * size < len(expected)), (text, n)
                shown += [p.user_id for p in found.people]
        assert shown == expected[: len(shown)] and len(shown) == min(len(expected), 12 * size)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_search_leaves_the_planner_settings_as_it_found_them(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """PostgreSQL plans the search with its own settings (`directory._INDEX_PLAN`); the rest
    of the transaction plans with the ones it had, whatever they were (SQLite has none)."""
    names = ("enable_seqscan", "enable_indexscan", "max_parallel_workers_per_gather")
    asked = ", ".join(f"current_setting('{name}')" for name in (*names, "plan_cache_mode"))
    async with sessions() as session:
        await session.execute(
            sql("SELECT set_config('max_parallel_workers_per_gather', '3', true)")
        )
        viewer = await directory.viewer(session, "@p001:hs")
        for words in (["ana"], ["youth-le"], ["zzzz"]):  # by the index alone; and by LIKE too
            await directory.search(session, viewer, parse_query(words))
            after = tuple((await session.execute(sql(f"SELECT {asked}"))).one())
            assert after == ("on", "on", "3", "auto"), words


async def test_totals_are_exact_up_to_the_limit_then_more_than_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Past `exact_up_to` matches a search counts no further: the total is the limit and
    `more_than_total` says there are more. The pages are the rule's, wherever they fall."""
    async with sessions() as session:
        viewer = await directory.viewer(session, "@p001:hs")
    expected = [u for _, u in await expected_ranking(sessions, viewer, parse_query(["a"]))]
    matches = len(expected)
    assert matches > 40
    async with sessions() as session:
        at_limit = await directory.search(session, viewer, parse_query(["a"]), 10, matches)
        below = await directory.search(session, viewer, parse_query(["a"]), 10, matches - 1)
        capped = await directory.search(session, viewer, parse_query(["a"]), 10, 25)
        # Pages past the limit: still the rule's order, and `has_more` from the page itself.
        late = [
            await directory.search(session, viewer, parse_query(["a", f"page:{n}"]), 10, 25)
            for n in (3, 4)
        ]
        last = -(-matches // 10)
        end = await directory.search(session, viewer, parse_query(["a", f"page:{last}"]), 10, 25)
        beyond = await directory.search(
            session, viewer, parse_query(["a", f"page:{last + 1}"]), 10, 25
        )
    assert (at_limit.total, at_limit.more_than_total) == (matches, False)
    assert (below.total, below.more_than_total) == (matches - 1, True)
    assert (capped.total, capped.more_than_total, capped.has_more) == (25, True, True)
    assert [p.user_id for p in capped.people] == expected[:10]
    assert [p.user_id for page in late for p in page.people] == expected[20:40]
    assert all(page.has_more and page.more_than_total for page in late)
    assert [p.user_id for p in end.people] == expected[(last - 1) * 10 :]
    assert not end.has_more
    assert beyond.people == () and not beyond.has_more
    assert (beyond.total, beyond.more_than_total) == (25, True)


async def test_edits_by_any_writer_reach_the_search(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The entries follow profile edits made by plain SQL too, through the dirty triggers."""
    async with sessions() as session:
        viewer = await directory.viewer(session, "@p001:hs")
        assert (await directory.search(session, viewer, parse_query(["zanzibar"]))).total == 0
    async with sessions.begin() as session:
        await session.execute(
            update(Profile).where(Profile.user_id == "@p003:hs").values(display_name="Zanzibar Ö")
        )
        await session.execute(
            update(ProfileFieldRow)
            .where(ProfileFieldRow.user_id == "@p004:hs", ProfileFieldRow.name == "bio")
            .values(value="zanzibar", visibility="public")
        )
        await session.execute(
            delete(ProfileFieldRow).where(
                ProfileFieldRow.user_id == "@p006:hs", ProfileFieldRow.name == "skills"
            )
        )
        session.add(
            ProfileFieldRow(
                user_id="@p006:hs", name="skills", value=["Zanzibar"], visibility="public"
            )
        )
        session.add(
            Profile(
                user_id="@new:hs",
                username="new",
                display_name="Newcomer",
                units=[],
                role="community",
                is_managed=False,
                fields=[ProfileFieldRow(name="bio", value="Zanzibar", visibility="public")],
            )
        )
    async with sessions() as session:
        assert await session.scalar(select(DirectoryDirty.user_id).limit(1)) is not None
        found = await directory.search(session, viewer, parse_query(["zanzibar"]), 1000)
        assert await session.scalar(select(DirectoryDirty.user_id).limit(1)) is None
        expected = await expected_ranking(sessions, viewer, parse_query(["zanzibar"]))
    assert [p.user_id for p in found.people] == [u for _, u in expected]
    assert "@p003:hs" in {p.user_id for p in found.people}
    assert "@new:hs" in {p.user_id for p in found.people}
    async with sessions.begin() as session:
        await session.execute(
            update(Profile)
            .where(Profile.user_id == "@p003:hs")
            .values(left_at=datetime(2026, 2, 1, tzinfo=UTC))
        )
    async with sessions() as session:
        again = await directory.search(session, viewer, parse_query(["zanzibar"]), 1000)
        whois = await directory.find_people(session, "zanz", "hs")
    assert "@p003:hs" not in {p.user_id for p in again.people}
    assert "@p003:hs" not in {p.user_id for p in whois}


async def test_whois_matches_names_in_any_case(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        by_name = await directory.find_people(session, "élodie", "hs", limit=1000)
        by_username = await directory.find_people(session, "p010", "hs")
        by_id = await directory.find_people(session, "@p010", "hs")
        departed = await directory.find_people(session, "@p031", "hs")
        rows = list(await session.scalars(select(Profile).where(Profile.left_at.is_(None))))
    expected = sorted(
        (r.display_name, r.user_id) for r in rows if "élodie" in r.display_name.lower()
    )
    assert expected and [(p.display_name, p.user_id) for p in by_name] == expected
    assert [p.user_id for p in by_username] == [p.user_id for p in by_id] == ["@p010:hs"]
    assert departed == []


async def test_team_lists_present_members_managers_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    from borough.db import UnitRow

    async with sessions.begin() as session:
        session.add(UnitRow(key="youth", name="Youth Service", organisation="council", parent=None))
        session.add(UnitRow(key="housing", name="Housing", organisation="council", parent="youth"))
    async with sessions() as session:
        viewer = await directory.viewer(session, "@p001:hs")
        listing = await directory.team(session, viewer, "youth service")
        rows = list(await session.scalars(select(Profile).where(Profile.left_at.is_(None))))
        with pytest.raises(directory.DirectoryError, match="I know no unit"):
            await directory.team(session, viewer, "nowhere")
        with pytest.raises(directory.DirectoryError, match="staff and partner"):
            await directory.team(session, Viewer("@x:hs", None, None), "youth")
    order = {"senior_manager": 0, "manager": 1}
    members = sorted(
        (r for r in rows if "youth" in r.units),
        key=lambda r: (order.get(r.role, 9), r.display_name, r.user_id),
    )
    assert [p.user_id for p in listing.members] == [r.user_id for r in members]
    assert listing.sub_units == (
        directory.UnitSummary("housing", "Housing", sum("housing" in r.units for r in rows)),
    )


UNITS_FOUND = [
    ("comms", "Communications", "council"),
    ("early-help", "Early Help", "council"),
    ("finance", "Finance and Commissioning", "nhs"),
]
UNIT_QUERIES = [
    "comms",
    "COMMS",
    "commun",
    "early-help",
    "help",
    "finance org:nhs",
    "finance org:council",
    "comm",
    "ana",
    "unit:comms",
    "%% comms",
]


async def test_units_are_found_by_key_or_name_as_the_rule_says(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The people's word rule, applied to a unit's key and name (`_finds` is the rule written
    plainly): `comms` finds Communications, which no person's name or title contains."""
    from borough.db import UnitRow

    async with sessions.begin() as session:
        session.add_all(
            [UnitRow(key=k, name=n, organisation=o, parent=None) for k, n, o in UNITS_FOUND]
        )
    async with sessions() as session:
        viewer = await directory.viewer(session, "@p001:hs")
        rows = list(await session.scalars(select(Profile).where(Profile.left_at.is_(None))))
        everyone = list(await session.scalars(select(UnitRow)))
        for text in UNIT_QUERIES:
            query = parse_query(text.split(" "))
            found = await directory.units(session, viewer, query, limit=50)
            words = [w for w in query.words if tokens(w)]
            expected = sorted(
                (
                    u
                    for u in everyone
                    if words
                    and query.organisation in (None, u.organisation)
                    and all(_finds(w, tokens(u.key) + tokens(u.name)) for w in words)
                ),
                key=lambda u: (tokens(u.key) not in [tokens(w) for w in words], fold(u.name)),
            )
            assert found == tuple(
                directory.UnitSummary(u.key, u.name, sum(u.key in r.units for r in rows))
                for u in expected
            ), text
        assert [u.key for u in await directory.units(session, viewer, parse_query(["comms"]))] == [
            "comms"
        ]
        community = Viewer("@x:hs", None, None)
        assert await directory.units(session, community, parse_query(["comms"])) == ()


async def test_readable_channels_and_the_feed(sessions: async_sessionmaker[AsyncSession]) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    rooms = {
        "!open:hs": dict(is_public=True, is_sealed=False),
        "!sealed:hs": dict(is_public=False, is_sealed=True),
        "!sealedpublic:hs": dict(is_public=True, is_sealed=True),
        "!internal:hs": dict(is_public=False, is_sealed=False),
    }
    async with sessions.begin() as session:
        for room_id, flags in rooms.items():
            session.add(
                ChannelRow(
                    room_id=room_id, key=room_id, name=room_id, posters=[], max_length=500, **flags
                )
            )
        session.add(ChannelMember(room_id="!sealed:hs", user_id="@reader:hs"))
        session.add(ChannelMember(room_id="!dm:hs", user_id="@reader:hs"))  # not a channel
        rng = random.Random(9)
        for n in range(300):
            room_id = rng.choice(sorted(rooms))
            session.add(
                Post(
                    event_id=f"$e{n:04d}",
                    room_id=room_id,
                    author="@p001:hs",
                    # Many posts share a second, so ties are broken by event id.
                    sent_at=start + timedelta(seconds=rng.randint(0, 60)),
                    body="hello",
                    links=[],
                    thread_root="$e0000" if n % 10 == 5 else None,
                    reply_count=0,
                    reaction_count=0,
                )
            )
    async with sessions() as session:
        reader = await readable_channel_ids(session, "@reader:hs")
        outsider = await readable_channel_ids(session, "@outsider:hs")
        assert reader == {"!open:hs", "!sealed:hs"}
        assert outsider == {"!open:hs"}
        every = list(
            await session.scalars(
                select(Post)
                .where(Post.room_id.in_(reader), Post.thread_root.is_(None))
                .order_by(Post.sent_at.desc(), Post.event_id.desc())
            )
        )
        by_offset = [
            await latest_posts(session, reader, 9, offset=offset) for offset in range(0, 200, 9)
        ]
        by_key: list[Post] = []
        before = None
        while page := await latest_posts(session, reader, 9, before=before):
            by_key += page
            before = (page[-1].sent_at, page[-1].event_id)
    want = [p.event_id for p in every]
    assert len(want) > 50
    assert [p.event_id for page in by_offset for p in page] == want
    assert [p.event_id for p in by_key] == want


async def test_people_keep_name_order_when_a_gap_fills_up(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """New people take a position between their neighbours; when one gap has taken too many,
    everyone is renumbered, and search order stays by name throughout."""
    from borough.db import DirectoryEntry

    async def positions() -> dict[str, int]:
        async with sessions() as session:
            rows = await session.execute(select(DirectoryEntry.user_id, DirectoryEntry.position))
            return dict(rows.all())

    before = await positions()
    # Each newcomer sorts just before the previous one (same name, smaller id), so every one
    # lands in the same, halving gap: 25 halvings exhaust a gap of 2**20.
    for n in range(25, 0, -1):
        async with sessions.begin() as session:
            session.add(
                Profile(
                    user_id=f"@gap{n:02d}:hs",
                    username=f"gap{n:02d}",
                    display_name="Aaron Gapfill",
                    units=[],
                    role="community",
                    is_managed=False,
                )
            )
        async with sessions() as session:
            found = await directory.find_people(session, "gapfill", "hs", limit=100)
        assert [p.user_id for p in found] == [f"@gap{k:02d}:hs" for k in range(n, 26)]
    after = await positions()
    assert any(after[u] != before[u] for u in before), "expected a renumbering"
    async with sessions() as session:
        rows = list(await session.scalars(select(Profile).where(Profile.left_at.is_(None))))
    by_name = sorted(rows, key=lambda r: (fold(r.display_name), r.user_id))
    assert sorted(after, key=after.__getitem__) == [r.user_id for r in by_name]
