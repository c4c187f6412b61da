"""Engagement arithmetic: pure functions from aggregated facts to report rows.

The database does the heavy counting (`management.report_data`): posts, replies and
reactions per room and person (`Activity`), and per room, week and pair of organisations
(`Interaction`). These functions only attribute those counts to organisations, units,
partnerships and channels, and lay them out week by week.

Attribution: an organisation or unit counts what its people did anywhere (a unit includes its
sub-units); a partnership or channel counts what happened in its rooms. A reaction counts in
the week of the post it reacts to (the index keeps no reaction time).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Literal

from management.timespan import week_start

Kind = Literal["post", "reply", "reaction"]
ScopeKind = Literal["organisation", "unit", "partnership", "channel"]
SCOPE_KINDS: tuple[ScopeKind, ...] = ("organisation", "unit", "partnership", "channel")


@dataclass(frozen=True)
class Activity:
    """`count` posts, replies or reactions by `actor` in a room over the whole period."""

    room_id: str
    actor: str
    kind: Kind
    count: int


@dataclass(frozen=True)
class Interaction:
    """`count` posts, replies or reactions in a room in the week starting `week` (a Monday),
    by people of `actor_org`, to posts by people of `target_org` (None for a post, or for
    anyone without an organisation)."""

    room_id: str
    week: date
    kind: Kind
    actor_org: str | None
    target_org: str | None
    count: int

    @property
    def crosses_organisations(self) -> bool:
        return (
            self.actor_org is not None
            and self.target_org is not None
            and self.actor_org != self.target_org
        )


@dataclass(frozen=True)
class MeetingFact:
    meeting_id: int
    room_id: str
    started_at: datetime
    minutes: float
    participants: frozenset[str]


@dataclass(frozen=True, order=True)
class Scope:
    kind: ScopeKind
    key: str


@dataclass(frozen=True)
class Network:
    """Who belongs where, as plain maps."""

    person_org: Mapping[str, str] = field(default_factory=dict)
    person_units: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    unit_parent: Mapping[str, str | None] = field(default_factory=dict)
    unit_org: Mapping[str, str] = field(default_factory=dict)
    #: room id -> the partnership whose space holds it (its own space included)
    room_partnership: Mapping[str, str] = field(default_factory=dict)
    #: room id -> channel key, for microblog channels
    room_channel: Mapping[str, str] = field(default_factory=dict)
    #: channel key -> its owner: ("unit", key) or ("partnership", key)
    channel_owner: Mapping[str, tuple[str, str]] = field(default_factory=dict)
    #: partnership key -> the organisations of its members
    partnership_orgs: Mapping[str, frozenset[str]] = field(default_factory=dict)
    #: partnership key -> the people in its space (management.questions)
    partnership_members: Mapping[str, frozenset[str]] = field(default_factory=dict)
    names: Mapping[Scope, str] = field(default_factory=dict)

    def ancestors_and_self(self, unit: str) -> list[str]:
        chain, seen = [], set()
        current: str | None = unit
        while current is not None and current not in seen:
            seen.add(current)
            chain.append(current)
            current = self.unit_parent.get(current)
        return chain

    def descendants_and_self(self, unit: str) -> set[str]:
        return {u for u in self.unit_parent if unit in self.ancestors_and_self(u)} | {unit}

    def person_scopes(self, user_id: str) -> set[Scope]:
        scopes = set()
        if (org := self.person_org.get(user_id)) is not None:
            scopes.add(Scope("organisation", org))
        for unit in self.person_units.get(user_id, ()):
            scopes.update(Scope("unit", u) for u in self.ancestors_and_self(unit))
        return scopes

    def room_scopes(self, room_id: str) -> set[Scope]:
        scopes = set()
        if (partnership := self.room_partnership.get(room_id)) is not None:
            scopes.add(Scope("partnership", partnership))
        if (channel := self.room_channel.get(room_id)) is not None:
            scopes.add(Scope("channel", channel))
        return scopes

    def all_scopes(self) -> list[Scope]:
        scopes = {Scope("organisation", o) for o in self.unit_org.values()}
        scopes.update(Scope("organisation", o) for o in self.person_org.values())
        scopes.update(Scope("unit", u) for u in self.unit_parent)
        scopes.update(Scope("partnership", p) for p in self.partnership_orgs)
        scopes.update(Scope("partnership", p) for p in self.room_partnership.values())
        scopes.update(Scope("channel", c) for c in self.room_channel.values())
        return sorted(scopes, key=lambda s: (SCOPE_KINDS.index(s.kind), s.key))


@dataclass(frozen=True)
class EngagementRow:
    scope: Scope
    name: str
    active_people: int
    posts: int
    replies: int
    reactions: int
    meetings: int
    meeting_minutes: int
    new_joiners: int


@dataclass
class _Tally:
    active: set[str] = field(default_factory=set)
    counts: dict[Kind, int] = field(default_factory=lambda: defaultdict(int))
    meetings: dict[int, float] = field(default_factory=dict)
    joiners: set[str] = field(default_factory=set)


def engagement(
    network: Network,
    activities: Iterable[Activity],
    meetings: Iterable[MeetingFact],
    new_accounts: Iterable[str] = (),
    room_joins: Mapping[str, Iterable[str]] | None = None,
) -> list[EngagementRow]:
    """One row per organisation, unit, partnership and channel, in a stable order.

    `new_accounts` are people whose account was created in the period (they are new joiners
    of their organisation and units); `room_joins` are people who joined a room in the
    period (new joiners of its partnership or channel)."""
    tallies: dict[Scope, _Tally] = defaultdict(_Tally)
    # Facts repeat people and rooms many times over: work out each one's scopes once.
    people: dict[str, list[_Tally]] = {}
    rooms: dict[str, list[_Tally]] = {}

    def of_person(user_id: str) -> list[_Tally]:
        if (found := people.get(user_id)) is None:
            found = people[user_id] = [tallies[s] for s in network.person_scopes(user_id)]
        return found

    def of_room(room_id: str) -> list[_Tally]:
        if (found := rooms.get(room_id)) is None:
            found = rooms[room_id] = [tallies[s] for s in network.room_scopes(room_id)]
        return found

    for a in activities:
        for tally in (*of_person(a.actor), *of_room(a.room_id)):
            tally.active.add(a.actor)
            tally.counts[a.kind] += a.count
    for m in meetings:
        room = of_room(m.room_id)
        for tally in room:
            tally.meetings[m.meeting_id] = m.minutes
        for person in m.participants:
            for tally in (*of_person(person), *room):
                tally.active.add(person)
                tally.meetings[m.meeting_id] = m.minutes
    for person in new_accounts:
        for tally in of_person(person):
            tally.joiners.add(person)
    for room_id, joined in (room_joins or {}).items():
        for tally in of_room(room_id):
            tally.joiners.update(joined)
    rows = []
    for scope in network.all_scopes():
        tally = tallies.get(scope, _Tally())
        rows.append(
            EngagementRow(
                scope=scope,
                name=network.names.get(scope, scope.key),
                active_people=len(tally.active),
                posts=tally.counts["post"],
                replies=tally.counts["reply"],
                reactions=tally.counts["reaction"],
                meetings=len(tally.meetings),
                meeting_minutes=round(sum(tally.meetings.values())),
                new_joiners=len(tally.joiners),
            )
        )
    return rows


def select_rows(
    rows: Iterable[EngagementRow],
    network: Network,
    organisation: str | None = None,
    unit: str | None = None,
) -> list[EngagementRow]:
    """Rows about one organisation (its units, the partnerships it is in, their channels) or
    one unit (it, its sub-units and their channels)."""
    if unit is not None:
        units = network.descendants_and_self(unit)
        return [
            r
            for r in rows
            if (r.scope.kind == "unit" and r.scope.key in units)
            or (
                r.scope.kind == "channel"
                and network.channel_owner.get(r.scope.key, ("", ""))[1] in units
                and network.channel_owner.get(r.scope.key, ("", ""))[0] == "unit"
            )
        ]
    if organisation is None:
        return list(rows)
    partnerships = {p for p, orgs in network.partnership_orgs.items() if organisation in orgs}

    def belongs(row: EngagementRow) -> bool:
        kind, key = row.scope.kind, row.scope.key
        if kind == "organisation":
            return key == organisation
        if kind == "unit":
            return network.unit_org.get(key) == organisation
        if kind == "partnership":
            return key in partnerships
        owner_kind, owner = network.channel_owner.get(key, ("", ""))
        if owner_kind == "unit":
            return network.unit_org.get(owner) == organisation
        return owner in partnerships

    return [r for r in rows if belongs(r)]


@dataclass(frozen=True)
class CircleWeek:
    """Interactions between people of different organisations inside one partnership."""

    week: date
    partnership: str
    replies: int
    reactions: int
    meetings: int
    interactions: int  # every reply, reaction and meeting there, crossing or not

    @property
    def crossing(self) -> int:
        return self.replies + self.reactions + self.meetings

    @property
    def share(self) -> float:
        return self.crossing / self.interactions if self.interactions else 0.0


def weeks_between(start: date, end: date) -> list[date]:
    first, last = week_start(start), week_start(end)
    return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


def virtuous_circle(
    network: Network,
    interactions: Iterable[Interaction],
    meetings: Iterable[MeetingFact],
    start: date,
    end: date,
) -> list[CircleWeek]:
    """Week by week, per partnership: replies, reactions and meetings that cross
    organisations, beside all interactions there. Every week in [start, end] appears."""
    crossing: dict[tuple[date, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for i in interactions:
        partnership = network.room_partnership.get(i.room_id)
        if partnership is None or i.kind == "post":
            continue
        cell = crossing[(week_start(i.week), partnership)]
        cell["all"] += i.count
        if i.crosses_organisations:
            cell[i.kind] += i.count
    for m in meetings:
        partnership = network.room_partnership.get(m.room_id)
        if partnership is None:
            continue
        cell = crossing[(week_start(m.started_at.date()), partnership)]
        cell["all"] += 1
        orgs = {network.person_org[p] for p in m.participants if p in network.person_org}
        if len(orgs) > 1:
            cell["meeting"] += 1
    partnerships = sorted(set(network.partnership_orgs) | set(network.room_partnership.values()))
    return [
        CircleWeek(
            week=week,
            partnership=p,
            replies=crossing.get((week, p), {}).get("reply", 0),
            reactions=crossing.get((week, p), {}).get("reaction", 0),
            meetings=crossing.get((week, p), {}).get("meeting", 0),
            interactions=crossing.get((week, p), {}).get("all", 0),
        )
        for week in weeks_between(start, end)
        for p in partnerships
    ]


def weekly_activity(
    interactions: Iterable[Interaction], meetings: Iterable[MeetingFact], start: date, end: date
) -> list[tuple[date, dict[str, int]]]:
    """Network-wide posts, replies, reactions and meetings per week, for the chart."""
    weeks = {
        w: {"post": 0, "reply": 0, "reaction": 0, "meeting": 0} for w in weeks_between(start, end)
    }
    for i in interactions:
        week = week_start(i.week)
        if week in weeks:
            weeks[week][i.kind] += i.count
    for m in meetings:
        week = week_start(m.started_at.date())
        if week in weeks:
            weeks[week]["meeting"] += 1
    return sorted(weeks.items())
