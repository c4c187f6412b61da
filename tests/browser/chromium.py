"""Headless Chromium for tests: Debian's `chromium` driven by Python Playwright.

pip's Playwright cannot download browsers here, so it drives the system binary through
`executable_path`. A missing binary FAILS the test with the install step, never skips.
Any test may import this (`from tests.browser.chromium import launch, screenshot_html`).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright
from playwright.sync_api import sync_playwright

INSTALL_HINT = (
    "run .ci/run's install step (as root: apt-get install -y chromium chromium-driver), "
    "or point BOROUGH_CHROMIUM at a Chromium binary"
)
#: --no-sandbox: CI runs as root in a container, where Chromium's sandbox cannot start.
LAUNCH_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]


def executable() -> str:
    """The Chromium binary, or a test failure that says how to install it."""
    configured = os.environ.get("BOROUGH_CHROMIUM")
    found = configured or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found or not Path(found).exists():
        pytest.fail(f"headless Chromium is not installed: {INSTALL_HINT}", pytrace=False)
    return found


@asynccontextmanager
async def launch() -> AsyncIterator[Browser]:
    """A headless Chromium for async tests; closed on exit."""
    path = executable()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=path, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


def screenshot_html(page: Path | str, png: Path, width: int = 1280, height: int = 900) -> Path:
    """Render an HTML file (or URL) in headless Chromium and save a full-page PNG (sync tests)."""
    url = page.resolve().as_uri() if isinstance(page, Path) else page
    png.parent.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable(), args=LAUNCH_ARGS)
        try:
            tab = browser.new_page(viewport={"width": width, "height": height})
            tab.goto(url)
            tab.screenshot(path=str(png), full_page=True)
        finally:
            browser.close()
    return png
