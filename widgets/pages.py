"""HTML pages: Jinja2 templates (autoescaped), the static folder, and the headers every page
carries. Widget pages must load inside Element's iframe, so they allow any frame ancestor,
but scripts, styles and fetches come only from this server (no CDN)."""

from __future__ import annotations

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


def render(request: web.Request, template: str, status: int = 200, **context: Any) -> web.Response:
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
    app.router.add_get("/static/{name}", static_file, name="static")


#: The static files, read once: a request names one of them or gets the server's own 404 page
#: (aiohttp's static route answers a missing file with an empty 404), and no name can lead
#: out of the folder.
STATIC_FILES: dict[str, Path] = {
    path.name: path for path in (HERE / "static").iterdir() if path.is_file()
}


async def static_file(request: web.Request) -> web.FileResponse:
    path = STATIC_FILES.get(request.match_info["name"])
    if path is None:
        raise web.HTTPNotFound()
    return web.FileResponse(path)
