"""The widget server's views against a real Synapse and app database: OpenID sessions, the
public pages and feeds (sealed content never served), bad input answered in JSON."""

from __future__ import annotations

import io
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy import update

from borough.db import (
    BlogPost,
    BlogRoom,
    ChannelMember,
    ChannelRow,
    Follow,
    Post,
    PostTag,
    Profile,
    create_engine,
    session_factory,
)
from borough.directory import EXACT_TOTAL
from borough.matrix import MatrixClient
from borough.settings import load_settings
from tests.conftest import Homeserver, borough
from widgets.app import SESSIONS, create_app
from widgets.viewer import SESSION_KEY, issue_session

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "widgets.yaml"
ATOM = "{http://www.w3.org/2005/Atom}"
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
SECRET = "SEALED-SECRET-words"  # appears only in sealed or private content


def openid_credentials(hs: Homeserver, username: str) -> dict[str, Any]:
    """A real OpenID token, as Element obtains it for a widget's `get_openid`."""
    token = hs.login_as(username)
    path = f"/_matrix/client/v3/user/{quote(hs.user_id(username))}/openid/request_token"
    return dict(hs.call("POST", path, token, {}))


@pytest.fixture(scope="module")
def applied(settings_file: Path) -> Path:
    result = borough("apply", "-q", str(ORG_FILE), settings=settings_file)
    assert result.exit_code == 0, result.output
    return settings_file


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def client(applied: Path) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(load_settings(applied)))) as test_client:
        yield test_client


async def signed_in(client: TestClient[Any, Any], hs: Homeserver, username: str) -> dict[str, str]:
    answer = await client.post("/widgets/api/session", json=openid_credentials(hs, username))
    assert answer.status == 200, await answer.text()
    body = await answer.json()
    assert body["user_id"] == hs.user_id(username)
    return {"Authorization": f"Bearer {body['token']}"}


# --- Sessions from OpenID ---


async def test_a_real_openid_token_opens_a_session(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    headers = await signed_in(client, homeserver, "wstaff")
    answer = await client.get("/widgets/api/timeline/sources", headers=headers)
    assert answer.status == 200


@pytest.mark.parametrize(
    "body",
    [
        {"access_token": "forgedforgedforgedforged"},
        {"access_token": "expiredtokenXXXXXXXXXXXX"},
        {"access_token": "not a token!"},
    ],
    ids=["forged", "unknown", "malformed"],
)
async def test_bad_openid_tokens_get_401_json(
    client: TestClient[Any, Any], homeserver: Homeserver, body: dict[str, str]
) -> None:
    answer = await client.post(
        "/widgets/api/session", json={**body, "matrix_server_name": homeserver.server_name}
    )
    assert answer.status == 401
    error = await answer.json()
    assert error["errcode"] == "M_UNKNOWN_TOKEN"
    assert body["access_token"] not in error["error"]


async def test_a_token_for_another_server_gets_401(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    credentials = openid_credentials(homeserver, "wstaff")
    credentials["matrix_server_name"] = "elsewhere.example"
    answer = await client.post("/widgets/api/session", json=credentials)
    assert answer.status == 401
    assert (await answer.json())["errcode"] == "M_UNKNOWN_TOKEN"


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"access_token": 5, "matrix_server_name": "x"}',
        b'{"access_token": "a"}',
        b'{"access_token": "a", "matrix_server_name": "x", "user_id": "@admin:x"}',
    ],
    ids=["not-json", "list", "wrong-type", "missing-key", "unknown-key"],
)
async def test_malformed_session_bodies_get_400_json(
    client: TestClient[Any, Any], raw: bytes
) -> None:
    answer = await client.post(
        "/widgets/api/session", data=raw, headers={"Content-Type": "application/json"}
    )
    assert answer.status == 400
    assert (await answer.json())["errcode"] in ("M_NOT_JSON", "M_BAD_JSON")


async def test_missing_forged_and_expired_sessions_get_401(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    key = client.app[SESSION_KEY]
    user = homeserver.user_id("wstaff")
    good = issue_session(key, user, time.time())
    forged = issue_session(b"k" * 32, user, time.time())
    expired = issue_session(key, user, time.time() - 3600, ttl=60)
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": f"Bearer {forged}"},
        {"Authorization": f"Bearer {expired}"},
        {"Authorization": f"Bearer {good[:-3]}xyz"},
        {"Authorization": "Bearer v1.%%%.%%%"},
    ):
        answer = await client.get("/widgets/api/timeline/sources", headers=headers)
        assert answer.status == 401, headers
        assert (await answer.json())["errcode"] in ("M_MISSING_TOKEN", "M_UNKNOWN_TOKEN")


# --- Public pages: public content served, sealed content never ---


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def public_content(client: TestClient[Any, Any], applied: Path) -> dict[str, str]:
    """Index rows as the bot writes them: a public channel, a sealed one, a private one, a
    public blog with an image and a members-only blog, all sharing a hashtag."""
    settings = load_settings(applied)
    engine = create_engine(settings.database.url)
    rows: list[Any] = [
        ChannelRow(
            room_id="!open:w",
            key="news",
            alias="#news:w",
            name="Council news",
            is_sealed=False,
            posters=[],
            max_length=500,
            is_public=True,
        ),
        ChannelRow(
            room_id="!sealed:w",
            key="leaders",
            alias="#leaders:w",
            name="Leaders",
            is_sealed=True,
            posters=[],
            max_length=500,
            is_public=False,
        ),
        # A row that claims both: sealed must win (the org model refuses this; defence in depth).
        ChannelRow(
            room_id="!both:w",
            key="both",
            alias="#both:w",
            name="Both",
            is_sealed=True,
            posters=[],
            max_length=500,
            is_public=True,
        ),
        ChannelRow(
            room_id="!staff:w",
            key="staffnews",
            alias="#staffnews:w",
            name="Staff news",
            is_sealed=False,
            posters=[],
            max_length=500,
            is_public=False,
        ),
        BlogRoom(room_id="!blog:w", unit="wteam", name="Housing blog", is_public=True),
        BlogRoom(room_id="!pblog:w", unit="wdir", name="Directorate blog", is_public=False),
    ]
    for n, (room, text) in enumerate(
        [
            ("!open:w", "Bin collections move on Friday #bins <script>alert(1)</script>"),
            ("!sealed:w", f"{SECRET} budget cuts #bins"),
            ("!both:w", f"{SECRET} also sealed #bins"),
            ("!staff:w", f"{SECRET} staff only #bins"),
        ]
    ):
        event_id = f"$post{n}"
        rows += [
            Post(
                event_id=event_id,
                room_id=room,
                author="@wboss:w",
                body=text,
                sent_at=NOW - timedelta(minutes=n),
                links=[],
                reply_count=2,
                reaction_count=3,
            ),
            PostTag(
                event_id=event_id, tag="bins", sent_at=NOW - timedelta(minutes=n), room_id=room
            ),
        ]
    rows += [
        BlogPost(
            event_id="$story",
            room_id="!blog:w",
            unit="wteam",
            author="@wstaff:w",
            title="New homes on Mill Lane",
            html="<p>Forty homes.</p><script>x()</script>",
            summary="Forty homes",
            sent_at=NOW,
            is_public=True,
            media=[{"url": "mxc://w/photo", "mimetype": "image/png", "alt": "Mill Lane site"}],
        ),
        BlogPost(
            event_id="$hidden",
            room_id="!pblog:w",
            unit="wdir",
            author="@wboss:w",
            title=f"{SECRET} restructure",
            html=f"<p>{SECRET}</p>",
            summary=SECRET,
            sent_at=NOW,
            is_public=True,
            media=[{"url": "mxc://w/secret", "mimetype": "image/png", "alt": SECRET}],
        ),
        BlogPost(
            event_id="$draft",
            room_id="!blog:w",
            unit="wteam",
            author="@wstaff:w",
            title=f"{SECRET} draft",
            html=f"<p>{SECRET}</p>",
            summary=SECRET,
            sent_at=NOW,
            is_public=False,
            media=[],
        ),
    ]
    async with session_factory(engine).begin() as session:
        session.add_all(rows)
    await engine.dispose()
    return {"secret": SECRET}


async def test_public_channel_page_and_feed(
    client: TestClient[Any, Any], public_content: dict[str, str]
) -> None:
    for path in (
        "/public/channels/news",
        f"/public/channels/{quote('#news:w', safe='')}",
        f"/public/channels/{quote('!open:w', safe='')}",
    ):
        answer = await client.get(path)
        assert answer.status == 200, path
        html = await answer.text()
        assert "Bin collections move on Friday" in html
        assert "<script>alert" not in html and "&lt;script&gt;" in html
        assert "2 replies" in html and "3 reactions" in html
        assert "https://matrix.to/#/%23news%3Aw/%24post0" in html
        assert "Content-Security-Policy" in answer.headers
    home = await client.get("/", allow_redirects=False)
    assert home.status == 302 and home.headers["Location"] == "/public"
    index = await (await client.get("/")).text()
    assert "/public/channels/news" in index and "/public/blogs/wteam" in index
    feed = await client.get("/public/channels/news/feed.atom")
    assert feed.status == 200 and feed.content_type == "application/atom+xml"
    entries = ET.fromstring(await feed.read()).findall(f"{ATOM}entry")
    assert len(entries) == 1
    assert "Bin collections" in (entries[0].findtext(f"{ATOM}content") or "")


async def test_public_blog_page_feed_and_media_alt(
    client: TestClient[Any, Any], public_content: dict[str, str]
) -> None:
    answer = await client.get("/public/blogs/wteam")
    html = await answer.text()
    assert answer.status == 200
    assert "New homes on Mill Lane" in html and "<p>Forty homes.</p>" in html
    assert "<script>x()" not in html
    assert 'src="/public/media/w/photo" alt="Mill Lane site"' in html
    feed = ET.fromstring(await (await client.get("/public/blogs/wteam/feed.atom")).read())
    titles = [e.findtext(f"{ATOM}title") for e in feed.findall(f"{ATOM}entry")]
    assert titles == ["New homes on Mill Lane"]


async def test_sealed_and_private_content_is_never_served(
    client: TestClient[Any, Any], public_content: dict[str, str]
) -> None:
    refused = []
    for ref in (
        "leaders",
        "#leaders:w",
        "!sealed:w",
        "both",
        "#both:w",
        "!both:w",
        "staffnews",
        "#staffnews:w",
        "!staff:w",
        "nosuch",
    ):
        for suffix in ("", "/feed.atom", "?tag=bins", "/feed.atom?tag=bins"):
            refused.append(f"/public/channels/{quote(ref, safe='')}{suffix}")
    refused += [
        "/public/blogs/wdir",
        "/public/blogs/wdir/feed.atom",
        "/public/blogs/nosuch",
        "/public/media/w/secret",
        "/public/media/w/unknown",
    ]
    for path in refused:
        answer = await client.get(path)
        assert answer.status == 404, path
        body = await answer.text()
        assert public_content["secret"] not in body, path
        assert "Leaders" not in body and "Staff news" not in body, path
    # The pages that list or filter across channels show public posts only.
    for path in (
        "/public/",
        "/public/tags/bins",
        "/public/tags/%23bins",
        "/public/blogs/wteam",
        "/public/blogs/wteam/feed.atom",
        "/public/channels/news?tag=bins",
        "/public/channels/news/feed.atom?tag=bins",
    ):
        answer = await client.get(path)
        assert answer.status == 200, path
        body = await answer.text()
        assert public_content["secret"] not in body, path
        assert "Leaders" not in body and "Staff news" not in body, path
    tagged = await (await client.get("/public/tags/bins")).text()
    assert "Bin collections move on Friday" in tagged
    # The post's hashtag is a link where it stands in the text, shown once.
    channel = await (await client.get("/public/channels/news")).text()
    assert 'Friday <a href="/public/tags/bins">#bins</a> &lt;script&gt;' in channel
    assert channel.count("#bins") == 1


# --- The people directory, per viewer ---


async def card_of(client: TestClient[Any, Any], headers: dict[str, str], user_id: str) -> Any:
    answer = await client.get(f"/widgets/api/people/{quote(user_id)}", headers=headers)
    assert answer.status == 200, await answer.text()
    return await answer.json()


async def test_directory_card_honours_field_visibility(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    winnie = homeserver.user_id("wstaff")
    seen = {}
    for viewer in ("wmgr", "wcop", "wres", "wstaff"):
        card = await card_of(client, await signed_in(client, homeserver, viewer), winnie)
        seen[viewer] = {field["name"]: field["value"] for field in card["fields"]}
        seen[viewer]["organisation"] = card["organisation"]
        seen[viewer]["email"] = card["email"]
    # Same organisation: everything. Police partner: partners and public. Resident: public.
    assert seen["wmgr"]["phone"] == "0207 111 2222"
    assert seen["wmgr"]["skills"] == "safeguarding, tenancy law"
    assert "phone" not in seen["wcop"] and seen["wcop"]["pronouns"] == "she/her"
    assert seen["wcop"]["email"] == "winnie@widget.gov.uk"
    assert set(seen["wres"]) == {"bio", "organisation", "email"}
    assert seen["wres"]["organisation"] is None and seen["wres"]["email"] is None
    # The organisation by the name the chart gives it, never its key `wcouncil`.
    assert seen["wmgr"]["organisation"] == seen["wcop"]["organisation"] == "Widget Council"
    assert seen["wres"]["bio"] == "Tenancy support and gardening"
    assert seen["wstaff"]["phone"] == "0207 111 2222"  # your own card shows everything


async def test_directory_search_counts_only_visible_fields(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    async def total(viewer: str, query: str) -> int:
        headers = await signed_in(client, homeserver, viewer)
        answer = await client.get("/widgets/api/people", params={"q": query}, headers=headers)
        assert answer.status == 200, await answer.text()
        return int((await answer.json())["total"])

    assert await total("wcop", "safeguarding") == 1  # skills are for partners
    assert await total("wres", "safeguarding") == 0  # a resident cannot find by them
    assert await total("wres", "gardening") == 1  # the bio is public


async def test_unit_page_lists_managers_first_and_is_for_staff_and_partners(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    answer = await client.get(
        "/widgets/api/units/wdir", headers=await signed_in(client, homeserver, "wcop")
    )
    unit = await answer.json()
    assert answer.status == 200
    assert [m["display_name"] for m in unit["members"]] == ["Wanda Boss"]
    assert unit["teams"] == [{"key": "wteam", "name": "Widget Housing Team", "people": 2}]
    team = await (
        await client.get(
            "/widgets/api/units/wteam", headers=await signed_in(client, homeserver, "wcop")
        )
    ).json()
    assert [m["display_name"] for m in team["members"]] == ["Walter Manager", "Winnie Staff"]
    refused = await client.get(
        "/widgets/api/units/wteam", headers=await signed_in(client, homeserver, "wres")
    )
    assert refused.status == 403
    assert (await refused.json())["errcode"] == "M_FORBIDDEN"


async def test_directory_search_past_a_thousand_says_more_than_it(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    """Totals are exact up to 1,000 (`directory.EXACT_TOTAL`): past it the answer says the
    total is a floor (`more_than_total`), and the widget says "More than 1,000"."""
    sessions = client.app[SESSIONS]
    crowd = [
        Profile(
            user_id=homeserver.user_id(f"crowd{n:04d}"),
            username=f"crowd{n:04d}",
            display_name=f"Quorum Crowd {n:04d}",
            units=[],
            role="community",
            is_managed=False,
        )
        for n in range(EXACT_TOTAL + 1)
    ]
    async with sessions.begin() as session:
        session.add_all(crowd)
    try:
        headers = await signed_in(client, homeserver, "wstaff")
        for query, total, more_than, first in (
            ("quorum", EXACT_TOTAL, True, "Quorum Crowd 0000"),
            ("crowd 0007", 1, False, "Quorum Crowd 0007"),
        ):
            answer = await client.get("/widgets/api/people", params={"q": query}, headers=headers)
            assert answer.status == 200, await answer.text()
            found = await answer.json()
            assert (found["total"], found["more_than_total"]) == (total, more_than), query
            assert found["has_more"] == more_than
            assert found["people"][0]["display_name"] == first
    finally:
        async with sessions.begin() as session:
            await session.execute(
                update(Profile)
                .where(Profile.user_id.in_([person.user_id for person in crowd]))
                .values(left_at=datetime.now(UTC))
            )


async def test_directory_search_finds_units_by_key_for_those_who_may_open_them(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    async def units(viewer: str, query: str) -> list[dict[str, Any]]:
        headers = await signed_in(client, homeserver, viewer)
        answer = await client.get("/widgets/api/people", params={"q": query}, headers=headers)
        assert answer.status == 200, await answer.text()
        found: list[dict[str, Any]] = (await answer.json())["units"]
        return found

    team = {"key": "wteam", "name": "Widget Housing Team", "people": 2}
    assert await units("wcop", "wteam") == [team]  # by key, which no name holds
    assert await units("wmgr", "housing team") == [team]  # by name
    assert await units("wmgr", "wteam org:wpolice") == []
    assert await units("wres", "wteam") == []  # a unit's page is for staff and partners


async def test_directory_bad_input_gets_json_errors(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    headers = await signed_in(client, homeserver, "wmgr")
    for params, status in (
        ({"q": ""}, 400),
        ({"q": '"unclosed'}, 400),
        ({"q": "page:zero"}, 400),
        ({"q": "x" * 500}, 400),
    ):
        answer = await client.get("/widgets/api/people", params=params, headers=headers)
        assert answer.status == status, params
        assert (await answer.json())["errcode"] == "M_INVALID_PARAM"
    for path in ("/widgets/api/people/@nobody:w", "/widgets/api/units/nosuch"):
        answer = await client.get(path, headers=headers)
        assert answer.status == 404, path
        assert (await answer.json())["errcode"] == "M_NOT_FOUND"


# --- The channel timeline: only what the viewer may read ---


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def readable_content(
    client: TestClient[Any, Any], applied: Path, homeserver: Homeserver, public_content: Any
) -> None:
    """wmgr is joined to the staff channel; nobody here is joined to the sealed one."""
    engine = create_engine(load_settings(applied).database.url)
    async with session_factory(engine).begin() as session:
        session.add_all(
            [
                ChannelMember(room_id="!staff:w", user_id=homeserver.user_id("wmgr")),
                Follow(user_id=homeserver.user_id("wmgr"), room_id="!staff:w"),
                Follow(user_id=homeserver.user_id("wmgr"), room_id="!sealed:w"),
            ]
        )
    await engine.dispose()


async def test_timeline_shows_only_readable_channels(
    client: TestClient[Any, Any], homeserver: Homeserver, readable_content: None
) -> None:
    member = await signed_in(client, homeserver, "wmgr")
    outsider = await signed_in(client, homeserver, "wcop")

    sources = await (await client.get("/widgets/api/timeline/sources", headers=member)).json()
    assert {c["key"] for c in sources["channels"]} == {"news", "staffnews"}

    staff = await (
        await client.get(
            "/widgets/api/timeline", params={"channel": "#staffnews:w"}, headers=member
        )
    ).json()
    assert [p["event_id"] for p in staff["posts"]] == ["$post3"]
    post = staff["posts"][0]
    assert post["reply_count"] == 2 and post["reaction_count"] == 3 and post["tags"] == ["bins"]
    assert post["pieces"] == [
        {"text": f"{SECRET} staff only ", "tag": None},
        {"text": "#bins", "tag": "bins"},
    ]
    assert post["link"] == "https://matrix.to/#/%23staffnews%3Aw/%24post3"

    # Follows of a sealed channel the viewer cannot read are ignored.
    follows = await (await client.get("/widgets/api/timeline", headers=member)).json()
    assert [p["event_id"] for p in follows["posts"]] == ["$post3"]

    tagged = await (
        await client.get(
            "/widgets/api/timeline", params={"channel": "news", "tag": "#bins"}, headers=member
        )
    ).json()
    assert [p["event_id"] for p in tagged["posts"]] == ["$post0"]

    for ref in ("#staffnews:w", "!staff:w", "#leaders:w", "!sealed:w", "leaders", "both"):
        answer = await client.get(
            "/widgets/api/timeline", params={"channel": ref}, headers=outsider
        )
        assert answer.status == 404, ref
        assert SECRET not in await answer.text()
    for ref in ("#leaders:w", "!both:w"):
        answer = await client.get("/widgets/api/timeline", params={"channel": ref}, headers=member)
        assert answer.status == 404, ref

    bad = await client.get("/widgets/api/timeline", params={"tag": "two words"}, headers=member)
    assert bad.status == 400 and (await bad.json())["errcode"] == "M_INVALID_PARAM"


# --- apply places the widgets a room template asks for ---


def test_apply_adds_the_templates_widgets_and_a_second_apply_changes_nothing(
    homeserver: Homeserver, applied: Path
) -> None:
    room_id = homeserver.room_id("wteam-hub")
    people = homeserver.state(room_id, "im.vector.modular.widgets", "borough_people")
    assert people["type"] == "m.custom"
    assert people["url"] == (
        "http://localhost:8090/widgets/people?room=$matrix_room_id&user=$matrix_user_id"
        "&theme=$org.matrix.msc2873.client_theme&lang=$org.matrix.msc2873.client_language"
    )
    assert people["creatorUserId"] == homeserver.service_user
    timeline_id = "borough_timeline_" + f"wteam_news_{homeserver.server_name}".replace(".", "_")
    timeline = homeserver.state(room_id, "im.vector.modular.widgets", timeline_id)
    channel = quote(f"#wteam-news:{homeserver.server_name}", safe="")
    assert f"/widgets/timeline?channel={channel}&" in timeline["url"]
    layout = homeserver.state(room_id, "io.element.widgets.layout")
    assert layout["widgets"]["borough_people"] == {"container": "right"}
    assert layout["widgets"][timeline_id] == {"container": "right"}

    result = borough("apply", str(ORG_FILE), settings=applied)
    assert result.exit_code == 0, result.output
    assert "No changes." in result.output, result.output


def test_apply_restores_a_removed_widget_and_respects_a_moved_one(
    homeserver: Homeserver, applied: Path
) -> None:
    """An admin's pin stands; a widget an earlier Borough pinned moves to the side panel."""
    room_id = homeserver.room_id("wteam-hub")
    base = f"/_matrix/client/v3/rooms/{quote(room_id)}/state"
    layout = homeserver.state(room_id, "io.element.widgets.layout")
    pinned = {"container": "top", "index": 0, "width": 100, "height": 30}
    layout["widgets"]["borough_people"] = pinned
    timeline_id = next(w for w in layout["widgets"] if w.startswith("borough_timeline"))
    layout["widgets"][timeline_id] = {"container": "top", "index": 1, "width": 50, "height": 40}
    homeserver.admin("PUT", f"{base}/io.element.widgets.layout/", layout)
    homeserver.admin("PUT", f"{base}/im.vector.modular.widgets/borough_people", {})

    result = borough("apply", str(ORG_FILE), settings=applied)
    assert result.exit_code == 0, result.output
    assert "borough_people" in result.output or "im.vector.modular.widgets" in result.output
    assert homeserver.state(room_id, "im.vector.modular.widgets", "borough_people")["url"]
    # Where an admin put the widget stands.
    placed = homeserver.state(room_id, "io.element.widgets.layout")["widgets"]
    assert placed["borough_people"] == pinned
    assert placed[timeline_id] == {"container": "right"}
    again = borough("apply", str(ORG_FILE), settings=applied)
    assert "No changes." in again.output, again.output


def test_apply_gives_a_widget_an_earlier_borough_wrote_elements_theme_and_language(
    homeserver: Homeserver, applied: Path
) -> None:
    room_id = homeserver.room_id("wteam-hub")
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}/state/im.vector.modular.widgets/"
    current = homeserver.state(room_id, "im.vector.modular.widgets", "borough_people")
    before = "http://localhost:8090/widgets/people?room=$matrix_room_id&user=$matrix_user_id"
    homeserver.admin("PUT", f"{path}borough_people", {**current, "url": before})

    result = borough("apply", str(ORG_FILE), settings=applied)
    assert result.exit_code == 0, result.output
    after = homeserver.state(room_id, "im.vector.modular.widgets", "borough_people")
    assert after == current, result.output
    assert after["url"].endswith(
        "&theme=$org.matrix.msc2873.client_theme&lang=$org.matrix.msc2873.client_language"
    )
    again = borough("apply", str(ORG_FILE), settings=applied)
    assert "No changes." in again.output, again.output


async def test_public_media_is_proxied_from_the_homeserver(
    client: TestClient[Any, Any], homeserver: Homeserver, applied: Path, public_content: Any
) -> None:
    image = io.BytesIO()
    Image.new("RGB", (640, 480), (20, 90, 160)).save(image, format="PNG")
    async with MatrixClient(homeserver.synapse.base_url, homeserver.service_token) as matrix:
        public_mxc = await matrix.upload(image.getvalue(), "image/png", "site.png")
        private_mxc = await matrix.upload(image.getvalue(), "image/png", "plan.png")
    engine = create_engine(load_settings(applied).database.url)
    async with session_factory(engine).begin() as session:
        session.add_all(
            [
                BlogPost(
                    event_id="$photo",
                    room_id="!blog:w",
                    unit="wteam",
                    author="@wstaff:w",
                    title="The site",
                    html="<p>Photo</p>",
                    summary="Photo",
                    sent_at=NOW,
                    is_public=True,
                    media=[{"url": public_mxc, "mimetype": "image/png", "alt": "The site"}],
                ),
                BlogPost(
                    event_id="$plan",
                    room_id="!pblog:w",
                    unit="wdir",
                    author="@wboss:w",
                    title="Plan",
                    html="<p>Plan</p>",
                    summary="Plan",
                    sent_at=NOW,
                    is_public=True,
                    media=[{"url": private_mxc, "mimetype": "image/png", "alt": "plan"}],
                ),
            ]
        )
    await engine.dispose()

    served = await client.get("/public/media/" + public_mxc.removeprefix("mxc://"))
    assert served.status == 200, await served.text()
    assert served.content_type in ("image/png", "image/jpeg")
    assert (await served.read())[:4] in (b"\x89PNG", b"\xff\xd8\xff\xe0", b"\xff\xd8\xff\xdb")
    refused = await client.get("/public/media/" + private_mxc.removeprefix("mxc://"))
    assert refused.status == 404


# --- Bodies, methods and parameters that are wrong: a clear 4xx, never a 500 ---

NESTED = b"[" * 50_000


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "says"),
    [
        (NESTED, "application/json", 400, "nests deeper"),
        (b'{"a":' * 10_000, "application/json", 400, "nests deeper"),
        (b'{"access_token": "x"}', "text/plain", 400, "Content-Type"),
        (b"", "application/json", 400, "empty"),
        (b'{"access_token": "\xff"}', "application/json", 400, "UTF-8"),
        (b'"just a string"', "application/json", 400, "not a string"),
        (b'{"access_token": ' + b"1" * 5000 + b"}", "application/json", 400, "too long"),
        (b'{"access_token": "' + b"x" * 70_000 + b'"}', "application/json", 413, "64 KiB"),
    ],
    ids=["nested-arrays", "nested-objects", "content-type", "empty", "utf8", "string",
         "huge-number", "oversized"],
)  # fmt: skip
async def test_bad_session_bodies_are_named_not_500(
    client: TestClient[Any, Any], raw: bytes, content_type: str, status: int, says: str
) -> None:
    answer = await client.post(
        "/widgets/api/session", data=raw, headers={"Content-Type": content_type}
    )
    assert answer.status == status, await answer.text()
    error = await answer.json()
    assert says in error["error"] and "Traceback" not in error["error"]


async def test_nested_json_is_refused_on_every_json_route(
    client: TestClient[Any, Any],
) -> None:
    for path in ("/widgets/api/session", "/verify/user_in_room", "/meet/!room:w/token"):
        answer = await client.post(path, data=NESTED, headers={"Content-Type": "application/json"})
        assert answer.status == 400, (path, await answer.text())
        assert "nests deeper" in (await answer.json())["error"], path


@pytest.mark.parametrize(
    ("method", "path", "status", "content_type"),
    [
        ("GET", "/widgets/api/nosuch", 404, "application/json"),
        ("GET", "/verify/nosuch", 404, "application/json"),
        ("GET", "/widgets/api/session", 405, "application/json"),
        ("PUT", "/verify/user_in_room", 405, "application/json"),
        ("DELETE", "/widgets/api/timeline", 405, "application/json"),
        ("GET", "/meet/!room:w/token", 405, "application/json"),
        ("GET", "/nosuch", 404, "text/html"),
        ("GET", "/public/nosuch", 404, "text/html"),
        ("POST", "/public/", 405, "text/html"),
        ("POST", "/widgets/people", 405, "text/html"),
    ],
)
async def test_unknown_addresses_and_methods_answer_json_or_a_page(
    client: TestClient[Any, Any], method: str, path: str, status: int, content_type: str
) -> None:
    answer = await client.request(method, path)
    assert answer.status == status
    assert answer.content_type == content_type
    if content_type == "application/json":
        assert (await answer.json())["error"]
    else:
        assert "<h1>" in await answer.text()
    if status == 405:
        assert answer.headers["Allow"]


async def test_an_unexpected_error_is_a_plain_500_and_only_the_log_has_the_traceback(
    applied: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("detail for the log only")

    app = create_app(load_settings(applied))
    app.router.add_get("/widgets/api/broken", broken)
    app.router.add_get("/public/broken", broken)
    async with TestClient(TestServer(app)) as broken_client:
        api = await broken_client.get("/widgets/api/broken")
        page = await broken_client.get("/public/broken")
        bodies = (await api.text(), await page.text())
    assert api.status == 500 and api.content_type == "application/json"
    assert page.status == 500 and page.content_type == "text/html"
    for body in bodies:
        assert "detail for the log only" not in body and "Traceback" not in body
    assert "detail for the log only" in caplog.text


async def test_the_search_api_names_a_bad_page_and_never_answers_with_chat_help(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    headers = await signed_in(client, homeserver, "wmgr")
    for params, names in (
        ({"q": "winnie", "page": "0"}, "`page`"),
        ({"q": "winnie", "page": "-3"}, "`page`"),
        ({"q": "winnie", "page": "two"}, "`page`"),
        ({"q": "winnie", "page": "9" * 30}, "`page`"),
        ({"q": "winnie page:99999999999999999999"}, "page:"),
        ({"page": "2"}, "`q`"),
        ({"q": "page:2"}, "`q`"),
        ({"q": "!!! ???"}, "`q`"),
    ):
        answer = await client.get("/widgets/api/people", params=params, headers=headers)
        assert answer.status == 400, (params, await answer.text())
        error = (await answer.json())["error"]
        assert names in error and "!find" not in error, (params, error)
    paged = await client.get(
        "/widgets/api/people", params={"q": "winnie", "page": "2"}, headers=headers
    )
    assert paged.status == 200 and (await paged.json())["page"] == 2


async def test_bad_tag_and_channel_parameters_are_named(
    client: TestClient[Any, Any], homeserver: Homeserver, public_content: dict[str, str]
) -> None:
    headers = await signed_in(client, homeserver, "wmgr")
    for params, names in (
        ({"tag": "two words"}, "`tag`"),
        ({"tag": "x" * 5000}, "`tag`"),
        ({"channel": "x" * 5000}, "`channel`"),
    ):
        answer = await client.get("/widgets/api/timeline", params=params, headers=headers)
        assert answer.status == 400, params
        assert names in (await answer.json())["error"], params
    for path in ("/public/channels/news", "/public/channels/news/feed.atom"):
        answer = await client.get(path, params={"tag": "two words"})
        assert answer.status == 400, path
        assert "`tag`" in await answer.text(), path


async def test_a_nul_in_the_address_is_named_not_passed_to_the_database(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    """PostgreSQL refuses a NUL in any string (run with BOROUGH_TEST_POSTGRES to see the 500)."""
    headers = await signed_in(client, homeserver, "wmgr")
    for path, json_errors in (
        ("/public/channels/%00", False),
        ("/public/blogs/a%00b/feed.atom", False),
        ("/widgets/api/people/%00", True),
        ("/widgets/api/units/%00", True),
        ("/widgets/api/timeline?channel=%00", True),
        ("/widgets/api/people?q=a&page=%00", True),
    ):
        answer = await client.get(path, headers=headers)
        assert answer.status == 400, path
        text = (await answer.json())["error"] if json_errors else await answer.text()
        assert "NUL" in text, path


# --- One way to name a channel, one rule for who may see it ---


async def test_a_tags_feed_serves_public_posts_only(
    client: TestClient[Any, Any], public_content: dict[str, str]
) -> None:
    answer = await client.get("/public/tags/bins/feed.atom")
    assert answer.status == 200, await answer.text()
    assert answer.content_type == "application/atom+xml"
    feed = await answer.read()
    entries = ET.fromstring(feed).findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}content") for e in entries] == [
        "Bin collections move on Friday #bins <script>alert(1)</script>"
    ]
    assert public_content["secret"].encode() not in feed
    assert b"Leaders" not in feed and b"Staff news" not in feed
    page = await (await client.get("/public/tags/bins")).text()
    assert 'href="/public/tags/bins/feed.atom"' in page
    for path in ("/public/tags/two%20words/feed.atom", "/public/tags/%23/feed.atom"):
        assert (await client.get(path)).status == 404, path


async def test_timeline_and_public_pages_take_the_same_channel_names(
    client: TestClient[Any, Any], homeserver: Homeserver, applied: Path, readable_content: None
) -> None:
    """A channel as the bot indexes it: Borough's key, and its alias on this server."""
    server = homeserver.server_name
    engine = create_engine(load_settings(applied).database.url)
    async with session_factory(engine).begin() as session:
        session.add_all(
            [
                ChannelRow(
                    room_id="!parks:w",
                    key="unit/wteam/parks",
                    alias=f"#wteam-parks:{server}",
                    name="Parks",
                    is_sealed=False,
                    posters=[],
                    max_length=500,
                    is_public=True,
                ),
                Post(
                    event_id="$parks",
                    room_id="!parks:w",
                    author="@wboss:w",
                    body="The park gates open at seven",
                    sent_at=NOW,
                    links=[],
                ),
            ]
        )
    await engine.dispose()
    member = await signed_in(client, homeserver, "wmgr")
    names = (
        "wteam-parks",
        "#wteam-parks",
        f"#wteam-parks:{server}",
        "unit/wteam/parks",
        "!parks:w",
    )
    for name in names:
        timeline = await client.get(
            "/widgets/api/timeline", params={"channel": name}, headers=member
        )
        assert timeline.status == 200, (name, await timeline.text())
        assert [p["event_id"] for p in (await timeline.json())["posts"]] == ["$parks"], name
        page = await client.get(f"/public/channels/{quote(name, safe='')}")
        assert page.status == 200, name
        assert "The park gates open at seven" in await page.text(), name
    index = await (await client.get("/public/")).text()
    assert 'href="/public/channels/wteam-parks"' in index
    assert (await client.get("/public/channels/wteam-parks/feed.atom")).status == 200
    # A bare key of a sealed or unreadable channel is as unknown as one that does not exist.
    outsider = await signed_in(client, homeserver, "wcop")
    for name in ("leaders", "staffnews", "nosuch"):
        refused = await client.get(
            "/widgets/api/timeline", params={"channel": name}, headers=outsider
        )
        assert refused.status == 404, name
        assert (await client.get(f"/public/channels/{name}")).status == 404, name
