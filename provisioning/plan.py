"""The diff between the desired network and the live one, as a printable, executable value.

`make_plan` is pure: desired + live + options in, `Plan` out. Operations are plain data;
`provisioning.apply` executes them. Room ids not known at plan time are `RoomRef`s.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from borough import events
from borough.db import PartnershipRow, Profile
from borough.errors import Refused
from borough.live import LiveNetwork, LiveRoom
from borough.network import (
    REGISTRY_TYPES,
    SERVICE_AVATAR,
    SERVICE_DISPLAY_NAME,
    DesiredNetwork,
    DesiredRoom,
    DesiredUser,
    PartnershipShape,
)
from borough.org import Person
from borough.room_power import required_level
from borough.room_widgets import side_panel_layout
from provisioning.meetings import standing_meeting


@dataclass(frozen=True)
class RoomRef:
    """The id of the room with this Borough key, known once it exists."""

    key: str


# --- operations ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreateUser:
    user: DesiredUser


@dataclass(frozen=True)
class UpdateUser:
    user: DesiredUser
    reactivate: bool = False


@dataclass(frozen=True)
class DeactivateUser:
    user_id: str


#: A state event as (type, state key, content); a `RoomRef` in it is resolved by apply.
StateEvent = tuple[str, str | RoomRef, Any]


@dataclass(frozen=True)
class CreateRoom:
    room: DesiredRoom
    initial_state: tuple[StateEvent, ...]
    power_levels: dict[str, Any]


@dataclass(frozen=True)
class SetState:
    room_key: str
    event_type: str
    state_key: str | RoomRef
    content: Any


@dataclass(frozen=True)
class SetAlias:
    room_key: str
    alias: str
    #: Take the address away instead (a sealed room's; Synapse updates the canonical alias).
    withdraw: bool = False


@dataclass(frozen=True)
class Join:
    user_id: str
    room_key: str
    #: The room is restricted to a space the person is (or is about to be) in: they can join
    #: it themselves, one event instead of the admin join's invitation and join.
    by_themselves: bool = False


@dataclass(frozen=True)
class Kick:
    user_id: str
    room_key: str


@dataclass(frozen=True)
class SaveProfile:
    person: Person
    user_id: str
    manager_id: str | None


@dataclass(frozen=True)
class AvatarFile:
    path: str
    sha256: str
    content_type: str


@dataclass(frozen=True)
class MirrorProfile:
    """Push a person's public fields and avatar to their Matrix profile (`provisioning.mirror`).

    `fields` are the ones to set, `removed` the ones to delete, `wanted` all that should be
    there afterwards (recorded once pushed)."""

    user_id: str
    fields: tuple[tuple[str, Any], ...]
    removed: tuple[str, ...]
    avatar: AvatarFile | None
    wanted: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class MarkLeft:
    user_id: str


@dataclass(frozen=True)
class SaveUnit:
    key: str
    name: str
    organisation: str
    parent: str | None


@dataclass(frozen=True)
class DeleteUnit:
    key: str


@dataclass(frozen=True)
class NameAccount:
    """Set Borough's service account's display name and, when it has none, its avatar."""

    user_id: str
    display_name: str
    avatar: AvatarFile | None = None


@dataclass(frozen=True)
class SaveOrganisation:
    key: str
    name: str


@dataclass(frozen=True)
class DeleteOrganisation:
    key: str


def partnership_shape(row: PartnershipRow) -> PartnershipShape:
    """A partnership as apply last wrote it, to compare with the desired one."""
    return PartnershipShape(
        name=row.name,
        description=row.description,
        organisations=tuple(row.organisations),
        units=tuple(row.units),
        people=tuple(row.people),
        leads=tuple(row.leads),
    )


@dataclass(frozen=True)
class SavePartnership:
    key: str
    partnership: PartnershipShape


@dataclass(frozen=True)
class DeletePartnership:
    key: str


Operation = (
    CreateUser
    | UpdateUser
    | DeactivateUser
    | CreateRoom
    | SetState
    | SetAlias
    | Join
    | Kick
    | SaveProfile
    | MirrorProfile
    | MarkLeft
    | SaveUnit
    | DeleteUnit
    | SaveOrganisation
    | DeleteOrganisation
    | SavePartnership
    | DeletePartnership
    | NameAccount
)

# Phases run in order; operations inside one phase run concurrently. Accounts come after
# rooms and state: the registry names a person before Synapse first sees their account, so
# onboarding (which runs when an account is made) already knows where they belong.
#: Borough's service account is named before it creates any room (Element names the creator).
PHASE_SERVICE_NAME = 0
PHASE_ROOMS, PHASE_STATE, PHASE_USERS, PHASE_JOINS, PHASE_REMOVALS, PHASE_PROFILES = (
    100,
    200,
    290,
    300,
    400,
    500,
)
#: Matrix profile mirroring runs after the app-database phases, on its own.
PHASE_MIRROR = 600


@dataclass(frozen=True)
class Change:
    phase: int
    group: str
    action: str  # "+" create, "~" update, "-" remove
    target: str
    detail: str
    op: Operation
    is_destructive: bool = False

    @property
    def sort_key(self) -> tuple[int, str, str, str]:
        return self.phase, self.group, self.target, self.detail


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    deactivate_leavers: bool = False


class Scope(Protocol):
    """The part of the network a plan is cut to (`provisioning.delegation.OrgScope`)."""

    @property
    def organisation(self) -> str: ...

    def covers(self, change: Change) -> bool: ...


class ProfileChanges(Protocol):
    """The Matrix profile changes for a network (`provisioning.mirror.ProfileMirroring`,
    `provisioning.space_avatars.SpaceAvatars`)."""

    def changes(self, network: DesiredNetwork) -> Iterable[Change]: ...


@dataclass(frozen=True)
class Plan:
    """What apply will do, in order, and what it holds back (with the option or command that
    would let it through). A value: `make_plan` builds it whole and nothing changes it."""

    changes: tuple[Change, ...] = ()
    held_back: tuple[tuple[Change, str], ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def destructive(self) -> list[Change]:
        return [c for c in self.changes if c.is_destructive]

    def phases(self) -> list[list[Change]]:
        by_phase: dict[int, list[Change]] = {}
        for change in self.changes:
            by_phase.setdefault(change.phase, []).append(change)
        return [by_phase[p] for p in sorted(by_phase)]

    def counts(self) -> Counter[str]:
        return Counter(c.action for c in self.changes)

    def summary(self) -> str:
        counts = self.counts()
        text = (
            f"{len(self.changes)} change{'' if len(self.changes) == 1 else 's'}: {counts['+']} to add, {counts['~']} to change, "
            f"{counts['-']} to remove"
        )
        if self.held_back:
            text += f"; {len(self.held_back)} held back"
        return text

    def within(self, scope: Scope) -> Plan:
        """Only `scope`'s changes; the rest is left to the main file's admins."""
        outside = sum(not scope.covers(c) for c in self.changes)
        warnings = self.warnings
        if outside:
            warnings += (
                f"{outside} change{'s' if outside != 1 else ''} outside "
                f"'{scope.organisation}' left for the admins of the main org file",
            )
        return Plan(
            changes=tuple(c for c in self.changes if scope.covers(c)),
            held_back=tuple((c, needs) for c, needs in self.held_back if scope.covers(c)),
            warnings=warnings,
        )

    def raise_if_unsafe(self, threshold: int, *, force: bool = False, remedy: str) -> None:
        """Refuse a plan that removes or demotes more than `threshold` things, unless forced;
        `remedy` tells the operator what to do instead."""
        if len(self.destructive) > threshold and not force:
            raise Refused(
                f"this plan removes or demotes {len(self.destructive)} things, more than "
                f"the threshold of {threshold}{remedy}"
            )


def make_plan(
    desired: DesiredNetwork,
    live: LiveNetwork,
    options: PlanOptions,
    *,
    suspended: Collection[str] = frozenset(),
    mirror: ProfileChanges | None = None,
    spaces: ProfileChanges | None = None,
    scope: Scope | None = None,
) -> Plan:
    """The one planning step, pure: the diff between `desired` and `live`, with the Matrix
    profile changes of `mirror` and the space avatars of `spaces`, the joins of `suspended`
    people held back, cut to `scope` (the whole network when None). People whose accounts
    were erased are left out."""
    desired, warnings = leave_out_erased(desired, live)
    planner = _Planner(desired, live, options)
    planner.warnings += warnings
    planner.users()
    planner.rooms()
    planner.profiles()
    planner.units()
    planner.organisations()
    planner.partnerships()
    if mirror is not None:
        planner.changes += mirror.changes(desired)
    if spaces is not None:
        planner.changes += spaces.changes(desired)
    planner.hold_back(suspended)
    plan = Plan(
        tuple(sorted(planner.changes, key=lambda c: c.sort_key)),
        tuple(planner.held_back),
        tuple(planner.warnings),
    )
    return plan if scope is None else plan.within(scope)


def joining(desired: DesiredNetwork, live: LiveNetwork) -> list[str]:
    """The people with an account already whom a plan would join to rooms (an account the
    plan creates cannot be suspended yet): the only ones whose suspension it must know."""
    wanted: set[str] = set()
    for room in desired.rooms.values():
        if room.manages_members:
            present = live.rooms[room.key].members if room.key in live.rooms else set()
            wanted |= room.members - present
    return sorted(wanted & set(live.users))


def leave_out_erased(
    desired: DesiredNetwork, live: LiveNetwork
) -> tuple[DesiredNetwork, list[str]]:
    """People still in the chart whose accounts were erased (`borough person erase`) are left
    out: bringing an erased account back would undo a person's right to erasure."""
    erased = {
        uid
        for uid in desired.users
        if (user := live.users.get(uid)) is not None and user.is_deactivated and user.is_erased
    }
    warnings = [
        f"{uid} was erased (borough person erase) and is left out: remove them from the org "
        "chart, or give the person a new username"
        for uid in sorted(erased)
    ]
    return desired.without(erased), warnings


class _Planner:
    def __init__(self, desired: DesiredNetwork, live: LiveNetwork, options: PlanOptions) -> None:
        self.desired, self.live, self.options = desired, live, options
        self.changes: list[Change] = []
        self.held_back: list[tuple[Change, str]] = []
        self.warnings: list[str] = []
        managed_people = {uid for uid, p in live.profiles.items() if p.is_managed}
        self.managed_people = managed_people | set(desired.users)
        self._listers: dict[str, list[LiveRoom]] | None = None
        #: room id -> Borough key of the live rooms, once asked for.
        self._keys: dict[str, str] | None = None

    def add(self, change: Change, needs: str | None = None) -> None:
        if needs is not None:
            self.held_back.append((change, needs))
        else:
            self.changes.append(change)

    def hold_back(self, suspended: Collection[str]) -> None:
        """Synapse refuses every join of a suspended person, so their joins wait, listed as
        held back, until someone unsuspends them."""
        if not suspended:
            return
        kept: list[Change] = []
        for change in self.changes:
            if isinstance(change.op, Join) and change.op.user_id in suspended:
                self.held_back.append((change, "borough moderate unsuspend"))
            else:
                kept.append(change)
        self.changes = kept

    def destructive(self, change: Change, guards_seal: bool = False) -> None:
        """Held back until `--prune`, unless a seal is decided from it: someone taken out of
        a sealed room's audience, or out of an organisation's admins, loses access in the same
        apply (it still counts towards the destructive threshold)."""
        self.add(change, needs=None if self.options.prune or guards_seal else "--prune")

    # --- users ---------------------------------------------------------------------------

    def users(self) -> None:
        for uid, user in sorted(self.desired.users.items()):
            live = self.live.users.get(uid)
            if live is None:
                self.add(
                    Change(PHASE_USERS, "users", "+", uid, user.display_name, CreateUser(user))
                )
                continue
            profile = self.live.profiles.get(uid)
            differences = []
            if live.display_name != user.display_name:
                differences.append(f"display name '{live.display_name}' → '{user.display_name}'")
            if profile is not None and profile.email != user.email:
                differences.append(f"email {profile.email or '(none)'} → {user.email or '(none)'}")
            if live.is_deactivated:
                differences.append("reactivate")
            if differences:
                self.add(
                    Change(
                        PHASE_USERS,
                        "users",
                        "~",
                        uid,
                        "; ".join(differences),
                        UpdateUser(user, reactivate=live.is_deactivated),
                    )
                )
        service = self.live.users.get(self.desired.service_user)
        if service is not None and (
            service.display_name != SERVICE_DISPLAY_NAME or service.avatar_url is None
        ):
            avatar = service_avatar() if service.avatar_url is None else None
            details = []
            if service.display_name != SERVICE_DISPLAY_NAME:
                details.append(f"display name '{service.display_name}' → '{SERVICE_DISPLAY_NAME}'")
            if avatar is not None:
                details.append(f"avatar {SERVICE_AVATAR.name}")
            self.add(
                Change(
                    PHASE_SERVICE_NAME,
                    "users",
                    "~",
                    service.user_id,
                    "; ".join(details),
                    NameAccount(service.user_id, SERVICE_DISPLAY_NAME, avatar),
                )
            )
        for uid, profile in sorted(self.live.profiles.items()):
            if profile.is_managed and profile.left_at is None and uid not in self.desired.users:
                change = Change(
                    PHASE_REMOVALS,
                    "users",
                    "-",
                    uid,
                    "left the org chart: deactivate",
                    DeactivateUser(uid),
                    is_destructive=True,
                )
                self.add(
                    change, None if self.options.deactivate_leavers else "--deactivate-leavers"
                )

    # --- rooms ---------------------------------------------------------------------------

    def rooms(self) -> None:
        desired_rooms = sorted(self.desired.rooms.values(), key=lambda r: (r.depth, r.key))
        for room in desired_rooms:
            live = self.live.rooms.get(room.key)
            group = _group(room)
            if live is None:
                self.add(
                    Change(
                        PHASE_ROOMS + room.depth,
                        group,
                        "+",
                        room.key,
                        f"'{room.name}' #{room.alias}"
                        if room.publishes_address
                        else f"'{room.name}' (sealed, no address)",
                        self.create_op(room),
                    )
                )
                if room.parent_key:
                    self.link(room)
                for space in room.open_to:
                    self.link(room, space)
                for event_type, state_key, content in self.managed_state(room):
                    if event_type in REGISTRY_TYPES:
                        op = SetState(room.key, event_type, state_key, content)
                        self.add(Change(PHASE_STATE, group, "+", state_key, "registered", op))
                if (meeting := standing_meeting(room, self.desired)) is not None:
                    op = SetState(room.key, events.WIDGETS, meeting.state_key, meeting)
                    self.add(Change(PHASE_STATE, group, "+", room.key, "standing meeting", op))
            else:
                self.update_room(room, live)
            self.memberships(room, live)
        for key, live in sorted(self.live.rooms.items()):
            if key not in self.desired.rooms and not live.is_retired:
                self.retire(live)
        for duplicate in self.live.duplicates:
            self.warnings.append(
                f"room {duplicate.room_id} duplicates '{duplicate.key}' "
                f"(kept {self.live.rooms[duplicate.key].room_id}); it is not managed"
            )

    def alias(self, room: DesiredRoom) -> str:
        return f"#{room.alias}:{self.desired.server_name}"

    def join_rules(self, room: DesiredRoom) -> dict[str, Any]:
        if room.join_rule == "restricted" and room.parent_key:
            spaces = (room.parent_key, *room.open_to)
            return {
                "join_rule": "restricted",
                "allow": [{"type": "m.room_membership", "room_id": self.ref(s)} for s in spaces],
            }
        return {"join_rule": "invite" if room.join_rule == "restricted" else room.join_rule}

    def restricted_to(self, room: DesiredRoom) -> list[DesiredRoom]:
        """The spaces whose members may join `room` by themselves (see `join_rules`), as far
        as the chart places people in them."""
        if room.join_rule != "restricted" or not room.parent_key:
            return []
        keys = (room.parent_key, *room.open_to)
        return [
            self.desired.rooms[k]
            for k in keys
            if k in self.desired.rooms and self.desired.rooms[k].manages_members
        ]

    def ref(self, key: str) -> str | RoomRef:
        return self.live.room_id(key) or RoomRef(key)

    def managed_state(self, room: DesiredRoom) -> list[tuple[str, str, Any]]:
        state: list[tuple[str, str, Any]] = [
            (events.MANAGED, "", room.managed_content()),
            ("m.room.join_rules", "", self.join_rules(room)),
            ("m.room.history_visibility", "", {"history_visibility": "shared"}),
            # Every person has an account; `private_chat` would let guests in.
            ("m.room.guest_access", "", {"guest_access": "forbidden"}),
            ("m.room.name", "", {"name": room.name}),
        ]
        if room.publishes_address:
            state.append(("m.room.canonical_alias", "", {"alias": self.alias(room)}))
        if room.topic:
            state.append(("m.room.topic", "", {"topic": room.topic}))
        if room.channel:
            state.append((events.CHANNEL, "", room.channel.content()))
        if room.blog:
            state.append((events.BLOG, "", room.blog.content()))
        if room.policy:
            state.append((events.POLICY, "", room.policy.content(self.ref)))
        state += [(e.event_type, e.state_key, e.content(self.ref)) for e in room.registry]
        if room.widgets and self.desired.widget_url:
            for widget in room.widgets:
                content = widget.content(self.desired.widget_url, self.desired.service_user)
                state.append((events.WIDGETS, widget.widget_id, content))
        meeting = standing_meeting(room, self.desired)
        if meeting is not None and (room_id := self.live.room_id(room.key)) is not None:
            state.append((events.WIDGETS, meeting.state_key, meeting.content(room_id)))
        return state

    def widget_layout(self, room: DesiredRoom, live: LiveRoom | None) -> dict[str, Any] | None:
        """Where Borough's widgets go (the side panel), or None when each is already placed."""
        if not room.widgets or not self.desired.widget_url:
            return None
        current = live.content(events.WIDGET_LAYOUT, "") if live else None
        return side_panel_layout(current, [w.widget_id for w in room.widgets])

    def create_op(self, room: DesiredRoom) -> CreateRoom:
        state: list[StateEvent] = [
            s for s in self.managed_state(room) if s[0] not in ("m.room.name", "m.room.topic")
        ]
        state = [s for s in state if s[0] not in ("m.room.canonical_alias", *REGISTRY_TYPES)]
        if (layout := self.widget_layout(room, None)) is not None:
            state.append((events.WIDGET_LAYOUT, "", layout))
        if room.parent_key:
            parent = self.ref(room.parent_key)
            state.append((events.SPACE_PARENT, parent, self.via(canonical=True)))
        return CreateRoom(room, tuple(state), events.power_levels(dict(room.power_users)))

    def via(self, canonical: bool = False) -> dict[str, Any]:
        content: dict[str, Any] = {"via": [self.desired.server_name]}
        if canonical:
            content["canonical"] = True
        return content

    def link(self, room: DesiredRoom, space: str | None = None) -> None:
        """List `room` in its parent, or in `space`, one of the spaces it is open to."""
        space = space or room.parent_key
        assert space is not None
        self.add(
            Change(
                PHASE_STATE,
                "links",
                "+",
                space,
                f"child {room.key}",
                SetState(space, events.SPACE_CHILD, self.ref(room.key), self.via()),
            )
        )

    def listed_by(self, room: LiveRoom) -> list[LiveRoom]:
        """The managed spaces that list `room` as a child, in a stable order."""
        if self._listers is None:
            self._listers = {}
            for space in sorted(self.live.rooms.values(), key=lambda r: r.key):
                for (event_type, child), content in space.state.items():
                    if event_type == events.SPACE_CHILD and content.get("via"):
                        self._listers.setdefault(child, []).append(space)
        return self._listers.get(room.room_id, [])

    def listings(self, room: DesiredRoom, live: LiveRoom) -> None:
        """A channel is listed in the spaces it is open to, and in no other but its parent:
        a listing left behind when a channel is sealed would name it to outsiders."""
        for key in room.open_to:
            space = self.live.rooms.get(key)
            if space is None or not (space.content(events.SPACE_CHILD, live.room_id) or {}).get(
                "via"
            ):
                self.link(room, key)
        if room.channel is None:
            return
        kept = {room.parent_key, *room.open_to, *(p.key for p in self.live.parents(live))}
        for lister in self.listed_by(live):
            if lister.key not in kept:
                # A sealed channel's stale listing names it to outsiders: gone at once.
                self.unlink_child(lister, live, guards_seal=room.policy is not None)

    def update_room(self, room: DesiredRoom, live: LiveRoom) -> None:
        group = _group(room)
        for event_type, state_key, content in self.managed_state(room):
            current = live.content(event_type, state_key)
            if content != current and not _same_enough(event_type, content, current):
                if event_type == "m.room.canonical_alias":
                    op: Operation = SetAlias(room.key, self.alias(room))
                else:
                    op = SetState(room.key, event_type, state_key, content)
                target = state_key if event_type in REGISTRY_TYPES else room.key
                detail = describe_state_change(
                    event_type, self.owners_by_key(current), self.owners_by_key(content)
                )
                self.add(Change(PHASE_STATE, group, "~", target, detail, op))
        if not room.publishes_address and self.alias(room) in _aliases(live):
            withdraw = SetAlias(room.key, self.alias(room), withdraw=True)
            detail = f"address {self.alias(room)} (a sealed room has none)"
            self.add(Change(PHASE_STATE, group, "-", room.key, detail, withdraw))
        self.unregister(room, live)
        if (layout := self.widget_layout(room, live)) is not None:
            op = SetState(room.key, events.WIDGET_LAYOUT, "", layout)
            self.add(Change(PHASE_STATE, group, "~", room.key, "widgets pinned", op))
        if live.federate != room.federate:
            self.warnings.append(
                f"{room.key}: m.federate is {live.federate} but should be {room.federate}; "
                "it is fixed at creation, so the room must be recreated"
            )
        self.power(room, live)
        self.listings(room, live)
        if room.parent_key:
            parent = self.live.rooms.get(room.parent_key)
            parent_link = live.content(events.SPACE_PARENT, parent.room_id) if parent else None
            child_link = parent.content(events.SPACE_CHILD, live.room_id) if parent else None
            if parent is None or not (child_link or {}).get("via"):
                self.link(room)
            if parent is None or not (parent_link or {}).get("via"):
                self.add(
                    Change(
                        PHASE_STATE,
                        "links",
                        "+",
                        room.key,
                        f"parent {room.parent_key}",
                        SetState(
                            room.key, events.SPACE_PARENT, self.ref(room.parent_key), self.via(True)
                        ),
                    )
                )
        for stale_parent in self.live.parents(live):
            if stale_parent.key != room.parent_key:
                self.destructive(
                    Change(
                        PHASE_REMOVALS,
                        "links",
                        "-",
                        room.key,
                        f"parent {stale_parent.key}",
                        SetState(room.key, events.SPACE_PARENT, stale_parent.room_id, {}),
                        is_destructive=True,
                    )
                )
                self.unlink_child(stale_parent, live)

    def owners_by_key(self, content: Any) -> Any:
        """A person's registry entry with its sealed owners named by Borough key, for the plan's
        line: `sealed_owners +'unit/smt'` says more than a room id does."""
        owners = content.get(events.REGISTRY_SEALED_OWNERS) if isinstance(content, dict) else None
        if not isinstance(owners, list):
            return content
        if self._keys is None:
            self._keys = {room.room_id: key for key, room in self.live.rooms.items()}
        named = [
            o.key if isinstance(o, RoomRef) else self._keys.get(o, o) if isinstance(o, str) else o
            for o in owners
        ]
        return {**content, events.REGISTRY_SEALED_OWNERS: named}

    def unregister(self, room: DesiredRoom, live: LiveRoom) -> None:
        """Registry entries gone from the chart (a leaver, a dropped email domain) are emptied
        at once: the modules must stop placing anyone by them, so this is never held back."""
        wanted = {(e.event_type, e.state_key) for e in room.registry}
        for (event_type, state_key), content in sorted(live.state.items()):
            if event_type in REGISTRY_TYPES and content and (event_type, state_key) not in wanted:
                op = SetState(room.key, event_type, state_key, {})
                self.add(Change(PHASE_STATE, "registry", "-", state_key, "unregistered", op))

    def unlink_child(self, parent: LiveRoom, child: LiveRoom, guards_seal: bool = False) -> None:
        if parent.content(events.SPACE_CHILD, child.room_id):
            self.destructive(
                Change(
                    PHASE_REMOVALS,
                    "links",
                    "-",
                    parent.key,
                    f"child {child.key}",
                    SetState(parent.key, events.SPACE_CHILD, child.room_id, {}),
                    is_destructive=True,
                ),
                guards_seal=guards_seal,
            )

    def power(self, room: DesiredRoom, live: LiveRoom) -> None:
        current = live.content("m.room.power_levels") or {}
        users: dict[str, int] = dict(current.get("users", {}))
        wanted = dict(room.power_users)
        raised = {u: lvl for u, lvl in wanted.items() if users.get(u, 0) < lvl}
        lowered = {
            u: wanted.get(u, 0)
            for u, lvl in users.items()
            if u != self.desired.service_user
            and lvl > wanted.get(u, 0)
            and u in self.managed_people
        }
        current_events: dict[str, Any] = dict(current.get("events", {}))
        guarded = {
            t: events.ADMIN
            for t in events.ADMIN_ONLY_STATE
            if required_level(current, t) < events.ADMIN
        }
        if raised or guarded:
            new = {**current, "users": {**users, **raised}}
            if guarded:
                new["events"] = {**current_events, **guarded}
            detail = ", ".join(
                [f"{u} → {lvl}" for u, lvl in sorted(raised.items())]
                + ([f"admin-only {', '.join(sorted(guarded))}"] if guarded else [])
            )
            self.add(
                Change(
                    PHASE_STATE,
                    "power",
                    "~",
                    room.key,
                    detail,
                    SetState(room.key, "m.room.power_levels", "", new),
                )
            )
            users = new["users"]
            current = new
        if lowered:
            demoted = {u: lvl for u, lvl in users.items() if u not in lowered}
            demoted.update({u: lvl for u, lvl in lowered.items() if lvl > 0})
            detail = ", ".join(f"{u} {users[u]} → {lvl}" for u, lvl in sorted(lowered.items()))
            self.destructive(
                Change(
                    PHASE_REMOVALS,
                    "power",
                    "-",
                    room.key,
                    "demote " + detail,
                    SetState(room.key, "m.room.power_levels", "", {**current, "users": demoted}),
                    is_destructive=True,
                ),
                guards_seal=room.guards_seal,
            )

    def memberships(self, room: DesiredRoom, live: LiveRoom | None) -> None:
        present = live.members if live else set()
        if not room.manages_members:
            return
        through = self.restricted_to(room)
        for uid in sorted(room.members - present):
            self.add(
                Change(
                    PHASE_JOINS + room.depth,
                    "members",
                    "+",
                    uid,
                    f"join {room.key}",
                    Join(uid, room.key, any(uid in space.members for space in through)),
                )
            )
        for uid in sorted(
            (present & self.managed_people) - room.members - {self.desired.service_user}
        ):
            self.destructive(
                Change(
                    PHASE_REMOVALS,
                    "members",
                    "-",
                    uid,
                    f"remove from {room.key}",
                    Kick(uid, room.key),
                    is_destructive=True,
                ),
                guards_seal=room.guards_seal,
            )

    def retire(self, live: LiveRoom) -> None:
        """A managed room gone from the YAML keeps its history; it is unlinked and marked."""
        content = {**(live.content(events.MANAGED) or {}), "retired": True}
        self.destructive(
            Change(
                PHASE_REMOVALS,
                "retired",
                "-",
                live.key,
                "no longer in the org chart: retire",
                SetState(live.key, events.MANAGED, "", content),
                is_destructive=True,
            )
        )
        parents = self.live.parents(live)
        named = {p.key for p in parents}
        for space in [*parents, *(s for s in self.listed_by(live) if s.key not in named)]:
            self.unlink_child(space, live)

    # --- units and profiles (app database) ----------------------------------------------

    def units(self) -> None:
        self.app_rows(
            "units",
            {key: (unit, unit[0]) for key, unit in self.desired.units.items()},
            {key: (row.name, row.organisation, row.parent) for key, row in self.live.units.items()},
            lambda key, unit: SaveUnit(key, *unit),
            DeleteUnit,
        )

    def organisations(self) -> None:
        """Organisation names in the app database, for the bot's cards and welcomes."""
        self.app_rows(
            "organisations",
            {key: (name, name) for key, name in self.desired.organisations.items()},
            {key: row.name for key, row in self.live.organisations.items()},
            SaveOrganisation,
            DeleteOrganisation,
        )

    def partnerships(self) -> None:
        """What each partnership joins, in the app database, for its org chart page."""
        self.app_rows(
            "partnerships",
            {key: (shape, shape.name) for key, shape in self.desired.partnerships.items()},
            {key: partnership_shape(row) for key, row in self.live.partnerships.items()},
            SavePartnership,
            DeletePartnership,
        )

    def app_rows(
        self,
        group: str,
        desired: Mapping[str, tuple[Any, str]],
        live: Mapping[str, Any],
        save: Callable[[str, Any], Operation],
        delete: Callable[[str], Operation],
    ) -> None:
        """Rows of the app database that mirror the chart: `desired` maps each key to its
        value and the name the plan shows; `live` to the value as last applied."""
        for key, (value, name) in sorted(desired.items()):
            if key not in live or live[key] != value:
                action = "~" if key in live else "+"
                self.add(Change(PHASE_PROFILES, group, action, key, name, save(key, value)))
        for key in sorted(set(live) - set(desired)):
            self.destructive(
                Change(
                    PHASE_PROFILES,
                    group,
                    "-",
                    key,
                    "no longer in the org chart",
                    delete(key),
                    is_destructive=True,
                )
            )

    def profiles(self) -> None:
        for uid, person in sorted(self.desired.people.items()):
            manager = self.desired.user_id(person.manager) if person.manager else None
            row = self.live.profiles.get(uid)
            differences = _profile_differences(row, person, manager)
            if differences:
                self.add(
                    Change(
                        PHASE_PROFILES,
                        "profiles",
                        "+" if row is None else "~",
                        uid,
                        differences,
                        SaveProfile(person, uid, manager),
                    )
                )
        for uid, row in sorted(self.live.profiles.items()):
            if row.is_managed and row.left_at is None and uid not in self.desired.people:
                if self.options.deactivate_leavers:
                    self.add(
                        Change(
                            PHASE_PROFILES,
                            "profiles",
                            "-",
                            uid,
                            "mark as left",
                            MarkLeft(uid),
                            is_destructive=True,
                        )
                    )


def _profile_differences(row: Profile | None, person: Person, manager: str | None) -> str:
    if row is None:
        return "new profile"
    wanted = {
        "display name": person.display_name,
        "email": person.email,
        "organisation": person.organisation,
        "units": list(person.units),
        "role": person.role,
        "job title": person.job_title,
        "manager": manager,
        "left": None,
    }
    have = {
        "display name": row.display_name,
        "email": row.email,
        "organisation": row.organisation,
        "units": list(row.units),
        "role": row.role,
        "job title": row.job_title,
        "manager": row.manager,
        "left": row.left_at,
    }
    changed = [name for name in wanted if wanted[name] != have[name]]
    org_fields = {f.name: (f.value, f.visibility) for f in row.fields if f.source == "org"}
    wanted_fields = {
        name: (list(f.value) if isinstance(f.value, tuple) else f.value, f.visibility)
        for name, f in person.profile.fields().items()
    }
    changed += [
        f"field {n}"
        for n in sorted(set(org_fields) | set(wanted_fields))
        if org_fields.get(n) != wanted_fields.get(n)
    ]
    return ", ".join(changed)


def _group(room: DesiredRoom) -> str:
    return {"space": "spaces", "room": "rooms", "channel": "channels", "registry": "registry"}[
        room.kind
    ]


#: State whose content Synapse enriches (e.g. `m.topic` beside `topic`): compare one field.
_KEY_FIELD = {
    "m.room.name": "name",
    "m.room.topic": "topic",
    "m.room.join_rules": None,
    "m.room.canonical_alias": "alias",
    "m.room.history_visibility": "history_visibility",
    "m.room.guest_access": "guest_access",
}


def _aliases(room: LiveRoom) -> list[str]:
    content = room.content("m.room.canonical_alias") or {}
    alt = content.get("alt_aliases")
    return [content.get("alias"), *(alt if isinstance(alt, list) else [])]


def _same_enough(event_type: str, wanted: Any, current: dict[str, Any] | None) -> bool:
    key = _KEY_FIELD.get(event_type)
    if key and current is not None and isinstance(wanted, dict):
        return bool(current.get(key) == wanted.get(key))
    return False


def service_avatar() -> AvatarFile:
    """The service account's shipped avatar, as a file apply uploads once."""
    data = SERVICE_AVATAR.read_bytes()
    return AvatarFile(str(SERVICE_AVATAR), hashlib.sha256(data).hexdigest(), "image/png")


def describe_state_change(event_type: str, current: Any, wanted: Any) -> str:
    """A state change as the fields that differ, old → new: `posters +@cat:hs`,
    `max_length 500 → 280`, never an opaque `(set) → (set)`."""
    key = _KEY_FIELD.get(event_type) or ("join_rule" if event_type == "m.room.join_rules" else None)
    if key and isinstance(current, dict) and isinstance(wanted, dict):
        if current.get(key) != wanted.get(key):
            old, new = current.get(key), wanted.get(key)
            return f"{event_type}: {_value(old, whole=True)} → {_value(new, whole=True)}"
    if not current:
        keyed = key and isinstance(wanted, dict)
        shown = _value(wanted.get(key), whole=True) if keyed else _fields(wanted)
        return f"{event_type}: (none) → {shown}"
    if not isinstance(current, dict) or not isinstance(wanted, dict):
        return f"{event_type}: {_value(current)} → {_value(wanted)}"
    differences = []
    for name in sorted(set(current) | set(wanted)):
        old, new = current.get(name), wanted.get(name)
        if old == new:
            continue
        if _is_list_or_none(old) and _is_list_or_none(new):
            added = [v for v in new or [] if v not in (old or [])]
            removed = [v for v in old or [] if v not in (new or [])]
            if added or removed:
                changes = [f"+{_value(v)}" for v in added] + [f"-{_value(v)}" for v in removed]
                differences.append(f"{name} {' '.join(changes)}")
                continue
        differences.append(f"{name} {_value(old)} → {_value(new)}")
    return f"{event_type}: {'; '.join(differences) or 'same fields, reordered'}"


def _is_list_or_none(value: Any) -> bool:
    return value is None or isinstance(value, list)


def _fields(content: Any) -> str:
    if isinstance(content, dict) and content:
        return ", ".join(f"{k} {_value(v)}" for k, v in sorted(content.items()))
    return _value(content)


def _value(value: Any, whole: bool = False) -> str:
    """One field's value, short enough for a plan line unless `whole` (a name, a topic)."""
    if isinstance(value, RoomRef):
        return f"(id of {value.key})"
    if value is None:
        return "(none)"
    if isinstance(value, str):
        text = repr(value)
    elif isinstance(value, list | tuple):
        text = "[" + ", ".join(_value(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = "{" + ", ".join(f"{k}: {_value(v)}" for k, v in sorted(value.items())) + "}"
    else:
        text = repr(value)
    return text if whole or len(text) <= 60 else text[:57] + "…"
