"""The browser tests' shared harness: open a widget the way Element does, then look at a page.

`open_widget` hosts a Borough widget in the `host_server` page (tests/browser/host, built on
matrix-widget-api's ClientWidgetApi, the class Element Web uses). `check_page` is the one
check every page gets, once it shows what the test set up:

- a screenshot in Element's light and dark theme, and one at phone width, into
  `test-artifacts/NAME-light.png`, `NAME-dark.png` and `NAME-phone.png`;
- the page really is light or dark (its background's luminance), so a colour hard-coded
  past the theme's tokens shows;
- nothing scrolls sideways or is cut off at phone width (`assert_fits`);
- axe-core finds no serious or critical WCAG 2.1 A/AA issue in either theme.

A widget switches theme as in Element: the host sends the `theme_change` action. A page outside
Element (public pages, the meeting page) follows the browser's `prefers-color-scheme`, which
the harness emulates; it emulates it for widgets too. axe-core is injected through the
DevTools protocol, which the page's Content-Security-Policy does not govern, so pages are
checked under their real policy.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.async_api import Browser, Frame, Page, expect

from tests.conftest import ARTIFACTS, Homeserver
from tests.integration.test_widget_views import openid_credentials

HERE = Path(__file__).parent
HOST = HERE / "host"
# The unminified browser bundle: in 1.19.0 the minified one (api.min.js) exports nothing.
WIDGET_API = HERE / "node_modules" / "matrix-widget-api" / "dist" / "api.js"
AXE = HERE / "node_modules" / "axe-core" / "axe.min.js"
#: Element's side panel, where an unpinned widget opens (MainSplit.tsx: 320 by default and min).
TILE = 320
#: A widget maximised in a room at a 1,440 px window, beside Element's space bar and room list.
MAXIMISED = 1100
#: A phone (an iPhone 12 to 15 is 390 CSS px wide).
PHONE = 390
#: The WCAG rule sets axe runs.
AXE_RULES = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]

Theme = Literal["light", "dark"]
THEMES: tuple[Theme, ...] = ("light", "dark")


def npm_package(path: Path) -> Path:
    """A file from tests/browser's npm packages, or a test failure that says how to get it."""
    if not path.exists():
        pytest.fail(
            f"{path.relative_to(HERE)} is missing: run `npm ci --prefix tests/browser` "
            "(make test does this)",
            pytrace=False,
        )
    return path


async def open_widget(
    browser: Browser,
    host: str,
    widget: str,
    hs: Homeserver,
    username: str,
    width: int = 1024,
    path: str = "/widgets/people?",
    theme: str | None = "light",
    language: str | None = "en-GB",
    height: int = 800,
    prepare: Callable[[Page], Awaitable[None]] | None = None,
) -> Page:
    """A page whose iframe holds the widget at `path` on `widget`, signed in as `username`.

    The widget URL carries Element's theme and language variables, which the host fills from
    `theme` and `language` (None leaves a variable out, as a client that lacks it would).
    `prepare` sees the page before anything loads (to route its requests, say)."""
    page = await browser.new_page(viewport={"width": width, "height": height})
    if prepare is not None:
        await prepare(page)
    page.on("console", lambda message: print(f"[browser {message.type}] {message.text}"))
    await page.goto(host)
    user_id = hs.user_id(username)
    template = f"{widget}{path}user=$matrix_user_id&room=$matrix_room_id"
    template += "&theme=$org.matrix.msc2873.client_theme" if theme is not None else ""
    template += "&lang=$org.matrix.msc2873.client_language" if language is not None else ""
    await page.evaluate(
        "config => window.startWidget(config)",
        {
            "widgetId": "borough-widget",
            "templateUrl": template,
            "roomId": "!room:" + hs.server_name,
            "userId": user_id,
            "displayName": username,
            "openid": openid_credentials(hs, username),
            "theme": theme,
            "language": language,
        },
    )
    frame = page.frame_locator("iframe")
    # Every widget marks the body with the viewer Borough's session names.
    await expect(frame.locator("body")).to_have_attribute("data-viewer", user_id, timeout=20000)
    return page


def widget_frame(page: Page) -> Frame:
    """The widget's frame in a host page from `open_widget`."""
    frames = [frame for frame in page.frames if frame is not page.main_frame]
    assert len(frames) == 1, f"expected one widget iframe, found {len(frames)}"
    return frames[0]


async def assert_fits(frame: Frame, width: int) -> None:
    """Nothing scrolls sideways and every heading and control is whole within `width`: a
    search box cut off at the edge (as three pinned widgets were) fails here."""
    found = await frame.evaluate(
        """width => ({
          scroll: document.documentElement.scrollWidth,
          cut: [...document.querySelectorAll("h1, h2, input, select, button, label")]
            .filter((node) => node.getClientRects().length > 0)
            .filter((node) => {
              const box = node.getBoundingClientRect();
              return box.left < 0 || box.right > width || node.scrollWidth > node.clientWidth + 1;
            })
            .map((node) => node.outerHTML.slice(0, 90)),
        })""",
        width,
    )
    assert found["scroll"] <= width, f"the page scrolls sideways at {width} px: {found}"
    assert found["cut"] == [], f"cut off at {width} px: {found['cut']}"


@functools.cache
def _axe_source() -> str:
    return npm_package(AXE).read_text(encoding="utf-8")


async def accessibility_violations(frame: Frame) -> list[str]:
    """axe-core's serious and critical findings for a frame (WCAG 2.1 A and AA rules), one
    readable line each: the rule, what it asks, and where (selector and axe's summary)."""
    # Run as a function body: the DevTools protocol is not subject to the page's CSP.
    await frame.evaluate("() => {" + _axe_source() + "\n}")
    result: dict[str, Any] = await frame.evaluate(
        "rules => window.axe.run(document, {runOnly: rules})", AXE_RULES
    )
    found = []
    for violation in result["violations"]:
        if violation["impact"] not in ("serious", "critical"):
            continue
        where = "; ".join(
            f"{' '.join(map(str, node['target']))}: {_first_reason(node)}"
            for node in violation["nodes"][:5]
        )
        more = len(violation["nodes"]) - 5
        found.append(
            f"{violation['id']} ({violation['impact']}): {violation['help']} "
            f"[{violation['helpUrl']}] at {where}" + (f" and {more} more" if more > 0 else "")
        )
    return found


def _first_reason(node: dict[str, Any]) -> str:
    """axe's summary is "Fix any of the following:" then one reason a line: the first."""
    lines = [line.strip() for line in str(node.get("failureSummary", "")).splitlines()]
    return lines[1] if len(lines) > 1 else "".join(lines)


async def _is_widget_host(page: Page) -> bool:
    return bool(await page.evaluate("() => typeof window.setWidgetTheme === 'function'"))


async def set_theme(page: Page, theme: Theme) -> None:
    """Element's theme for a hosted widget (the `theme_change` action, as Element sends it when
    the person changes theme), and the system's colour scheme for any page."""
    await page.emulate_media(color_scheme=theme)
    if await _is_widget_host(page):
        await page.evaluate("name => window.setWidgetTheme(name)", theme)


async def background_luminance(frame: Frame) -> float:
    """The relative luminance (WCAG) of the page's background: 0 is black, 1 is white."""
    return float(
        await frame.evaluate(
            """() => {
              const colour = (node) => getComputedStyle(node).backgroundColor;
              let rgb = colour(document.body);
              if (rgb === "rgba(0, 0, 0, 0)") rgb = colour(document.documentElement);
              const [r, g, b] = rgb.match(/[\\d.]+/g).slice(0, 3).map(Number).map((v) => {
                const c = v / 255;
                return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
              });
              return 0.2126 * r + 0.7152 * g + 0.0722 * b;
            }"""
        )
    )


async def _screenshot(page: Page, png: Path) -> None:
    if await _is_widget_host(page):
        # The widget as Element frames it: the iframe, not the stand-in host around it.
        await page.locator("iframe").screenshot(path=str(png))
    else:
        await page.screenshot(path=str(png), full_page=True)


async def check_page(page: Page, name: str, *, phone: bool = True) -> list[Path]:
    """Photograph and audit what `page` shows now (see the module docstring); returns the
    screenshots. `page` is a host page from `open_widget` or any other page. The page is left
    in the light theme at its own width."""
    ARTIFACTS.mkdir(exist_ok=True)
    frame = widget_frame(page) if await _is_widget_host(page) else page.main_frame
    saved, problems = [], []
    for theme in THEMES:
        await set_theme(page, theme)
        luminance = await background_luminance(frame)
        if (luminance > 0.5) != (theme == "light"):
            problems.append(f"in the {theme} theme the background's luminance is {luminance:.2f}")
        png = ARTIFACTS / f"{name}-{theme}.png"
        await _screenshot(page, png)
        saved.append(png)
        problems += [f"{theme} theme: {v}" for v in await accessibility_violations(frame)]
    await set_theme(page, "light")
    assert not problems, (
        f"{name}: axe-core (WCAG 2.1 AA) or the theme check found {len(problems)} "
        "serious or critical problems:\n  " + "\n  ".join(problems)
    )
    if phone:
        size = page.viewport_size
        assert size is not None
        await page.set_viewport_size({"width": PHONE, "height": size["height"]})
        await assert_fits(frame, PHONE)
        png = ARTIFACTS / f"{name}-phone.png"
        await _screenshot(page, png)
        saved.append(png)
        await page.set_viewport_size(size)
    return saved
