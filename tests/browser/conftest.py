"""Browser fixtures: `browser` is a headless Chromium (see chromium.py) for async tests, and
`host_server` serves the widget host page (harness.py's `open_widget` uses it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser

from tests.browser.chromium import launch
from tests.browser.harness import HOST, WIDGET_API, npm_package


@pytest_asyncio.fixture
async def browser() -> AsyncIterator[Browser]:
    async with launch() as chromium:
        yield chromium


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def host_server() -> AsyncIterator[str]:
    """The host page on another origin (localhost) than the widgets' (127.0.0.1), with
    matrix-widget-api's bundle."""
    files = {
        "/": HOST / "host.html",
        "/host.js": HOST / "host.js",
        "/vendor/api.js": npm_package(WIDGET_API),
    }

    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(files[request.path])

    app = web.Application()
    for path in files:
        app.router.add_get(path, serve)
    server = TestServer(app, host="localhost")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()
