"""Execute a plan against Synapse and the app database, phase by phase, with a progress bar.

Each operation is idempotent against a fresh plan: an apply killed half-way leaves nothing
that a second plan would not see and finish, and rooms are created with their alias and key
in one request, so no room is ever made twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from borough import audit, directory
from borough.db import OrganisationRow, PartnershipRow, Profile, ProfileFieldRow, UnitRow
from borough.live import expect_writes
from borough.matrix import MatrixClient, MatrixError, q
from provisioning import mirror
from provisioning.meetings import StandingMeeting
from provisioning.plan import (
    PHASE_JOINS,
    PHASE_REMOVALS,
    AvatarFile,
    Change,
    CreateRoom,
    CreateUser,
    DeactivateUser,
    DeleteOrganisation,
    DeletePartnership,
    DeleteUnit,
    Join,
    Kick,
    MarkLeft,
    MirrorProfile,
    NameAccount,
    Operation,
    Plan,
    RoomRef,
    SaveOrganisation,
    SavePartnership,
    SaveProfile,
    SaveUnit,
    SetAlias,
    SetState,
    UpdateUser,
)

logger = logging.getLogger(__name__)

#: How long the token apply makes to join a restricted room as a person lasts, should its
#: logout not reach Synapse: one join, however long Synapse takes over it.
PERSON_TOKEN_LIFETIME = timedelta(minutes=10)


#: Operations on the app database alone; a phase of them runs in one transaction.
DatabaseOp = (
    SaveProfile
    | MarkLeft
    | SaveUnit
    | DeleteUnit
    | SaveOrganisation
    | DeleteOrganisation
    | SavePartnership
    | DeletePartnership
)


def _turns(phase: list[Change]) -> list[list[Change]]:
    """A phase's changes as lists to run side by side, each list in turn: the state writes to
    one room form one list. Synapse builds events sent to a room at once on the same parent
    events, and a space that gets no later event (the community) would keep that fork, whose
    state a full sync reads from one branch only: the next plan would not see the other."""
    by_room: dict[str, list[Change]] = {}
    turns: list[list[Change]] = []
    for change in phase:
        if isinstance(change.op, SetState | SetAlias):
            if change.op.room_key not in by_room:
                by_room[change.op.room_key] = []
                turns.append(by_room[change.op.room_key])
            by_room[change.op.room_key].append(change)
        else:
            turns.append([change])
    return turns


class UnresolvedRoom(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(f"room '{key}' does not exist (its creation failed earlier)")


@dataclass
class ApplyResult:
    done: int = 0
    failures: list[tuple[Change, str]] = field(default_factory=list)
    passwords: dict[str, str] = field(default_factory=dict)


@dataclass
class Applier:
    client: MatrixClient
    sessions: async_sessionmaker[AsyncSession]
    server_name: str
    room_ids: dict[str, str]
    actor: str
    demo_passwords: bool = False
    password_length: int = 16
    result: ApplyResult = field(default_factory=ApplyResult)
    #: Mirror records are written one at a time: SQLite has one writer.
    mirror_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    unlimited_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    is_unlimited: bool = False

    async def apply(
        self, plan: Plan, progress: Callable[[Change], None] | None = None
    ) -> ApplyResult:
        writes = sum(not isinstance(change.op, DatabaseOp) for change in plan.changes)
        await expect_writes(self.client, self.sessions, writes)
        joins = [c for c in plan.changes if PHASE_JOINS <= c.phase < PHASE_REMOVALS]
        for phase in plan.phases():
            database_writes = [(c, c.op) for c in phase if isinstance(c.op, DatabaseOp)]
            if PHASE_JOINS <= phase[0].phase < PHASE_REMOVALS:
                if joins:  # the first join phase runs them all; the others have nothing left
                    await self._run_joins(joins, progress)
                    joins = []
            elif len(database_writes) == len(phase):
                await self._run_in_one_transaction(database_writes, progress)
            else:
                await asyncio.gather(*(self._run_in_turn(t, progress) for t in _turns(phase)))
        await self._audit(plan)
        # Rebuild the directory entries of everyone this apply touched now, so the first
        # `!find` after a large apply does not pay for it.
        async with self.sessions() as session:
            engine = session.bind
        if isinstance(engine, AsyncEngine):
            await directory.refresh(engine)
        return self.result

    async def _run_in_one_transaction(
        self, phase: list[tuple[Change, DatabaseOp]], progress: Callable[[Change], None] | None
    ) -> None:
        """App-database writes go in one transaction: SQLite allows one writer at a time, and
        thousands of concurrent little transactions would only queue for its lock."""
        async with self.sessions.begin() as session:
            for change, op in phase:
                await self._run_in_session(op, session)
                if progress is not None:
                    progress(change)
        self.result.done += len(phase)

    async def _run_joins(
        self, joins: list[Change], progress: Callable[[Change], None] | None
    ) -> None:
        """Every room's joins at once, each room's one at a time. Synapse takes a room's
        membership changes one at a time, so joins go only as fast as the rooms taking them
        side by side; waiting for every join to a space before anyone joins the rooms in it
        left a single room (the community, then the organisation) taking them all.

        A person's joins still go in the order of their rooms' depth: a sealed room admits
        only people already in its owner's space. Each room takes people in the same order,
        so someone's next room is usually ready for them as their last join lands."""
        by_room: dict[str, list[Change]] = {}
        by_person: dict[str, list[Change]] = {}
        for change in sorted(joins, key=lambda c: (c.target, c.phase)):
            room_key = change.op.room_key if isinstance(change.op, Join) else ""
            by_room.setdefault(room_key, []).append(change)
            by_person.setdefault(change.target, []).append(change)
        done = {id(change): asyncio.Event() for change in joins}

        async def take(queue: list[Change]) -> None:
            for change in queue:
                for earlier in by_person[change.target]:
                    if earlier.phase < change.phase:
                        await done[id(earlier)].wait()
                await self._run(change, progress)  # a failed join is recorded, not raised
                done[id(change)].set()

        await asyncio.gather(*(take(queue) for queue in by_room.values()))

    async def _run_in_turn(
        self, changes: list[Change], progress: Callable[[Change], None] | None
    ) -> None:
        for change in changes:
            await self._run(change, progress)

    async def _run(self, change: Change, progress: Callable[[Change], None] | None) -> None:
        try:
            await self.execute(change.op)
            self.result.done += 1
        except (MatrixError, UnresolvedRoom) as exc:
            logger.warning("%s %s: %s", change.group, change.target, exc)
            self.result.failures.append((change, str(exc)))
        finally:
            if progress is not None:
                progress(change)

    def resolve(self, value: Any) -> Any:
        if isinstance(value, RoomRef):
            if value.key not in self.room_ids:
                raise UnresolvedRoom(value.key)
            return self.room_ids[value.key]
        if isinstance(value, StandingMeeting):
            return value.content(self.room(value.key))
        if isinstance(value, dict):
            return {k: self.resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.resolve(v) for v in value]
        return value

    def room(self, key: str) -> str:
        resolved: str = self.resolve(RoomRef(key))
        return resolved

    async def execute(self, op: Operation) -> None:
        match op:
            case CreateUser(user=user):
                body: dict[str, Any] = {"displayname": user.display_name}
                if user.email:
                    body["threepids"] = [{"medium": "email", "address": user.email}]
                if self.demo_passwords:
                    password = secrets.token_urlsafe(self.password_length)[: self.password_length]
                    body["password"] = password
                    self.result.passwords[user.user_id] = password
                await self.client.request(
                    "PUT", f"/_synapse/admin/v2/users/{q(user.user_id)}", body
                )
            case UpdateUser(user=user, reactivate=reactivate):
                body = {"displayname": user.display_name}
                body["threepids"] = (
                    [{"medium": "email", "address": user.email}] if user.email else []
                )
                if reactivate:
                    body["deactivated"] = False
                await self.client.request(
                    "PUT", f"/_synapse/admin/v2/users/{q(user.user_id)}", body
                )
            case NameAccount(user_id=user_id, display_name=name, avatar=avatar):
                body = {"displayname": name}
                if avatar is not None:
                    body["avatar_url"] = await mirror.uploaded(
                        self.client, self.sessions, avatar, self.mirror_lock
                    )
                await self.client.request("PUT", f"/_synapse/admin/v2/users/{q(user_id)}", body)
            case DeactivateUser(user_id=user_id):
                await self.client.request(
                    "POST", f"/_synapse/admin/v1/deactivate/{q(user_id)}", {"erase": False}
                )
            case CreateRoom():
                await self._create_room(op)
            case SetState(
                room_key=key, event_type=event_type, state_key=state_key, content=content
            ):
                room_id = self.room(key)
                path = f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(event_type)}"
                if isinstance(content, AvatarFile):  # a space's image not uploaded before
                    mxc = await mirror.uploaded(
                        self.client, self.sessions, content, self.mirror_lock
                    )
                    content = {"url": mxc}
                await self.client.request(
                    "PUT", f"{path}/{q(self.resolve(state_key))}", self.resolve(content)
                )
            case SetAlias(alias=alias, withdraw=True):
                try:
                    await self.client.request(
                        "DELETE", f"/_matrix/client/v3/directory/room/{q(alias)}"
                    )
                except MatrixError as exc:
                    if exc.status != 404:  # a killed apply's withdrawal got there first
                        raise
            case SetAlias(room_key=key, alias=alias):
                room_id = self.room(key)
                try:
                    await self.client.request(
                        "PUT", f"/_matrix/client/v3/directory/room/{q(alias)}", {"room_id": room_id}
                    )
                except MatrixError as exc:
                    if exc.errcode != "M_UNKNOWN" or "already exists" not in exc.error:
                        raise
                await self.client.request(
                    "PUT",
                    f"/_matrix/client/v3/rooms/{q(room_id)}/state/m.room.canonical_alias/",
                    {"alias": alias},
                )
            case Join(user_id=user_id, room_key=key, by_themselves=by_themselves):
                if by_themselves and await self._join_by_themselves(user_id, self.room(key)):
                    return
                try:
                    await self.client.request(
                        "POST", f"/_synapse/admin/v1/join/{q(self.room(key))}", {"user_id": user_id}
                    )
                except MatrixError as exc:
                    # A killed apply's join may land after the next plan read the room.
                    if exc.status != 403 or "already in the room" not in exc.error:
                        raise
            case Kick(user_id=user_id, room_key=key):
                await self.client.request(
                    "POST",
                    f"/_matrix/client/v3/rooms/{q(self.room(key))}/kick",
                    {"user_id": user_id, "reason": "No longer in this part of the org chart"},
                )
            case MirrorProfile():
                await mirror.push(self.client, self.sessions, op, self.mirror_lock)
            case (
                SaveProfile()
                | MarkLeft()
                | SaveUnit()
                | DeleteUnit()
                | SaveOrganisation()
                | DeleteOrganisation()
                | SavePartnership()
                | DeletePartnership()
            ):
                async with self.sessions.begin() as session:
                    await self._run_in_session(op, session)

    async def _join_by_themselves(self, user_id: str, room_id: str) -> bool:
        """Join a restricted room as the person, with a token that lasts this one join: one
        event, where the admin join API sends an invitation first (two, and "invited by
        Borough" in the room's timeline for everyone placed). Synapse allows it because
        their earlier joins put them in a space the room is restricted to. False, with
        nothing changed, where it refuses: the caller invites them instead."""
        await self._unlimited()
        login = f"/_synapse/admin/v1/users/{q(user_id)}/login"
        expires = int((datetime.now(UTC) + PERSON_TOKEN_LIFETIME).timestamp() * 1000)
        try:
            answer = await self.client.request("POST", login, {"valid_until_ms": expires})
        except MatrixError as exc:
            logger.info("%s cannot join %s by themselves: %s", user_id, room_id, exc)
            return False
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            # Without it the join would go out as Borough's own account, not the person's.
            logger.warning("Synapse's login as %s gave no access token", user_id)
            return False
        try:
            await self.client.request(
                "POST", f"/_matrix/client/v3/join/{q(room_id)}", {}, access_token=token
            )
            return True
        except MatrixError as exc:
            if exc.status != 403:
                raise
            logger.info("%s cannot join %s by themselves: %s", user_id, room_id, exc)
            return False
        finally:
            with contextlib.suppress(MatrixError):  # else it lapses at `expires`
                await self.client.request(
                    "POST", "/_matrix/client/v3/logout", {}, access_token=token
                )

    async def _unlimited(self) -> None:
        """Synapse rate-limits joins sent as a person (by default ten in a row to a room,
        then one a second) unless the account that made their token has no limits. Borough's
        service account is given none, once, unless an admin set its limits."""
        async with self.unlimited_lock:
            if self.is_unlimited:
                return
            service = await self.client.whoami()
            path = f"/_synapse/admin/v1/users/{q(service)}/override_ratelimit"
            if not await self.client.request("GET", path):
                await self.client.request(
                    "POST", path, {"messages_per_second": 0, "burst_count": 0}
                )
            self.is_unlimited = True

    async def _create_room(self, op: CreateRoom) -> None:
        room = op.room
        creation: dict[str, Any] = {"m.federate": room.federate}
        if room.is_space:
            creation["type"] = "m.space"
        body: dict[str, Any] = {
            "name": room.name,
            "preset": "private_chat",
            "visibility": "public" if room.join_rule == "public" else "private",
            "creation_content": creation,
            "power_level_content_override": op.power_levels,
            "initial_state": [
                {"type": t, "state_key": self.resolve(k), "content": self.resolve(c)}
                for t, k, c in op.initial_state
            ],
        }
        if room.publishes_address:
            body["room_alias_name"] = room.alias
        if room.topic:
            body["topic"] = room.topic
        try:
            created = await self.client.request("POST", "/_matrix/client/v3/createRoom", body)
        except MatrixError as exc:
            if exc.errcode != "M_ROOM_IN_USE":
                raise
            # A killed apply created it but never saw the answer; adopt it by its alias.
            alias = f"#{room.alias}:{self.server_name}"
            found = await self.client.request(
                "GET", f"/_matrix/client/v3/directory/room/{q(alias)}"
            )
            created = {"room_id": found["room_id"]}
        self.room_ids[room.key] = created["room_id"]

    async def _run_in_session(self, op: DatabaseOp, session: AsyncSession) -> None:
        match op:
            case SaveProfile():
                await self._save_profile(op, session)
            case MarkLeft(user_id=user_id):
                if (row := await session.get(Profile, user_id)) is not None:
                    row.left_at = datetime.now(UTC)
            case SaveUnit(key=key, name=name, organisation=organisation, parent=parent):
                unit = await session.get(UnitRow, key)
                if unit is None:
                    session.add(
                        UnitRow(key=key, name=name, organisation=organisation, parent=parent)
                    )
                else:
                    unit.name, unit.organisation, unit.parent = name, organisation, parent
            case DeleteUnit(key=key):
                if (unit := await session.get(UnitRow, key)) is not None:
                    await session.delete(unit)
            case SaveOrganisation(key=key, name=name):
                await session.merge(OrganisationRow(key=key, name=name))
            case DeleteOrganisation(key=key):
                if (gone := await session.get(OrganisationRow, key)) is not None:
                    await session.delete(gone)
            case SavePartnership(key=key, partnership=shape):
                await session.merge(
                    PartnershipRow(
                        key=key,
                        name=shape.name,
                        description=shape.description,
                        organisations=list(shape.organisations),
                        units=list(shape.units),
                        people=list(shape.people),
                        leads=list(shape.leads),
                    )
                )
            case DeletePartnership(key=key):
                if (ended := await session.get(PartnershipRow, key)) is not None:
                    await session.delete(ended)

    async def _save_profile(self, op: SaveProfile, session: AsyncSession) -> None:
        person = op.person
        row = await session.get(Profile, op.user_id)
        if row is None:
            row = Profile(user_id=op.user_id, fields=[])
            session.add(row)
        row.username = person.username
        row.display_name = person.display_name
        row.email = person.email
        row.organisation = person.organisation
        row.units = list(person.units)
        row.role = person.role
        row.job_title = person.job_title
        row.manager = op.manager_id
        row.is_managed = True
        row.left_at = None
        row.updated_at = datetime.now(UTC)
        wanted = person.profile.fields()
        kept = [f for f in row.fields if f.source == "self" and f.name not in wanted]
        row.fields = kept + [
            ProfileFieldRow(
                name=name,
                value=list(f.value) if isinstance(f.value, tuple) else f.value,
                visibility=f.visibility,
                source="org",
            )
            for name, f in sorted(wanted.items())
        ]

    async def _audit(self, plan: Plan) -> None:
        if not plan.changes:
            return
        counts = plan.counts()
        async with self.sessions.begin() as session:
            await audit.record(
                session,
                actor=self.actor,
                action="org.apply",
                target_ids=[],
                details={
                    "planned": len(plan.changes),
                    "done": self.result.done,
                    "failed": len(self.result.failures),
                    "added": counts["+"],
                    "changed": counts["~"],
                    "removed": counts["-"],
                },
            )
