"""Who is looking at a widget: OpenID token in, short-lived Borough session out.

A widget page asks Element for an OpenID token (Widget API `get_openid`) and POSTs it to
`/widgets/api/session`. The homeserver says whose token it is (`borough.openid`); Borough
answers with a signed bearer session for that user. Bearer, not a cookie: Element embeds
widgets in a cross-site iframe, where browsers drop third-party cookies.

Sessions are `v1.<payload>.<hmac>`, HMAC-SHA256 under a key derived from the service
account's token, so every widget server behind the proxy agrees without shared state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from yarl import URL

from borough.matrix import HomeserverUnreachable
from borough.openid import OpenIdRejected, resolve_openid
from widgets import pages
from widgets.app import SETTINGS, JsonError
from widgets.bodies import read_json_body

logger = logging.getLogger(__name__)

SESSION_TTL_SECONDS = 15 * 60
HTTP = web.AppKey("viewer_http", aiohttp.ClientSession)
SESSION_KEY = web.AppKey("viewer_session_key", bytes)


class SessionRejected(Exception):
    """The bearer session is missing, forged, malformed or expired."""


def session_key(service_token: str) -> bytes:
    return hashlib.sha256(b"borough widget sessions\x00" + service_token.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue_session(key: bytes, user_id: str, now: float, ttl: int = SESSION_TTL_SECONDS) -> str:
    payload = _b64(json.dumps({"sub": user_id, "exp": int(now) + ttl}).encode())
    signature = _b64(hmac.new(key, f"v1.{payload}".encode(), hashlib.sha256).digest())
    return f"v1.{payload}.{signature}"


def read_session(key: bytes, token: str, now: float) -> str:
    """The user id a session names, if Borough signed it and it has not expired."""
    version, _, rest = token.partition(".")
    payload, _, signature = rest.partition(".")
    if version != "v1" or not payload or not signature:
        raise SessionRejected("the session is malformed")
    expected = hmac.new(key, f"v1.{payload}".encode(), hashlib.sha256).digest()
    try:
        given = _unb64(signature)
        claims = json.loads(_unb64(payload))
    except (binascii.Error, ValueError):
        raise SessionRejected("the session is malformed") from None
    if not hmac.compare_digest(expected, given):
        raise SessionRejected("the session was not issued by this server")
    if not isinstance(claims, dict) or not isinstance(claims.get("sub"), str):
        raise SessionRejected("the session is malformed")
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
        raise SessionRejected("the session has expired; reload the widget")
    return str(claims["sub"])


class OpenIdCredentials(BaseModel):
    """What a widget receives from `get_openid` and posts here."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    access_token: str = Field(min_length=1, max_length=512)
    matrix_server_name: str = Field(min_length=1, max_length=255)
    expires_in: int | None = None
    token_type: str | None = None


async def open_session(request: web.Request) -> web.Response:
    credentials = await read_json_body(request, OpenIdCredentials)
    settings = request.app[SETTINGS]
    if credentials.matrix_server_name != settings.homeserver.server_name:
        raise JsonError(
            401,
            f"this Borough serves {settings.homeserver.server_name} only",
            "M_UNKNOWN_TOKEN",
        )
    try:
        user_id = await resolve_openid(
            request.app[HTTP],
            settings.homeserver.url,
            settings.homeserver.server_name,
            credentials.access_token,
        )
    except OpenIdRejected as exc:
        raise JsonError(401, exc.message, "M_UNKNOWN_TOKEN") from None
    except HomeserverUnreachable:
        raise JsonError(502, "the homeserver cannot be reached; try again shortly") from None
    token = issue_session(request.app[SESSION_KEY], user_id, time.time())
    return web.json_response(
        {"token": token, "user_id": user_id, "expires_in": SESSION_TTL_SECONDS}
    )


def viewer_id(request: web.Request) -> str:
    """The signed-in viewer of an API request, or a 401 JSON error."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise JsonError(401, "sign in through the widget first", "M_MISSING_TOKEN")
    try:
        return read_session(request.app[SESSION_KEY], token.strip(), time.time())
    except SessionRejected as exc:
        raise JsonError(401, str(exc), "M_UNKNOWN_TOKEN") from None


def next_page(target: str) -> str:
    """Where the sign-in page goes once signed in: one of Borough's widget pages on this
    server, else the directory. Never another site (`//evil.example`, `/\\evil`)."""
    if (
        len(target) > 2000
        or not target.startswith("/widgets/")
        or target.startswith("/widgets/api/")
        or any(bad in target for bad in ("//", "\\", "\x00"))
    ):
        return "/widgets/people"
    return target


async def signin_page(request: web.Request) -> web.Response:
    """For a widget page opened outside Element (a link in a `!whois` card): the person signs
    in at their homeserver, as on the meeting page, and the OpenID token opens the same
    session a widget gets. Credentials never reach Borough."""
    homeserver = request.app[SETTINGS].homeserver
    target = next_page(request.query.get("next", ""))
    response = pages.render(
        request,
        "signin.html",
        server_name=homeserver.server_name,
        config={
            "homeserver": homeserver.url,
            "server_name": homeserver.server_name,
            "next": target,
        },
    )
    # The page fetches from the homeserver, and a sign-in page is never framed by another site.
    response.headers["Content-Security-Policy"] = pages.content_security_policy(
        connect_src=f"'self' {URL(homeserver.url).origin()}", frame_ancestors="'none'"
    )
    return response


def setup(app: web.Application) -> None:
    app[SESSION_KEY] = session_key(app[SETTINGS].access_token)
    pages.setup(app)
    app.router.add_get("/widgets/signin", signin_page)

    async def http(app: web.Application) -> AsyncIterator[None]:
        timeout = aiohttp.ClientTimeout(total=10, connect=5)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            app[HTTP] = session
            yield

    app.cleanup_ctx.append(http)
    app.router.add_post("/widgets/api/session", open_session)
