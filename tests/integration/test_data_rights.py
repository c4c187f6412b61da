"""Data rights against a real Synapse: a person's archive, and an erased person gone from
everything Borough serves (the bot, the widget directory, public pages and feeds)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from borough.db import create_engine, session_factory
from borough.db.models import Profile
from borough.settings import load_settings
from management.data_rights import present_holdings
from tests.conftest import Homeserver, borough, write_settings
from tests.integration.running_bot import ThreadedBot, running_bot
from tests.integration.test_bot import Person, post
from tests.integration.test_widget_views import openid_credentials
from widgets.app import create_app

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "widgets.yaml"
WORDS = "Erasable words about the #allotments"


@pytest.fixture(scope="module")
def bot_and_settings(
    homeserver: Homeserver, app_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ThreadedBot, Path]]:
    user_id, token = homeserver.synapse.register_user("rightsbot", secrets.token_hex(8))
    settings = write_settings(
        tmp_path_factory.mktemp("rights") / "borough.yaml",
        homeserver,
        app_database_url,
        bot={"user_id": user_id, "access_token": token},
    )
    result = borough("apply", "-q", str(ORG_FILE), settings=settings)
    assert result.exit_code == 0, result.output
    with running_bot(
        homeserver, app_database_url, user_id, token, service_token=homeserver.service_token
    ) as bot:
        yield bot, settings


@pytest.fixture(scope="module")
def settings(bot_and_settings: tuple[ThreadedBot, Path]) -> Path:
    return bot_and_settings[1]


@pytest.fixture(scope="module")
def people(homeserver: Homeserver, bot_and_settings: tuple[ThreadedBot, Path]) -> dict[str, Person]:
    bot, _ = bot_and_settings
    return {name: Person(homeserver, name, bot.user_id) for name in ("wmgr", "wstaff")}


@pytest.fixture(scope="module")
def footprint(homeserver: Homeserver, people: dict[str, Person]) -> dict[str, str]:
    """Walter posts in the public news channel, follows it, and uploads a file."""
    walter, winnie = people["wmgr"], people["wstaff"]
    news = homeserver.room_id("wteam-news")
    event_id = post(homeserver, walter.token, news, {"msgtype": "m.text", "body": WORDS})
    upload = homeserver.synapse.base_url + "/_matrix/media/v3/upload?filename=notes.txt"
    import urllib.request

    request = urllib.request.Request(
        upload,
        data=b"Walter's notes",
        method="POST",
        headers={"Authorization": f"Bearer {walter.token}", "Content-Type": "text/plain"},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=30) as response:
        mxc = json.loads(response.read())["content_uri"]
    # A reply comes after the post is indexed: the bot indexes a batch before answering.
    assert "You follow" in walter.ask("!follow #wteam-news")
    assert "You follow" in winnie.ask("!follow #wteam-news")
    assert WORDS in winnie.ask("!feed")
    return {"event_id": event_id, "mxc": mxc}


def _rows_about(database_url: str, user_id: str) -> dict[str, int]:
    async def count() -> dict[str, int]:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session:
                found = {}
                for holding, table in present_holdings():
                    rows = (
                        await session.execute(
                            select(table).where(table.c[holding.column] == user_id)
                        )
                    ).all()
                    if rows:
                        found[f"{holding.table}.{holding.column}"] = len(rows)
                return found
        finally:
            await engine.dispose()

    return asyncio.run(count())


def test_export_writes_what_borough_and_synapse_hold(
    homeserver: Homeserver, settings: Path, footprint: dict[str, str], tmp_path: Path
) -> None:
    walter = homeserver.user_id("wmgr")
    out = tmp_path / "walter.json"
    result = borough("person", "export", "@wmgr", "--out", str(out), "--yes", settings=settings)
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o077 == 0  # personal data: the operator's eyes only
    archive = json.loads(out.read_text())
    tables = archive["borough"]["tables"]
    assert archive["user_id"] == walter
    assert tables["profiles"]["rows"][0]["display_name"] == "Walter Manager"
    assert tables["profiles.manager"]["rows"] == [{"user_id": homeserver.user_id("wstaff")}]
    assert [p["body"] for p in tables["posts"]["rows"]] == [WORDS]
    assert len(tables["follows"]["rows"]) == 1
    assert archive["synapse"]["account"]["name"] == walter
    assert homeserver.room_id("wteam-news") in archive["synapse"]["joined_rooms"]["joined_rooms"]
    media = archive["synapse"]["media"]["media"]
    assert [m["media_id"] for m in media] == [footprint["mxc"].rsplit("/", 1)[1]]
    assert "devices" in archive["synapse"]["devices"]
    assert homeserver.service_token not in out.read_text()

    audit = borough("audit", "--json", settings=settings)
    assert '"action": "person.export"' in audit.output


def test_bad_requests_get_clear_answers(homeserver: Homeserver, settings: Path) -> None:
    for command in ("export", "erase"):
        unknown = borough("person", command, "@ghost", "--yes", settings=settings)
        assert unknown.exit_code == 2, unknown.output
        assert f"no user {homeserver.user_id('ghost')} on this homeserver" in unknown.output
    declined = CliInput("n\n")
    result = declined.run("person", "erase", "@wstaff", settings=settings)
    assert result.exit_code == 3 and "nothing was erased" in result.output
    own = borough("person", "erase", homeserver.service_user, "--yes", settings=settings)
    assert own.exit_code == 3 and "one of Borough's own accounts" in own.output


class CliInput:
    """The borough command with something typed at its prompt."""

    def __init__(self, typed: str) -> None:
        self.typed = typed

    def run(self, *args: str, settings: Path) -> Any:
        from click.testing import CliRunner

        from borough.cli import main

        return CliRunner().invoke(main, ["--settings", str(settings), *args], input=self.typed)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def widgets(settings: Path) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(load_settings(settings)))) as client:
        yield client


class _ShownText(HTMLParser):
    """The text a reader sees on a page, without its markup: a public page makes each hashtag
    a link where it stands, so a post's words are one string only once the tags are taken off."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def shown_text(page: str) -> str:
    reader = _ShownText()
    reader.feed(page)
    reader.close()
    return "".join(reader.parts)


async def _widget_view(
    client: TestClient[Any, Any], hs: Homeserver, viewer: str, walter: str
) -> dict[str, Any]:
    session = await client.post("/widgets/api/session", json=openid_credentials(hs, viewer))
    assert session.status == 200, await session.text()
    headers = {"Authorization": f"Bearer {(await session.json())['token']}"}
    search = await client.get("/widgets/api/people", params={"q": "Walter"}, headers=headers)
    card = await client.get(f"/widgets/api/people/{quote(walter)}", headers=headers)
    news = quote(f"#wteam-news:{hs.server_name}", safe="")
    page = await client.get(f"/public/channels/{news}")
    feed = await client.get(f"/public/channels/{news}/feed.atom")
    tag = await client.get("/public/tags/allotments")
    return {
        "found": (await search.json())["total"],
        "card": card.status,
        "page": shown_text(await page.text()),
        "feed": await feed.text(),
        "tag": shown_text(await tag.text()),
    }


async def test_an_erased_person_is_gone_from_everything_borough_serves(
    homeserver: Homeserver,
    settings: Path,
    people: dict[str, Person],
    footprint: dict[str, str],
    widgets: TestClient[Any, Any],
    app_database_url: str,
) -> None:
    walter = homeserver.user_id("wmgr")
    winnie = people["wstaff"]
    before = await _widget_view(widgets, homeserver, "wstaff", walter)
    assert before["found"] == 1 and before["card"] == 200
    assert WORDS in before["page"] and WORDS in before["feed"] and WORDS in before["tag"]
    assert "Walter Manager" in await asyncio.to_thread(winnie.ask, "!whois @wmgr")

    charted = await asyncio.to_thread(
        borough, "person", "erase", "wmgr", "--yes", "--chart", str(ORG_FILE), settings=settings
    )
    assert charted.exit_code == 3
    assert f"{walter} is still in the org chart ({ORG_FILE})" in charted.output
    result = await asyncio.to_thread(
        borough, "person", "erase", "wmgr", "--yes", "--reason", "SAR-42", settings=settings
    )
    assert result.exit_code == 0, result.output
    assert f"Erased {walter}: deactivated with erase in Synapse, 1 media deleted" in result.output

    account = homeserver.admin("GET", f"/_synapse/admin/v2/users/{quote(walter)}")
    assert account["deactivated"] is True and account["erased"] is True
    media = homeserver.admin("GET", f"/_synapse/admin/v1/users/{quote(walter)}/media")
    assert media["total"] == 0
    assert await asyncio.to_thread(_rows_about, app_database_url, walter) == {}

    engine = create_engine(app_database_url)
    try:
        async with session_factory(engine)() as session:
            staff = await session.get(Profile, homeserver.user_id("wstaff"))
            assert staff is not None and staff.manager is None
    finally:
        await engine.dispose()

    whois = await asyncio.to_thread(winnie.ask, "!whois @wmgr")
    assert "Nobody matches `@wmgr`" in whois and "Walter" not in whois
    assert "Walter" not in await asyncio.to_thread(winnie.ask, "!find Walter")
    assert WORDS not in await asyncio.to_thread(winnie.ask, "!feed")
    after = await _widget_view(widgets, homeserver, "wstaff", walter)
    assert after["found"] == 0 and after["card"] == 404
    assert WORDS not in after["page"] and WORDS not in after["feed"]
    assert WORDS not in after["tag"] and "Walter" not in after["page"] + after["tag"]

    # Still in the org chart: apply must not bring the erased account back.
    plan = await asyncio.to_thread(borough, "plan", str(ORG_FILE), settings=settings)
    assert plan.exit_code == 0, plan.output
    assert f"warning: {walter} was erased (borough person erase) and is left out" in plan.output
    assert "reactivate" not in plan.output and walter not in plan.output.replace(
        f"warning: {walter}", ""
    )

    logged = await asyncio.to_thread(borough, "audit", "--json", settings=settings)
    audit = json.loads(next(ln for ln in logged.output.splitlines() if '"person.erase"' in ln))
    assert audit["target_ids"] == [walter] and audit["reason"] == "SAR-42"
    recorded = json.dumps(audit)
    assert "Walter" not in recorded and WORDS not in recorded and "notes" not in recorded
    assert audit["details"]["rows"]["posts"] == 1


def test_a_leaver_already_deactivated_can_still_be_erased(
    homeserver: Homeserver, settings: Path, app_database_url: str, tmp_path: Path
) -> None:
    wes = homeserver.user_id("wcop")
    homeserver.admin("POST", f"/_synapse/admin/v1/deactivate/{quote(wes)}", {"erase": False})
    chart = tmp_path / "org.yaml"
    chart.write_text(
        "\n".join(ln for ln in ORG_FILE.read_text().splitlines() if "username: wcop" not in ln)
    )
    result = borough("person", "erase", "@wcop", "--yes", "--chart", str(chart), settings=settings)
    assert result.exit_code == 0, result.output
    account = homeserver.admin("GET", f"/_synapse/admin/v2/users/{quote(wes)}")
    assert account["deactivated"] is True and account["erased"] is True
    assert _rows_about(app_database_url, wes) == {}
