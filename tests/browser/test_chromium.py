"""The browser harness itself: Chromium starts, renders, and screenshots, and check_page
fails a page that axe-core or the theme check finds fault with."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Browser

from tests.browser.chromium import screenshot_html
from tests.browser.harness import check_page


async def test_chromium_renders_a_page(browser: Browser) -> None:
    page = await browser.new_page()
    await page.set_content("<main><h1>Borough</h1></main>")
    assert await page.inner_text("h1") == "Borough"


def test_screenshot_html_writes_a_png(tmp_path: Path) -> None:
    html = tmp_path / "page.html"
    html.write_text("<h1>report</h1>", encoding="utf-8")
    png = screenshot_html(html, tmp_path / "page.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_check_page_reports_axe_findings_readably(browser: Browser, tmp_path: Path) -> None:
    """The harness fails a page axe-core finds serious problems on, and says which and where."""
    page = await browser.new_page()
    await page.set_content(
        '<html><body style="background:#fff"><main><h1>Report</h1>'
        '<p style="color:#ddd">Faint text</p><img src="x.png"></main></body></html>'
    )
    with pytest.raises(AssertionError) as failure:
        await check_page(page, "harness-self-check", phone=False)
    message = str(failure.value)
    assert "color-contrast (serious)" in message and "image-alt (critical)" in message, message
    assert "html-has-lang (serious)" in message, message
    assert "in the dark theme the background's luminance" in message, message  # white stays
    await page.close()


async def test_check_page_passes_a_themed_page_and_saves_three_screenshots(
    browser: Browser,
) -> None:
    page = await browser.new_page(viewport={"width": 800, "height": 600})
    await page.set_content(
        "<!doctype html><html lang='en'><head><title>Themed</title><style>"
        "body { background: #fff; color: #111 }"
        "@media (prefers-color-scheme: dark) { body { background: #111; color: #eee } }"
        "</style></head><body><main><h1>Themed</h1><p>Readable.</p></main></body></html>"
    )
    saved = await check_page(page, "harness-themed")
    assert [png.name for png in saved] == [
        "harness-themed-light.png",
        "harness-themed-dark.png",
        "harness-themed-phone.png",
    ]
    assert all(png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for png in saved)
    assert page.viewport_size == {"width": 800, "height": 600}
    await page.close()
