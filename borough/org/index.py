"""A resolved view of an org chart: references by key or by name, and derived membership.

`OrgIndex` assumes the chart has passed `borough.org.checks`; it is what the planner, the
Synapse modules and the bots read instead of walking the raw lists.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from functools import cached_property
from typing import Generic, TypeVar

from borough.org.model import (
    DEFAULT_ROOM_TEMPLATES,
    Channel,
    Organisation,
    OrgChart,
    Partnership,
    Person,
    RoomTemplate,
    Unit,
)

T = TypeVar("T")


class _Lookup(Generic[T]):
    """Finds a thing by its key, or by its name ignoring case."""

    def __init__(self, items: Iterable[T], key: str = "key", name: str | None = "name") -> None:
        self.by_key: dict[str, T] = {}
        self.by_name: dict[str, T] = {}
        for item in items:
            self.by_key.setdefault(getattr(item, key), item)
            if name:
                self.by_name.setdefault(getattr(item, name).casefold(), item)

    def get(self, ref: str) -> T | None:
        return self.by_key.get(ref) or self.by_name.get(ref.casefold())

    def __getitem__(self, ref: str) -> T:
        found = self.get(ref)
        if found is None:
            raise KeyError(ref)
        return found

    def names(self) -> list[str]:
        """Every spelling a reference may use, for 'did you mean'."""
        return [*self.by_key, *(getattr(i, "name", "") for i in self.by_key.values())]


class OrgIndex:
    def __init__(self, chart: OrgChart) -> None:
        self.chart = chart
        self.organisations = _Lookup[Organisation](chart.organisations)
        self.units = _Lookup[Unit](chart.units)
        self.people = _Lookup[Person](chart.people, key="username", name=None)
        self.partnerships = _Lookup[Partnership](chart.partnerships)
        self.channels = _Lookup[Channel](chart.channels)
        self.templates: dict[str, RoomTemplate] = {**DEFAULT_ROOM_TEMPLATES, **chart.room_templates}
        #: id(unit) -> its organisation, filled in by `organisation_of`
        self._organisation_of: dict[int, Organisation | None] = {}

    # --- units -----------------------------------------------------------------------------

    def parent_of(self, unit: Unit) -> Unit | None:
        return self.units.get(unit.parent) if unit.parent else None

    def ancestors(self, unit: Unit) -> Iterator[Unit]:
        """The unit's parents, nearest first. Stops on a cycle (which checks report)."""
        seen = {unit.key}
        parent = self.parent_of(unit)
        while parent is not None and parent.key not in seen:
            seen.add(parent.key)
            yield parent
            parent = self.parent_of(parent)

    def organisation_of(self, unit: Unit) -> Organisation | None:
        """The organisation the unit or its nearest ancestor names.

        Remembered for every unit on the way up, so asking it of every unit (as the checks
        and the planner do) walks each parent link once, not once per unit below it.
        """
        walked: list[Unit] = []
        on_walk: set[int] = set()
        found: Organisation | None = None
        current: Unit | None = unit
        while current is not None and id(current) not in on_walk:
            if id(current) in self._organisation_of:
                found = self._organisation_of[id(current)]
                break
            walked.append(current)
            if current.organisation:
                found = self.organisations.get(current.organisation)
                break
            on_walk.add(id(current))  # a cycle naming no organisation ends the walk
            current = self.parent_of(current)
        for passed in walked:
            self._organisation_of[id(passed)] = found
        return found

    @cached_property
    def children(self) -> dict[str, list[Unit]]:
        children: dict[str, list[Unit]] = {u.key: [] for u in self.chart.units}
        for unit in self.chart.units:
            parent = self.parent_of(unit)
            if parent is not None:
                children[parent.key].append(unit)
        return children

    def descendants(self, unit: Unit) -> Iterator[Unit]:
        stack, seen = list(self.children.get(unit.key, ())), {unit.key}
        while stack:
            child = stack.pop()
            if child.key in seen:
                continue
            seen.add(child.key)
            yield child
            stack.extend(self.children.get(child.key, ()))

    def depth(self, unit: Unit) -> int:
        return sum(1 for _ in self.ancestors(unit))

    def unit_rooms(self, unit: Unit) -> tuple[str, ...]:
        return unit.rooms if unit.rooms is not None else self.chart.defaults.unit_rooms

    def partnership_rooms(self, partnership: Partnership) -> tuple[str, ...]:
        if partnership.rooms is not None:
            return partnership.rooms
        return self.chart.defaults.partnership_rooms

    # --- people ----------------------------------------------------------------------------

    def units_of(self, person: Person) -> list[Unit]:
        return [u for ref in person.units if (u := self.units.get(ref)) is not None]

    @cached_property
    def direct_members(self) -> dict[str, list[Person]]:
        members: dict[str, list[Person]] = {u.key: [] for u in self.chart.units}
        for person in self.chart.people:
            for unit in self.units_of(person):
                members[unit.key].append(person)
        return members

    def members_of_unit(self, unit: Unit) -> list[Person]:
        """People of the unit and of every unit below it, each once, in file order."""
        # From the direct members of each unit below, not a scan of everyone: the network of a
        # 2,000-person chart asks this for every unit and room.
        found = {
            id(person): person
            for u in (unit, *self.descendants(unit))
            for person in self.direct_members.get(u.key, ())
        }
        return sorted(found.values(), key=lambda person: self._file_order[id(person)])

    @cached_property
    def _file_order(self) -> dict[int, int]:
        return {id(person): n for n, person in enumerate(self.chart.people)}

    def people_of_organisation(self, organisation: Organisation) -> list[Person]:
        return [
            p
            for p in self.chart.people
            if (o := self.organisations.get(p.organisation)) is not None
            and o.key == organisation.key
        ]

    def members_of_partnership(self, partnership: Partnership) -> list[Person]:
        orgs = {o.key for ref in partnership.organisations if (o := self.organisations.get(ref))}
        unit_keys: set[str] = set()
        for ref in partnership.units:
            if (unit := self.units.get(ref)) is not None:
                unit_keys |= {unit.key, *(u.key for u in self.descendants(unit))}
        named = {*partnership.people, *partnership.leads}  # a lead is always a member
        return [
            p
            for p in self.chart.people
            if p.username in named
            or (self.organisations.get(p.organisation) or _NO_ORG).key in orgs
            or any(u.key in unit_keys for u in self.units_of(p))
        ]

    def posters_of(self, channel: Channel, audience: Iterable[Person]) -> list[Person]:
        """Who may post top-level: the named people, and the audience holding a poster role."""
        named = set(channel.posters.people)
        roles = set(channel.posters.roles)
        audience = list(audience)
        posters = [p for p in audience if p.role in roles or p.username in named]
        posters += [
            p for ref in named if (p := self.people.get(ref)) is not None and p not in posters
        ]
        return posters

    def audience_of(self, channel: Channel) -> list[Person]:
        if channel.owner.unit is not None:
            unit = self.units.get(channel.owner.unit)
            return self.members_of_unit(unit) if unit else []
        partnership = self.partnerships.get(channel.owner.partnership or "")
        return self.members_of_partnership(partnership) if partnership else []


_NO_ORG = Organisation(key="none", name="none", kind="other")
