"""Who may do what in a room, read from its state the way Synapse reads it.

One reading for every component: levels are ints or numeric strings (older room versions
allow strings), a missing level takes Synapse's default, and from room version 12 the room's
creators have unlimited power and are never listed in `users`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from borough import events

#: Room v12 (and its MSC4289 predecessor) give creators unlimited power.
CREATOR_POWER_VERSIONS = ("12", "org.matrix.hydra.11")

#: Synapse's `state_default` when the power levels leave it out; Prosody
#: (uvs_sync_power_levels) also makes someone an owner at this level.
DEFAULT_STATE_LEVEL = 50


def level(value: Any, default: int) -> int:
    """A power level as Synapse reads it (`int(value)`): an int or a numeric string; else
    the default."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def creators(create: Mapping[str, Any]) -> frozenset[str]:
    """The creators a whole `m.room.create` event names, if its room version gives them
    unlimited power: the sender and `additional_creators`."""
    content = create.get("content") or {}
    if str(content.get("room_version", "1")) not in CREATOR_POWER_VERSIONS:
        return frozenset()
    extra = content.get("additional_creators") or []
    return frozenset([str(create.get("sender")), *(c for c in extra if isinstance(c, str))])


def user_power_level(
    power_levels: Mapping[str, Any], user_id: str, room_creators: frozenset[str] = frozenset()
) -> int:
    """A user's power level. Room v12 creators have unlimited power; they count as 100."""
    if user_id in room_creators:
        return max(events.ADMIN, moderator_level(power_levels))
    users = power_levels.get("users") or {}
    if isinstance(users, dict) and user_id in users:
        return level(users[user_id], 0)
    return level(power_levels.get("users_default"), 0)


def moderator_level(power_levels: Mapping[str, Any]) -> int:
    """The level that makes someone a moderator (of a conference too): `state_default`."""
    return level(power_levels.get("state_default"), DEFAULT_STATE_LEVEL)


def required_level(power_levels: Mapping[str, Any], event_type: str) -> int:
    """The power level needed to send state event `event_type`."""
    state_default = moderator_level(power_levels)
    levels = power_levels.get("events") or {}
    if isinstance(levels, dict) and event_type in levels:
        return level(levels[event_type], state_default)
    return state_default


def room_power_defaults(power_levels: Mapping[str, Any]) -> dict[str, Any]:
    """The power levels without the `users` map, as the user verification service returns.

    Prosody compares the user's level with `state_default`, so it is always present."""
    room = {k: v for k, v in power_levels.items() if k != "users"}
    room["state_default"] = moderator_level(power_levels)
    return room


@dataclass(frozen=True)
class RoomPower:
    """A room's power levels and its v12 creators."""

    levels: Mapping[str, Any]
    creators: frozenset[str] = frozenset()

    @classmethod
    def from_state(cls, state: Iterable[Mapping[str, Any]]) -> RoomPower:
        """From whole state events; only `m.room.power_levels` and `m.room.create` count."""
        levels: Mapping[str, Any] = {}
        room_creators: frozenset[str] = frozenset()
        for event in state:
            if event.get("type") == "m.room.power_levels":
                levels = event.get("content") or {}
            elif event.get("type") == "m.room.create":
                room_creators = creators(event)
        return cls(levels, room_creators)

    def of(self, user_id: str) -> int:
        return user_power_level(self.levels, user_id, self.creators)

    @property
    def widget_level(self) -> int:
        """The level needed to add and pin a widget: both its state and the layout."""
        return max(
            required_level(self.levels, events.WIDGETS),
            required_level(self.levels, events.WIDGET_LAYOUT),
        )

    def may_manage_widgets(self, user_id: str) -> bool:
        return self.of(user_id) >= self.widget_level

    def is_moderator(self, user_id: str) -> bool:
        return self.of(user_id) >= moderator_level(self.levels)
