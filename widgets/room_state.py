"""What the widget server reads of a room at the homeserver, with its service account.

Membership is read fresh every time; power levels and creators are cached for a few seconds,
because when a meeting starts everyone joins the same room at once. A room the service
account is not in is read whole through the admin API instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web

from borough.matrix import MatrixError, q
from borough.room_power import RoomPower
from widgets.admission import RoomSnapshot
from widgets.app import MATRIX


class NotJoined(Exception):
    """The service account is not in the room, so the client API will not show its state."""


class PowerCache:
    """Rooms' power levels and creators for a few seconds. Membership is never cached; a
    power change reaches moderator status within `ttl` seconds."""

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


POWER_CACHE = web.AppKey("power_cache", PowerCache)


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


async def room_power(app: web.Application, room_id: str) -> RoomPower:
    """The room's power levels and creators, in two small reads that do not grow with it."""
    return await app[POWER_CACHE].get(room_id, partial(_read_room_power, app, room_id))


async def _read_room_power(app: web.Application, room_id: str) -> RoomPower:
    levels, create = await asyncio.gather(
        _state_event(app, room_id, "m.room.power_levels"),
        _state_event(app, room_id, "m.room.create"),
    )
    return RoomPower.from_state([e for e in (levels, create) if e is not None])


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
