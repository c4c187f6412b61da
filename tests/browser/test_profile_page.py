"""Profile pages and the directory's opening view in a real browser, hosted as Element hosts
widgets (matrix-widget-api's ClientWidgetApi): Winnie's page as a colleague, a partner and a
resident, each showing exactly what `!whois` shows them, with faces; then the directory as
Walter opens it. Each page is photographed in light and dark theme and at phone width and
checked by axe-core (`check_page`)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Locator, Page, expect
from sqlalchemy import update

from borough.db import (
    ChannelMember,
    ChannelRow,
    Post,
    Profile,
    create_engine,
    session_factory,
)
from borough.settings import load_settings
from tests.browser.harness import check_page, open_widget
from tests.conftest import Homeserver, borough, write_settings
from widgets.app import create_app

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "widgets.yaml"
SEALED = "Sealed restructure plans"
OPEN = "Open day at the housing office"


@pytest.fixture(scope="module")
def applied(
    homeserver: Homeserver, app_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    settings = write_settings(
        tmp_path_factory.mktemp("settings") / "borough.yaml", homeserver, app_database_url
    )
    result = borough("apply", "-q", str(ORG_FILE), settings=settings)
    assert result.exit_code == 0, result.output
    return settings


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def widget_server(applied: Path, homeserver: Homeserver) -> AsyncIterator[str]:
    """The widget server, with Winnie's posts in a sealed channel (she and Walter are in it)
    and a public one, and Wes the only new joiner this week."""
    engine = create_engine(load_settings(applied).database.url)
    winnie, walter = homeserver.user_id("wstaff"), homeserver.user_id("wmgr")
    now = datetime.now(UTC)
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
                    event_id="$s",
                    room_id="!sealed:w",
                    author=winnie,
                    body=SEALED,
                    sent_at=now,
                    links=[],
                ),
                Post(
                    event_id="$o",
                    room_id="!open:w",
                    author=winnie,
                    body=OPEN + " #openday",
                    sent_at=now - timedelta(hours=2),
                    links=[],
                    reply_count=3,
                    reaction_count=5,
                ),
            ]
        )
        await session.execute(
            update(Profile)
            .where(Profile.user_id != homeserver.user_id("wcop"))
            .values(joined_at=now - timedelta(days=40))
        )
    await engine.dispose()
    server = TestServer(create_app(load_settings(applied)), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def open_profile(
    browser: Browser, host: str, widget: str, hs: Homeserver, viewer: str, owner: str
) -> tuple[Page, Locator]:
    path = f"/widgets/people/{quote(hs.user_id(owner))}?"
    page = await open_widget(browser, host, widget, hs, viewer, path=path)
    profile = page.frame_locator("iframe").locator("#profile")
    await expect(profile.locator("h1")).to_contain_text("Winnie Staff")
    return page, profile


async def test_a_colleague_sees_everything_with_faces_and_the_sealed_post(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver
) -> None:
    page, profile = await open_profile(
        browser, host_server, widget_server, homeserver, "wmgr", "wstaff"
    )
    await expect(profile.locator("h1")).to_have_text("Winnie Staff (she/her)")
    await expect(profile.get_by_role("navigation", name="Reporting line")).to_have_text(
        "Wanda BossWalter ManagerWinnie Staff"  # the › between them is drawn by CSS
    )
    await expect(profile).to_contain_text("0207 111 2222")
    await expect(profile).to_contain_text(SEALED)
    await expect(profile).to_contain_text(OPEN)
    message = profile.get_by_role("link", name="Message")
    user = quote(homeserver.user_id("wstaff"))
    assert await message.get_attribute("href") == f"https://matrix.to/#/{user}"
    # Faces: hers from the server, drawn (her initials), and loaded, not broken.
    faces = profile.locator("img.face")
    await expect(faces.first).to_be_visible()
    assert await faces.evaluate_all("imgs => imgs.every((img) => img.naturalWidth > 0)")
    await check_page(page, "profile-colleague")
    # A skill chip searches the directory for it.
    await profile.get_by_role("link", name="safeguarding").click()
    results = page.frame_locator("iframe").locator("#results")
    await expect(results).to_contain_text("1 person matches")
    await expect(results).to_contain_text("Winnie Staff")
    await page.close()


async def test_a_partner_sees_no_staff_fields_and_no_sealed_post(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver
) -> None:
    page, profile = await open_profile(
        browser, host_server, widget_server, homeserver, "wcop", "wstaff"
    )
    await expect(profile).to_contain_text("she/her")
    await expect(profile).to_contain_text("winnie@widget.gov.uk")
    await expect(profile).to_contain_text(OPEN)
    await expect(profile).not_to_contain_text("0207 111 2222")
    await expect(profile).not_to_contain_text(SEALED)
    await expect(profile).not_to_contain_text("Restructure")
    await check_page(page, "profile-partner")
    await page.close()


async def test_a_resident_sees_only_public_fields(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver
) -> None:
    page, profile = await open_profile(
        browser, host_server, widget_server, homeserver, "wres", "wstaff"
    )
    await expect(profile).to_contain_text("Tenancy support and gardening")
    for hidden in ("she/her", "Widget Council", "winnie@widget.gov.uk", "Walter Manager", SEALED):
        await expect(profile).not_to_contain_text(hidden)
    await expect(profile.get_by_role("navigation", name="Reporting line")).to_have_count(0)
    await check_page(page, "profile-resident")
    await page.close()


async def test_the_directory_opens_with_manager_unit_joiners_and_recent_views(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver
) -> None:
    # Walter looks Winnie up from her page's reporting line, then opens the directory.
    page, profile = await open_profile(
        browser, host_server, widget_server, homeserver, "wmgr", "wstaff"
    )
    await profile.get_by_role("link", name="Wanda Boss").click()
    frame = page.frame_locator("iframe")
    await expect(frame.locator("#profile h1")).to_have_text("Wanda Boss")
    await frame.get_by_role("link", name="People directory").click()
    results = frame.locator("#results")
    await expect(results.get_by_role("heading", name="Your manager")).to_be_visible()
    sections = {
        "Your manager": ["Wanda Boss"],
        "Your unit: Widget Housing Team": ["Winnie Staff"],
        "New this week": ["Wes Cop"],
        "Recently viewed": ["Wanda Boss", "Winnie Staff"],
    }
    for heading, names in sections.items():
        section = results.locator(
            "section", has=frame.get_by_role("heading", name=heading, exact=True)
        )
        await expect(section.locator("a.person")).to_have_text(names)
    await check_page(page, "directory-opening")
    await page.close()


async def test_a_public_person_page_outside_element(
    browser: Browser, widget_server: str, homeserver: Homeserver
) -> None:
    page = await browser.new_page()
    await page.goto(f"{widget_server}/public/people/{quote(homeserver.user_id('wstaff'))}")
    await expect(page.locator("h1")).to_have_text("Winnie Staff")
    await expect(page.locator("main")).to_contain_text(OPEN)
    await expect(page.locator("main")).not_to_contain_text(SEALED)
    assert await page.locator("img.face").evaluate("img => img.naturalWidth") > 0
    await check_page(page, "profile-public")
    await page.close()


async def test_a_whois_link_opened_outside_element_signs_in_at_the_homeserver_first(
    browser: Browser, widget_server: str, homeserver: Homeserver
) -> None:
    """A `!whois` card's link opens in a browser, not in Element: Borough's sign-in page
    (the homeserver's password sign-in here) and then the page, as that person sees it."""
    password = f"pw-{secrets.token_urlsafe(12)}"
    wes = homeserver.user_id("wcop")
    homeserver.admin("PUT", f"/_synapse/admin/v2/users/{quote(wes)}", {"password": password})
    page = await browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    profile = f"/widgets/people/{quote(homeserver.user_id('wstaff'))}"
    await page.goto(widget_server + profile)
    await page.wait_for_url(f"{widget_server}/widgets/signin?next=*")
    await expect(page.get_by_label("Username")).to_be_visible()
    await check_page(page, "signin")
    await page.get_by_label("Username").fill("wcop")
    await page.get_by_label("Password").fill(password)
    await page.get_by_role("button", name="Sign in", exact=True).click()
    await page.wait_for_url(widget_server + profile)
    shown = page.locator("#profile")
    await expect(shown.locator("h1")).to_contain_text("Winnie Staff")
    await expect(shown).to_contain_text("she/her")  # Wes is a partner: he sees partner fields
    await expect(shown).not_to_contain_text("0207 111 2222")
    assert await page.locator("body").get_attribute("data-viewer") == wes
    assert errors == []
    # The homeserver session it signed in with is gone again: no device left behind.
    devices = homeserver.admin("GET", f"/_synapse/admin/v2/users/{quote(wes)}/devices")
    assert [d for d in devices["devices"] if d.get("display_name") == "Borough sign-in page"] == []
    await page.close()
