"""HTML pages: Jinja2 templates (autoescaped), the static folder, and the headers every page
carries. Widget pages must load inside Element's iframe, so they allow any frame ancestor,
but scripts, styles and fetches come only from this server (no CDN).

Every page looks like Element: it is styled with Element's Compound design tokens (vendored in
static/vendor/compound/ by scripts/vendor_compound.py) and takes Element's theme and language
from the widget URL (`theme=$org.matrix.msc2873.client_theme&lang=…client_language`, which
Element fills; see borough/room_widgets.py). Without them, as outside Element, the page follows
the system's light or dark setting (`prefers-color-scheme`) and speaks British English.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

HERE = Path(__file__).parent
TEMPLATES = web.AppKey("templates", jinja2.Environment)


def content_security_policy(*, connect_src: str = "'self'", frame_ancestors: str = "*") -> str:
    """The policy every page shares; a page that talks to the homeserver or must not be framed
    widens `connect-src` or narrows `frame-ancestors`, and nothing else.

    Media is proxied through this server (public pages) so images, too, come from 'self'."""
    return "; ".join(
        [
            "default-src 'self'",
            "img-src 'self' data:",
            "style-src 'self'",
            "script-src 'self'",
            f"connect-src {connect_src}",
            f"frame-ancestors {frame_ancestors}",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )


CONTENT_SECURITY_POLICY = content_security_policy()


#: Element's theme names (element-web's ThemeWatcher) -> Compound's theme class suffix. A custom
#: theme's name says nothing of light or dark, so it, like no theme, follows the system.
THEMES = {
    "light": "light",
    "dark": "dark",
    "light-high-contrast": "light-hc",
    "dark-high-contrast": "dark-hc",
}
DEFAULT_LANGUAGE = "en-GB"
#: A BCP 47 tag as clients send it; Element's own settings write `de_DE` or `zh_Hans`.
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:[-_][A-Za-z0-9]{1,8}){0,4}")


@dataclass(frozen=True)
class Appearance:
    """How a page looks: Compound's theme (None follows the system) and the page's language."""

    theme: str | None = None
    lang: str = DEFAULT_LANGUAGE

    @property
    def theme_class(self) -> str:
        return f"cpd-theme-{self.theme}" if self.theme else ""


def appearance(query: Any) -> Appearance:
    """The theme and language a page's query names. A value Element did not fill (the literal
    `$org.matrix…`) or that is not a theme or language tag is ignored, never an error."""
    theme = THEMES.get(str(query.get("theme", "")))
    lang = str(query.get("lang", ""))
    if not _LANGUAGE.fullmatch(lang):
        return Appearance(theme)
    return Appearance(theme, lang.replace("_", "-"))


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
    context.setdefault("appearance", appearance(request.query))
    html = request.app[TEMPLATES].get_template(template).render(**context)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def setup(app: web.Application) -> None:
    """Called once by the first area that serves pages (idempotent)."""
    if TEMPLATES in app:
        return
    app[TEMPLATES] = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )

    async def headers(request: web.Request, response: web.StreamResponse) -> None:
        if response.content_type == "text/html":
            response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
            response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")

    app.on_response_prepare.append(headers)
    app.router.add_get("/static/{name:.+}", static_file, name="static")


#: The static files by their path in the folder (`borough.css`, `vendor/compound/…`), listed
#: once: a request names one of them or gets the server's own 404 page (aiohttp's static route
#: answers a missing file with an empty 404), and no name can lead out of the folder.
STATIC_FILES: dict[str, Path] = {
    path.relative_to(HERE / "static").as_posix(): path
    for path in sorted((HERE / "static").rglob("*"))
    if path.is_file()
}


async def static_file(request: web.Request) -> web.FileResponse:
    path = STATIC_FILES.get(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path)
