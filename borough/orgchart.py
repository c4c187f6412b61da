"""The org chart for one viewer: a unit's picture, an organisation's tree of units, and the
organisations and units a partnership joins, as plain data.

Who may see a chart is the directory's rule (`borough.directory.may_open_charts`): a chart
says who is in which unit, which a card shows at the `partners` level. People come from the
directory entries (present people only: someone who left or was erased is in no chart).

A chart stays cheap at any size: a unit whose subtree holds up to `EXPANDED` people comes
whole, in one read; a larger one gives its own managers, its own people (or their count past
`DIRECT_PAGE`) and, for each team below, its managers and a head count. A collapsed team is
opened by asking for its own chart. A unit's people are found by the unit marks of the
directory's own word indexes: FTS5 on SQLite, the `search_words` GIN index on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    cast,
    column,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy import table as sql_table
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession

from borough.db import DirectoryEntry, OrganisationRow, PartnershipRow, UnitRow
from borough.directory import (
    ROLE_ORDER,
    DirectoryError,
    PersonSummary,
    check_may_open_charts,
    fresh,
)
from borough.directory_index import mark
from borough.visibility import Viewer

#: A subtree with at most this many people is sent whole: every team open, every face shown.
EXPANDED = 400
#: A unit's own people (its managers aside) beyond this many are counted, and read by page.
DIRECT_PAGE = 100
#: Managers shown on a collapsed team's card.
CARD_MANAGERS = 5
MANAGING_ROLES = tuple(ROLE_ORDER)

_FTS = sql_table("directory_fts", column("rowid", Integer))
_ENTRY_COLUMNS = (
    DirectoryEntry.user_id,
    DirectoryEntry.display_name,
    DirectoryEntry.job_title,
    DirectoryEntry.role,
    DirectoryEntry.units_text,
)


# --- Plain answers ---


@dataclass(frozen=True)
class UnitRef:
    key: str
    name: str


@dataclass(frozen=True)
class ChartUnit:
    """One unit in a chart. `people` and `teams` are None when collapsed: `people_count` and
    `team_count` still say how many there are."""

    key: str
    name: str
    total: int  # everyone in it and the units below, each person once
    managers: tuple[PersonSummary, ...]
    people: tuple[PersonSummary, ...] | None
    people_count: int
    teams: tuple[ChartUnit, ...] | None
    team_count: int


@dataclass(frozen=True)
class UnitChart:
    unit: ChartUnit
    organisation: UnitRef
    path: tuple[UnitRef, ...]  # the units above, the top one first


@dataclass(frozen=True)
class PeoplePage:
    """A page of a unit's own people, its managers aside, in name order."""

    key: str
    page: int
    page_size: int
    total: int
    people: tuple[PersonSummary, ...]

    @property
    def has_more(self) -> bool:
        return self.total > self.page * self.page_size


@dataclass(frozen=True)
class TreeUnit:
    key: str
    name: str
    total: int
    units: tuple[TreeUnit, ...]


@dataclass(frozen=True)
class OrganisationTree:
    key: str
    name: str
    total: int  # the organisation's present people
    units: tuple[TreeUnit, ...]


# --- The shape of the chart (the units table: small, read whole) ---


@dataclass(frozen=True)
class Units:
    names: Mapping[str, str]
    parents: Mapping[str, str | None]
    organisations: Mapping[str, str]
    children: Mapping[str | None, tuple[str, ...]]  # in name order

    def subtree(self, key: str) -> list[str]:
        found, stack = [], [key]
        while stack:
            current = stack.pop()
            found.append(current)
            stack.extend(self.children.get(current, ()))
        return found

    def path(self, key: str) -> tuple[UnitRef, ...]:
        above: list[UnitRef] = []
        parent = self.parents.get(key)
        while parent is not None and parent in self.names and len(above) < len(self.names):
            above.append(UnitRef(parent, self.names[parent]))
            parent = self.parents.get(parent)
        return tuple(reversed(above))


def units_from_rows(rows: Iterable[tuple[str, str, str, str | None]]) -> Units:
    """(key, name, organisation, parent) rows → the tree; a parent not in the table is none."""
    listed = sorted(rows, key=lambda row: (row[1].casefold(), row[0]))
    known = {key for key, *_ in listed}
    children: dict[str | None, list[str]] = {}
    for key, _, _, parent in listed:
        children.setdefault(parent if parent in known else None, []).append(key)
    return Units(
        names={key: name for key, name, _, _ in listed},
        parents={key: parent if parent in known else None for key, _, _, parent in listed},
        organisations={key: organisation for key, _, organisation, _ in listed},
        children={parent: tuple(keys) for parent, keys in children.items()},
    )


async def _units(session: AsyncSession) -> Units:
    rows = await session.execute(
        select(UnitRow.key, UnitRow.name, UnitRow.organisation, UnitRow.parent)
    )
    return units_from_rows((row.key, row.name, row.organisation, row.parent) for row in rows)


# --- Who is in a unit ---


def _unit_keys(text: str) -> list[str]:
    return [key for key in text.split("\n") if key]


def _in_any(session: AsyncSession, keys: Sequence[str]) -> ColumnElement[bool]:
    """Entries of people in any of `keys`, by their unit marks: in the FTS index on SQLite,
    in the word index (migration 0022) on PostgreSQL."""
    entry = DirectoryEntry
    if _is_sqlite(session):
        return entry.position.in_(select(_FTS.c.rowid).where(_fts_match(_tags(keys))))
    return _words_match(_tag_lexemes("unit", keys))


#: PostgreSQL's word index of the entries (migration 0022): tag marks are `g_` lexemes.
_SEARCH_WORDS: ColumnElement[Any] = literal_column("directory_entries.search_words")


def _tag_lexemes(kind: str, values: Sequence[str]) -> str:
    return "(" + " | ".join(f"'g_{mark(kind, value)}'" for value in values) + ")"


def _words_match(query: str) -> ColumnElement[bool]:
    return _SEARCH_WORDS.bool_op("@@")(cast(literal(query), TSQUERY))


def _tags(keys: Sequence[str], *also: str) -> str:
    marks = " OR ".join(mark("unit", key) for key in keys)
    return " AND ".join([f"tags: ({marks})", *also])


def _fts_match(query: str) -> ColumnElement[bool]:
    return literal_column("directory_fts").op("MATCH")(literal(query))


async def _count(session: AsyncSession, keys: Sequence[str]) -> int:
    if _is_sqlite(session):
        counted = select(func.count()).select_from(_FTS).where(_fts_match(_tags(keys)))
    else:
        counted = select(func.count()).select_from(DirectoryEntry).where(_in_any(session, keys))
    return int(await session.scalar(counted) or 0)


def _managing(session: AsyncSession, keys: Sequence[str]) -> ColumnElement[bool]:
    entry = DirectoryEntry
    if _is_sqlite(session):
        roles = " OR ".join(mark("role", role) for role in MANAGING_ROLES)
        query = _tags(keys, f"tags: ({roles})")
        return entry.position.in_(select(_FTS.c.rowid).where(_fts_match(query)))
    return _words_match(f"{_tag_lexemes('unit', keys)} & {_tag_lexemes('role', MANAGING_ROLES)}")


def _is_sqlite(session: AsyncSession) -> bool:
    bind = session.bind
    return bind is not None and bind.dialect.name == "sqlite"


def _person(row: Any) -> PersonSummary:
    return PersonSummary(row.user_id, row.display_name, row.job_title)


def _by_name(rows: Iterable[Any]) -> list[Any]:
    return sorted(
        rows, key=lambda r: (ROLE_ORDER.get(r.role, 9), r.display_name.casefold(), r.user_id)
    )


# --- Charts ---


def _known_unit(units: Units, key: str) -> str:
    wanted = key.lower()
    if wanted in units.names:
        return wanted
    raise DirectoryError(f"I know no unit `{key}`. Try its key, as the org chart gives it.")


async def unit_chart(
    session: AsyncSession,
    asker: Viewer,
    key: str,
    expanded: int = EXPANDED,
    direct_page: int = DIRECT_PAGE,
) -> UnitChart:
    """The picture of one unit: its managers, its own people, and the teams below; whole up
    to `expanded` people, else collapsed as the module says."""
    check_may_open_charts(asker)
    units = await _units(session)
    key = _known_unit(units, key)
    await fresh(session)
    organisation = units.organisations[key]
    org_name = await session.scalar(
        select(OrganisationRow.name).where(OrganisationRow.key == organisation)
    )
    subtree = units.subtree(key)
    total = await _count(session, subtree)
    if total <= expanded:
        rows = (
            await session.execute(select(*_ENTRY_COLUMNS).where(_in_any(session, subtree)))
        ).all()
        shown = whole_unit(units, key, rows)
    else:
        shown = await _collapsed_unit(session, units, key, total, direct_page)
    return UnitChart(shown, UnitRef(organisation, org_name or organisation), units.path(key))


def whole_unit(units: Units, key: str, rows: Sequence[Any]) -> ChartUnit:
    """A unit with every team open, from the rows of everyone in its subtree."""
    direct: dict[str, list[Any]] = {}
    for row in rows:
        for unit in _unit_keys(row.units_text):
            direct.setdefault(unit, []).append(row)

    def build(current: str) -> tuple[ChartUnit, set[str]]:
        teams, everyone = [], {row.user_id for row in direct.get(current, ())}
        for child in units.children.get(current, ()):
            team, members = build(child)
            teams.append(team)
            everyone |= members
        own = _by_name(direct.get(current, ()))
        managers = [_person(r) for r in own if r.role in ROLE_ORDER]
        people = [_person(r) for r in own if r.role not in ROLE_ORDER]
        return (
            ChartUnit(
                key=current,
                name=units.names[current],
                total=len(everyone),
                managers=tuple(managers),
                people=tuple(people),
                people_count=len(people),
                teams=tuple(teams),
                team_count=len(teams),
            ),
            everyone,
        )

    return build(key)[0]


async def _collapsed_unit(
    session: AsyncSession, units: Units, key: str, total: int, direct_page: int
) -> ChartUnit:
    entry = DirectoryEntry
    managers = _by_name(
        (await session.execute(select(*_ENTRY_COLUMNS).where(_managing(session, [key])))).all()
    )
    people_count = await _count(session, [key]) - len(managers)
    people = None
    if people_count <= direct_page:
        people = tuple(
            _person(r)
            for r in _by_name(
                (
                    await session.execute(
                        select(*_ENTRY_COLUMNS).where(
                            _in_any(session, [key]), entry.role.not_in(MANAGING_ROLES)
                        )
                    )
                ).all()
            )
        )
    children = units.children.get(key, ())
    heads: dict[str, list[Any]] = {}
    if children:
        for row in (
            await session.execute(select(*_ENTRY_COLUMNS).where(_managing(session, children)))
        ).all():
            for unit in _unit_keys(row.units_text):
                heads.setdefault(unit, []).append(row)
    teams = []
    for child in children:
        teams.append(
            ChartUnit(
                key=child,
                name=units.names[child],
                total=await _count(session, units.subtree(child)),
                managers=tuple(_person(r) for r in _by_name(heads.get(child, ()))[:CARD_MANAGERS]),
                people=None,
                people_count=0,
                teams=None,
                team_count=len(units.children.get(child, ())),
            )
        )
    return ChartUnit(
        key=key,
        name=units.names[key],
        total=total,
        managers=tuple(_person(r) for r in managers),
        people=people,
        people_count=people_count,
        teams=tuple(teams),
        team_count=len(teams),
    )


async def unit_people(
    session: AsyncSession, asker: Viewer, key: str, page: int, page_size: int = DIRECT_PAGE
) -> PeoplePage:
    """One page of a unit's own people, its managers aside, in name order."""
    check_may_open_charts(asker)
    units = await _units(session)
    key = _known_unit(units, key)
    await fresh(session)
    entry = DirectoryEntry
    condition = (_in_any(session, [key]), entry.role.not_in(MANAGING_ROLES))
    total = int(
        await session.scalar(select(func.count()).select_from(entry).where(*condition)) or 0
    )
    rows = await session.execute(
        select(entry.user_id, entry.display_name, entry.job_title)
        .where(*condition)
        .order_by(entry.position)
        .offset((page - 1) * page_size)
        .limit(page_size)
    )
    return PeoplePage(key, page, page_size, total, tuple(PersonSummary(*row) for row in rows))


async def organisation_tree(session: AsyncSession, asker: Viewer, key: str) -> OrganisationTree:
    """An organisation's units as a tree, each with how many people it holds."""
    check_may_open_charts(asker)
    wanted = key.lower()
    units = await _units(session)
    name = await session.scalar(select(OrganisationRow.name).where(OrganisationRow.key == wanted))
    mine = [unit for unit, organisation in units.organisations.items() if organisation == wanted]
    if name is None and not mine:
        raise DirectoryError(f"I know no organisation `{key}`.")
    await fresh(session)
    entry = DirectoryEntry
    # One read of everyone in the organisation's units: their unit lists, counted here.
    members: dict[str, set[str]] = {}
    if mine:
        rows = await session.execute(
            select(entry.user_id, entry.units_text).where(_in_any(session, mine))
        )
        for user_id, units_text in rows:
            for unit in _unit_keys(units_text):
                members.setdefault(unit, set()).add(user_id)
    total = int(
        await session.scalar(select(func.count()).select_from(entry).where(entry.org_key == wanted))
        or 0
    )

    def build(current: str) -> tuple[TreeUnit, set[str]]:
        everyone = set(members.get(current, ()))
        below = []
        for child in units.children.get(current, ()):
            node, people = build(child)
            below.append(node)
            everyone |= people
        return TreeUnit(current, units.names[current], len(everyone), tuple(below)), everyone

    tops = [
        unit
        for unit in mine
        if units.parents[unit] is None
        or units.organisations.get(units.parents[unit] or "") != wanted
    ]
    tops.sort(key=lambda unit: (units.names[unit].casefold(), unit))
    return OrganisationTree(wanted, name or wanted, total, tuple(build(u)[0] for u in tops))


@dataclass(frozen=True)
class JoinedUnit:
    key: str
    name: str
    organisation: str  # its organisation's name
    total: int  # everyone in it and the units below


@dataclass(frozen=True)
class JoinedOrganisation:
    key: str
    name: str
    total: int


@dataclass(frozen=True)
class PartnershipView:
    """What a partnership joins: whole organisations, units (with the units below them) and
    people named on their own; `total` counts everyone it reaches, each person once."""

    key: str
    name: str
    description: str | None
    organisations: tuple[JoinedOrganisation, ...]
    units: tuple[JoinedUnit, ...]
    leads: tuple[PersonSummary, ...]
    people: tuple[PersonSummary, ...]  # named on their own, leads aside
    total: int


async def partnership(session: AsyncSession, asker: Viewer, key: str) -> PartnershipView:
    check_may_open_charts(asker)
    row = await session.get(PartnershipRow, key.lower())
    if row is None:
        raise DirectoryError(f"I know no partnership `{key}`.")
    units = await _units(session)
    await fresh(session)
    entry = DirectoryEntry
    org_names: dict[str, str] = {
        org: name
        for org, name in await session.execute(select(OrganisationRow.key, OrganisationRow.name))
    }
    counts: dict[str, int] = {
        org: int(n)
        for org, n in await session.execute(
            select(entry.org_key, func.count())
            .where(entry.org_key.in_(row.organisations))
            .group_by(entry.org_key)
        )
        if org is not None
    }
    joined_units = [key for key in row.units if key in units.names]
    below = sorted({k for unit in joined_units for k in units.subtree(unit)})
    named = (
        await session.execute(
            select(entry.user_id, entry.display_name, entry.job_title).where(
                entry.user_id.in_(row.people)
            )
        )
    ).all()
    reached: list[ColumnElement[bool]] = [
        entry.org_key.in_(row.organisations),
        entry.user_id.in_(row.people),
    ]
    if below:
        reached.append(_in_any(session, below))
    total = await session.scalar(select(func.count()).select_from(entry).where(or_(*reached)))
    leads = set(row.leads)

    def org_name(org: str) -> str:
        return org_names.get(org) or org

    people = sorted(named, key=lambda r: (r.display_name.casefold(), r.user_id))
    return PartnershipView(
        key=row.key,
        name=row.name,
        description=row.description,
        organisations=tuple(
            JoinedOrganisation(org, org_name(org), counts.get(org, 0))
            for org in sorted(row.organisations, key=lambda o: org_name(o).casefold())
        ),
        units=tuple(
            [
                JoinedUnit(
                    unit,
                    units.names[unit],
                    org_name(units.organisations[unit]),
                    await _count(session, units.subtree(unit)),
                )
                for unit in sorted(joined_units, key=lambda u: units.names[u].casefold())
            ]
        ),
        leads=tuple(PersonSummary(*p) for p in people if p.user_id in leads),
        people=tuple(PersonSummary(*p) for p in people if p.user_id not in leads),
        total=int(total or 0),
    )
