"""Read what Borough manages on a live Synapse, plus the profile rows in the app database.

Managed rooms are found by their `org.borough.managed` state, through the service account's
joined rooms; a killed apply may have left a room without its alias, but never without its key.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import events
from borough.db import Profile, UnitRow
from borough.matrix import MatrixClient

StateKey = tuple[str, str]

#: State types the planner compares. Membership comes in the same read (see SYNC_FILTER).
STATE_TYPES = [
    events.MANAGED,
    events.POLICY,
    events.CHANNEL,
    events.BLOG,
    "m.room.create",
    "m.room.name",
    "m.room.topic",
    "m.room.join_rules",
    "m.room.power_levels",
    "m.room.canonical_alias",
    "m.room.history_visibility",
    events.SPACE_CHILD,
    events.SPACE_PARENT,
    events.WIDGETS,
    events.WIDGET_LAYOUT,
]


@dataclass
class LiveRoom:
    room_id: str
    key: str
    state: dict[StateKey, dict[str, Any]]
    members: set[str] = field(default_factory=set)
    created_ts: int = 0

    def content(self, event_type: str, state_key: str = "") -> dict[str, Any] | None:
        return self.state.get((event_type, state_key))

    @property
    def is_space(self) -> bool:
        return (self.content("m.room.create") or {}).get("type") == "m.space"

    @property
    def federate(self) -> bool:
        return bool((self.content("m.room.create") or {}).get("m.federate", True))

    @property
    def is_retired(self) -> bool:
        return bool((self.content(events.MANAGED) or {}).get("retired"))


@dataclass
class LiveUser:
    user_id: str
    display_name: str | None
    is_deactivated: bool


@dataclass
class LiveNetwork:
    rooms: dict[str, LiveRoom] = field(default_factory=dict)
    duplicates: list[LiveRoom] = field(default_factory=list)
    users: dict[str, LiveUser] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    units: dict[str, UnitRow] = field(default_factory=dict)

    def room_id(self, key: str) -> str | None:
        room = self.rooms.get(key)
        return room.room_id if room else None

    def parents(self, room: LiveRoom) -> list[LiveRoom]:
        """The managed spaces that `room` names as its parents, in a stable order."""
        by_id = {r.room_id: r for r in self.rooms.values()}
        return [
            by_id[state_key]
            for (event_type, state_key), content in sorted(room.state.items())
            if event_type == events.SPACE_PARENT and content.get("via") and state_key in by_id
        ]


SYNC_FILTER = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        # Every member event too: one sync answers for all rooms, where a /members call per
        # room cost a round trip each (583 of them at 2,000 people).
        "state": {"types": [*STATE_TYPES, "m.room.member"], "lazy_load_members": False},
        # No timeline: with full_state the state block is then the current state.
        "timeline": {"limit": 0},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
}


async def read_live(
    client: MatrixClient,
    sessions: async_sessionmaker[AsyncSession] | None,
    timings: dict[str, float] | None = None,
) -> LiveNetwork:
    """The managed network as it is now. `timings`, if given, gets seconds per part."""
    live = LiveNetwork()
    clock = _Stopwatch(timings)
    await _read_rooms(client, live)
    clock.lap("rooms")
    await _read_users(client, live)
    clock.lap("users")
    if sessions is not None:
        async with sessions() as session:
            rows = (await session.scalars(select(Profile))).all()
            live.profiles = {row.user_id: row for row in rows}
            live.units = {row.key: row for row in (await session.scalars(select(UnitRow))).all()}
        clock.lap("app db")
    return live


class _Stopwatch:
    def __init__(self, timings: dict[str, float] | None) -> None:
        self.timings, self.mark = timings, time.perf_counter()

    def lap(self, part: str) -> None:
        now = time.perf_counter()
        if self.timings is not None:
            self.timings[part] = now - self.mark
        self.mark = now


async def _read_rooms(client: MatrixClient, live: LiveNetwork) -> None:
    # Synapse caches a sync answer per filter string for a while (sync_response_cache_duration);
    # a never-matching room id makes each read unique, so it always sees the present.
    filter_ = {
        **SYNC_FILTER,
        "room": {**SYNC_FILTER["room"], "not_rooms": [f"!{uuid.uuid4().hex}:read"]},
    }
    sync = await client.request(
        "GET",
        "/_matrix/client/v3/sync",
        params={"filter": json.dumps(filter_), "full_state": "true", "timeout": "0"},
    )
    joined = sync.get("rooms", {}).get("join", {})
    found: list[LiveRoom] = []
    for room_id, room in joined.items():
        state: dict[StateKey, dict[str, Any]] = {}
        members: set[str] = set()
        created_ts = 0
        for event in room.get("state", {}).get("events", []):
            content = event.get("content", {})
            if event["type"] == "m.room.member":
                if content.get("membership") == "join":
                    members.add(event["state_key"])
                continue
            state[(event["type"], event.get("state_key", ""))] = content
            if event["type"] == "m.room.create":
                created_ts = int(event.get("origin_server_ts", 0))
        managed = state.get((events.MANAGED, ""))
        if managed and isinstance(managed.get("key"), str):
            found.append(LiveRoom(room_id, managed["key"], state, members, created_ts))
    # Two rooms with one key can only come from a race; keep the oldest, report the rest.
    for room in sorted(found, key=lambda r: (r.created_ts, r.room_id)):
        if room.key in live.rooms:
            live.duplicates.append(room)
        else:
            live.rooms[room.key] = room


async def _read_users(client: MatrixClient, live: LiveNetwork) -> None:
    params = {"limit": "1000", "guests": "false", "deactivated": "true", "from": "0"}
    while True:
        body = await client.request("GET", "/_synapse/admin/v2/users", params=params)
        for user in body.get("users", []):
            live.users[user["name"]] = LiveUser(
                user["name"], user.get("displayname"), bool(user.get("deactivated"))
            )
        next_token = body.get("next_token")
        if not next_token:
            return
        params["from"] = str(next_token)
