"""Read what Borough manages on a live Synapse, plus the profile rows in the app database.

Managed rooms are found by their `org.borough.managed` state, through the service account's
joined rooms; a killed apply may have left a room without its alias, but never without its key.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import events
from borough.db import LiveSnapshot, OrganisationRow, PartnershipRow, Profile, UnitRow
from borough.matrix import MatrixClient, MatrixError, q

logger = logging.getLogger(__name__)

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
    "m.room.avatar",
    "m.room.join_rules",
    "m.room.power_levels",
    "m.room.canonical_alias",
    "m.room.history_visibility",
    "m.room.guest_access",
    events.SPACE_CHILD,
    events.SPACE_PARENT,
    events.WIDGETS,
    events.WIDGET_LAYOUT,
    events.REGISTRY_PERSON,
    events.REGISTRY_EMAIL_DOMAIN,
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
    #: Deactivated with erase (`borough person erase`): never to be brought back.
    is_erased: bool = False
    avatar_url: str | None = None


@dataclass
class LiveNetwork:
    rooms: dict[str, LiveRoom] = field(default_factory=dict)
    duplicates: list[LiveRoom] = field(default_factory=list)
    users: dict[str, LiveUser] = field(default_factory=dict)
    profiles: dict[str, Profile] = field(default_factory=dict)
    units: dict[str, UnitRow] = field(default_factory=dict)
    organisations: dict[str, OrganisationRow] = field(default_factory=dict)
    partnerships: dict[str, PartnershipRow] = field(default_factory=dict)

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


STATE_READ = [*STATE_TYPES, "m.room.member"]

SYNC_FILTER: dict[str, dict[str, Any]] = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {
        # Every member event too: one sync answers for all rooms, where a /members call per
        # room cost a round trip each (583 of them at 2,000 people).
        "state": {"types": STATE_READ, "lazy_load_members": False},
        # No timeline here; a full read asks for a short one (see FULL_READ_TIMELINE).
        "timeline": {"limit": 0},
        "ephemeral": {"types": []},
        "account_data": {"types": []},
    },
}


async def read_live(
    client: MatrixClient,
    sessions: async_sessionmaker[AsyncSession] | None,
    timings: dict[str, float] | None = None,
    *,
    refresh: bool = False,
) -> LiveNetwork:
    """The managed network as it is now. `timings`, if given, gets seconds per part.

    With the app database, the rooms' state is read incrementally: the last read is kept
    there with its sync token, and only what changed since comes from Synapse. `refresh`
    (or no usable snapshot) reads everything."""
    live = LiveNetwork()
    clock = _Stopwatch(timings)
    snapshot = None if refresh or sessions is None else await _load_snapshot(client, sessions)
    rooms, since = await _read_rooms(client, snapshot)
    clock.lap("rooms")
    _index_rooms(rooms, live)
    await _read_users(client, live)
    clock.lap("users")
    if sessions is not None:
        async with sessions() as session:
            rows = (await session.scalars(select(Profile))).all()
            live.profiles = {row.user_id: row for row in rows}
            live.units = {row.key: row for row in (await session.scalars(select(UnitRow))).all()}
            live.organisations = {
                row.key: row for row in (await session.scalars(select(OrganisationRow))).all()
            }
            live.partnerships = {
                row.key: row for row in (await session.scalars(select(PartnershipRow))).all()
            }
        async with sessions() as session:
            await _save_snapshot(session, _reader(client), rooms, since)
            try:
                await session.commit()
            except IntegrityError:
                # Another plan saved the first snapshot at the same moment; either will do.
                await session.rollback()
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


#: room id -> {"state": [[type, state_key, content], ...], "members": [...], "created_ts": n}
RawRooms = dict[str, dict[str, Any]]

#: Which reads a snapshot may continue: a change to the filter invalidates old snapshots.
FILTER_VERSION = hashlib.sha256(json.dumps(SYNC_FILTER, sort_keys=True).encode()).hexdigest()[:16]


#: State events a full read takes as a timeline per room. With `"limit": 0`, Synapse 1.14x's
#: full-state sync answered the registry room's state without its last one or two events
#: (tests/integration/test_live_chart.py found it); with a short timeline of state events
#: those arrive in the timeline and `_merge` lays them over the state block.
FULL_READ_TIMELINE = 10


def _reader(client: MatrixClient) -> str:
    """One snapshot per homeserver address, should two servers share an app database."""
    return "provisioning:" + hashlib.sha256(client.base_url.encode()).hexdigest()[:32]


async def _load_snapshot(
    client: MatrixClient, sessions: async_sessionmaker[AsyncSession]
) -> LiveSnapshot | None:
    async with sessions() as session:
        row = await session.get(LiveSnapshot, _reader(client))
    if row is None or row.filter_version != FILTER_VERSION:
        return None
    return row


#: Past how many state events per applied change a full read is cheaper than reading the
#: changes since. Synapse answers an incremental sync by loading and filtering every event in
#: the gap for its reader, where a full read only fetches current state; a change writes two
#: or three events. Measured after applying the example chart to an empty server (1,442
#: changes, 3,524 events, 2,823 state events held): 5-12 s for the changes, 1.6-2.3 s for a
#: full read; with 200 changes' worth of events the changes took 0.6-1.4 s.
STATE_EVENTS_PER_CHANGE = 8


async def expect_writes(
    client: MatrixClient, sessions: async_sessionmaker[AsyncSession], changes: int
) -> None:
    """Apply calls this before it writes `changes` changes to Synapse. If reading them back
    would cost more than reading everything, the saved read is dropped now (not after: a
    killed apply leaves the same gap), so that the next plan reads everything instead."""
    async with sessions.begin() as session:
        row = await session.get(LiveSnapshot, _reader(client))
        if row is None:
            return
        held = sum(len(raw["state"]) + len(raw["members"]) for raw in row.rooms.values())
        if changes * STATE_EVENTS_PER_CHANGE > held:
            logger.info(
                "%d changes outweigh the %d state events of the saved read; the next read "
                "reads everything",
                changes,
                held,
            )
            await session.delete(row)


async def _save_snapshot(
    session: AsyncSession, reader: str, rooms: RawRooms, since: str | None
) -> None:
    if not since:
        return
    row = await session.get(LiveSnapshot, reader)
    if row is None:
        row = LiveSnapshot(reader=reader)
        session.add(row)
    row.filter_version, row.since, row.rooms = FILTER_VERSION, since, rooms


async def _read_rooms(
    client: MatrixClient, snapshot: LiveSnapshot | None
) -> tuple[RawRooms, str | None]:
    # Synapse caches a sync answer per filter string for a while (sync_response_cache_duration);
    # a never-matching room id makes each read unique, so it always sees the present.
    filter_ = {
        **SYNC_FILTER,
        "room": {**SYNC_FILTER["room"], "not_rooms": [f"!{uuid.uuid4().hex}:read"]},
    }
    params = {"filter": json.dumps(filter_), "timeout": "0"}
    rooms: RawRooms = {}
    if snapshot is not None:
        # Since the last read: rooms joined since come whole, changed rooms as a state block
        # (the delta up to the timeline) followed by the timeline's own state events.
        # A timeline of state events only: with an empty timeline Synapse sends no state
        # delta at all, so changes come as the timeline's state events after the state block.
        changes = {
            **filter_,
            "room": {**filter_["room"], "timeline": {"limit": 100, "types": STATE_READ}},
        }
        try:
            sync = await client.request(
                "GET",
                "/_matrix/client/v3/sync",
                params={**params, "filter": json.dumps(changes), "since": snapshot.since},
            )
        except MatrixError as exc:
            if exc.status not in (400, 404):
                raise
            logger.info("the saved sync position was refused (%s); reading everything", exc)
        else:
            rooms = {room_id: dict(raw) for room_id, raw in snapshot.rooms.items()}
            for room_id in sync.get("rooms", {}).get("leave", {}):
                rooms.pop(room_id, None)
            _merge(rooms, sync.get("rooms", {}).get("join", {}))
            # A cheap cross-check: a snapshot of another server (wiped and rebuilt at the same
            # address, say) cannot name exactly the rooms the service account is in now.
            joined = await client.request("GET", "/_matrix/client/v3/joined_rooms")
            if set(joined.get("joined_rooms", [])) == set(rooms):
                return rooms, sync.get("next_batch")
            logger.info("the saved live state names other rooms than Synapse; reading everything")
            rooms = {}
    full = {
        **filter_,
        "room": {
            **filter_["room"],
            "timeline": {"limit": FULL_READ_TIMELINE, "types": STATE_READ},
        },
    }
    sync = await client.request(
        "GET",
        "/_matrix/client/v3/sync",
        params={**params, "filter": json.dumps(full), "full_state": "true"},
    )
    _merge(rooms, sync.get("rooms", {}).get("join", {}))
    return rooms, sync.get("next_batch")


def _merge(rooms: RawRooms, joined: dict[str, Any]) -> None:
    for room_id, room in joined.items():
        raw = rooms.get(room_id) or {"state": [], "members": [], "created_ts": 0}
        state = {(t, k): c for t, k, c in raw["state"]}
        members = set(raw["members"])
        created_ts = int(raw["created_ts"])
        timeline = [e for e in room.get("timeline", {}).get("events", []) if "state_key" in e]
        for event in [*room.get("state", {}).get("events", []), *timeline]:
            content = event.get("content", {})
            if event["type"] == "m.room.member":
                if content.get("membership") == "join":
                    members.add(event["state_key"])
                else:
                    members.discard(event["state_key"])
                continue
            state[(event["type"], event.get("state_key", ""))] = content
            if event["type"] == "m.room.create":
                created_ts = int(event.get("origin_server_ts", 0))
        rooms[room_id] = {
            "state": [[t, k, c] for (t, k), c in sorted(state.items())],
            "members": sorted(members),
            "created_ts": created_ts,
        }


def _index_rooms(rooms: RawRooms, live: LiveNetwork) -> None:
    found: list[LiveRoom] = []
    for room_id, raw in rooms.items():
        state = {(t, k): c for t, k, c in raw["state"]}
        managed = state.get((events.MANAGED, ""))
        if managed and isinstance(managed.get("key"), str):
            found.append(
                LiveRoom(room_id, managed["key"], state, set(raw["members"]), raw["created_ts"])
            )
    # Two rooms with one key can only come from a race; keep the oldest, report the rest.
    for room in sorted(found, key=lambda r: (r.created_ts, r.room_id)):
        if room.key in live.rooms:
            live.duplicates.append(room)
        else:
            live.rooms[room.key] = room


async def read_suspended(client: MatrixClient, user_ids: Iterable[str]) -> set[str]:
    """Which of these people are suspended. Synapse's user list does not say, so each is
    asked on its own: call this for the few a plan would join, not for everyone."""

    async def is_suspended(user_id: str) -> bool:
        account = await client.request("GET", f"/_synapse/admin/v2/users/{q(user_id)}")
        return bool(account.get("suspended"))

    wanted = list(user_ids)
    answers = await asyncio.gather(*(is_suspended(u) for u in wanted))
    return {u for u, suspended in zip(wanted, answers, strict=True) if suspended}


async def _read_users(client: MatrixClient, live: LiveNetwork) -> None:
    params = {"limit": "1000", "guests": "false", "deactivated": "true", "from": "0"}
    while True:
        body = await client.request("GET", "/_synapse/admin/v2/users", params=params)
        for user in body.get("users", []):
            live.users[user["name"]] = LiveUser(
                user["name"],
                user.get("displayname"),
                bool(user.get("deactivated")),
                bool(user.get("erased")),
                user.get("avatar_url") or None,
            )
        next_token = body.get("next_token")
        if not next_token:
            return
        params["from"] = str(next_token)
