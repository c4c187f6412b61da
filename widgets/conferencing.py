"""Conferencing on the widget server, its views: the Jitsi token service and the meeting page.

- `POST /verify/user_in_room` is the matrix-user-verification-service API that Prosody's
  Matrix auth modules call: the OpenID token is checked at the homeserver, membership and
  power levels are read from room state, and a member's admission is recorded.
- `GET /.well-known/element/jitsi` tells Element to use `openidtoken-jwt` (serve it on the
  Jitsi domain through the reverse proxy).
- `GET /meet/{room_id}` is the meeting page for clients without widgets (Element X) and
  browsers (`templates/meeting.html`, `static/meeting.js`): the person signs in at the
  homeserver, by SSO or password as it offers; `POST /meet/{room_id}/token` trades a
  member's OpenID token for a short-lived HS256 link to that room's conference only.

Tokens are never logged; bad ones get a 401, non-members a 403, malformed bodies a 400.
The decisions live in `widgets.admission`, the room reads in `widgets.room_state`, and the
record of who joined in `widgets.admissions_log`.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from yarl import URL

from borough.db import ChannelRow
from borough.jitsi import OPENID_AUTH, MeetingTokenRequest, mint_meeting_token, token_meeting_url
from borough.matrix import HomeserverUnreachable, MatrixError
from borough.meetings import MeetingStore
from borough.openid import OpenIdRejected, resolve_openid
from borough.room_power import RoomPower
from borough.settings import Settings
from widgets import pages
from widgets.admission import Admission, RoomSnapshot, is_room_id, verification_body
from widgets.admissions_log import AdmissionLog
from widgets.app import SESSIONS, SETTINGS, JsonError
from widgets.bodies import Body, read_json_body
from widgets.room_state import (
    POWER_CACHE,
    NotJoined,
    PowerCache,
    joined_members,
    room_power,
    room_snapshot,
)

logger = logging.getLogger(__name__)

OPENID_HTTP = web.AppKey("openid_http", aiohttp.ClientSession)
MEETINGS = web.AppKey("meetings", MeetingStore)
ADMISSIONS = web.AppKey("admissions", AdmissionLog)


def refusal(
    status: int, errcode: str, error: str, body: dict[str, Any] | None = None
) -> web.Response:
    """An error in the verification service's answer shape; by default nobody is verified."""
    if body is None:
        body = verification_body(None, None, is_member=False)
    return web.json_response({**body, "errcode": errcode, "error": error}, status=status)


class Refused(Exception):
    """A check failed; `response` is the answer to give."""

    def __init__(self, response: web.Response) -> None:
        self.response = response


class VerifyRequest(BaseModel):
    """The matrix-user-verification-service body; fields other clients add are ignored."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    token: str = Field(min_length=1, max_length=512)
    room_id: str = Field(min_length=1, max_length=255)
    matrix_server_name: str | None = Field(default=None, max_length=255)


class MeetingTokenBody(BaseModel):
    """What the meeting page posts to trade for a conference link."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    openid_token: str = Field(min_length=1, max_length=512)


async def read_json(request: web.Request, model: type[Body]) -> Body:
    """`read_json_body`, with its refusal in the verification service's answer shape."""
    try:
        return await read_json_body(request, model)
    except JsonError as exc:
        # These routes have always said M_BAD_JSON for any bad body; callers may match on it.
        errcode = "M_BAD_JSON" if exc.status == 400 else exc.errcode
        raise Refused(refusal(exc.status, errcode, exc.error)) from None


def _unavailable(reason: BaseException) -> Refused:
    logger.warning("cannot verify a meeting token: %s", reason)
    return Refused(
        refusal(503, "M_UNAVAILABLE", "the homeserver cannot be asked just now; try again")
    )


async def admit(app: web.Application, token: str, room_id: str) -> Admission:
    """Check an OpenID token and the room membership; raise Refused with the answer if not.

    The token, the room's members and its power levels are asked for at once. A room the
    service account is not in is read whole through the admin API instead."""
    settings = app[SETTINGS]
    if not is_room_id(room_id):
        raise Refused(refusal(400, "M_INVALID_PARAM", "`room_id` is not a room id"))
    whoami = resolve_openid(
        app[OPENID_HTTP], settings.homeserver.url, settings.homeserver.server_name, token
    )
    user_id, power, joined = await asyncio.gather(
        whoami, room_power(app, room_id), joined_members(app, room_id), return_exceptions=True
    )
    if isinstance(user_id, OpenIdRejected):
        raise Refused(refusal(401, "M_UNKNOWN_TOKEN", user_id.message))
    outcomes = (user_id, power, joined)
    for outcome in outcomes:
        if isinstance(outcome, HomeserverUnreachable | MatrixError):
            raise _unavailable(outcome)
        if isinstance(outcome, BaseException) and not isinstance(outcome, NotJoined):
            raise outcome
    assert isinstance(user_id, str)
    snapshot: RoomSnapshot | None
    if isinstance(power, RoomPower) and isinstance(joined, dict):
        snapshot = RoomSnapshot(joined, power, "", ())
    else:
        try:
            snapshot = await room_snapshot(app, room_id)
        except (HomeserverUnreachable, MatrixError) as exc:
            raise _unavailable(exc) from None
    if snapshot is None or user_id not in snapshot.joined:
        body = verification_body(user_id, None, is_member=False)
        raise Refused(refusal(403, "M_FORBIDDEN", "you are not a member of this room", body))
    async with app[SESSIONS]() as session:
        channel = await session.get(ChannelRow, room_id)
    if channel is not None:
        snapshot = replace(snapshot, posters=frozenset(channel.posters))
    return Admission(user_id, snapshot)


# --- views ---------------------------------------------------------------------------------


def _caller_allowed(request: web.Request, settings: Settings) -> bool:
    expected = settings.jitsi.verify_token
    if expected is None:
        return True
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else ""
    return hmac.compare_digest(given.encode(), expected.get_secret_value().encode())


async def verify_user_in_room(request: web.Request) -> web.Response:
    app = request.app
    settings = app[SETTINGS]
    if not _caller_allowed(request, settings):
        return refusal(401, "M_MISSING_TOKEN", "this service needs its bearer token")
    try:
        body = await read_json(request, VerifyRequest)
        token, room_id, server = body.token, body.room_id, body.matrix_server_name
        if server is not None and server != settings.homeserver.server_name:
            return refusal(
                401,
                "M_UNKNOWN_TOKEN",
                f"only tokens from {settings.homeserver.server_name} are accepted",
            )
        admission = await admit(app, token, room_id)
    except Refused as refused:
        return refused.response
    app[ADMISSIONS].note(room_id, admission)
    return web.json_response(
        verification_body(admission.user_id, admission.snapshot, is_member=True)
    )


async def element_jitsi_well_known(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    body = {"auth": OPENID_AUTH} if settings.jitsi.auth == OPENID_AUTH else {}
    return web.json_response(body, headers={"Access-Control-Allow-Origin": "*"})


async def meeting_token(request: web.Request) -> web.Response:
    """Trade a member's OpenID token for a link to this room's conference."""
    app = request.app
    settings = app[SETTINGS]
    room_id = request.match_info["room_id"]
    try:
        body = await read_json(request, MeetingTokenBody)
        admission = await admit(app, body.openid_token, room_id)
    except Refused as refused:
        return refused.response
    jitsi = settings.jitsi
    meeting = await app[MEETINGS].live(room_id)
    if meeting is not None:
        found: tuple[str, str] | None = (meeting.conference_id, meeting.title)
    else:
        full = await room_snapshot(app, room_id)
        found = full.conference(jitsi.auth == OPENID_AUTH, room_id) if full else None
    if found is None:
        return refusal(
            404, "M_NOT_FOUND", "no meeting is on in this room; start one with !meet", {}
        )
    conference_id, title = found
    app[ADMISSIONS].note(room_id, admission)
    is_moderator = admission.snapshot.is_moderator(admission.user_id)
    if jitsi.app_secret is None or jitsi.app_id is None:
        url = f"https://{jitsi.domain}/{conference_id}"
        expires_in = None
    else:
        lifetime = jitsi.token_lifetime_seconds
        token_request = MeetingTokenRequest(
            user_id=admission.user_id,
            display_name=admission.snapshot.joined[admission.user_id],
            conference_id=conference_id,
            is_moderator=is_moderator,
            issued_at=int(time.time()),
            lifetime_seconds=lifetime,
        )
        minted = mint_meeting_token(
            token_request,
            app_id=jitsi.app_id,
            app_secret=jitsi.app_secret.get_secret_value(),
            domain=jitsi.domain,
        )
        url, expires_in = token_meeting_url(jitsi.domain, conference_id, minted), lifetime
    return web.json_response(
        {
            "url": url,
            "expires_in": expires_in,
            "is_moderator": is_moderator,
            "title": title,
        },
        headers={"Cache-Control": "no-store"},
    )


async def meeting_page(request: web.Request) -> web.Response:
    """The page signs the person in at their own homeserver only to get an OpenID token, then
    signs that session out again; credentials never reach Borough."""
    settings = request.app[SETTINGS]
    room_id = request.match_info["room_id"]
    if not is_room_id(room_id):
        raise web.HTTPNotFound(text="No such meeting.")
    homeserver = settings.homeserver
    response = pages.render(
        request,
        "meeting.html",
        room_id=room_id,
        server_name=homeserver.server_name,
        page_path=request.raw_path.partition("?")[0],
        config={"homeserver": homeserver.url, "server_name": homeserver.server_name},
    )
    # The page fetches from the homeserver, and a sign-in page is never framed by another site.
    response.headers["Content-Security-Policy"] = pages.content_security_policy(
        connect_src=f"'self' {URL(homeserver.url).origin()}", frame_ancestors="'none'"
    )
    return response


async def meeting_page_without_script(request: web.Request) -> web.Response:
    """Where the page's form posts if its script never took it over. The body is not read."""
    return web.Response(
        status=400,
        text="This page needs JavaScript to sign you in at your homeserver. Nothing you typed "
        "was kept; turn JavaScript on and open the meeting link again, or join from Element.",
    )


async def _resources(app: web.Application) -> AsyncIterator[None]:
    timeout = aiohttp.ClientTimeout(total=10, connect=5)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        app[OPENID_HTTP] = http
        app[MEETINGS] = MeetingStore(app[SESSIONS])
        app[ADMISSIONS] = AdmissionLog(app[MEETINGS], partial(room_snapshot, app))
        app[ADMISSIONS].start()
        app[POWER_CACHE] = PowerCache()
        yield
        await app[ADMISSIONS].stop()


def setup(app: web.Application) -> None:
    app.cleanup_ctx.append(_resources)
    app.router.add_post("/verify/user_in_room", verify_user_in_room)
    app.router.add_get("/.well-known/element/jitsi", element_jitsi_well_known)
    pages.setup(app)
    app.router.add_get("/meet/{room_id}", meeting_page)
    app.router.add_post("/meet/{room_id}", meeting_page_without_script)
    app.router.add_post("/meet/{room_id}/token", meeting_token)
