"""Cross-reference checks over a shape-valid org chart.

Each check yields `(path, message)` pairs; the loader turns paths into `file:line:col`.
Everything is reported at once, so an admin fixes a file in one pass.
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from borough.org.index import OrgIndex, _Lookup
from borough.org.model import OrgChart

Finding = tuple[tuple[str | int, ...], str]


#: Candidate names that "did you mean" may compare in one check of a chart or an HR file.
#: difflib takes 10-25 µs a comparison, so 1,500 broken references among 5,000 names would
#: take minutes; within the budget the first broken references get their hint (a file with
#: a few typos gets every hint), and the rest are still reported, without one.
HINT_BUDGET = 50_000
#: A cycle longer than this is shown by its first names and a count.
CYCLE_SHOWN = 4


def did_you_mean(ref: str, candidates: Iterable[str]) -> str:
    by_fold = {c.casefold(): c for c in candidates if c}
    close = difflib.get_close_matches(ref.casefold(), list(by_fold), n=1, cutoff=0.6)
    return f" — did you mean '{by_fold[close[0]]}'?" if close else ""


class Hints:
    """ "Did you mean" for many references, within `HINT_BUDGET` comparisons in all."""

    def __init__(self, budget: int = HINT_BUDGET) -> None:
        self.budget = budget
        self._given: dict[tuple[str, str], str] = {}
        self._names: dict[str, list[str]] = {}

    def did_you_mean(self, ref: str, candidates: Sequence[str], topic: str = "") -> str:
        """`did_you_mean`, once per `ref` of a `topic`, while the budget lasts."""
        key = (topic, ref)
        if key not in self._given:
            affordable = len(candidates) <= self.budget
            if affordable:
                self.budget -= len(candidates)
            self._given[key] = did_you_mean(ref, candidates) if affordable else ""
        return self._given[key]

    def unknown(self, what: str, ref: str, lookup: _Lookup[Any]) -> str:
        names = self._names.get(what)
        if names is None:
            names = self._names[what] = lookup.names()
        return f"unknown {what} '{ref}'{self.did_you_mean(ref, names, what)}"


def check_org_chart(chart: OrgChart) -> list[Finding]:
    index = OrgIndex(chart)
    hints = Hints()
    return [
        *_duplicates(chart),
        *_aliases(index),
        *_organisations(index, hints),
        *_units(index, hints),
        *_people(index, hints),
        *_partnerships(index, hints),
        *_channels(index, hints),
        *_templates(index),
    ]


def _cycles(order: Iterable[str], next_of: Mapping[str, str]) -> Iterator[tuple[str, str]]:
    """Each node on a cycle, and the cycle read from it, in a graph where each node leads to
    at most one other (a unit to its parent, a person to their manager).

    Each node is walked once, and each text holds at most `CYCLE_SHOWN` names, so this is
    linear however long the cycles are. A node that leads to itself is no cycle here: the
    checks say "its own parent" of it.
    """
    walked: dict[str, int] = {}
    for walk, start in enumerate(order):
        node: str | None = start
        path = []
        while node is not None and node not in walked:
            walked[node] = walk
            path.append(node)
            node = next_of.get(node)
        if node is not None and walked[node] == walk:
            cycle = path[path.index(node) :]
            if len(cycle) > 1:
                for k, member in enumerate(cycle):
                    yield member, _cycle_text(cycle, k)


def _cycle_text(cycle: list[str], start: int) -> str:
    """The cycle from its `start`th node: `b → c → a → b`, or, when long, its first names
    and how many more."""
    size = len(cycle)
    shown = size if size <= CYCLE_SHOWN + 1 else CYCLE_SHOWN
    names = [cycle[(start + k) % size] for k in range(shown)]
    if shown < size:
        names.append(f"… and {size - shown:,} more")
    return " → ".join([*names, cycle[start]])


def _duplicates(chart: OrgChart) -> Iterator[Finding]:
    lists: list[tuple[str, str, tuple[object, ...]]] = [
        ("organisations", "key", chart.organisations),
        ("units", "key", chart.units),
        ("people", "username", chart.people),
        ("partnerships", "key", chart.partnerships),
        ("channels", "key", chart.channels),
    ]
    for section, attr, items in lists:
        first: dict[str, int] = {}
        for i, item in enumerate(items):
            value = getattr(item, attr)
            if value in first:
                yield (
                    (section, i, attr),
                    (f"duplicate {attr} '{value}' (first used at {section}[{first[value]}])"),
                )
            else:
                first[value] = i
    names = Counter(u.name.casefold() for u in chart.units)
    keys = {u.key for u in chart.units}
    for path, ref in _unit_refs(chart):
        if ref not in keys and names[ref.casefold()] > 1:
            yield path, f"'{ref}' names {names[ref.casefold()]} units; refer to the unit by its key"


def _unit_refs(chart: OrgChart) -> Iterator[tuple[tuple[str | int, ...], str]]:
    for i, unit in enumerate(chart.units):
        if unit.parent:
            yield ("units", i, "parent"), unit.parent
    for i, person in enumerate(chart.people):
        for j, ref in enumerate(person.units):
            yield ("people", i, "units", j), ref
    for i, partnership in enumerate(chart.partnerships):
        for j, ref in enumerate(partnership.units):
            yield ("partnerships", i, "units", j), ref
    for i, channel in enumerate(chart.channels):
        if channel.owner.unit:
            yield ("channels", i, "owner", "unit"), channel.owner.unit


def _aliases(index: OrgIndex) -> Iterator[Finding]:
    """Every managed space and room gets `#<alias>:server`; two must never share one."""
    seen: dict[str, str] = {}
    chart = index.chart
    claims: list[tuple[tuple[str | int, ...], str, str]] = [
        (("community",), "community", "the community space"),
        (("community",), "community-welcome", "the community welcome room"),
    ]
    for i, org in enumerate(chart.organisations):
        claims.append((("organisations", i, "key"), org.key, f"organisation '{org.key}'"))
    for i, unit in enumerate(chart.units):
        claims.append((("units", i, "key"), unit.key, f"unit '{unit.key}'"))
        for template in index.unit_rooms(unit):
            claims.append(
                (("units", i, "key"), f"{unit.key}-{template}", f"unit '{unit.key}' room")
            )
    for i, partnership in enumerate(chart.partnerships):
        claims.append(
            (("partnerships", i, "key"), partnership.key, f"partnership '{partnership.key}'")
        )
        for template in index.partnership_rooms(partnership):
            claims.append(
                (("partnerships", i, "key"), f"{partnership.key}-{template}", "partnership room")
            )
    for i, channel in enumerate(chart.channels):
        claims.append((("channels", i, "key"), channel.key, f"channel '{channel.key}'"))
    for path, alias, owner in claims:
        if alias in seen and seen[alias] != owner:
            yield path, f"alias '#{alias}' is already used by {seen[alias]}; choose another key"
        seen.setdefault(alias, owner)


def _organisations(index: OrgIndex, hints: Hints) -> Iterator[Finding]:
    for i, org in enumerate(index.chart.organisations):
        for j, username in enumerate(org.admins):
            person = index.people.get(username)
            if person is None:
                yield (
                    ("organisations", i, "admins", j),
                    hints.unknown("person", username, index.people),
                )
            elif (o := index.organisations.get(person.organisation)) and o.key != org.key:
                yield (
                    ("organisations", i, "admins", j),
                    (
                        f"'{username}' belongs to organisation '{o.key}', so cannot administer '{org.key}'"
                    ),
                )


def _units(index: OrgIndex, hints: Hints) -> Iterator[Finding]:
    units = index.chart.units
    first: dict[str, int] = {}  # each key's first unit, which references reach
    for i, unit in enumerate(units):
        first.setdefault(unit.key, i)
    parents = {
        unit.key: parent.key
        for unit in index.units.by_key.values()
        if unit.parent is not None and (parent := index.units.get(unit.parent)) is not None
    }
    in_cycles: set[str] = set()
    for key, cycle in _cycles(first, parents):
        in_cycles.add(key)
        yield ("units", first[key], "parent"), f"units form a cycle: {cycle}"
    for i, unit in enumerate(units):
        path = ("units", i)
        if unit.organisation and index.organisations.get(unit.organisation) is None:
            yield (
                (*path, "organisation"),
                hints.unknown("organisation", unit.organisation, index.organisations),
            )
        if unit.parent is None and unit.organisation is None:
            yield path, "a top-level unit needs 'organisation' (or give it a 'parent')"
        if unit.parent is not None:
            parent = index.units.get(unit.parent)
            if parent is None:
                yield (*path, "parent"), hints.unknown("unit", unit.parent, index.units)
            elif parent.key == unit.key:
                yield (*path, "parent"), "a unit cannot be its own parent"
            elif unit.organisation and unit.key not in in_cycles:
                parent_org = index.organisation_of(parent)
                own = index.organisations.get(unit.organisation)
                if parent_org and own and parent_org.key != own.key:
                    yield (
                        (*path, "organisation"),
                        (
                            f"'{own.key}' differs from the parent unit's organisation '{parent_org.key}'"
                        ),
                    )


def _people(index: OrgIndex, hints: Hints) -> Iterator[Finding]:
    yield from _manager_cycles(index)
    for i, person in enumerate(index.chart.people):
        path = ("people", i)
        org = index.organisations.get(person.organisation)
        if org is None:
            yield (
                (*path, "organisation"),
                hints.unknown("organisation", person.organisation, index.organisations),
            )
        for j, ref in enumerate(person.units):
            unit = index.units.get(ref)
            if unit is None:
                yield (*path, "units", j), hints.unknown("unit", ref, index.units)
                continue
            unit_org = index.organisation_of(unit)
            if org is not None and unit_org is not None and unit_org.key != org.key:
                yield (
                    (*path, "units", j),
                    (
                        f"unit '{unit.name}' belongs to '{unit_org.key}', not to '{org.key}'; "
                        "cross-organisation work belongs in a partnership"
                    ),
                )
        if org is not None and org.email_domains and person.email:
            domain = person.email.rsplit("@", 1)[1].lower()
            if not any(domain == d or domain.endswith("." + d) for d in org.email_domains):
                yield (
                    (*path, "email"),
                    f"{person.email} is not at {org.name}'s email domains "
                    f"({', '.join(org.email_domains)}){did_you_mean(domain, org.email_domains)}",
                )
        if person.manager is not None:
            manager = index.people.get(person.manager)
            if manager is None:
                yield (*path, "manager"), hints.unknown("person", person.manager, index.people)
            elif manager.username == person.username:
                yield (*path, "manager"), "a person cannot be their own manager"


def _manager_cycles(index: OrgIndex) -> Iterator[Finding]:
    first: dict[str, int] = {}  # each username's first person, whom references reach
    for i, person in enumerate(index.chart.people):
        first.setdefault(person.username, i)
    managers = {
        person.username: manager.username
        for person in index.people.by_key.values()
        if person.manager is not None and (manager := index.people.get(person.manager))
    }
    for username, cycle in _cycles(first, managers):
        yield ("people", first[username], "manager"), f"managers form a cycle: {cycle}"


def _partnerships(index: OrgIndex, hints: Hints) -> Iterator[Finding]:
    for i, partnership in enumerate(index.chart.partnerships):
        path = ("partnerships", i)
        for j, ref in enumerate(partnership.organisations):
            if index.organisations.get(ref) is None:
                yield (
                    (*path, "organisations", j),
                    hints.unknown("organisation", ref, index.organisations),
                )
        for j, ref in enumerate(partnership.units):
            if index.units.get(ref) is None:
                yield (*path, "units", j), hints.unknown("unit", ref, index.units)
        for field in ("people", "leads"):
            for j, ref in enumerate(getattr(partnership, field)):
                if index.people.get(ref) is None:
                    yield (*path, field, j), hints.unknown("person", ref, index.people)
        if not (
            partnership.organisations
            or partnership.units
            or partnership.people
            or partnership.leads
        ):
            yield path, "a partnership needs organisations, units, people or leads"


def _channels(index: OrgIndex, hints: Hints) -> Iterator[Finding]:
    for i, channel in enumerate(index.chart.channels):
        path = ("channels", i)
        owner = channel.owner
        if owner.unit is not None and index.units.get(owner.unit) is None:
            yield (*path, "owner", "unit"), hints.unknown("unit", owner.unit, index.units)
            continue
        if owner.partnership is not None and index.partnerships.get(owner.partnership) is None:
            yield (
                (*path, "owner", "partnership"),
                hints.unknown("partnership", owner.partnership, index.partnerships),
            )
            continue
        # Only a sealed channel's named posters need its audience, which costs a pass over
        # the people: not one pass for every channel.
        audience: set[str] | None = None
        owner_name = owner.unit or owner.partnership
        for j, ref in enumerate(channel.posters.people):
            person = index.people.get(ref)
            if person is None:
                yield (*path, "posters", "people", j), hints.unknown("person", ref, index.people)
                continue
            if channel.sealed and audience is None:
                audience = {p.username for p in index.audience_of(channel)}
            if audience is not None and person.username not in audience:
                yield (
                    (*path, "posters", "people", j),
                    (f"'{ref}' is not a member of '{owner_name}', and '{channel.key}' is sealed"),
                )
        if not channel.posters.people and not channel.posters.roles:
            yield (*path, "posters"), "a channel needs posters (roles or people)"


def _templates(index: OrgIndex) -> Iterator[Finding]:
    chart = index.chart
    known = list(index.templates)
    refs: list[tuple[tuple[str | int, ...], str]] = []
    for j, name in enumerate(chart.defaults.unit_rooms):
        refs.append((("defaults", "unit_rooms", j), name))
    for j, name in enumerate(chart.defaults.partnership_rooms):
        refs.append((("defaults", "partnership_rooms", j), name))
    for i, unit in enumerate(chart.units):
        for j, name in enumerate(unit.rooms or ()):
            refs.append((("units", i, "rooms", j), name))
    for i, partnership in enumerate(chart.partnerships):
        for j, name in enumerate(partnership.rooms or ()):
            refs.append((("partnerships", i, "rooms", j), name))
    for path, name in refs:
        if name not in index.templates:
            yield path, f"unknown room template '{name}'{did_you_mean(name, known)}"
    channels = [name for name, t in index.templates.items() if t.channel is not None]
    for name, template in chart.room_templates.items():
        for j, ref in enumerate(template.widgets):
            _, _, target = ref.partition(":")
            if target and target not in channels:
                yield (
                    ("room_templates", name, "widgets", j),
                    f"'{ref}' needs a channel room template{did_you_mean(target, channels)}",
                )
