"""Every page takes Element's theme and language from its URL (widgets/pages.py), ignores
what is not one, and serves Compound's tokens from the static folder."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from widgets import pages
from widgets.pages import Appearance, appearance

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"theme": "dark", "lang": "de"}, Appearance("dark", "de")),
        ({"theme": "light-high-contrast", "lang": "pt_BR"}, Appearance("light-hc", "pt-BR")),
        ({"theme": "dark-high-contrast", "lang": "zh_Hans"}, Appearance("dark-hc", "zh-Hans")),
        # Element left a variable unfilled, or a client without MSC2873.
        (
            {
                "theme": "$org.matrix.msc2873.client_theme",
                "lang": "$org.matrix.msc2873.client_language",
            },
            Appearance(None, "en-GB"),
        ),
        ({"theme": "", "lang": ""}, Appearance(None, "en-GB")),
        ({}, Appearance(None, "en-GB")),
        # A custom theme says nothing of light or dark: the system decides.
        ({"theme": "custom-Council Blue"}, Appearance(None, "en-GB")),
        ({"lang": 'en"><script>alert(1)</script>'}, Appearance(None, "en-GB")),
        ({"lang": "x" * 200}, Appearance(None, "en-GB")),
    ],
)
def test_appearance_from_the_query(query: dict[str, str], expected: Appearance) -> None:
    assert appearance(query) == expected


async def page_client() -> TestClient[Any, Any]:
    app = web.Application()
    pages.setup(app)

    async def page(request: web.Request) -> web.Response:
        return pages.render(request, "error.html", message="A page")

    app.router.add_get("/page", page)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_a_page_opens_in_elements_theme_and_language() -> None:
    client = await page_client()
    try:
        themed = await (await client.get("/page?theme=dark-high-contrast&lang=fr")).text()
        assert '<html lang="fr" class="cpd-theme-dark-hc">' in themed
        system = await (await client.get("/page?theme=%24org.matrix.msc2873.client_theme")).text()
        assert '<html lang="en-GB">' in system  # no class: prefers-color-scheme decides
        hostile = await (await client.get("/page", params={"lang": '"><b>'})).text()
        assert '<html lang="en-GB">' in hostile and "<b>" not in hostile
    finally:
        await client.close()


async def test_compounds_stylesheets_are_served_from_the_static_folder() -> None:
    client = await page_client()
    try:
        page = await (await client.get("/page")).text()
        links = re.findall(r'<link rel="stylesheet" href="([^"]+)">', page)
        assert links == [
            "/static/vendor/compound/compound-design-tokens.css",
            "/static/borough.css",
        ]
        entry = await client.get(links[0])
        assert entry.status == 200 and entry.content_type == "text/css"
        for name in re.findall(r'@import url\("\./([^"]+)"\)', await entry.text()):
            answer = await client.get(f"/static/vendor/compound/{name}")
            assert answer.status == 200, name
        outside = await client.get("/static/vendor/../pages.py")
        assert outside.status == 404
    finally:
        await client.close()


def test_every_template_and_static_file_ships_in_the_package() -> None:
    """A wheel carries only the files pyproject's package-data names: a page, stylesheet or
    vendored token file left out would be missing from an installed widget server."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["widgets"]
    files = [
        path.relative_to(REPO / "widgets").as_posix()
        for folder in ("templates", "static")
        for path in (REPO / "widgets" / folder).rglob("*")
        if path.is_file()
    ]
    assert len(files) > 30
    # Globbed as setuptools globs them: `*` stays within one folder.
    shipped = {
        path.relative_to(REPO / "widgets").as_posix()
        for pattern in patterns
        for path in (REPO / "widgets").glob(pattern)
    }
    left_out = sorted(set(files) - shipped)
    assert left_out == [], f"add these to [tool.setuptools.package-data] widgets: {left_out}"
