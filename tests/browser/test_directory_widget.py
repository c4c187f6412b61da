"""The real-browser test: headless Chromium loads a host page built on matrix-widget-api's
ClientWidgetApi (what Element uses), which embeds Borough's people directory widget. The
Widget API handshake completes with capabilities and OpenID (a real token from the test
Synapse), and the widget shows real directory data from a real `borough apply`.

Where Element shows the widgets decides their widths. Borough puts its pages in the `right`
container of `io.element.widgets.layout` (element-hq/element-web,
apps/web/src/stores/widgets/WidgetLayoutStore.ts), the side panel that Room info > Extensions
opens them in (apps/web/src/components/views/right_panel/ExtensionsCard.tsx). That panel is
320 px wide by default and at least (apps/web/src/components/structures/MainSplit.tsx); the
`center` container is the maximised widget, the room's whole width. Each page is checked and
photographed at both into test-artifacts/.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_asyncio
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Frame, Page, Request, Route, expect
from sqlalchemy import update

from borough.db import (
    Answer,
    ChannelMember,
    ChannelRow,
    Post,
    PostTag,
    Profile,
    Question,
    create_engine,
    session_factory,
)
from borough.settings import load_settings
from tests.browser.harness import (
    MAXIMISED,
    TILE,
    assert_fits,
    background_luminance,
    check_page,
    open_widget,
    widget_frame,
)
from tests.conftest import ARTIFACTS, Homeserver, borough, write_settings
from widgets.app import create_app

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "widgets.yaml"


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
async def widget_server(applied: Path) -> AsyncIterator[str]:
    """Borough's widget server on a real port (127.0.0.1): the widget's origin."""
    server = TestServer(create_app(load_settings(applied)), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def save_widget(page: Page, name: str) -> None:
    """The widget as Element would frame it, into test-artifacts/NAME.png."""
    ARTIFACTS.mkdir(exist_ok=True)
    await page.locator("iframe").screenshot(path=str(ARTIFACTS / f"{name}.png"))


def channel(key: str, name: str, is_sealed: bool = False) -> ChannelRow:
    """A channel row `!KEY:w` (alias `#KEY:w`), as the indexer would store it."""
    return ChannelRow(
        room_id=f"!{key}:w",
        key=key,
        alias=f"#{key}:w",
        name=name,
        is_sealed=is_sealed,
        posters=[],
        max_length=500,
        is_public=False,
    )


async def store(settings: Path, rows: list[Any]) -> None:
    """Rows straight into the app database the widget server reads."""
    engine = create_engine(load_settings(settings).database.url)
    async with session_factory(engine).begin() as session:
        session.add_all(rows)
    await engine.dispose()


async def host_events(page: Page) -> list[str]:
    log: list[dict[str, Any]] = await page.evaluate("window.hostLog")
    return [entry["event"] for entry in log]


async def test_directory_widget_in_a_widget_api_host(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver
) -> None:
    page = await open_widget(browser, host_server, widget_server, homeserver, "wmgr")
    events = await host_events(page)
    assert events.index("capabilities_requested") < events.index("ready")
    assert "capabilities_notified" in events and "openid_asked" in events
    assert "error" not in events

    frame = page.frame_locator("iframe")
    # The opening view first (it names Winnie too), then a search replaces it. A search typed
    # while the opening view loads is the next test's; this one says what the page's status
    # said if its search does not show.
    await expect(frame.locator("#results .opening")).to_be_visible(timeout=20000)
    search = frame.get_by_label("Search people")
    await search.fill("safeguarding")
    await search.press("Enter")
    heading = frame.locator("#results h2").first
    try:
        await expect(heading).to_have_text("1 person matches", timeout=20000)
    except AssertionError as exc:
        status = await frame.locator("#status").text_content()
        raise AssertionError(f"the search did not show; the page's status said {status!r}") from exc
    await expect(frame.locator("#results")).to_contain_text("Winnie Staff")

    # Keyboard only: tab to the result and open her profile page, inside the widget.
    await frame.get_by_role("link", name="Winnie Staff").focus()
    await page.keyboard.press("Enter")
    profile = frame.locator("#profile")
    await expect(profile).to_contain_text("Housing Officer")
    await expect(profile).to_contain_text("0207 111 2222")  # staff-only: same organisation
    await expect(profile).to_contain_text("Walter Manager")

    # Back in the directory, a unit found by name lists its people, managers first.
    await frame.get_by_role("link", name="People directory").click()
    await frame.get_by_label("Search people").fill("housing team")
    await frame.get_by_label("Search people").press("Enter")
    await frame.get_by_role("button", name="Widget Housing Team").click()
    card = frame.locator("#detail")
    await expect(card.locator("li").first).to_contain_text("Walter Manager")  # managers first
    await expect(card).to_contain_text("Winnie Staff")
    await check_page(page, "directory-widget")
    await page.close()


class HeldRequests:
    """The widget's requests to URLs that `matches`, held back as a slow server would hold
    them, each until the test lets it go."""

    def __init__(self, matches: Callable[[str], bool]) -> None:
        self.matches = matches
        self._held: asyncio.Queue[Route] = asyncio.Queue()

    async def route(self, page: Page) -> None:
        await page.route(self.matches, self._held.put)

    async def next(self) -> Route:
        """The next request held, once the widget has sent it."""
        return await asyncio.wait_for(self._held.get(), timeout=20)


async def let_go(page: Page, route: Route) -> None:
    """Sends a held request on and returns once the widget has had its answer: the answer is
    in (or the widget gave the request up), then the page has drawn twice."""
    done = asyncio.get_running_loop().create_future()

    def settled(request: Request) -> None:
        if request is route.request and not done.done():
            done.set_result(None)

    page.on("requestfinished", settled)
    page.on("requestfailed", settled)
    if route.request.failure is None:
        await route.continue_()
        await asyncio.wait_for(done, timeout=20)
    await frames_drawn(widget_frame(page))


async def frames_drawn(frame: Frame, count: int = 2) -> None:
    await frame.evaluate(
        "count => new Promise((done) => { const next = (n) => n ? "
        "requestAnimationFrame(() => next(n - 1)) : done(); next(count); })",
        count,
    )


async def test_the_results_show_the_last_request_whichever_answer_lands_last(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver
) -> None:
    """A search typed while the opening view loads stands when the opening view lands
    later, and so does a search typed while a slower earlier search loads (a whole-suite
    run saw the opening view stand over a search)."""
    opening = HeldRequests(lambda url: "/widgets/api/directory/opening" in url)
    housing = HeldRequests(lambda url: "q=housing" in url)

    async def hold(page: Page) -> None:
        await opening.route(page)
        await housing.route(page)

    page = await open_widget(browser, host_server, widget_server, homeserver, "wmgr", prepare=hold)
    frame = page.frame_locator("iframe")
    results = frame.locator("#results")
    search = frame.get_by_label("Search people")
    late_opening = await opening.next()
    await search.fill("safeguarding")
    await search.press("Enter")
    await expect(results.locator("h2").first).to_have_text("1 person matches")
    await let_go(page, late_opening)
    await expect(results.locator("h2").first).to_have_text("1 person matches")
    await expect(results.locator(".opening")).to_have_count(0)
    await expect(frame.locator("#status")).not_to_have_class(re.compile("error"))

    await search.fill("housing")
    await search.press("Enter")
    slow_search = await housing.next()
    await search.fill("Walter")
    await search.press("Enter")
    await expect(results).to_contain_text("Walter Manager")
    await let_go(page, slow_search)
    await expect(results.locator("h2").first).to_have_text("1 person matches")
    await expect(results).to_contain_text("Walter Manager")
    await expect(frame.locator("#status")).to_have_text("")
    await page.close()


async def test_the_timeline_and_the_shared_answers_show_the_last_request_too(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver
) -> None:
    """A hashtag asked for while the timeline's first posts load, and an answers search typed
    while the tab's first list loads, stand when the first answer lands later."""
    first_posts = HeldRequests(lambda url: "/api/timeline?" in url and "tag=" not in url)
    page = await open_widget(
        browser,
        host_server,
        widget_server,
        homeserver,
        "wmgr",
        path="/widgets/timeline?",
        prepare=first_posts.route,
    )
    frame = page.frame_locator("iframe")
    late = await first_posts.next()
    await frame.get_by_label("Hashtag").fill("#race")
    await frame.get_by_role("button", name="Show posts").click()
    heading = frame.locator("#heading")
    await expect(heading).to_have_text("Your follows · #race")
    await let_go(page, late)
    await expect(heading).to_have_text("Your follows · #race")
    await expect(frame.get_by_label("Hashtag")).to_have_value("#race")
    await page.close()

    first_list = HeldRequests(lambda url: url.endswith("/api/answers?q="))
    page = await open_widget(
        browser, host_server, widget_server, homeserver, "wmgr", prepare=first_list.route
    )
    frame = page.frame_locator("iframe")
    await frame.get_by_role("tab", name="Shared answers").click()
    late = await first_list.next()
    search = frame.get_by_label("Search accepted answers")
    await search.fill("nothing answers this")
    await search.press("Enter")
    answers = frame.locator("#answers-list li")
    await expect(answers).to_have_text(["No accepted answer matches."])
    await let_go(page, late)
    await expect(answers).to_have_text(["No accepted answer matches."])
    await expect(frame.locator("#status")).to_have_text("")
    await page.close()


async def test_a_partner_sees_less_and_the_page_fits_a_phone(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver
) -> None:
    page = await open_widget(browser, host_server, widget_server, homeserver, "wcop", width=390)
    frame = page.frame_locator("iframe")
    search = frame.get_by_label("Search people")
    await search.fill("Winnie")
    await frame.get_by_role("button", name="Search").click()
    await frame.get_by_role("link", name="Winnie Staff").click()
    card = frame.locator("#profile")
    await expect(card).to_contain_text("she/her")  # partners may see
    await expect(card).to_contain_text("Tenancy support")  # public
    await expect(card).not_to_contain_text("0207 111 2222")  # staff only
    width = await frame.locator("body").evaluate("body => body.scrollWidth")
    assert width <= 390, "the widget scrolls sideways on a phone"
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "directory-widget-phone.png"), full_page=True)
    await page.close()


async def test_the_directory_finds_a_unit_by_its_key_in_a_320_px_side_panel(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver
) -> None:
    """People know units by the chart's key (`comms`), which no name contains: the search
    lists the unit, and its page opens, all inside Element's side panel."""
    page = await open_widget(browser, host_server, widget_server, homeserver, "wmgr", width=TILE)
    frame = page.frame_locator("iframe")
    widget = widget_frame(page)
    await assert_fits(widget, TILE)
    box = await frame.get_by_label("Search people").bounding_box()
    assert box is not None and box["width"] >= 150, f"the search box is squeezed: {box}"
    await save_widget(page, "directory-tile")

    search = frame.get_by_label("Search people")
    await search.fill("wteam")
    await search.press("Enter")
    results = frame.locator("#results")
    await expect(results.locator("h2").first).to_have_text("1 unit matches")
    await expect(results).to_contain_text("wteam · 2 people")
    await frame.get_by_role("button", name="Widget Housing Team").click()
    card = frame.locator("#detail")
    await expect(card.locator("h2")).to_have_text("Widget Housing Team (2)")
    await expect(card).to_contain_text("Winnie Staff")
    await assert_fits(widget, TILE)
    await frame.get_by_role("link", name="Winnie Staff").click()
    await expect(frame.locator("#profile")).to_contain_text("winnie@widget.gov.uk")
    await assert_fits(widget, TILE)
    await save_widget(page, "directory-tile-profile")
    await page.close()


async def test_maximised_the_directory_shows_results_beside_the_unit(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver
) -> None:
    page = await open_widget(
        browser, host_server, widget_server, homeserver, "wmgr", width=MAXIMISED
    )
    frame = page.frame_locator("iframe")
    await frame.get_by_label("Search people").fill("housing")
    await frame.get_by_role("button", name="Search").click()
    await frame.get_by_role("button", name="Widget Housing Team").click()
    await expect(frame.locator("#detail")).to_contain_text("Winnie Staff")
    results = await frame.locator("#results").bounding_box()
    card = await frame.locator("#detail").bounding_box()
    assert results is not None and card is not None
    assert card["x"] >= results["x"] + results["width"], "the unit is not beside the results"
    assert card["y"] < results["y"] + 80, "the unit starts below the results"
    await assert_fits(widget_frame(page), MAXIMISED)
    await save_widget(page, "directory-maximised")
    await page.close()


async def test_timeline_widget_shows_readable_posts_and_filters_by_tag(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver, applied: Path
) -> None:
    now = datetime.now(UTC)
    await store(
        applied,
        [
            channel("hq", "Housing HQ"),
            channel("top", "Top secret", is_sealed=True),
            ChannelMember(room_id="!hq:w", user_id=homeserver.user_id("wmgr")),
            Post(
                event_id="$a",
                room_id="!hq:w",
                author=homeserver.user_id("wboss"),
                body="Void inspections start Monday #voids",
                sent_at=now,
                links=[],
                reply_count=4,
                reaction_count=7,
            ),
            PostTag(event_id="$a", tag="voids", sent_at=now, room_id="!hq:w"),
            Post(
                event_id="$b",
                room_id="!hq:w",
                author=homeserver.user_id("wboss"),
                body="Team lunch on Friday",
                sent_at=now - timedelta(hours=1),
                links=[],
            ),
            Post(
                event_id="$c",
                room_id="!top:w",
                author=homeserver.user_id("wboss"),
                body="Sealed restructure plans #voids",
                sent_at=now,
                links=[],
            ),
        ],
    )

    hq = f"/widgets/timeline?channel={quote('#hq:w', safe='')}&"
    page = await open_widget(browser, host_server, widget_server, homeserver, "wmgr", path=hq)
    frame = page.frame_locator("iframe")
    posts = frame.locator("#posts")
    await expect(frame.locator("#heading")).to_have_text("Housing HQ")
    await expect(posts.locator("article")).to_have_count(2)
    await expect(posts).to_contain_text("4 replies · 7 reactions")
    # The hashtag is a filter button where it stands in the text, shown once.
    first = posts.locator("article").first
    assert (await first.inner_text()).count("#voids") == 1, await first.inner_text()
    await expect(first.locator("p", has_text="Void inspections")).to_contain_text(
        "Void inspections start Monday #voids"
    )
    link = posts.get_by_role("link", name="Open in Element").first
    assert await link.get_attribute("href") == "https://matrix.to/#/%23hq%3Aw/%24a"
    options = await frame.locator("#source option").all_inner_texts()
    assert "Top secret" not in options and "Housing HQ" in options

    await frame.get_by_role("button", name="#voids").click()
    await expect(posts.locator("article")).to_have_count(1)
    await expect(frame.locator("#heading")).to_have_text("Housing HQ · #voids")
    await expect(posts).not_to_contain_text("Sealed restructure")
    await check_page(page, "timeline-widget")
    await page.close()

    for width, name in ((TILE, "timeline-tile"), (MAXIMISED, "timeline-maximised")):
        page = await open_widget(
            browser, host_server, widget_server, homeserver, "wmgr", width=width, path=hq
        )
        await expect(page.frame_locator("iframe").locator("#posts article")).to_have_count(2)
        await assert_fits(widget_frame(page), width)
        await save_widget(page, name)
        await page.close()


async def test_the_directory_results_and_the_public_index_in_both_themes_and_on_a_phone(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver
) -> None:
    page = await open_widget(browser, host_server, widget_server, homeserver, "wmgr")
    frame = page.frame_locator("iframe")
    await frame.get_by_label("Search people").fill("housing")
    await frame.get_by_role("button", name="Search").click()
    await expect(frame.locator("#results")).to_contain_text("Housing Officer")
    await check_page(page, "directory-results")
    await page.close()

    public = await browser.new_page()
    await public.goto(f"{widget_server}/public/")
    await check_page(public, "public-index")
    await public.close()


async def test_a_widget_follows_elements_theme_and_language_as_they_change(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver, applied: Path
) -> None:
    """Opened from a URL with Element's dark theme and German, the page is dark and German
    whatever the system says; Element's theme_change and language_change then switch it in
    place. A theme Borough cannot place (a custom one) leaves it to the system."""
    sent = datetime(2026, 3, 5, 14, 30, tzinfo=UTC)
    await store(
        applied,
        [
            channel("lang", "Languages"),
            ChannelMember(room_id="!lang:w", user_id=homeserver.user_id("wmgr")),
            Post(
                event_id="$lang",
                room_id="!lang:w",
                author=homeserver.user_id("wboss"),
                body="Bin collections move to Thursday",
                sent_at=sent,
                links=[],
                reply_count=1234,
            ),
        ],
    )

    path = f"/widgets/timeline?channel={quote('#lang:w', safe='')}&"
    page = await open_widget(
        browser,
        host_server,
        widget_server,
        homeserver,
        "wmgr",
        path=path,
        theme="dark",
        language="de",
    )
    await page.emulate_media(color_scheme="light")  # Element's choice wins over the system's
    widget = widget_frame(page)
    root = page.frame_locator("iframe").locator("html")
    time = page.frame_locator("iframe").locator("#posts time")
    await expect(root).to_have_attribute("class", "cpd-theme-dark")
    await expect(root).to_have_attribute("lang", "de")
    await expect(time).to_contain_text("05.03.2026")
    await expect(page.frame_locator("iframe").locator("#posts")).to_contain_text("1.234 replies")
    assert await background_luminance(widget) < 0.1

    await page.evaluate("lang => window.setWidgetLanguage(lang)", "fr")
    await expect(root).to_have_attribute("lang", "fr")
    await expect(time).to_contain_text("5 mars 2026")
    await page.evaluate("name => window.setWidgetTheme(name)", "light-high-contrast")
    await expect(root).to_have_attribute("class", "cpd-theme-light-hc")
    assert await background_luminance(widget) > 0.9

    await page.emulate_media(color_scheme="dark")
    await page.evaluate("name => window.setWidgetTheme(name)", "custom-Council Blue")
    await expect(root).not_to_have_class(re.compile("cpd-theme-"))
    assert await background_luminance(widget) < 0.1  # the system's dark
    await page.close()


async def test_the_shared_answers_tab_shows_accepted_answers_the_viewer_may_read(
    browser: Browser, host_server: str, widget_server: str, homeserver: Homeserver, applied: Path
) -> None:
    """Accepted answers (bots.ask) under the directory's second tab: the council's own
    question for its manager, never to the police officer, who sees the network's."""
    engine = create_engine(load_settings(applied).database.url)
    now = datetime.now(UTC)
    facts = [
        ("network", "Who knows the winter shelter rota?", "Ask the night desk.", "$n"),
        ("org:wcouncil", "Council-only rent arrears process?", "Use the RA2 form.", "$c"),
    ]
    async with session_factory(engine).begin() as session:
        for number, (audience, text, answer, event_id) in enumerate(facts):
            question = Question(
                command_event_id=f"$cmd{number}",
                room_id="!ask:w",
                event_id=event_id,
                asker=homeserver.user_id("wstaff"),
                organisation="wcouncil",
                text=text,
                audience=audience,
                asked_at=now,
                accepted_answer=f"{event_id}-a",
                accepted_at=now,
            )
            session.add(question)
            await session.flush()
            session.add(
                Answer(
                    event_id=f"{event_id}-a",
                    question_id=question.id,
                    sender=homeserver.user_id("wmgr"),
                    organisation="wcouncil",
                    body=answer,
                    answered_at=now,
                )
            )
    await engine.dispose()

    for who, shown, hidden in (("wmgr", 2, None), ("wcop", 1, "RA2 form")):
        page = await open_widget(browser, host_server, widget_server, homeserver, who, width=TILE)
        frame = page.frame_locator("iframe")
        await frame.get_by_role("tab", name="Shared answers").click()
        answers = frame.locator("#answers-list li")
        await expect(answers).to_have_count(shown)
        await expect(answers.first).to_contain_text("Walter Manager answered Winnie Staff")
        await expect(frame.locator("#answers")).to_contain_text("Ask the night desk.")
        if hidden:
            await expect(frame.locator("#answers")).not_to_contain_text(hidden)
        await expect(frame.get_by_label("Search people")).to_be_hidden()
        await assert_fits(widget_frame(page), TILE)
        if who == "wmgr":
            search = frame.get_by_label("Search accepted answers")
            await search.fill("rent")
            await search.press("Enter")
            await expect(answers).to_have_count(1)
            await expect(answers).to_contain_text("RA2 form")
            await check_page(page, "directory-answers-tab")
        await frame.get_by_role("tab", name="People").click()
        await expect(frame.get_by_label("Search people")).to_be_visible()
        await page.close()


async def test_past_a_thousand_matches_the_directory_says_more_than_and_how_to_narrow(
    browser: Browser,
    host_server: str,
    widget_server: str,
    homeserver: Homeserver,
    applied: Path,
) -> None:
    """Totals are exact up to 1,000: past it the heading says "More than 1,000", and a line
    under it says how to narrow the search, in the 320 px side panel too."""
    crowd = [homeserver.user_id(f"crowd{n:04d}") for n in range(1001)]
    await store(
        applied,
        [
            Profile(
                user_id=user_id,
                username=user_id[1:].split(":")[0],
                display_name=f"Quorum Crowd {n:04d}",
                units=[],
                role="community",
                is_managed=False,
            )
            for n, user_id in enumerate(crowd)
        ],
    )
    try:
        page = await open_widget(
            browser, host_server, widget_server, homeserver, "wmgr", width=TILE
        )
        frame = page.frame_locator("iframe")
        await expect(frame.locator("#results .opening")).to_be_visible(timeout=20000)
        search = frame.get_by_label("Search people")
        await search.fill("quorum")
        await search.press("Enter")
        results = frame.locator("#results")
        await expect(results.locator("h2").first).to_have_text(
            "More than 1,000 people match", timeout=20000
        )
        await expect(results.locator("p.narrow")).to_have_text(
            "Add a word, a unit or an organisation to narrow the search, "
            "e.g. unit:housing or org:police."
        )
        await expect(results.get_by_role("link", name="Quorum Crowd 0000")).to_be_visible()
        await assert_fits(widget_frame(page), TILE)
        await search.fill("quorum crowd 0007")
        await search.press("Enter")
        await expect(results.locator("h2").first).to_have_text("1 person matches")
        await expect(results.locator("p.narrow")).to_have_count(0)
        await search.fill("quorum")
        await search.press("Enter")
        await expect(results.locator("p.narrow")).to_be_visible()
        await check_page(page, "directory-more-than")
        await page.close()
    finally:
        engine = create_engine(load_settings(applied).database.url)
        async with session_factory(engine).begin() as session:
            await session.execute(
                update(Profile).where(Profile.user_id.in_(crowd)).values(left_at=datetime.now(UTC))
            )
        await engine.dispose()
