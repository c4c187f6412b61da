"""Profile pages' logic: signed face addresses, initials, the face cache, what the owner is
told to change each field, the manager chain, recent views (bounded) and new joiners."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from borough import directory
from borough.db import (
    Profile,
    ProfileFieldRow,
    ProfileViewRow,
    UnitRow,
    create_engine,
    migrate,
    session_factory,
)
from borough.profile_page import field_edits, is_public_person
from borough.visibility import Viewer
from tests.conftest import APP_BACKENDS, app_database
from widgets.avatars import (
    CACHE_SECONDS,
    FAILED_CACHE_SECONDS,
    Face,
    FaceCache,
    initials,
    initials_svg,
    is_signed,
    signed_path,
)
from widgets.media import Image, mxc_parts
from widgets.viewer import next_page

KEY = b"k" * 32
NOW = 1_800_000_000.0  # on the hour


def _query(path: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in path.split("?", 1)[1].split("&"))


def test_a_signed_face_address_names_one_person_until_it_expires() -> None:
    path = signed_path(KEY, "@ana:hs", NOW)
    assert path.startswith("/widgets/avatars/@ana:hs?exp=")
    query = _query(path)
    assert is_signed(KEY, "@ana:hs", query["exp"], query["sig"], NOW)
    assert int(query["exp"]) - NOW > 3600  # good for the rest of this hour and the next
    assert not is_signed(KEY, "@bob:hs", query["exp"], query["sig"], NOW)  # someone else
    assert not is_signed(b"x" * 32, "@ana:hs", query["exp"], query["sig"], NOW)  # forged
    assert not is_signed(KEY, "@ana:hs", query["exp"], query["sig"], int(query["exp"]) + 1)
    later = str(int(query["exp"]) + 3600)
    assert not is_signed(KEY, "@ana:hs", later, query["sig"], NOW)  # a stretched expiry
    for bad in ("", "-1", "1e10", "９９", "1" * 40):
        assert not is_signed(KEY, "@ana:hs", bad, query["sig"], NOW), bad
    # Within one hour the address stays the same, so browsers can cache the image.
    assert signed_path(KEY, "@ana:hs", NOW + 3599) == path


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Ana Lopez", "AL"),
        ("Ana María de la Cruz", "AC"),
        ("ana", "A"),
        ("Jean-Luc Picard", "JP"),
        ("  ", "?"),
        ("<script>alert(1)</script>", "?"),
        ("Zoë 'Z' Ng", "ZN"),
    ],
)
def test_initials(name: str, shown: str) -> None:
    assert initials(name) == shown


def test_the_initials_picture_is_inert_svg() -> None:
    svg = initials_svg("@x:hs", "<b>&amp; Evil</b> Twin").decode()
    assert svg.startswith("<svg") and "<script" not in svg and "<b>" not in svg
    assert ">ET</text>" in svg or ">T</text>" in svg
    assert initials_svg("@x:hs", "Ana") == initials_svg("@x:hs", "Ana")  # same colour each time


def test_the_face_cache_keeps_faces_a_while_and_drops_the_least_used() -> None:
    cache = FaceCache(size=2)
    png = Image(b"png", "image/png")
    cache.put("@a:hs", Face(png, NOW, is_fallback=False))
    cache.put("@b:hs", Face(png, NOW, is_fallback=True))
    assert cache.get("@a:hs", NOW + CACHE_SECONDS - 1) is not None
    assert cache.get("@b:hs", NOW + FAILED_CACHE_SECONDS + 1) is None  # a failure is retried
    assert cache.get("@a:hs", NOW + CACHE_SECONDS + 1) is None
    cache.put("@c:hs", Face(png, NOW, is_fallback=False))
    cache.get("@a:hs", NOW)  # @a used last: @b goes
    cache.put("@d:hs", Face(png, NOW, is_fallback=False))
    assert cache.get("@b:hs", NOW) is None and cache.get("@a:hs", NOW) is not None


@pytest.mark.parametrize(
    ("mxc", "parts"),
    [
        ("mxc://hs/abc", ("hs", "abc")),
        ("mxc://hs/a/b", None),
        ("mxc://hs/", None),
        ("https://hs/abc", None),
        ("mxc:///abc", None),
    ],
)
def test_only_plain_mxc_uris_are_fetched(mxc: str, parts: tuple[str, str] | None) -> None:
    assert mxc_parts(mxc) == parts


def _person(user_id: str, **values: object) -> Profile:
    defaults: dict[str, object] = {
        "username": user_id[1:].split(":")[0],
        "display_name": user_id[1:].split(":")[0].capitalize(),
        "organisation": "council",
        "units": [],
        "role": "staff",
        "fields": [],
    }
    return Profile(user_id=user_id, **{**defaults, **values})


def test_the_owner_is_told_how_to_change_each_field() -> None:
    row = _person(
        "@ana:hs",
        job_title="Planner",
        fields=[
            ProfileFieldRow(name="bio", value="Hi", visibility="public", source="org"),
            ProfileFieldRow(name="pronouns", value="she/her", visibility="staff", source="self"),
        ],
    )
    edits = {edit.name: edit for edit in field_edits(row)}
    assert list(edits) == list(directory.EDITABLE)
    assert edits["title"].command is None and "org chart" in (edits["title"].note or "")
    assert edits["bio"].command is None  # the chart sets it
    assert edits["pronouns"].command == "!profile set pronouns …"
    assert edits["pronouns"].visibility == "!profile visibility pronouns staff|partners|public"
    assert edits["phone"].command == "!profile set phone …" and edits["phone"].visibility is None


def test_a_public_person_has_a_public_field_and_has_not_left() -> None:
    public = ProfileFieldRow(name="bio", value="Hi", visibility="public", source="self")
    partners = ProfileFieldRow(name="skills", value=["x"], visibility="partners", source="self")
    assert is_public_person(_person("@a:hs", fields=[public]))
    assert not is_public_person(_person("@b:hs", fields=[partners]))
    assert not is_public_person(_person("@c:hs", fields=[public], left_at=datetime.now(UTC)))


# --- Against an app database ---


@pytest.fixture(params=APP_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    with app_database(request.param, tmp_path, "borough_profiles") as url:
        await migrate(url)
        made = create_engine(url)
        yield made
        await made.dispose()


async def test_recent_views_keep_the_newest_ten_once_each(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    start = datetime(2026, 12, 1, 9, tzinfo=UTC)
    async with sessions.begin() as session:
        session.add_all([_person(f"@p{n}:hs") for n in range(14)])
    for n in range(14):
        async with sessions.begin() as session:
            await directory.record_view(
                session, "@me:hs", f"@p{n}:hs", start + timedelta(minutes=n)
            )
    async with sessions.begin() as session:  # p5 again, now: first, and only once
        await directory.record_view(session, "@me:hs", "@p5:hs", start + timedelta(hours=1))
    async with sessions.begin() as session:
        gone = await session.get(Profile, "@p13:hs")
        assert gone is not None
        gone.left_at = start
    async with sessions() as session:
        seen = [p.user_id for p in await directory.recently_viewed(session, "@me:hs")]
        others = await directory.recently_viewed(session, "@someone-else:hs")
        stored = await session.scalar(select(func.count()).select_from(ProfileViewRow))
    # p13 left: not shown. The ten kept are p5 and p12..p4 less p5; p0..p3 were dropped.
    assert seen == ["@p5:hs", *(f"@p{n}:hs" for n in (12, 11, 10, 9, 8, 7, 6, 4))]
    assert others == ()
    assert stored == directory.RECENT_VIEWS


async def test_the_manager_chain_stops_at_a_loop_and_at_someone_who_left(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        session.add_all(
            [
                _person("@a:hs", manager="@b:hs"),
                _person("@b:hs", manager="@c:hs"),
                _person("@c:hs", manager="@a:hs"),  # a bad import: a loop
                _person("@d:hs", manager="@e:hs"),
                _person("@e:hs", manager="@f:hs", left_at=datetime.now(UTC)),
                _person("@f:hs"),
            ]
        )
    async with sessions() as session:
        a = await directory.present_profile(session, "@a:hs")
        d = await directory.present_profile(session, "@d:hs")
        assert [p.user_id for p in await directory.manager_chain(session, a)] == ["@c:hs", "@b:hs"]
        assert await directory.manager_chain(session, d) == ()
        assert [p.user_id for p in await directory.reports(session, "@a:hs")] == ["@c:hs"]
        with pytest.raises(directory.DirectoryError) as left:
            await directory.present_profile(session, "@e:hs")
        with pytest.raises(directory.DirectoryError) as never:
            await directory.present_profile(session, "@e:hs".replace("e", "z"))
        assert str(left.value).replace("@e:", "@z:") == str(never.value)


async def test_new_joiners_are_this_weeks_in_the_organisations_the_viewer_sees(
    engine: AsyncEngine,
) -> None:
    sessions = session_factory(engine)
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    async with sessions.begin() as session:
        session.add_all(
            [
                _person("@old:hs", joined_at=now - timedelta(days=30)),
                _person("@new:hs", joined_at=now - timedelta(days=1)),
                _person("@cop:hs", organisation="police", joined_at=now - timedelta(days=2)),
                _person("@res:hs", organisation="residents", role="community", joined_at=now),
                _person("@gone:hs", joined_at=now, left_at=now),
                _person("@unknown:hs"),
            ]
        )
        # Here before Borough recorded joining (migration 0020 leaves it empty).
        await session.flush()
        await session.execute(
            update(Profile).where(Profile.user_id == "@unknown:hs").values(joined_at=None)
        )
    week = now - timedelta(days=7)
    async with sessions() as session:
        staff = await directory.new_joiners(session, Viewer("@me:hs", "council", "staff"), week)
        resident = await directory.new_joiners(
            session, Viewer("@r2:hs", "residents", "community"), week
        )
        outsider = await directory.new_joiners(session, Viewer("@x:hs", None, None), week)
    assert [p.user_id for p in staff] == ["@res:hs", "@new:hs", "@cop:hs"]
    assert [p.user_id for p in resident] == ["@res:hs"]
    assert outsider == ()


@pytest.mark.parametrize(
    ("given", "goes_to"),
    [
        ("/widgets/people/@ana:hs?widgetId=x", "/widgets/people/@ana:hs?widgetId=x"),
        ("/widgets/units/housing", "/widgets/units/housing"),
        ("", "/widgets/people"),
        ("https://evil.example/", "/widgets/people"),
        ("//evil.example/widgets/", "/widgets/people"),
        ("/widgets//evil.example", "/widgets/people"),
        ("/widgets/\\evil.example", "/widgets/people"),
        ("/widgets/api/profiles/@ana:hs", "/widgets/people"),
        ("/public/", "/widgets/people"),
        ("/widgets/" + "x" * 3000, "/widgets/people"),
    ],
)
def test_the_sign_in_page_goes_back_only_to_a_widget_page(given: str, goes_to: str) -> None:
    assert next_page(given) == goes_to


async def test_a_unit_preview_puts_managers_first_and_counts_everyone(engine: AsyncEngine) -> None:
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        session.add(UnitRow(key="team", name="The Team", organisation="council", parent=None))
        session.add_all(
            [
                _person("@zed:hs", display_name="Zed Boss", units=["team"], role="manager"),
                _person("@me:hs", display_name="Me Myself", units=["team"]),
                *(
                    _person(f"@p{n}:hs", display_name=f"Person {n:02}", units=["team"])
                    for n in range(5)
                ),
                _person("@out:hs", display_name="Aaron Elsewhere", units=["other"]),
            ]
        )
    async with sessions() as session:
        found = await directory.unit_preview(session, "team", "@me:hs", 3)
        gone = await directory.unit_preview(session, "nosuch", "@me:hs", 3)
    assert found is not None and gone is None
    summary, people = found
    assert (summary.key, summary.name, summary.member_count) == ("team", "The Team", 7)
    assert [p.user_id for p in people] == ["@zed:hs", "@p0:hs", "@p1:hs"]


def test_every_field_a_person_may_edit_has_a_label_on_their_page() -> None:
    """A person's own page lists how to change each field by its label: a field the bot
    learns (`available`, for Ask the network) without one made that page a 500."""
    from widgets.profile import FIELD_LABELS

    assert set(directory.EDITABLE) <= set(FIELD_LABELS)
