"""Conferencing on the widget server: the Jitsi token service and the meeting page.

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
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field
from yarl import URL

from borough.jitsi import (
    OPENID_AUTH,
    STANDING_WIDGET_ID,
    WIDGET_EVENT,
    MeetingTokenRequest,
    is_jitsi_widget,
    mint_meeting_token,
    moderator_level,
    room_conference_id,
    room_power_defaults,
    token_meeting_url,
    user_power_level,
)
from borough.matrix import HomeserverUnreachable, MatrixError, q
from borough.meetings import MeetingStore
from borough.openid import OpenIdRejected, resolve_openid
from borough.settings import Settings
from widgets import pages
from widgets.app import MATRIX, SESSIONS, SETTINGS, JsonError
from widgets.bodies import Body, read_json_body

logger = logging.getLogger(__name__)

OPENID_HTTP = web.AppKey("openid_http", aiohttp.ClientSession)
MEETINGS = web.AppKey("meetings", MeetingStore)

#: A standing meeting's session with no one joining for this long is over.
SESSION_IDLE = timedelta(hours=2)

#: Room v12 (and its MSC4289 predecessors) give creators unlimited power.
CREATOR_POWER_VERSIONS = ("12", "org.matrix.hydra.11")


# --- pure decisions ----------------------------------------------------------------------


@dataclass(frozen=True)
class RoomSnapshot:
    """What the token service needs from a room's current state."""

    joined: dict[str, str]  # user id -> display name
    power_levels: dict[str, Any]
    creators: frozenset[str]
    name: str
    jitsi_widgets: tuple[tuple[str, str, dict[str, Any]], ...]  # (widget id, sender, content)

    @classmethod
    def from_state(cls, events: list[dict[str, Any]]) -> RoomSnapshot:
        joined: dict[str, str] = {}
        power_levels: dict[str, Any] = {}
        creators: set[str] = set()
        name = ""
        widgets: list[tuple[str, str, dict[str, Any]]] = []
        for event in events:
            kind, key = event.get("type"), event.get("state_key")
            content = event.get("content") or {}
            if kind == "m.room.member" and content.get("membership") == "join":
                joined[str(key)] = str(content.get("displayname") or key)
            elif kind == "m.room.power_levels":
                power_levels = content
            elif kind == "m.room.name":
                name = str(content.get("name") or "")
            elif kind == "m.room.create":
                if str(content.get("room_version", "1")) in CREATOR_POWER_VERSIONS:
                    creators.add(str(event.get("sender")))
                    extra = content.get("additional_creators") or []
                    creators.update(str(c) for c in extra if isinstance(c, str))
            elif kind == WIDGET_EVENT and isinstance(content, dict) and is_jitsi_widget(content):
                widgets.append((str(key), str(event.get("sender")), content))
        return cls(joined, power_levels, frozenset(creators), name, tuple(widgets))

    def power_of(self, user_id: str) -> int:
        return user_power_level(self.power_levels, user_id, self.creators)

    def is_moderator(self, user_id: str) -> bool:
        return self.power_of(user_id) >= moderator_level(self.power_levels)

    def conference(self, is_authenticated: bool, room_id: str) -> tuple[str, str] | None:
        """(conference id, title) of the room's meeting as its widgets show it, if any.

        Under openidtoken-jwt every widget in a room names the same conference, the room id
        in base32; otherwise each widget has its own, and the newest is taken."""
        widget = self.jitsi_widgets[-1] if self.jitsi_widgets else None
        title = str(widget[2].get("name") or "Meeting") if widget else self.name or "Meeting"
        if is_authenticated:
            return room_conference_id(room_id), title
        if widget is None or not (widget[2].get("data") or {}).get("conferenceId"):
            return None
        return str(widget[2]["data"]["conferenceId"]), title


def is_room_id(value: str) -> bool:
    """A room id: `!opaque:server` before room v12, `!opaque` (a hash) from v12 on."""
    return (
        value.startswith("!")
        and 1 < len(value) <= 255
        and value.isascii()
        and value.isprintable()
        and " " not in value
        and "/" not in value
    )


def verification_body(
    user_id: str | None, snapshot: RoomSnapshot | None, *, is_member: bool
) -> dict[str, Any]:
    """The matrix-user-verification-service reply for /verify/user_in_room."""
    return {
        "results": {"user": user_id is not None, "room_membership": is_member},
        "user_id": user_id,
        "power_levels": (
            {
                "room": room_power_defaults(snapshot.power_levels),
                "user": snapshot.power_of(user_id),
            }
            if is_member and snapshot is not None and user_id is not None
            else None
        ),
    }


def refusal(status: int, errcode: str, error: str, body: dict[str, Any]) -> web.Response:
    return web.json_response({**body, "errcode": errcode, "error": error}, status=status)


# --- the checks, shared by the token service and the meeting page ------------------------


@dataclass(frozen=True)
class Admission:
    user_id: str
    snapshot: RoomSnapshot


class Refused(Exception):
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
        raise Refused(refusal(exc.status, errcode, exc.error, _unverified(False))) from None


def _unverified(is_user: bool) -> dict[str, Any]:
    return {
        "results": {"user": is_user, "room_membership": False},
        "user_id": None,
        "power_levels": None,
    }


async def room_snapshot(app: web.Application, room_id: str) -> RoomSnapshot | None:
    """The room's whole current state via the admin API; None if the server does not know it.

    It grows with the room, so verification uses it only for rooms the service account is not
    in; the meeting page and new meeting rows use it for the room's widgets."""
    try:
        body = await app[MATRIX].request("GET", f"/_synapse/admin/v1/rooms/{q(room_id)}/state")
    except MatrixError as exc:
        if exc.status in (400, 404):
            return None
        raise
    events = body.get("state")
    return RoomSnapshot.from_state(events if isinstance(events, list) else [])


class NotJoined(Exception):
    """The service account is not in the room, so the client API will not show its state."""


async def _state_event(
    app: web.Application, room_id: str, event_type: str, state_key: str = ""
) -> dict[str, Any] | None:
    """One state event, whole (`format=event`), or None if the room has none."""
    path = f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(event_type)}/{q(state_key)}"
    try:
        return await app[MATRIX].request("GET", path, params={"format": "event"})
    except MatrixError as exc:
        if exc.errcode == "M_NOT_FOUND":
            return None
        if exc.status == 403:
            raise NotJoined(room_id) from None
        raise


RoomPower = tuple[dict[str, Any], frozenset[str]]


class PowerCache:
    """Rooms' power levels and creators for a few seconds: when a meeting starts, everyone
    joins the same room at once. Membership is never cached; a power change reaches
    moderator status within `ttl` seconds."""

    def __init__(self, ttl: float = 5.0, max_rooms: int = 10_000) -> None:
        self.ttl, self.max_rooms = ttl, max_rooms
        self._rooms: dict[str, tuple[float, RoomPower]] = {}

    async def get(self, room_id: str, load: Callable[[], Awaitable[RoomPower]]) -> RoomPower:
        now = time.monotonic()
        cached = self._rooms.get(room_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        power = await load()
        if len(self._rooms) >= self.max_rooms:
            self._rooms.clear()
        self._rooms[room_id] = (now + self.ttl, power)
        return power


async def room_power(app: web.Application, room_id: str) -> RoomPower:
    """The room's power levels and creators, in two small reads that do not grow with it."""
    return await app[POWER_CACHE].get(room_id, partial(_read_room_power, app, room_id))


async def _read_room_power(app: web.Application, room_id: str) -> RoomPower:
    levels, create = await asyncio.gather(
        _state_event(app, room_id, "m.room.power_levels"),
        _state_event(app, room_id, "m.room.create"),
    )
    events = [e for e in (levels, create) if e is not None]
    snapshot = RoomSnapshot.from_state(events)
    return snapshot.power_levels, snapshot.creators


def _unavailable(reason: BaseException) -> Refused:
    logger.warning("cannot verify a meeting token: %s", reason)
    return Refused(
        refusal(
            503,
            "M_UNAVAILABLE",
            "the homeserver cannot be asked just now; try again",
            _unverified(False),
        )
    )


async def joined_members(app: web.Application, room_id: str) -> dict[str, str]:
    """Who is joined, with display names: one read that Synapse answers from its cache."""
    path = f"/_matrix/client/v3/rooms/{q(room_id)}/joined_members"
    try:
        body = await app[MATRIX].request("GET", path)
    except MatrixError as exc:
        if exc.status == 403:
            raise NotJoined(room_id) from None
        raise
    joined = body.get("joined")
    if not isinstance(joined, dict):
        return {}
    return {
        str(user): str((info or {}).get("display_name") or user)
        if isinstance(info, dict)
        else str(user)
        for user, info in joined.items()
    }


async def admit(app: web.Application, token: str, room_id: str) -> Admission:
    """Check an OpenID token and the room membership; raise Refused with the answer if not.

    The token, the room's members and its power levels are asked for at once. A room the
    service account is not in is read whole through the admin API instead."""
    settings = app[SETTINGS]
    if not is_room_id(room_id):
        raise Refused(
            refusal(400, "M_INVALID_PARAM", "`room_id` is not a room id", _unverified(False))
        )
    whoami = resolve_openid(
        app[OPENID_HTTP], settings.homeserver.url, settings.homeserver.server_name, token
    )
    user_id, power, joined = await asyncio.gather(
        whoami, room_power(app, room_id), joined_members(app, room_id), return_exceptions=True
    )
    if isinstance(user_id, OpenIdRejected):
        raise Refused(refusal(401, "M_UNKNOWN_TOKEN", user_id.message, _unverified(False)))
    outcomes = (user_id, power, joined)
    for outcome in outcomes:
        if isinstance(outcome, HomeserverUnreachable | MatrixError):
            raise _unavailable(outcome)
        if isinstance(outcome, BaseException) and not isinstance(outcome, NotJoined):
            raise outcome
    assert isinstance(user_id, str)
    snapshot: RoomSnapshot | None
    if isinstance(power, tuple) and isinstance(joined, dict):
        snapshot = RoomSnapshot(joined, power[0], power[1], "", ())
    else:
        try:
            snapshot = await room_snapshot(app, room_id)
        except (HomeserverUnreachable, MatrixError) as exc:
            raise _unavailable(exc) from None
    if snapshot is None or user_id not in snapshot.joined:
        body = verification_body(user_id, None, is_member=False)
        raise Refused(refusal(403, "M_FORBIDDEN", "you are not a member of this room", body))
    return Admission(user_id, snapshot)


class AdmissionLog:
    """Records admissions in the app database off the response path, one at a time.

    Prosody waits on /verify/user_in_room while the person waits to join; a database commit
    need not be part of that wait. One writer also keeps SQLite free of write contention.
    """

    def __init__(
        self, store: MeetingStore, snapshot_of: Callable[[str], Awaitable[RoomSnapshot | None]]
    ) -> None:
        self.store = store
        self.snapshot_of = snapshot_of
        self._queue: asyncio.Queue[tuple[str, Admission]] = asyncio.Queue()
        self._seen: set[tuple[int, str]] = set()
        self._task: asyncio.Task[None] | None = None

    def note(self, room_id: str, admission: Admission) -> None:
        self._queue.put_nowait((room_id, admission))

    async def drain(self) -> None:
        """Wait until every admission noted so far is written."""
        await self._queue.join()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            room_id, admission = await self._queue.get()
            try:
                await self._record(room_id, admission)
            except Exception:
                logger.exception("could not record an admission to the meeting in %s", room_id)
            finally:
                self._queue.task_done()

    async def _record(self, room_id: str, admission: Admission) -> None:
        """Count the person in the room's live meeting; a widget nobody scheduled gets a row."""
        now = datetime.now(UTC)
        meeting = await self.store.live(room_id)
        if meeting is not None and meeting.widget_id in ("", STANDING_WIDGET_ID):
            # Nobody ends a standing meeting's session: an idle one is over, the next is new.
            last = await self.store.last_activity(meeting)
            if now - last > SESSION_IDLE:
                await self.store.end(meeting.id, last)
                meeting = None
        if meeting is None:
            full = await self.snapshot_of(room_id)
            widgets = full.jitsi_widgets if full is not None else ()
            widget_id, sender, content = widgets[-1] if widgets else ("", admission.user_id, {})
            data = content.get("data") or {}
            meeting = await self.store.create(
                room_id=room_id,
                widget_id=widget_id,
                conference_id=str(data.get("conferenceId") or room_conference_id(room_id)),
                title=str(content.get("name") or "Meeting")[:255],
                is_audio_only=bool(data.get("isAudioOnly", False)),
                created_by=sender,
                timezone="UTC",
                started_at=now,
            )
        key = (meeting.id, admission.user_id)
        if key not in self._seen:
            await self.store.record_participant(meeting.id, admission.user_id, now)
            self._seen.add(key)


ADMISSIONS = web.AppKey("admissions", AdmissionLog)
POWER_CACHE = web.AppKey("power_cache", PowerCache)


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
        return refusal(
            401, "M_MISSING_TOKEN", "this service needs its bearer token", _unverified(False)
        )
    try:
        body = await read_json(request, VerifyRequest)
        token, room_id, server = body.token, body.room_id, body.matrix_server_name
        if server is not None and server != settings.homeserver.server_name:
            return refusal(
                401,
                "M_UNKNOWN_TOKEN",
                f"only tokens from {settings.homeserver.server_name} are accepted",
                _unverified(False),
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
