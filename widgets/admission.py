"""Who may join a room's conference, decided from plain data.

A `RoomSnapshot` is what the token service reads of a room; the decisions over it (is this
a room id, which conference do the room's widgets name, what does the user verification
service answer) are pure, so tests call them with plain state events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from borough.events import WIDGETS
from borough.jitsi import is_jitsi_widget, room_conference_id
from borough.room_power import RoomPower, moderator_level, room_power_defaults


@dataclass(frozen=True)
class RoomSnapshot:
    """What the token service needs from a room's current state."""

    joined: dict[str, str]  # user id -> display name
    power: RoomPower
    name: str
    jitsi_widgets: tuple[tuple[str, str, dict[str, Any]], ...]  # (widget id, sender, content)
    #: In a channel, its posters: they speak there, so they moderate its conference (a town
    #: hall's) whatever their power level.
    posters: frozenset[str] = frozenset()

    @classmethod
    def from_state(cls, events: list[dict[str, Any]]) -> RoomSnapshot:
        joined: dict[str, str] = {}
        name = ""
        widgets: list[tuple[str, str, dict[str, Any]]] = []
        for event in events:
            kind, key = event.get("type"), event.get("state_key")
            content = event.get("content") or {}
            if kind == "m.room.member" and content.get("membership") == "join":
                joined[str(key)] = str(content.get("displayname") or key)
            elif kind == "m.room.name":
                name = str(content.get("name") or "")
            elif kind == WIDGETS and isinstance(content, dict) and is_jitsi_widget(content):
                widgets.append((str(key), str(event.get("sender")), content))
        return cls(joined, RoomPower.from_state(events), name, tuple(widgets))

    def is_moderator(self, user_id: str) -> bool:
        return user_id in self.posters or self.power.is_moderator(user_id)

    def conference_level(self, user_id: str) -> int:
        """The power level the token service reports to Prosody, which makes someone an owner
        at `state_default`: a channel's posters are reported at that level at least."""
        level = self.power.of(user_id)
        if user_id in self.posters:
            return max(level, moderator_level(self.power.levels))
        return level

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


@dataclass(frozen=True)
class Admission:
    """A member let into a room's conference, and what the room looked like then."""

    user_id: str
    snapshot: RoomSnapshot


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
                "room": room_power_defaults(snapshot.power.levels),
                "user": snapshot.conference_level(user_id),
            }
            if is_member and snapshot is not None and user_id is not None
            else None
        ),
    }
