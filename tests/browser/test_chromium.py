"""The browser harness itself: Chromium starts, renders, and screenshots."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser

from tests.browser.chromium import screenshot_html


async def test_chromium_renders_a_page(browser: Browser) -> None:
    page = await browser.new_page()
    await page.set_content("<main><h1>Borough</h1></main>")
    assert await page.inner_text("h1") == "Borough"


def test_screenshot_html_writes_a_png(tmp_path: Path) -> None:
    html = tmp_path / "page.html"
    html.write_text("<h1>report</h1>", encoding="utf-8")
    png = screenshot_html(html, tmp_path / "page.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
