"""The org chart in a real browser: headless Chromium hosts the unit page with
matrix-widget-api's ClientWidgetApi (as Element does), signed in with a real OpenID token from
the test Synapse. A unit of 300 people shows every face; a larger one opens its teams on
demand; both work from the keyboard alone and pass axe-core in light and dark, and are
photographed into test-artifacts/ in light, dark and at phone width.

The viewers come from a real `borough apply` (tests/fixtures/org/widgets.yaml); the large
units' people are written straight into the app database, as apply would write them.
"""

# The fixtures below are imported from their own modules, and named again where used.
# ruff: noqa: F811
from __future__ import annotations

from pathlib import Path

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Frame, Page, expect

from borough.db import (
    OrganisationRow,
    PartnershipRow,
    Profile,
    UnitRow,
    create_engine,
    session_factory,
)
from borough.settings import load_settings
from tests.browser.harness import (
    accessibility_violations,
    check_page,
    open_widget,
    widget_frame,
)
from tests.browser.test_directory_widget import applied, widget_server  # noqa: F401
from tests.conftest import ARTIFACTS, Homeserver

pytestmark = pytest.mark.integration

#: A unit of exactly 300: its head, and 13 teams of a manager and 22 staff.
TEAMS, TEAM_STAFF = 13, 22
#: A unit past the chart's whole-subtree limit (borough.orgchart.EXPANDED): 5 teams of 90.
BIG_TEAMS, BIG_TEAM_STAFF = 5, 89


def chart_people(server_name: str) -> list[UnitRow | Profile | OrganisationRow]:
    rows: list[UnitRow | Profile | OrganisationRow] = [
        UnitRow(key="chart", name="Customer Services", organisation="wcouncil", parent="wdir"),
        UnitRow(key="big", name="Contact Centre", organisation="wcouncil", parent="wdir"),
    ]

    def person(n: str, name: str, unit: str, role: str, title: str) -> Profile:
        return Profile(
            user_id=f"@chart-{n}:{server_name}",
            username=f"chart-{n}",
            display_name=name,
            organisation="wcouncil",
            units=[unit],
            role=role,
            job_title=title,
            is_managed=True,
            fields=[],
        )

    rows.append(person("head", "Harriet Head", "chart", "senior_manager", "Head of Service"))
    for t in range(TEAMS):
        key = f"chart-{t:02d}"
        rows.append(
            UnitRow(key=key, name=f"Team {t + 1:02d}", organisation="wcouncil", parent="chart")
        )
        rows.append(person(f"m{t:02d}", f"Morgan Lead{t:02d}", key, "manager", "Team Manager"))
        for s in range(TEAM_STAFF):
            rows.append(
                person(f"s{t:02d}{s:02d}", f"Sam Staff{t:02d}{s:02d}", key, "staff", "Adviser")
            )
    for t in range(BIG_TEAMS):
        key = f"big-{t}"
        rows.append(UnitRow(key=key, name=f"Shift {t + 1}", organisation="wcouncil", parent="big"))
        rows.append(person(f"bm{t}", f"Bobbie Lead{t}", key, "manager", "Shift Manager"))
        for s in range(BIG_TEAM_STAFF):
            rows.append(person(f"b{t}{s:02d}", f"Billie Agent{t}{s:02d}", key, "staff", "Agent"))
    return rows


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def charted(applied: Path, homeserver: Homeserver) -> Path:
    engine = create_engine(load_settings(applied).database.url)
    async with session_factory(engine).begin() as session:
        session.add_all(chart_people(homeserver.server_name))
        session.add(
            PartnershipRow(
                key="frontdoor",
                name="Front Door Partnership",
                description="One front door for housing and the police.",
                organisations=["wpolice"],
                units=["chart-00"],
                people=[f"@chart-head:{homeserver.server_name}", homeserver.user_id("wboss")],
                leads=[homeserver.user_id("wboss")],
            )
        )
    await engine.dispose()
    return applied


async def open_chart(
    browser: Browser, host: str, widget: str, hs: Homeserver, path: str, width: int = 1100
) -> tuple[Page, Frame]:
    page = await open_widget(browser, host, widget, hs, "wmgr", width=width, path=f"{path}?")
    frame = widget_frame(page)
    await expect(frame.locator("#status")).to_have_text("", timeout=20000)
    return page, frame


async def save(page: Page, frame: Frame, name: str) -> None:
    """The whole chart, not only the iframe's first screen: the host's iframe fills the
    window's height, so the window grows to the chart's."""
    ARTIFACTS.mkdir(exist_ok=True)
    height = await frame.evaluate("document.documentElement.scrollHeight")
    width = page.viewport_size["width"] if page.viewport_size else 1100
    await page.set_viewport_size({"width": width, "height": min(height + 24, 8000)})
    await page.locator("iframe").screenshot(path=str(ARTIFACTS / f"{name}.png"))


async def test_a_unit_of_300_shows_every_face_and_passes_axe(
    browser: Browser,
    host_server: str,
    widget_server: str,
    homeserver: Homeserver,
    charted: Path,
) -> None:
    page, frame = await open_chart(
        browser, host_server, widget_server, homeserver, "/widgets/units/chart"
    )
    chart = frame.locator("#chart")
    await expect(frame.locator("h1")).to_have_text("Customer Services")
    await expect(chart.locator("li.person")).to_have_count(300)
    await expect(chart.locator("img.face")).to_have_count(300)
    await expect(frame.locator("#summary")).to_contain_text(
        "Customer Services has 300 people. Managed by Harriet Head."
    )
    await expect(frame.locator("#summary")).to_contain_text("13 teams below: Team 01 (23 people)")
    await expect(frame.locator("#trail")).to_contain_text(
        "Widget Council › Widget Directorate › Customer Services"
    )
    # The picture is a real nested list: the unit, its teams, their people.
    teams = chart.locator("ul.chart > li.unit.root > .unit-body > ul.teams > li.unit")
    await expect(teams).to_have_count(TEAMS)
    await expect(teams.first.locator(".managers")).to_contain_text("Morgan Lead00")
    # A name leads to the person's profile page, still inside the widget.
    href = await teams.first.get_by_role("link", name="Sam Staff0000").get_attribute("href")
    assert href is not None
    assert href.startswith(f"/widgets/people/@chart-s0000:{homeserver.server_name}?"), href
    assert "widgetId=borough-widget" in href
    # A face has loaded from the widget server (initials for these people: no avatars).
    first_face = teams.first.locator("img.face").first
    await first_face.scroll_into_view_if_needed()
    await expect(first_face).to_have_js_property("complete", True)
    assert await first_face.evaluate("img => img.naturalWidth") > 0
    await save(page, frame, "orgchart-300")
    await check_page(page, "orgchart")
    await page.close()


async def test_the_chart_works_from_the_keyboard(
    browser: Browser,
    host_server: str,
    widget_server: str,
    homeserver: Homeserver,
    charted: Path,
) -> None:
    page, frame = await open_chart(
        browser, host_server, widget_server, homeserver, "/widgets/units/chart"
    )
    chart = frame.locator("#chart")
    toggle = chart.get_by_role("button", name="Team 01: Members")
    region = frame.locator(f"#{await toggle.get_attribute('aria-controls')}")
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    # Tab reaches the team's toggle after its name and its manager: reading order.
    await chart.get_by_role("link", name="Morgan Lead00").focus()
    await page.keyboard.press("Tab")
    assert await frame.evaluate("document.activeElement.textContent") == "Team 01: Members"
    await page.keyboard.press("Enter")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await expect(region).to_be_hidden()
    await page.keyboard.press("ArrowRight")
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(region.get_by_role("link", name="Sam Staff0000")).to_be_visible()
    await page.keyboard.press("ArrowLeft")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await page.keyboard.press(" ")
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    # ← from inside a team goes back to the team's toggle.
    await region.get_by_role("link", name="Sam Staff0001").focus()
    await page.keyboard.press("ArrowLeft")
    assert await frame.evaluate("document.activeElement.getAttribute('aria-controls')") == (
        await toggle.get_attribute("aria-controls")
    )
    # A team's name leads to its own chart, on the same page (no new handshake).
    await chart.get_by_role("link", name="Team 02").press("Enter")
    await expect(frame.locator("h1")).to_have_text("Team 02")
    await expect(frame.locator("#trail")).to_contain_text("Customer Services › Team 02")
    await expect(chart.locator("li.person")).to_have_count(23)
    await page.close()


async def test_a_large_unit_opens_its_teams_on_demand(
    browser: Browser,
    host_server: str,
    widget_server: str,
    homeserver: Homeserver,
    charted: Path,
) -> None:
    page, frame = await open_chart(
        browser, host_server, widget_server, homeserver, "/widgets/units/big"
    )
    chart = frame.locator("#chart")
    await expect(frame.locator("#summary")).to_contain_text("Contact Centre has 450 people.")
    # Collapsed: each shift shows its manager and a count, not its 89 agents.
    await expect(chart.locator("li.person")).to_have_count(BIG_TEAMS)
    await expect(chart.locator("ul.teams > li.unit").first).to_contain_text("90 people")
    toggle = chart.get_by_role("button", name="Shift 1: Members")
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.focus()
    await page.keyboard.press("Enter")
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await expect(chart.locator("li.person")).to_have_count(BIG_TEAMS + BIG_TEAM_STAFF)
    assert await accessibility_violations(frame) == []
    await page.close()


async def test_an_organisation_shows_its_units_as_a_tree(
    browser: Browser,
    host_server: str,
    widget_server: str,
    homeserver: Homeserver,
    charted: Path,
) -> None:
    page, frame = await open_chart(
        browser, host_server, widget_server, homeserver, "/widgets/organisations/wcouncil"
    )
    tree = frame.locator("#chart ul.tree")
    await expect(frame.locator("h1")).to_have_text("Widget Council")
    await expect(tree.get_by_role("link", name="Widget Directorate")).to_be_visible()
    await expect(tree.get_by_role("link", name="Customer Services")).to_be_visible()
    # Deeper levels start closed; their toggle opens them.
    team = tree.get_by_role("link", name="Team 01")
    await expect(team).to_be_hidden()
    await tree.get_by_role("button", name="Customer Services: 13 teams").click()
    await expect(team).to_be_visible()
    await check_page(page, "orgchart-organisation")
    await tree.get_by_role("link", name="Customer Services").click()
    await expect(frame.locator("h1")).to_have_text("Customer Services")
    await page.close()


async def test_a_partnership_shows_what_it_joins(
    browser: Browser,
    host_server: str,
    widget_server: str,
    homeserver: Homeserver,
    charted: Path,
) -> None:
    page, frame = await open_chart(
        browser, host_server, widget_server, homeserver, "/widgets/partnerships/frontdoor"
    )
    await expect(frame.locator("h1")).to_have_text("Front Door Partnership")
    await expect(frame.locator("#summary")).to_have_text(
        "Front Door Partnership joins 1 organisation (Widget Police), 1 unit (Team 01 of "
        "Widget Council), 2 people named: 26 people in all. Led by Wanda Boss."
    )
    chart = frame.locator("#chart")
    await expect(chart.get_by_role("region", name="Leads")).to_contain_text("Wanda Boss")
    await expect(chart.get_by_role("region", name="People")).to_contain_text("Harriet Head")
    await check_page(page, "orgchart-partnership")
    await chart.get_by_role("link", name="Team 01").click()
    await expect(frame.locator("h1")).to_have_text("Team 01")
    await frame.evaluate("history.back()")  # the browser's Back, inside the widget
    await expect(frame.locator("h1")).to_have_text("Front Door Partnership")
    await page.close()
