"""Profile pages, faces and the directory's opening view against a real Synapse: a colleague,
a partner and a community member each see exactly the fields `!whois` shows them; a sealed
channel's posts never reach an outsider; an erased person's page is the same 404 as a page
that never existed; faces come from the person's Matrix profile and only at signed addresses."""

from __future__ import annotations

import asyncio
import io
import json
import urllib.request
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
import yaml
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image
from sqlalchemy import update

from borough.db import ChannelMember, ChannelRow, Post, Profile, create_engine, session_factory
from borough.settings import load_settings
from tests.conftest import Homeserver, borough
from tests.integration.test_widget_views import signed_in
from widgets.app import create_app

pytestmark = pytest.mark.integration

WIDGETS_CHART = Path(__file__).parents[1] / "fixtures" / "org" / "widgets.yaml"
SEALED_WORDS = "Sealed restructure plans for the housing team"
OPEN_WORDS = "Open day at the housing office on Saturday"


@pytest.fixture(scope="module")
def chart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The widget tests' chart, one more person (Gail, who will be erased) and a partnership."""
    org = yaml.safe_load(WIDGETS_CHART.read_text(encoding="utf-8"))
    org["people"].append(
        {
            "username": "wgone",
            "display_name": "Gail Gone",
            "organisation": "wcouncil",
            "units": ["wteam"],
            "manager": "wmgr",
            "profile": {"bio": {"value": "Soon erased", "visibility": "public"}},
        }
    )
    # Through the directorate above Winnie's team, and the whole police force.
    org["partnerships"] = [
        {
            "key": "wsafety",
            "name": "Widget Safety Partnership",
            "organisations": ["wpolice"],
            "units": ["wdir"],
        }
    ]
    path = tmp_path_factory.mktemp("chart") / "org.yaml"
    path.write_text(yaml.safe_dump(org), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def applied(settings_file: Path, chart: Path) -> Path:
    result = borough("apply", "-q", str(chart), settings=settings_file)
    assert result.exit_code == 0, result.output
    return settings_file


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def client(applied: Path) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(load_settings(applied)))) as test_client:
        yield test_client


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def channels(client: TestClient[Any, Any], applied: Path, homeserver: Homeserver) -> None:
    """Index rows as the bot writes them: Winnie posts in a sealed channel that only she and
    Walter are in, and in a public one."""
    engine = create_engine(load_settings(applied).database.url)
    now = datetime.now(UTC)
    winnie, walter = homeserver.user_id("wstaff"), homeserver.user_id("wmgr")
    channel = {"posters": [], "max_length": 500}
    async with session_factory(engine).begin() as session:
        session.add_all(
            [
                ChannelRow(
                    room_id="!sealed:w",
                    key="channel/restructure",
                    alias=None,
                    name="Restructure",
                    is_sealed=True,
                    is_public=False,
                    **channel,
                ),
                ChannelRow(
                    room_id="!open:w",
                    key="channel/housing-news",
                    alias="#housing-news:w",
                    name="Housing news",
                    is_sealed=False,
                    is_public=True,
                    **channel,
                ),
                ChannelMember(room_id="!sealed:w", user_id=winnie),
                ChannelMember(room_id="!sealed:w", user_id=walter),
                ChannelMember(room_id="!open:w", user_id=winnie),
                Post(
                    event_id="$sealed",
                    room_id="!sealed:w",
                    author=winnie,
                    body=SEALED_WORDS,
                    sent_at=now,
                    links=[],
                ),
                Post(
                    event_id="$open",
                    room_id="!open:w",
                    author=winnie,
                    body=OPEN_WORDS + " #openday",
                    sent_at=now - timedelta(hours=1),
                    links=[],
                    reply_count=2,
                ),
                Post(
                    event_id="$walter",
                    room_id="!open:w",
                    author=walter,
                    body="Walter has made no field public",
                    sent_at=now - timedelta(hours=2),
                    links=[],
                ),
                Post(
                    event_id="$reply",
                    room_id="!open:w",
                    author=winnie,
                    body="A reply in a thread is not a post of hers to list",
                    sent_at=now,
                    links=[],
                    thread_root="$other",
                ),
            ]
        )
    await engine.dispose()


async def page_of(
    client: TestClient[Any, Any], hs: Homeserver, viewer: str, owner: str
) -> dict[str, Any]:
    headers = await signed_in(client, hs, viewer)
    answer = await client.get(f"/widgets/api/profiles/{quote(hs.user_id(owner))}", headers=headers)
    assert answer.status == 200, await answer.text()
    shown: dict[str, Any] = await answer.json()
    return shown


def names(people: list[dict[str, Any]]) -> list[str]:
    return [person["display_name"] for person in people]


async def test_each_viewer_sees_exactly_the_fields_they_may(
    client: TestClient[Any, Any], homeserver: Homeserver, channels: None
) -> None:
    seen = {
        viewer: await page_of(client, homeserver, viewer, "wstaff")
        for viewer in ("wmgr", "wcop", "wres", "wstaff")
    }
    colleague, partner, resident, own = seen["wmgr"], seen["wcop"], seen["wres"], seen["wstaff"]
    team = [{"key": "wteam", "name": "Widget Housing Team", "page": "/widgets/units/wteam"}]
    for shown in (colleague, partner, own):
        assert shown["display_name"] == "Winnie Staff"
        assert shown["job_title"] == "Housing Officer"
        assert shown["pronouns"] == "she/her"
        assert shown["organisation"] == "Widget Council"
        assert shown["units"] == team
        assert names(shown["chain"]) == ["Wanda Boss", "Walter Manager"]
        assert [s["name"] for s in shown["skills"]] == ["safeguarding", "tenancy law"]
    contact = {v: [(c["name"], c["value"]) for c in seen[v]["contact"]] for v in seen}
    email = ("email", "winnie@widget.gov.uk")
    assert contact["wmgr"] == [email, ("phone", "0207 111 2222")]  # staff: same organisation
    assert contact["wcop"] == [email]  # a partner: no staff-only phone
    assert contact["wstaff"] == contact["wmgr"]
    # A resident sees the public bio, the title the chart gives, and nothing of where she sits.
    assert resident["job_title"] == "Housing Officer"
    assert resident["pronouns"] is None and resident["organisation"] is None
    assert resident["units"] == resident["chain"] == resident["contact"] == []
    assert resident["skills"] == []
    for shown in seen.values():
        assert "Tenancy support and gardening" in shown["bio_html"]
        assert shown["message"] == f"https://matrix.to/#/{quote(homeserver.user_id('wstaff'))}"
    safety = [
        {
            "key": "wsafety",
            "name": "Widget Safety Partnership",
            "page": "/widgets/partnerships/wsafety",
        }
    ]
    assert colleague["partnerships"] == partner["partnerships"] == own["partnerships"] == safety
    assert resident["partnerships"] == []
    assert (await page_of(client, homeserver, "wmgr", "wcop"))["partnerships"] == safety
    assert (await page_of(client, homeserver, "wmgr", "wres"))["partnerships"] == []
    # Only her own page says how to change each field.
    assert [not s["edits"] for s in (colleague, partner, resident)] == [True] * 3
    edits = {e["name"]: e for e in own["edits"]}
    assert own["is_own"] is True
    assert edits["location"]["command"] == "!profile set location …"
    assert edits["bio"]["command"] is None and "org chart" in edits["bio"]["note"]


async def test_the_page_and_whois_card_follow_one_rule(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    """The directory card (what `!whois` shows) and the page agree, field by field."""
    winnie = quote(homeserver.user_id("wstaff"))
    for viewer in ("wmgr", "wcop", "wres"):
        headers = await signed_in(client, homeserver, viewer)
        card = await (await client.get(f"/widgets/api/people/{winnie}", headers=headers)).json()
        shown = await page_of(client, homeserver, viewer, "wstaff")
        card_fields = {f["name"] for f in card["fields"]}
        page_fields = {c["name"] for c in shown["contact"] if c["name"] != "email"}
        page_fields |= {"skills"} if shown["skills"] else set()
        page_fields |= {"pronouns"} if shown["pronouns"] else set()
        page_fields |= {"bio"} if shown["bio_html"] else set()
        assert page_fields == card_fields, viewer
        assert (card["email"] is None) == ("email" not in [c["name"] for c in shown["contact"]])
        assert card["organisation"] == shown["organisation"]


async def test_reports_and_manager_chain_are_for_staff_and_partners(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    walter = await page_of(client, homeserver, "wcop", "wmgr")
    assert names(walter["reports"]) == ["Gail Gone", "Winnie Staff"]
    assert names(walter["chain"]) == ["Wanda Boss"]
    assert walter["reports"][1]["profile"] == f"/widgets/people/{homeserver.user_id('wstaff')}"
    hidden = await page_of(client, homeserver, "wres", "wmgr")
    assert hidden["reports"] == hidden["chain"] == []


async def test_sealed_channel_posts_never_reach_an_outsider(
    client: TestClient[Any, Any], homeserver: Homeserver, channels: None
) -> None:
    inside = await page_of(client, homeserver, "wmgr", "wstaff")
    bodies = ["".join(p["text"] for p in post["pieces"]) for post in inside["posts"]]
    assert bodies == [SEALED_WORDS, OPEN_WORDS + " #openday"]  # newest first, no replies
    assert [c["name"] for c in inside["channels"]] == ["Housing news", "Restructure"]
    for outsider in ("wcop", "wres"):
        shown = await page_of(client, homeserver, outsider, "wstaff")
        text = json.dumps(shown)
        assert SEALED_WORDS not in text and "Restructure" not in text, outsider
        assert [post["channel"] for post in shown["posts"]] == ["Housing news"]
        assert shown["posts"][0]["reply_count"] == 2
        assert [c["name"] for c in shown["channels"]] == ["Housing news"]


async def test_an_erased_person_is_the_same_404_as_nobody(
    client: TestClient[Any, Any], homeserver: Homeserver, applied: Path
) -> None:
    gail, nobody = homeserver.user_id("wgone"), homeserver.user_id("wnobody")
    headers = await signed_in(client, homeserver, "wmgr")

    async def fetch(user_id: str) -> tuple[int, str, int, str, int]:
        page = await client.get(f"/widgets/people/{quote(user_id)}")
        api = await client.get(f"/widgets/api/profiles/{quote(user_id)}", headers=headers)
        # A signed face address for them, as an older answer would have handed out.
        face = await client.get(_signed_face(client, user_id))
        return page.status, await page.text(), api.status, await api.text(), face.status

    before = await fetch(gail)
    assert (before[0], before[2], before[4]) == (200, 200, 200)
    assert (await client.get(f"/public/people/{quote(gail)}")).status == 200  # a public bio
    result = await asyncio.to_thread(
        borough,
        "person",
        "erase",
        "wgone",
        "--yes",
        "--chart",
        "/nonexistent.yaml",
        settings=applied,
    )
    assert result.exit_code == 0, result.output
    after, never = await fetch(gail), await fetch(nobody)
    assert after == never
    assert after[0] == after[2] == after[4] == 404
    assert json.loads(after[3])["errcode"] == "M_NOT_FOUND"
    assert "Gail" not in after[1] + after[3] and "wgone" not in after[1] + after[3]
    walter = await page_of(client, homeserver, "wcop", "wmgr")
    assert names(walter["reports"]) == ["Winnie Staff"]
    public = [await client.get(f"/public/people/{quote(who)}") for who in (gail, nobody)]
    assert [p.status for p in public] == [404, 404]
    assert await public[0].text() == await public[1].text()


async def test_public_pages_show_a_face_and_a_page_only_for_people_with_public_fields(
    client: TestClient[Any, Any], homeserver: Homeserver, channels: None
) -> None:
    winnie, walter = homeserver.user_id("wstaff"), homeserver.user_id("wmgr")
    channel = await (await client.get("/public/channels/housing-news")).text()
    assert (
        f'<a class="person" href="/public/people/{winnie}"><img class="face" '
        f'src="/public/avatars/{winnie}"'
    ) in channel
    assert "<strong>Walter Manager</strong>" in channel
    assert f"/public/people/{walter}" not in channel and f"/public/avatars/{walter}" not in channel

    answer = await client.get(f"/public/people/{quote(winnie)}")
    assert answer.status == 200
    page = await answer.text()
    assert "Winnie Staff" in page and "Housing Officer" in page
    assert "Tenancy support and gardening" in page and OPEN_WORDS in page
    assert '<a href="/public/tags/openday">#openday</a>' in page
    # Nothing a signed-out reader may not see: partner and staff fields, where she sits,
    # the sealed channel and its post.
    for hidden in ("she/her", "0207 111 2222", "winnie@", "Widget Council", "safeguarding"):
        assert hidden not in page, hidden
    assert SEALED_WORDS not in page and "Restructure" not in page
    nobody = await client.get(f"/public/people/{quote(homeserver.user_id('wnobody'))}")
    private = await client.get(f"/public/people/{quote(walter)}")
    assert private.status == nobody.status == 404
    assert await private.text() == await nobody.text()


def _signed_face(client: TestClient[Any, Any], user_id: str) -> str:
    from widgets.avatars import avatar_url

    return avatar_url(client.app, user_id)


def _png(colour: str) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (200, 200), colour).save(out, format="PNG")
    return out.getvalue()


async def test_faces_come_from_matrix_profiles_at_signed_addresses_only(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    token = homeserver.login_as("wstaff")
    upload = urllib.request.Request(
        homeserver.synapse.base_url + "/_matrix/media/v3/upload?filename=me.png",
        data=_png("teal"),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "image/png"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(upload, timeout=30) as response:
        mxc = json.loads(response.read())["content_uri"]
    winnie = homeserver.user_id("wstaff")
    homeserver.call(
        "PUT", f"/_matrix/client/v3/profile/{quote(winnie)}/avatar_url", token, {"avatar_url": mxc}
    )

    shown = await page_of(client, homeserver, "wcop", "wstaff")
    face = await client.get(shown["avatar"])
    assert face.status == 200 and face.content_type in ("image/png", "image/jpeg")
    picture = Image.open(io.BytesIO(await face.read()))
    assert max(picture.size) <= 200 and picture.getpixel((10, 10))[:3] != (255, 255, 255)
    assert "private" in face.headers["Cache-Control"]
    # Walter has no avatar: his initials, drawn here.
    walter = await client.get(shown["chain"][1]["avatar"])
    assert walter.status == 200 and walter.content_type == "image/svg+xml"
    assert ">WM</text>" in await walter.text()
    # Unsigned, forged or expired addresses find nothing.
    path = f"/widgets/avatars/{quote(winnie)}"
    signed = shown["avatar"]
    forged = signed[: signed.index("sig=") + 4] + "A" * 24
    expired = path + "?exp=1000&" + signed.split("&")[1]
    for address in (path, forged, expired):
        assert (await client.get(address)).status == 404, address
    # Public pages show a face only for someone with a public field.
    assert (await client.get(f"/public/avatars/{quote(winnie)}")).status == 200
    walter_id = homeserver.user_id("wmgr")
    assert (await client.get(f"/public/avatars/{quote(walter_id)}")).status == 404


async def test_the_directory_opens_with_unit_manager_joiners_and_recent_views(
    client: TestClient[Any, Any], homeserver: Homeserver, applied: Path
) -> None:
    engine = create_engine(load_settings(applied).database.url)
    async with session_factory(engine).begin() as session:
        # Everyone was applied just now; only Wes the police officer is new this week.
        await session.execute(
            update(Profile)
            .where(Profile.user_id != homeserver.user_id("wcop"))
            .values(joined_at=datetime.now(UTC) - timedelta(days=30))
        )
    await engine.dispose()
    for owner in ("wboss", "wstaff", "wcop"):
        await page_of(client, homeserver, "wmgr", owner)
    await page_of(client, homeserver, "wmgr", "wstaff")  # again: once in the list, first

    async def opening(viewer: str) -> dict[str, Any]:
        headers = await signed_in(client, homeserver, viewer)
        answer = await client.get("/widgets/api/directory/opening", headers=headers)
        assert answer.status == 200, await answer.text()
        found: dict[str, Any] = await answer.json()
        return found

    walter = await opening("wmgr")
    assert walter["me"]["display_name"] == "Walter Manager"
    assert walter["manager"]["display_name"] == "Wanda Boss"
    [team] = walter["units"]
    assert team["key"] == "wteam" and "Winnie Staff" in names(team["members"])
    assert team["people"] == len(team["members"]) + 1  # everyone but Walter himself
    assert names(walter["new_joiners"]) == ["Wes Cop"]
    # Newest first, each once (Walter opened other pages in the tests above, before these).
    viewed = names(walter["recently_viewed"])
    assert viewed[:3] == ["Winnie Staff", "Wes Cop", "Wanda Boss"]
    assert len(viewed) == len(set(viewed))
    # A resident: no unit, nobody new in their own organisation, her own views only (the
    # pages she opened in the tests above), never Walter's.
    wren = await opening("wres")
    assert wren["units"] == [] and wren["manager"] is None and wren["new_joiners"] == []
    assert set(names(wren["recently_viewed"])) == {"Winnie Staff", "Walter Manager"}


async def test_names_in_directory_results_and_the_timeline_lead_to_profile_pages(
    client: TestClient[Any, Any], homeserver: Homeserver, channels: None
) -> None:
    headers = await signed_in(client, homeserver, "wcop")
    winnie = homeserver.user_id("wstaff")
    found = await client.get("/widgets/api/people", params={"q": "winnie"}, headers=headers)
    [person] = (await found.json())["people"]
    assert person["profile"] == f"/widgets/people/{winnie}"
    assert (await client.get(person["avatar"])).status == 200
    timeline = await client.get(
        "/widgets/api/timeline", params={"channel": "!open:w"}, headers=headers
    )
    posts = (await timeline.json())["posts"]
    mine = [p for p in posts if p["author_id"] == winnie]
    assert mine and all(p["author_profile"] == f"/widgets/people/{winnie}" for p in mine)
    assert (await client.get(mine[0]["author_avatar"])).status == 200
