"""Browser fixtures: `browser` is a headless Chromium (see chromium.py) for async tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from playwright.async_api import Browser

from tests.browser.chromium import launch


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with launch() as chromium:
        yield chromium
