"""Thumbnails from the homeserver's media repository, fetched as the service account.

Only images come back (`IMAGE_TYPES`); anything else, an error or no answer is
`MediaUnavailable`, so a page shows its fallback and never the homeserver's words.
Callers decide first whether the viewer may see the media at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import aiohttp
from aiohttp import web

from borough.matrix import q
from widgets.app import SETTINGS
from widgets.viewer import HTTP

logger = logging.getLogger(__name__)

IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp")


class MediaUnavailable(Exception):
    """The homeserver did not give an image for this mxc URI."""


@dataclass(frozen=True)
class Image:
    body: bytes
    content_type: str


def mxc_parts(mxc: str) -> tuple[str, str] | None:
    """`mxc://server/id` → (server, id), or None for anything else."""
    if not mxc.startswith("mxc://"):
        return None
    server, _, media_id = mxc[len("mxc://") :].partition("/")
    if not server or not media_id or "/" in media_id:
        return None
    return server, media_id


async def thumbnail(app: web.Application, mxc: str, width: int, height: int, method: str) -> Image:
    parts = mxc_parts(mxc)
    if parts is None:
        raise MediaUnavailable(f"{mxc!r} is not an mxc URI")
    settings = app[SETTINGS]
    path = f"/_matrix/client/v1/media/thumbnail/{q(parts[0])}/{q(parts[1])}"
    try:
        async with app[HTTP].get(
            settings.homeserver.url.rstrip("/") + path,
            params={"width": str(width), "height": str(height), "method": method},
            headers={"Authorization": f"Bearer {settings.access_token}"},
        ) as response:
            if response.status != 200:
                logger.warning("media %s: HTTP %s from the homeserver", mxc, response.status)
                raise MediaUnavailable(f"HTTP {response.status}")
            body, content_type = await response.read(), response.content_type
    except (TimeoutError, aiohttp.ClientError) as exc:
        logger.warning("media %s unavailable: %s", mxc, type(exc).__name__)
        raise MediaUnavailable(type(exc).__name__) from None
    if content_type not in IMAGE_TYPES:
        raise MediaUnavailable(f"not an image: {content_type}")
    return Image(body, content_type)
