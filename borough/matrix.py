"""A small async client for Synapse's client and admin APIs, used by provisioning and the CLI.

It bounds concurrency, honours `retry_after_ms` on M_LIMIT_EXCEEDED, retries 5xx and dropped
connections with backoff, and turns every non-2xx answer into a typed `MatrixError`.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from types import TracebackType
from typing import Any
from urllib.parse import quote

import aiohttp

from borough.errors import (
    HomeserverUnreachable,
    MatrixError,
    NotAHomeserver,
    WrongServerName,
    redact,
)

logger = logging.getLogger(__name__)

JsonDict = dict[str, Any]

#: The errors live apart (see borough.errors) but belong to this client's callers.
__all__ = ["HomeserverUnreachable", "JsonDict", "MatrixClient", "MatrixError", "q"]


def q(value: str) -> str:
    """Quote a room id, alias, user id or event type for use in a URL path."""
    return quote(value, safe="")


class MatrixClient:
    def __init__(
        self,
        base_url: str,
        access_token: str | None,
        *,
        concurrency: int = 4,
        max_retries: int = 6,
        timeout: float = 60.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._limit = asyncio.Semaphore(concurrency)
        self._max_retries = max_retries
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=10)
        self._session: aiohttp.ClientSession | None = None
        # Per request, not on the session: a few requests must go without it.
        self._auth = _bearer(access_token) if access_token else {}
        #: requests sent, by method and first path segments; benchmarks read it.
        self.sent: Counter[str] = Counter()

    async def __aenter__(self) -> MatrixClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        json: JsonDict | None = None,
        params: dict[str, str] | None = None,
        *,
        authenticated: bool = True,
        access_token: str | None = None,
    ) -> JsonDict:
        """`authenticated=False` sends no access token, for endpoints that need none: Synapse
        refuses a bad token even where none is needed. `access_token` sends another account's
        token instead of this client's (apply's short-lived token for a person)."""
        assert self._session is not None, "use 'async with MatrixClient(...)'"
        attempt = 0
        while True:
            async with self._limit:
                try:
                    async with self._session.request(
                        method,
                        self.base_url + path,
                        json=json,
                        params=params,
                        headers=_bearer(access_token)
                        if access_token
                        else (self._auth if authenticated else None),
                    ) as response:
                        status = response.status
                        body = await _json_body(response)
                        retry_after = response.headers.get("Retry-After")
                except (TimeoutError, aiohttp.ClientConnectionError) as exc:
                    if attempt >= self._max_retries:
                        raise HomeserverUnreachable(self.base_url, _reason(exc)) from None
                    delay = _backoff(attempt)
                    logger.info(
                        "%s %s: %s; retrying in %.1fs", method, redact(path), _reason(exc), delay
                    )
                    attempt += 1
                    await asyncio.sleep(delay)
                    continue
            self.sent[method] += 1
            if status < 300:
                return body
            errcode = str(body.get("errcode", "M_UNKNOWN"))
            error = str(body.get("error", "")) or f"HTTP {status}"
            if attempt < self._max_retries and (status == 429 or errcode == "M_LIMIT_EXCEEDED"):
                delay = _retry_after(body, retry_after, attempt)
                logger.info("rate limited on %s; waiting %.2fs", redact(path), delay)
            elif attempt < self._max_retries and status >= 500:
                delay = _backoff(attempt)
                logger.info(
                    "%s %s: HTTP %d; retrying in %.1fs", method, redact(path), status, delay
                )
            else:
                raise MatrixError(method, path, status, errcode, error)
            attempt += 1
            await asyncio.sleep(delay)

    # --- conveniences used across components -----------------------------------------------

    async def upload(self, data: bytes, content_type: str, filename: str) -> str:
        """Put a file in the media repository; its `mxc://` URI."""
        assert self._session is not None, "use 'async with MatrixClient(...)'"
        path = "/_matrix/media/v3/upload"
        try:
            async with (
                self._limit,
                self._session.post(
                    self.base_url + path,
                    data=data,
                    params={"filename": filename},
                    headers={**self._auth, "Content-Type": content_type},
                ) as response,
            ):
                status, body = response.status, await _json_body(response)
        except (TimeoutError, aiohttp.ClientConnectionError) as exc:
            raise HomeserverUnreachable(self.base_url, _reason(exc)) from None
        self.sent["POST"] += 1
        if status >= 300 or not isinstance(body.get("content_uri"), str):
            raise MatrixError(
                "POST", path, status, str(body.get("errcode", "M_UNKNOWN")), str(body.get("error"))
            )
        return str(body["content_uri"])

    async def whoami(self) -> str:
        return str((await self.request("GET", "/_matrix/client/v3/account/whoami"))["user_id"])

    async def ensure_admin(self) -> str:
        """Return the token's user id, or raise MatrixError if it is not a server admin."""
        user_id = await self.whoami()
        await self.request("GET", f"/_synapse/admin/v2/users/{q(user_id)}")
        return user_id

    async def ensure_homeserver(self, server_name: str) -> str:
        """The admin user id of the token, once the address has proved to be a Matrix
        homeserver whose own name is `server_name`. Done once per connection: a wrong name
        would otherwise create every account on a server that does not exist."""
        path = "/_matrix/client/versions"
        try:
            versions = await self.request("GET", path, authenticated=False)
        except MatrixError as exc:
            raise NotAHomeserver(self.base_url, f"HTTP {exc.status}") from None
        if not isinstance(versions.get("versions"), list):
            raise NotAHomeserver(self.base_url, "an answer without 'versions'")
        user_id = await self.ensure_admin()
        actual = user_id.split(":", 1)[1]
        if actual != server_name:
            raise WrongServerName(server_name, actual, user_id)
        return user_id


def _bearer(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def _json_body(response: aiohttp.ClientResponse) -> JsonDict:
    try:
        body = await response.json(content_type=None)
    except (ValueError, aiohttp.ContentTypeError):
        return {}
    return body if isinstance(body, dict) else {"value": body}


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _backoff(attempt: int) -> float:
    return min(30.0, 0.25 * 2.0**attempt) * (0.8 + 0.4 * random.random())


def _retry_after(body: JsonDict, header: str | None, attempt: int) -> float:
    if isinstance(body.get("retry_after_ms"), int | float):
        return float(body["retry_after_ms"]) / 1000
    if header and header.isdigit():
        return float(header)
    return _backoff(attempt)
