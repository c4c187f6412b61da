"""Faces: people's Matrix avatars as small thumbnails, proxied by the widget server.

A face is served only at an address Borough handed out, so the server never fetches an
avatar for just anyone who asks:
- `/widgets/avatars/{user_id}?exp=…&sig=…`, signed (HMAC, an hour or two) by the API answer
  that showed the person to a signed-in viewer (`avatar_url`, for every view that lists
  people);
- `/public/avatars/{user_id}`, for a person the public pages may show (`is_public_person`).

The avatar is the one in the person's Matrix profile, fetched as the service account at one
size and kept for `CACHE_SECONDS`. A person with none, or whose image cannot be had, gets
their initials in an SVG, so a page never shows a broken image.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import quote
from xml.sax.saxutils import escape

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from borough.db import Profile
from borough.matrix import HomeserverUnreachable, MatrixError, q
from borough.profile_page import is_public_person
from widgets.app import MATRIX, SESSIONS, SETTINGS
from widgets.media import Image, MediaUnavailable, thumbnail

#: Thumbnail side in pixels: pages draw faces at up to 48 CSS px, twice that on dense screens.
SIZE = 96
CACHE_SECONDS = 600
#: A face that could not be fetched is retried sooner than one that was.
FAILED_CACHE_SECONDS = 60
CACHE_ENTRIES = 1024
#: Signed addresses stay the same for this long, so a browser's cache can keep the image.
SIGNED_PERIOD = 3600

AVATAR_KEY = web.AppKey("avatar_key", bytes)

# Background and text pairs after Compound's decorative avatar colours; the text on each
# background passes WCAG AA contrast.
_COLOURS = (
    ("#e0f8d9", "#005c45"),
    ("#e3f5f8", "#00548c"),
    ("#faeefb", "#670789"),
    ("#ffecf0", "#8c0e21"),
    ("#fff1e0", "#7a3d00"),
    ("#f1efff", "#3a2f9c"),
)


def avatar_key(service_token: str) -> bytes:
    return hashlib.sha256(b"borough avatars\x00" + service_token.encode()).digest()


def _signature(key: bytes, user_id: str, expires: int) -> str:
    digest = hmac.new(key, f"{user_id}\x00{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def signed_path(key: bytes, user_id: str, now: float) -> str:
    """The face's address, valid until the end of the next whole period."""
    expires = (int(now) // SIGNED_PERIOD + 2) * SIGNED_PERIOD
    return (
        f"/widgets/avatars/{quote(user_id, safe='@:')}"
        f"?exp={expires}&sig={_signature(key, user_id, expires)}"
    )


def is_signed(key: bytes, user_id: str, expires: str, signature: str, now: float) -> bool:
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12):
        return False
    if int(expires) <= now:
        return False
    return hmac.compare_digest(_signature(key, user_id, int(expires)), signature)


def avatar_url(app: web.Application, user_id: str) -> str:
    """The address of `user_id`'s face for a view that has already shown them to its viewer.
    Every list of people a widget API returns uses it (`person_json`)."""
    return signed_path(app[AVATAR_KEY], user_id, time.time())


def public_avatar_path(user_id: str) -> str:
    return f"/public/avatars/{quote(user_id, safe='@:')}"


def initials(name: str) -> str:
    words = [w for w in name.replace("-", " ").split() if w[:1].isalnum()]
    letters = "".join(w[0] for w in (words[:1] + words[1:][-1:])) if words else "?"
    return letters.upper()


def initials_svg(user_id: str, display_name: str) -> bytes:
    """A face for someone without an avatar: their initials on a colour their id picks."""
    background, colour = _COLOURS[hashlib.sha256(user_id.encode()).digest()[0] % len(_COLOURS)]
    text = escape(initials(display_name))
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SIZE} {SIZE}" '
        f'width="{SIZE}" height="{SIZE}"><rect width="100%" height="100%" fill="{background}"/>'
        f'<text x="50%" y="50%" dy=".35em" text-anchor="middle" fill="{colour}" '
        f'font-family="Inter, system-ui, sans-serif" font-size="40" font-weight="600">'
        f"{text}</text></svg>"
    ).encode()


@dataclass(frozen=True)
class Face:
    image: Image
    fetched_at: float
    is_fallback: bool

    def is_fresh(self, now: float) -> bool:
        ttl = FAILED_CACHE_SECONDS if self.is_fallback else CACHE_SECONDS
        return now - self.fetched_at < ttl


class FaceCache:
    """The faces fetched lately, least recently used dropped first; one per process."""

    def __init__(self, size: int = CACHE_ENTRIES) -> None:
        self._faces: OrderedDict[str, Face] = OrderedDict()
        self._size = size

    def get(self, user_id: str, now: float) -> Face | None:
        face = self._faces.get(user_id)
        if face is None or not face.is_fresh(now):
            return None
        self._faces.move_to_end(user_id)
        return face

    def put(self, user_id: str, face: Face) -> None:
        self._faces[user_id] = face
        self._faces.move_to_end(user_id)
        while len(self._faces) > self._size:
            self._faces.popitem(last=False)


FACES = web.AppKey("faces", FaceCache)


async def _fetch_face(app: web.Application, user_id: str, display_name: str, now: float) -> Face:
    try:
        profile = await app[MATRIX].request("GET", f"/_matrix/client/v3/profile/{q(user_id)}")
        mxc = profile.get("avatar_url")
        if isinstance(mxc, str) and mxc:
            image = await thumbnail(app, mxc, SIZE, SIZE, "crop")
            return Face(image, now, is_fallback=False)
        fallback = False  # no avatar set: initials are the answer, kept as long as a face
    except (MatrixError, HomeserverUnreachable, MediaUnavailable):
        fallback = True
    svg = Image(initials_svg(user_id, display_name), "image/svg+xml")
    return Face(svg, now, is_fallback=fallback)


async def face(app: web.Application, session: AsyncSession, user_id: str) -> Image | None:
    """`user_id`'s face, or None when they are not a present person. Presence is checked
    every time, before the cache: someone who left or was erased has no face from then on."""
    row = await session.get(Profile, user_id)
    if row is None or row.left_at is not None:
        return None
    now = time.time()
    cached = app[FACES].get(user_id, now)
    if cached is not None:
        return cached.image
    found = await _fetch_face(app, user_id, row.display_name, now)
    app[FACES].put(user_id, found)
    return found.image


def _not_found() -> web.HTTPNotFound:
    return web.HTTPNotFound(text="There is no picture here.", content_type="text/plain")


def _image_response(image: Image, cache: str) -> web.Response:
    return web.Response(
        body=image.body,
        content_type=image.content_type,
        headers={
            "Cache-Control": f"{cache}, max-age={CACHE_SECONDS}",
            # An SVG opened on its own must not run anything.
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
        },
    )


async def signed_avatar(request: web.Request) -> web.Response:
    user_id = request.match_info["user_id"]
    if not is_signed(
        request.app[AVATAR_KEY],
        user_id,
        request.query.get("exp", ""),
        request.query.get("sig", ""),
        time.time(),
    ):
        raise _not_found()
    async with request.app[SESSIONS]() as session:
        image = await face(request.app, session, user_id)
    if image is None:
        raise _not_found()
    return _image_response(image, "private")


async def public_avatar(request: web.Request) -> web.Response:
    user_id = request.match_info["user_id"]
    async with request.app[SESSIONS]() as session:
        row = await session.get(Profile, user_id)
        if row is None or not is_public_person(row):
            raise _not_found()
        image = await face(request.app, session, user_id)
    if image is None:
        raise _not_found()
    return _image_response(image, "public")


def setup(app: web.Application) -> None:
    app[AVATAR_KEY] = avatar_key(app[SETTINGS].access_token)
    app[FACES] = FaceCache()
    app.router.add_get("/widgets/avatars/{user_id}", signed_avatar)
    app.router.add_get("/public/avatars/{user_id}", public_avatar)
