"""Delegated partner admins: who administers which organisation, and a plan cut to one of them.

A partner admin plans and applies only their own organisation's part of the network: its
people, units, and the spaces and rooms under its organisation space, plus their own
people's memberships of shared rooms. Everything else in the plan is held back for the
main file's maintainers. Pure: the chart, the desired and live networks in, a `Plan` out.
"""

from __future__ import annotations

from dataclasses import dataclass

from borough.network import DesiredNetwork
from borough.org import OrgChart, OrgIndex
from provisioning.live import LiveNetwork
from provisioning.plan import (
    Change,
    CreateRoom,
    CreateUser,
    DeactivateUser,
    DeleteUnit,
    Join,
    Kick,
    MarkLeft,
    Plan,
    SaveProfile,
    SaveUnit,
    SetAlias,
    SetState,
    UpdateUser,
)


class NotAnAdmin(Exception):
    """The operator does not administer the organisation they asked to act on."""


class UnknownOrganisation(Exception):
    """The org chart has no organisation with that key."""


def admin_user_ids(chart: OrgChart, organisation: str, server_name: str) -> frozenset[str]:
    org = OrgIndex(chart).organisations.get(organisation)
    if org is None:
        return frozenset()
    return frozenset(f"@{username}:{server_name}" for username in org.admins)


def organisations_administered(chart: OrgChart, user_id: str, server_name: str) -> list[str]:
    """The keys of the organisations that `user_id` administers, in file order."""
    return [
        org.key
        for org in chart.organisations
        if user_id in admin_user_ids(chart, org.key, server_name)
    ]


def check_admin(chart: OrgChart, organisation: str, user_id: str, server_name: str) -> None:
    """Raise `NotAnAdmin` (or `UnknownOrganisation`), with a sentence for the operator, unless
    they administer the organisation."""
    known = [org.key for org in chart.organisations]
    if organisation not in known:
        raise UnknownOrganisation(
            f"there is no organisation '{organisation}' in the org chart "
            f"(known: {', '.join(known)})"
        )
    if user_id not in admin_user_ids(chart, organisation, server_name):
        theirs = organisations_administered(chart, user_id, server_name)
        hint = (
            f"; you administer {', '.join(theirs)}"
            if theirs
            else "; an organisation's admins are listed under its 'admins:' in the org chart"
        )
        raise NotAnAdmin(f"{user_id} is not an admin of '{organisation}'{hint}")


@dataclass(frozen=True)
class OrgScope:
    """What belongs to one organisation: its people, units and room keys."""

    organisation: str
    people: frozenset[str]
    units: frozenset[str]
    rooms: frozenset[str]

    def covers(self, change: Change) -> bool:
        op = change.op
        match op:
            case CreateUser() | UpdateUser():
                return op.user.user_id in self.people
            case DeactivateUser() | MarkLeft():
                return op.user_id in self.people
            case SaveProfile():
                return op.user_id in self.people
            case CreateRoom():
                return op.room.key in self.rooms
            case SetState() | SetAlias():
                return op.room_key in self.rooms
            case Join() | Kick():
                return op.room_key in self.rooms or op.user_id in self.people
            case SaveUnit() | DeleteUnit():
                return op.key in self.units
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
    return OrgScope(organisation, frozenset(people), frozenset(units), frozenset(rooms))


def scoped_plan(plan: Plan, scope: OrgScope) -> Plan:
    """`plan` with only `scope`'s changes; the rest is left to the main file's admins."""
    outside = [c for c in plan.changes if not scope.covers(c)]
    warnings = list(plan.warnings)
    if outside:
        warnings.append(
            f"{len(outside)} change{'s' if len(outside) != 1 else ''} outside "
            f"'{scope.organisation}' left for the admins of the main org file"
        )
    return Plan(
        changes=[c for c in plan.changes if scope.covers(c)],
        held_back=[(c, needs) for c, needs in plan.held_back if scope.covers(c)],
        warnings=warnings,
    )
