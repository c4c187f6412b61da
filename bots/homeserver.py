"""The bot's dealings with the homeserver that every feature shares.

nio answers a refusal as a value, not an exception: `checked` is the one place that turns such
an answer into `HomeserverRefused`, so a caller has either the response it asked for or an
error that says what was being done and what the homeserver said. Room state reads build on it.
"""

from __future__ import annotations

from typing import Any, TypeVar

from nio import AsyncClient, ErrorResponse, RoomGetStateEventResponse, RoomGetStateResponse

from borough.room_power import RoomPower
from bots.commands import UsageError

R = TypeVar("R")


class HomeserverRefused(UsageError):
    """The homeserver refused something the bot asked; the message says what and why."""

    def __init__(self, doing: str, reason: str, errcode: str | None = None) -> None:
        super().__init__(f"{doing} failed: {reason}")
        self.reason, self.errcode = reason, errcode


def checked(response: object, expected: type[R], doing: str) -> R:
    """`response` if it is the `expected` kind; else raise HomeserverRefused for `doing`."""
    if isinstance(response, expected):
        return response
    if isinstance(response, ErrorResponse):
        raise HomeserverRefused(doing, response.message, response.status_code)
    raise HomeserverRefused(doing, f"an unexpected answer ({type(response).__name__})")


async def state_content(
    client: AsyncClient, room_id: str, event_type: str, state_key: str = ""
) -> dict[str, Any] | None:
    """One state event's content, or None when the room has none."""
    try:
        response = checked(
            await client.room_get_state_event(room_id, event_type, state_key),
            RoomGetStateEventResponse,
            f"reading this room's {event_type}",
        )
    except HomeserverRefused as refused:
        if refused.errcode == "M_NOT_FOUND":
            return None
        raise
    content = response.content
    return content if isinstance(content, dict) else None


async def room_power(client: AsyncClient, room_id: str) -> RoomPower:
    """The room's power levels and creators, from its current state."""
    response = checked(
        await client.room_get_state(room_id), RoomGetStateResponse, "reading the room"
    )
    return RoomPower.from_state(response.events)
