"""Who is this widget viewer? Turn a Matrix OpenID token into a user id, asking the homeserver.

Widgets (Element's Jitsi wrapper, Borough's own pages) prove who their viewer is with a
short-lived OpenID token from `/_matrix/client/v3/user/{id}/openid/request_token`. Only the
homeserver that issued it can say whose it is, at the federation `openid/userinfo` endpoint.
The token itself is never logged nor put in an error message.
"""

from __future__ import annotations

import logging

import aiohttp

from borough.matrix import HomeserverUnreachable

logger = logging.getLogger(__name__)

USERINFO_PATH = "/_matrix/federation/v1/openid/userinfo"

#: Synapse's tokens are 24 characters; anything this long or with odd characters is not one.
MAX_TOKEN_LENGTH = 512


class OpenIdRejected(Exception):
    """The token is missing, malformed, expired, unknown or from another server."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


def user_id_server(user_id: str) -> str | None:
    """The server name of a Matrix user id (`@alice:example.org` → `example.org`), or None."""
    if not user_id.startswith("@") or ":" not in user_id:
        return None
    localpart, server = user_id[1:].split(":", 1)
    return server if localpart and server else None


def check_token_shape(access_token: str) -> None:
    """Refuse without asking anyone a token that cannot be a homeserver's OpenID token."""
    if not access_token:
        raise OpenIdRejected("no OpenID token was given")
    if len(access_token) > MAX_TOKEN_LENGTH or not access_token.isascii():
        raise OpenIdRejected("the OpenID token is malformed")
    if not all(ch.isalnum() or ch in "-_.~" for ch in access_token):
        raise OpenIdRejected("the OpenID token is malformed")


def check_subject(sub: object, server_name: str) -> str:
    """The user id in a userinfo answer, if it belongs to `server_name`."""
    if not isinstance(sub, str) or user_id_server(sub) is None:
        raise OpenIdRejected("the homeserver's answer named no user")
    if user_id_server(sub) != server_name:
        raise OpenIdRejected(f"the OpenID token belongs to another server, not {server_name}")
    return sub


async def resolve_openid(
    http: aiohttp.ClientSession, homeserver_url: str, server_name: str, access_token: str
) -> str:
    """Return the user id that `access_token` was issued to by `server_name`'s homeserver.

    Raises `OpenIdRejected` for a bad, expired, unknown or foreign token and
    `HomeserverUnreachable` when the homeserver cannot be asked (refused, timeout, 5xx).
    """
    check_token_shape(access_token)
    base = homeserver_url.rstrip("/")
    try:
        async with http.get(
            base + USERINFO_PATH, params={"access_token": access_token}
        ) as response:
            status = response.status
            try:
                body = await response.json(content_type=None)
            except ValueError:
                body = None
    except (TimeoutError, aiohttp.ClientConnectionError) as exc:
        raise HomeserverUnreachable(base, str(exc) or type(exc).__name__) from None
    if status >= 500:
        raise HomeserverUnreachable(base, f"HTTP {status} from openid/userinfo")
    if status in (401, 403):
        errcode = body.get("errcode") if isinstance(body, dict) else None
        logger.info("OpenID token refused by the homeserver (%s)", errcode or status)
        raise OpenIdRejected("the OpenID token is unknown or has expired")
    if status != 200 or not isinstance(body, dict):
        raise OpenIdRejected(f"the homeserver could not check the OpenID token (HTTP {status})")
    return check_subject(body.get("sub"), server_name)
