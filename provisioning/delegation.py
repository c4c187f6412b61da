"""Delegated partner admins: the part of the network that is one organisation's.

A partner admin plans and applies only their own organisation's part of the network: its
people, units, and the spaces and rooms under its organisation space, plus their own
people's memberships of shared rooms. Everything else in the plan is held back for the
main file's maintainers (`Plan.within`). Who administers which organisation is the kernel's
operator check (`borough.operator`). Pure: the chart, the desired and live networks in.
"""

from __future__ import annotations

from dataclasses import dataclass

from borough import events
from borough.live import LiveNetwork
from borough.network import REGISTRY, DesiredNetwork
from borough.org import OrgChart, OrgIndex
from provisioning.plan import (
    Change,
    CreateRoom,
    CreateUser,
    DeactivateUser,
    DeleteOrganisation,
    DeleteUnit,
    Join,
    Kick,
    MarkLeft,
    MirrorProfile,
    SaveOrganisation,
    SaveProfile,
    SaveUnit,
    SetAlias,
    SetState,
    UpdateUser,
)


@dataclass(frozen=True)
class OrgScope:
    """What belongs to one organisation: its people, units, room keys and email domains."""

    organisation: str
    people: frozenset[str]
    units: frozenset[str]
    rooms: frozenset[str]
    #: State keys of its registry entries: its people's usernames and its email domains.
    registry_keys: frozenset[str] = frozenset()

    def covers(self, change: Change) -> bool:
        op = change.op
        match op:
            case SetState(room_key=room_key, state_key=state_key) if room_key == REGISTRY:
                return state_key in self.registry_keys
            case CreateUser() | UpdateUser():
                return op.user.user_id in self.people
            case DeactivateUser() | MarkLeft():
                return op.user_id in self.people
            case SaveProfile() | MirrorProfile():
                return op.user_id in self.people
            case CreateRoom():
                return op.room.key in self.rooms
            case SetState() | SetAlias():
                return op.room_key in self.rooms
            case Join() | Kick():
                return op.room_key in self.rooms or op.user_id in self.people
            case SaveUnit() | DeleteUnit():
                return op.key in self.units
            case SaveOrganisation() | DeleteOrganisation():
                return op.key == self.organisation
        return False


def org_scope(
    chart: OrgChart, desired: DesiredNetwork, live: LiveNetwork, organisation: str
) -> OrgScope:
    """Everything of `organisation`, desired or still live (leavers, retired units)."""
    index = OrgIndex(chart)
    units = {
        unit.key
        for unit in chart.units
        if (owner := index.organisation_of(unit)) is not None and owner.key == organisation
    }
    units |= {key for key, row in live.units.items() if row.organisation == organisation}
    people = {
        desired.user_id(person.username)
        for person in chart.people
        if person.organisation == organisation
    }
    people |= {uid for uid, row in live.profiles.items() if row.organisation == organisation}
    top = f"org/{organisation}"
    rooms = {top}
    parents = {key: room.parent_key for key, room in desired.rooms.items()}
    for key in desired.rooms:
        seen, cursor = set(), parents.get(key)
        while cursor is not None and cursor not in seen and cursor != top:
            seen.add(cursor)
            cursor = parents.get(cursor)
        if cursor == top:
            rooms.add(key)
    # Rooms gone from the chart keep their unit's key: `unit/<unit>/...`.
    rooms |= {
        key
        for key in live.rooms
        if key.startswith("unit/") and key.split("/")[1] in units and key not in desired.rooms
    }
    domains = {
        d.lower()
        for org in chart.organisations
        if org.key == organisation
        for d in org.email_domains
    }
    if (registry := live.rooms.get(REGISTRY)) is not None:
        domains |= {
            state_key
            for (event_type, state_key), content in registry.state.items()
            if event_type == events.REGISTRY_EMAIL_DOMAIN
            and content.get("organisation") == organisation
        }
    usernames = {uid[1:].partition(":")[0] for uid in people}
    return OrgScope(
        organisation,
        frozenset(people),
        frozenset(units),
        frozenset(rooms),
        frozenset(usernames | domains),
    )
