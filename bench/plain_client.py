"""A bare client-server API caller for the benchmarks' people: one aiohttp request per call, no
retries or pacing, so what they time is Synapse's and the bot's work, not a client's."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

import aiohttp


class PlainClient:
    def __init__(self, http: aiohttp.ClientSession, homeserver: str, token: str) -> None:
        self.http, self.homeserver, self.token = http, homeserver, token

    async def call(self, method: str, path: str, body: Any = None) -> Any:
        async with self.http.request(
            method,
            self.homeserver + path,
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
        ) as response:
            data = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{method} {path}: {response.status} {data}")
            return data

    async def send(self, room_id: str, body: str) -> None:
        path = (
            f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/{secrets.token_hex(8)}"
        )
        await self.call("PUT", path, {"msgtype": "m.text", "body": body})
