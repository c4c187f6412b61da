"""The people directory for one viewer: search, whois, cards and team lists, as plain data.

The bot formats these answers for chat and the widget server for the web, so both say the
same thing, and every field has passed the visibility rule (`borough.visibility`) before it
leaves this module. Searches follow the rule in `borough.directory_index`, over
`directory_entries`: folded words derived from profiles, rebuilt by `refresh` for the
people that database triggers marked dirty.

Every query function takes an `AsyncSession` from `borough.db.session_factory` and raises
`DirectoryError` (whose message a person can act on) for a question it cannot answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from itertools import pairwise
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Select,
    String,
    bindparam,
    case,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from borough.db import (
    DirectoryDirty,
    DirectoryEntry,
    OrganisationRow,
    Profile,
    ProfileFieldRow,
    ProfileViewRow,
    UnitRow,
)
from borough.directory_index import (
    FtsRule,
    SearchTerms,
    SqlRule,
    entry_columns,
    fold,
    numbered,
    place,
    sort_key,
    tokens,
    unit_matches,
)
from borough.visibility import Viewer, may_see
from borough.wording import page_number

#: Managers first in team lists; everyone else after them, by name.
ROLE_ORDER = {"senior_manager": 0, "manager": 1}
FILTERS = ("org", "unit", "skill", "role", "page")
CARD_FIELDS = ("pronouns", "bio", "skills", "location", "phone", "available")
#: The fields a person may set themselves, with `!profile set` (bots.profiles).
EDITABLE = ("title", "bio", "skills", "location", "pronouns", "phone", "available")
_CHUNK = 500  # ids per IN (...) list, well under SQLite's and asyncpg's parameter limits
#: The entries as a Core `Table` (the ORM types `__table__` as any FromClause): the index
#: is rewritten in bulk, row dicts in and out.
_ENTRIES = DirectoryEntry.metadata.tables[DirectoryEntry.__tablename__]


class DirectoryError(Exception):
    """The directory cannot answer this; the message says what to ask instead."""


# --- Plain answers ---


@dataclass(frozen=True)
class PersonSummary:
    user_id: str
    display_name: str
    job_title: str | None


#: A search counts its matches exactly up to this many. Past it, it says "more than" this
#: many and asks for a narrower search: nobody reads a thousand names, and counting every
#: match of a common word costs as much as reading them all.
EXACT_TOTAL = 1000


@dataclass(frozen=True)
class SearchPage:
    """One page of ranked matches. `total` counts every match, not just this page, up to the
    search's exact limit (`EXACT_TOTAL`); when more match, `total` is that limit and
    `more_than_total` is set."""

    total: int
    page: int
    page_size: int
    people: tuple[PersonSummary, ...]
    #: Whether a later page has anyone on it.
    has_more: bool
    more_than_total: bool = False


@dataclass(frozen=True)
class Card:
    """What the viewer may see of one person. Fields are (name, shown text), in card order."""

    user_id: str
    display_name: str
    title: str | None
    organisation: str | None
    units: tuple[str, ...]
    manager_name: str | None
    email: str | None
    fields: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class UnitSummary:
    """A unit and how many present people are in it."""

    key: str
    name: str
    member_count: int


@dataclass(frozen=True)
class TeamListing:
    key: str
    name: str
    members: tuple[PersonSummary, ...]  # managers first, then by name
    sub_units: tuple[UnitSummary, ...]


@dataclass(frozen=True)
class DirectoryQuery:
    words: tuple[str, ...]
    organisation: str | None = None
    unit: str | None = None
    skill: str | None = None
    role: str | None = None
    page: int = 1


def parse_query(words: Sequence[str]) -> DirectoryQuery:
    """`safeguarding org:police skill:"family support"` (already split) → words and filters.
    A word matches the start of a word: `ana` finds Ana and analysts, not Hana."""
    free: list[str] = []
    filters: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key.lower() in FILTERS:
            if not value:
                raise DirectoryError(f"`{key}:` needs a value, e.g. `{key}:housing`.")
            filters[key.lower()] = value.lower()
        elif tokens(word):  # a word of only punctuation finds nothing: leave it out
            free.append(word.lower())
    page_text = filters.pop("page", "1")
    try:
        page = page_number(page_text, f"page:{page_text}")
    except ValueError as exc:
        raise DirectoryError(str(exc)) from None
    if "skill" in filters and not tokens(filters["skill"]):
        raise DirectoryError('`skill:` needs letters or digits, e.g. `skill:"family support"`.')
    if not free and not filters:
        raise DirectoryError(
            'Say what to look for, e.g. `!find safeguarding org:police skill:"family support"`.'
        )
    return DirectoryQuery(
        tuple(free),
        filters.get("org"),
        filters.get("unit"),
        filters.get("skill"),
        filters.get("role"),
        page,
    )


# --- Queries ---


async def viewer(session: AsyncSession, user_id: str) -> Viewer:
    """The asker as the visibility rule sees them; unknown or departed people are community."""
    # Three columns, not the ORM row: that would load the person's fields as well.
    row = (
        await session.execute(
            select(Profile.organisation, Profile.role, Profile.left_at).where(
                Profile.user_id == user_id
            )
        )
    ).first()
    if row is None or row.left_at is not None:
        return Viewer(user_id, None, None)
    return Viewer(user_id, row.organisation, row.role)


async def card(session: AsyncSession, asker: Viewer, owner_id: str) -> Card:
    row = await present_profile(session, owner_id)
    manager = (
        await session.scalar(select(Profile.display_name).where(Profile.user_id == row.manager))
        if row.manager
        else None
    )
    return card_for(asker, row, manager)


def visible_fields(asker: Viewer, row: Profile) -> dict[str, Any]:
    """The profile fields `asker` may see, by name, as stored (skills are a list)."""
    return {
        f.name: f.value
        for f in row.fields
        if may_see(asker, row.user_id, row.organisation, f.visibility)
    }


def sees_organisation(asker: Viewer, row: Profile) -> bool:
    """Whether `asker` may see where `row` sits: organisation, units, manager and reports,
    email. Those are for staff and partners only (and the person themselves)."""
    return may_see(asker, row.user_id, row.organisation, "partners")


def card_for(asker: Viewer, row: Profile, manager_name: str | None) -> Card:
    """The card `asker` may see. Organisation details are for staff and partners only."""
    fields = visible_fields(asker, row)
    title = row.job_title or (str(fields["title"]) if "title" in fields else None)
    partners = sees_organisation(asker, row)
    return Card(
        user_id=row.user_id,
        display_name=row.display_name,
        title=title,
        organisation=row.organisation if partners else None,
        units=tuple(row.units) if partners else (),
        manager_name=manager_name if partners else None,
        email=row.email if partners else None,
        fields=tuple(
            (name, ", ".join(map(str, value)) if isinstance(value, list) else str(value))
            for name in CARD_FIELDS
            if (value := fields.get(name)) is not None
        ),
    )


@dataclass(frozen=True)
class Expert:
    """Someone who opted in to questions (`!profile set available yes`), with the skills the
    asker may see of them."""

    user_id: str
    display_name: str
    organisation: str | None
    skills: tuple[str, ...]


async def experts(
    session: AsyncSession, asker: Viewer, organisation: str | None = None
) -> list[Expert]:
    """Present people who said they are available and whose skills the asker may see, both
    fields by the one visibility rule (a person who shows their availability to their own
    organisation only is asked only by it); within `organisation` if given. The asker too:
    matching (`borough.asking`) leaves them out."""
    opted = (
        select(ProfileFieldRow.user_id).where(ProfileFieldRow.name == "available").scalar_subquery()
    )
    query = select(Profile).where(Profile.left_at.is_(None), Profile.user_id.in_(opted))
    if organisation is not None:
        query = query.where(Profile.organisation == organisation)
    found = []
    for row in await session.scalars(query):
        shown = visible_fields(asker, row)
        skills = shown.get("skills")
        if shown.get("available") == "yes" and isinstance(skills, list) and skills:
            found.append(
                Expert(row.user_id, row.display_name, row.organisation, tuple(map(str, skills)))
            )
    return found


@dataclass(frozen=True)
class Place:
    """Where someone sits, by name: their organisation and units as the org chart calls
    them, so that no answer shows a key such as `northbridge` or `comms`."""

    organisation: str | None
    units: tuple[str, ...]


async def place_of(session: AsyncSession, organisation: str | None, units: Sequence[str]) -> Place:
    """Names for an organisation key and unit keys, as apply last wrote them; a key not
    (yet) in the app database is shown as it is."""
    org_name = (
        await session.scalar(
            select(OrganisationRow.name).where(OrganisationRow.key == organisation)
        )
        if organisation
        else None
    )
    rows = await session.execute(select(UnitRow.key, UnitRow.name).where(UnitRow.key.in_(units)))
    names = {key: name for key, name in rows}
    return Place(org_name or organisation, tuple(names.get(key, key) for key in units))


async def find_people(
    session: AsyncSession, text: str, server_name: str, limit: int = 10
) -> list[PersonSummary]:
    """`@user`, `@user:server`, or the start of words of a name or username → present people,
    in name order."""
    if text.startswith("@"):
        user_id = text if ":" in text else f"{text}:{server_name}"
        found = await session.execute(
            select(Profile.user_id, Profile.display_name, Profile.job_title).where(
                Profile.user_id == user_id, Profile.left_at.is_(None)
            )
        )
        return [PersonSummary(*row) for row in found]
    terms = SearchTerms(words=tuple(p for word in text.split() if (p := tokens(word))))
    if not terms.words:
        return []
    await _fresh(session)
    entry = DirectoryEntry
    if _dialect(session) == "sqlite":
        found = await session.execute(
            _FTS_NAMED, {"match": FtsRule(Viewer("", None, None)).named(terms), "limit": limit}
        )
        return [PersonSummary(*row) for row in found]
    rule = SqlRule(Viewer("", None, None), entry)
    named = [rule.matching(rule.named_query(terms))]
    if not rule.exact(terms):
        named.append(rule.named(terms))
    rows = await session.execute(
        select(entry.user_id, entry.display_name, entry.job_title)
        .where(*named)
        .order_by(entry.position)
        .limit(limit)
    )
    return [PersonSummary(*row) for row in rows]


async def search(
    session: AsyncSession,
    asker: Viewer,
    query: DirectoryQuery,
    page_size: int = 10,
    exact_up_to: int = EXACT_TOTAL,
) -> SearchPage:
    """Everyone every word matches in a field the asker may see, by the rule in
    `borough.directory_index`: those matched by name first, then by job title, skills, bio;
    then by name. The total is exact up to `exact_up_to` matches (`SearchPage`)."""
    terms = search_terms(query)
    # One row past the page says whether there is another; one match past the exact limit
    # says there are more than it.
    asked = _Asked(offset=(query.page - 1) * page_size, size=page_size + 1, count=exact_up_to + 1)
    if _dialect(session) == "sqlite":
        await _fresh(session)
        total, people = await _search_fts(session, FtsRule(asker), terms, asked)
    else:
        total, people = await _search_sql(session, SqlRule(asker, DirectoryEntry), terms, asked)
    return SearchPage(
        total=min(total, exact_up_to),
        page=query.page,
        page_size=page_size,
        people=tuple(people[:page_size]),
        has_more=len(people) > page_size,
        more_than_total=total > exact_up_to,
    )


@dataclass(frozen=True)
class _Asked:
    """What a search statement reads: `size` rows from `offset` in rank order, and matches
    counted up to `count`."""

    offset: int
    size: int
    count: int


def search_terms(query: DirectoryQuery) -> SearchTerms:
    return SearchTerms(
        words=tuple(p for word in query.words if (p := tokens(word))),
        organisation=query.organisation,
        unit=query.unit,
        role=query.role,
        skill=tokens(query.skill) if query.skill else None,
    )


_FTS_NAMED = text(
    "SELECT e.user_id, e.display_name, e.job_title FROM directory_fts AS f "
    "JOIN directory_entries AS e ON e.position = f.rowid "
    "WHERE directory_fts MATCH :match ORDER BY f.rowid LIMIT :limit"
)
_FTS_COUNT = text(
    "SELECT count(*) FROM (SELECT 1 FROM directory_fts WHERE directory_fts MATCH :everyone "
    "LIMIT :counted)"
)


def _fts_page(tiers: int) -> Any:
    """One statement for a page: the tiers in rank order, each read in name order, stopped
    after `offset + limit` rows (SQLite reads a UNION ALL arm by arm, and FTS5 yields rows in
    position order), with the people's names and the total, counted up to `:counted`,
    beside them."""
    arms = " UNION ALL ".join(
        f"SELECT * FROM (SELECT {n} AS tier, rowid AS position FROM directory_fts "
        f"WHERE directory_fts MATCH :tier{n} ORDER BY rowid)"
        for n in range(tiers)
    )
    return text(
        "SELECT page.tier, page.position, e.user_id, e.display_name, e.job_title, "
        f"({_FTS_COUNT.text}) AS total "
        f"FROM ({arms} LIMIT :limit OFFSET :offset) AS page "
        "JOIN directory_entries AS e ON e.position = page.position"
    )


async def _search_fts(
    session: AsyncSession, rule: FtsRule, terms: SearchTerms, asked: _Asked
) -> tuple[int, list[PersonSummary]]:
    counting = {"everyone": rule.everyone(terms), "counted": asked.count}
    tiers = rule.tiers(terms)
    params: dict[str, Any] = {f"tier{n}": tier for n, tier in enumerate(tiers)}
    rows = (
        await session.execute(
            _fts_page(len(tiers)),
            {**params, **counting, "limit": asked.size, "offset": asked.offset},
        )
    ).all()
    if not rows:  # no total came back with the page: count on its own
        total = 0 if asked.offset == 0 else int(await session.scalar(_FTS_COUNT, counting) or 0)
        return total, []
    rows = sorted(rows, key=lambda row: (row.tier, row.position))  # the join need not keep it
    return rows[0].total, [PersonSummary(r.user_id, r.display_name, r.job_title) for r in rows]


#: Where each tier is cut for reading, as shares of the directory in name order. The word
#: index finds a tier's matches in no order, so a tier read whole is every match read and
#: sorted; cut, a page of a common word is filled from the matches in its first thirty-second,
#: and a tier goes on to the rest only when those are too few (a rare word: few to read).
_SHARES = (1 / 32,)


def _cuts(last_position: int | None) -> list[int]:
    """The positions where `_SHARES` cut the directory, in order (none when it is empty)."""
    return [int(last_position * share) for share in _SHARES] if last_position else []


#: Below this many matches a tier is read whole: it is quicker than asking the word index
#: once for each range.
_FEW = 500


async def _search_sql(
    session: AsyncSession, rule: SqlRule, terms: SearchTerms, asked: _Asked
) -> tuple[int, list[PersonSummary]]:
    """The total and a page in one statement (`_sql_search_statement`), each from the word
    index (`SqlRule.counting_queries`, `SqlRule.tier_conditions`), planned as the word index
    does well (`_planned_for_search`): two round trips in all."""
    tiers = range(1, rule.tier_count(terms) + 1)
    was, last_position = await _planned_for_search(session)
    cuts = _cuts(last_position)
    params: dict[str, Any] = {f"cut{n}": cut for n, cut in enumerate(cuts)}
    params |= {f"was{n}": was[name] for n, name in enumerate(_INDEX_PLAN)}
    params |= {"offset": asked.offset, "size": asked.size, "count": asked.count, "few": _FEW}
    queries = [rule.tier_query(terms, tier) for tier in tiers]
    if rule.exact(terms) and all(queries):
        # The usual search: every word is a parameter of one statement per shape.
        counting = rule.counting_queries(terms)
        statement = _indexed_search_statement(len(tiers), len(counting), len(cuts))
        params |= {f"words{tier}": query for tier, query in zip(tiers, queries, strict=True)}
        params |= {f"counting{n}": query for n, query in enumerate(counting)}
    else:
        conditions = [rule.tier_conditions(terms, tier) for tier in tiers]
        statement = _sql_search_statement(conditions, conditions, len(cuts))
    rows = (await session.execute(statement, params)).all()
    found = sorted((r for r in rows if r.user_id is not None), key=lambda r: (r.tier, r.position))
    return int(rows[0].total), [
        PersonSummary(r.user_id, r.display_name, r.job_title) for r in found
    ]


@cache
def _indexed_search_statement(tiers: int, counting: int, cuts: int) -> Select[Any]:
    """`_sql_search_statement` for terms the word index answers alone (`SqlRule.exact`): the
    index's queries are parameters (`words1`… each tier, `counting0`… the parts counted),
    so the statement is built and compiled once for each shape."""
    return _sql_search_statement(
        [[SqlRule.matching(bindparam(f"words{tier}"))] for tier in range(1, tiers + 1)],
        [[SqlRule.matching(bindparam(f"counting{n}"))] for n in range(counting)],
        cuts,
    )


def _sql_search_statement(
    tiers: Sequence[Sequence[ColumnElement[bool]]],
    counting: Sequence[Sequence[ColumnElement[bool]]],
    cuts: int,
) -> Select[Any]:
    """One statement for the total and a page: `tiers` are the matches of each tier in rank
    order, `counting` every match in parts that no entry is in twice. Its parameters:
    `cut0`…, `offset`, `size`, `count`, `few`, and `was0`… (`_INDEX_PLAN`'s settings as they
    were, set back as the statement ends).

    PostgreSQL reads a UNION ALL arm by arm and stops when its LIMIT is met. The total
    counts the parts in order up to `count`, so a word common in names or titles is never
    looked up in skills and bios. The page is the tiers in rank order, each in name order:
    when more than `few` match, each tier is read in ranges of name order split at the
    positions `cut0`… (`_SHARES`), so a page of a common word reads the matches in the
    first range of one tier, not every match; fewer, each tier is read whole, once."""
    entry = DirectoryEntry
    parts = union_all(
        *(select(literal(1)).select_from(entry).where(*conditions) for conditions in counting)
    ).limit(bindparam("count"))
    total = select(func.count().label("total")).select_from(parts.subquery()).cte("total")
    few = select(total.c.total).scalar_subquery() <= bindparam("few")
    bounds: list[BindParameter[Any] | None] = [
        None,
        *(bindparam(f"cut{n}") for n in range(cuts)),
        None,
    ]
    ranges: list[list[ColumnElement[bool]]] = [
        [
            *([] if start is None else [entry.position >= start]),
            *([] if end is None else [entry.position < end]),
        ]
        for start, end in pairwise(bounds)
    ]
    if cuts:  # few: no range but the last, which then starts at the first position
        ranges = [[*cut, ~few] for cut in ranges[:-1]] + [[or_(*ranges[-1], few)]]
    arms = [
        select(literal(tier).label("tier"), entry.position)
        .where(*conditions, *cut)
        .order_by(entry.position)
        .subquery(f"tier{tier}_{n}")
        for tier, conditions in enumerate(tiers, start=1)
        for n, cut in enumerate(ranges)
    ]
    page = (
        union_all(*(select(arm) for arm in arms))
        .offset(bindparam("offset"))
        .limit(bindparam("size"))
        .subquery("page")
    )
    # Run as the rows are made, after this statement is planned: the rest of the transaction
    # plans as it did before the search.
    set_back = [
        func.set_config(literal(name), bindparam(f"was{n}", type_=String), true())
        for n, name in enumerate(_INDEX_PLAN)
    ]
    return select(
        total.c.total,
        page.c.tier,
        page.c.position,
        entry.user_id,
        entry.display_name,
        entry.job_title,
        *set_back,
    ).select_from(total.outerjoin(page, true()).outerjoin(entry, entry.position == page.c.position))


#: How the search statement is planned. The planner prices testing a word list like
#: comparing two numbers, so for a common word it reads the whole directory (several times
#: slower than the index) or walks it in name order; a parallel plan would not read the
#: page's arms in order.
_INDEX_PLAN = {
    "enable_seqscan": "off",
    "enable_indexscan": "off",
    "max_parallel_workers_per_gather": "0",
    # A plan made for this search's words and cuts, never a cached one made blind to them.
    "plan_cache_mode": "force_custom_plan",
}


async def _planned_for_search(session: AsyncSession) -> tuple[dict[str, str], int | None]:
    """The entries brought up to date (`_fresh`) and `_INDEX_PLAN` set for this transaction,
    in one round trip; returns the settings as they were, for the search statement to set
    back, and the directory's last position (None when it is empty) for `_cuts`.

    Should the search statement fail, the settings stay until the transaction ends: the
    transaction has failed with it."""
    row = (await session.execute(_PLAN_FOR_SEARCH)).one()
    was = {name: row[n] for n, name in enumerate(_INDEX_PLAN)}
    stale, last_position = row[2 * len(_INDEX_PLAN) :]
    if stale:
        # The last position read before is close enough to cut at: any cut finds the same.
        await refresh(_engine(session))
    return was, last_position


#: Each of `_INDEX_PLAN`'s settings as it was, set as it says; whether any entry is out of
#: date; and the directory's last position.
_PLAN_FOR_SEARCH = select(
    *(func.current_setting(literal(name)) for name in _INDEX_PLAN),
    *(
        func.set_config(literal(name), literal(value), true())
        for name, value in _INDEX_PLAN.items()
    ),
    select(DirectoryDirty.user_id).limit(1).exists(),
    select(func.max(DirectoryEntry.position)).scalar_subquery(),
)


def may_open_charts(asker: Viewer) -> bool:
    """Team lists, unit pages and org charts say who is in which unit, which a card shows at
    the `partners` level: the same rule decides both."""
    return may_see(asker, "", None, "partners")


def check_may_open_charts(asker: Viewer) -> None:
    if not may_open_charts(asker):
        raise DirectoryError("Team lists are for staff and partner organisations.")


async def team(session: AsyncSession, asker: Viewer, reference: str) -> TeamListing:
    """A unit by key or name: its present members, managers first, and the units within it."""
    check_may_open_charts(asker)
    unit = await session.get(UnitRow, reference.lower()) or await session.scalar(
        select(UnitRow).where(func.lower(UnitRow.name) == reference.lower())
    )
    if unit is None:
        raise DirectoryError(f"I know no unit `{reference}`. Try its key or its full name.")
    await _fresh(session)
    entry = DirectoryEntry
    rows = (
        await session.execute(
            select(entry.user_id, entry.display_name, entry.job_title, entry.role).where(
                _in_unit(unit.key)
            )
        )
    ).all()
    members = sorted(rows, key=lambda r: (ROLE_ORDER.get(r.role, 9), r.display_name, r.user_id))
    children = list(
        await session.scalars(
            select(UnitRow).where(UnitRow.parent == unit.key).order_by(UnitRow.name)
        )
    )
    return TeamListing(
        unit.key,
        unit.name,
        tuple(PersonSummary(r.user_id, r.display_name, r.job_title) for r in members),
        tuple([await _summary(session, child.key, child.name) for child in children]),
    )


async def units(
    session: AsyncSession, asker: Viewer, query: DirectoryQuery, limit: int = 5
) -> tuple[UnitSummary, ...]:
    """The units every word of a search finds by key or name (`unit_matches`), within its
    `org:` if any: the one whose key is a word first, then by name. Only for those who may
    open a unit's list (staff and partners, as `team` decides); filters alone find none."""
    words = search_terms(query).words
    if not may_open_charts(asker) or not words:
        return ()
    rows = await session.execute(select(UnitRow.key, UnitRow.name, UnitRow.organisation))
    found = [
        (key, name)
        for key, name, organisation in rows
        if query.organisation in (None, organisation.lower()) and unit_matches(words, key, name)
    ]
    said = {" ".join(phrase) for phrase in words}
    found.sort(key=lambda unit: (" ".join(tokens(unit[0])) not in said, fold(unit[1]), unit[0]))
    await _fresh(session)
    return tuple([await _summary(session, key, name) for key, name in found[:limit]])


async def unit_preview(
    session: AsyncSession, key: str, leave_out: str, limit: int
) -> tuple[UnitSummary, tuple[PersonSummary, ...]] | None:
    """A unit's headcount and its first `limit` present people but `leave_out`, in `team`'s
    order (managers first, then by name), without reading the whole unit; None for a unit the
    chart no longer has."""
    unit = await session.get(UnitRow, key.lower())
    if unit is None:
        return None
    await _fresh(session)
    entry = DirectoryEntry
    rows = await session.execute(
        select(entry.user_id, entry.display_name, entry.job_title)
        .where(_in_unit(unit.key), entry.user_id != leave_out)
        .order_by(case(ROLE_ORDER, value=entry.role, else_=9), entry.position)
        .limit(limit)
    )
    people = tuple(PersonSummary(*row) for row in rows)
    return await _summary(session, unit.key, unit.name), people


async def _summary(session: AsyncSession, key: str, name: str) -> UnitSummary:
    count = await session.scalar(
        select(func.count()).select_from(DirectoryEntry).where(_in_unit(key))
    )
    return UnitSummary(key, name, int(count or 0))


def _in_unit(key: str) -> ColumnElement[bool]:
    return DirectoryEntry.units_text.contains(f"\n{key.lower()}\n", autoescape=True)


# --- Around one person: profile pages and the directory's opening view ---

#: How many profiles each person's "recently viewed" keeps.
RECENT_VIEWS = 10
#: A manager chain longer than this is cut: a chart is never that deep, and a loop that a
#: bad import made (A manages B manages A) must end.
MAX_CHAIN = 12


async def present_profile(session: AsyncSession, user_id: str) -> Profile:
    """The profile of someone present, or `DirectoryError` worded the same for someone who
    never was, who left and who was erased: none of the three can be told apart."""
    row = await session.get(Profile, user_id)
    if row is None or row.left_at is not None:
        raise DirectoryError(f"I have no profile for {user_id}.")
    return row


async def is_present(session: AsyncSession, user_id: str) -> bool:
    found = await session.scalar(
        select(Profile.user_id).where(Profile.user_id == user_id, Profile.left_at.is_(None))
    )
    return found is not None


_SUMMARY = (Profile.user_id, Profile.display_name, Profile.job_title)


async def manager_chain(session: AsyncSession, row: Profile) -> tuple[PersonSummary, ...]:
    """The present people above `row`, from the top of the chain down to their own manager."""
    chain: list[PersonSummary] = []
    seen = {row.user_id}
    manager = row.manager
    while manager and manager not in seen and len(chain) < MAX_CHAIN:
        seen.add(manager)
        found = (
            await session.execute(
                select(*_SUMMARY, Profile.manager).where(
                    Profile.user_id == manager, Profile.left_at.is_(None)
                )
            )
        ).first()
        if found is None:
            break
        chain.append(PersonSummary(found.user_id, found.display_name, found.job_title))
        manager = found.manager
    return tuple(reversed(chain))


async def reports(session: AsyncSession, user_id: str) -> tuple[PersonSummary, ...]:
    """The present people whose manager is `user_id`, by name."""
    rows = await session.execute(
        select(*_SUMMARY)
        .where(Profile.manager == user_id, Profile.left_at.is_(None))
        .order_by(Profile.display_name, Profile.user_id)
    )
    return tuple(PersonSummary(*row) for row in rows)


async def new_joiners(
    session: AsyncSession, asker: Viewer, since: datetime, limit: int = 12
) -> tuple[PersonSummary, ...]:
    """People who joined since `since`, newest first, in the organisations `asker` may see
    where people sit: every organisation for staff and partners, their own for community
    members (`sees_organisation`)."""
    query = select(*_SUMMARY).where(
        Profile.joined_at >= since, Profile.left_at.is_(None), Profile.user_id != asker.user_id
    )
    if asker.is_community:
        if asker.organisation is None:
            return ()
        query = query.where(Profile.organisation == asker.organisation)
    rows = await session.execute(
        query.order_by(Profile.joined_at.desc(), Profile.user_id).limit(limit)
    )
    return tuple(PersonSummary(*row) for row in rows)


async def record_view(session: AsyncSession, viewer_id: str, viewed: str, at: datetime) -> None:
    """Remember that `viewer_id` opened `viewed`'s profile; keep their newest RECENT_VIEWS.
    The caller commits."""
    views = ProfileViewRow
    await session.execute(delete(views).where(views.viewer == viewer_id, views.viewed == viewed))
    session.add(ProfileViewRow(viewer=viewer_id, viewed=viewed, viewed_at=at))
    await session.flush()
    older = (
        select(views.viewed)
        .where(views.viewer == viewer_id)
        .order_by(views.viewed_at.desc(), views.viewed)
        .offset(RECENT_VIEWS)
    )
    stale = list(await session.scalars(older))
    if stale:
        await session.execute(
            delete(views).where(views.viewer == viewer_id, views.viewed.in_(stale))
        )


async def recently_viewed(session: AsyncSession, viewer_id: str) -> tuple[PersonSummary, ...]:
    """The present people whose profiles `viewer_id` opened last, newest first."""
    rows = await session.execute(
        select(*_SUMMARY)
        .join(ProfileViewRow, ProfileViewRow.viewed == Profile.user_id)
        .where(ProfileViewRow.viewer == viewer_id, Profile.left_at.is_(None))
        .order_by(ProfileViewRow.viewed_at.desc(), Profile.user_id)
        .limit(RECENT_VIEWS)
    )
    return tuple(PersonSummary(*row) for row in rows)


# --- Keeping the entries current ---

#: Serialises PostgreSQL refreshes (SQLite's write lock already does): two at once could
#: give two new people the same position.
_REFRESH_LOCK = 0x426F726F  # "Boro"
_REFRESH_CACHE_KIB = -32768  # negative: KiB, so 32 MB


async def refresh(engine: AsyncEngine) -> int:
    """Rebuild the entries of people marked dirty; returns how many. Cheap when none are.

    It runs in its own transaction that first takes the dirty marks (so on SQLite it holds
    the write lock, and on PostgreSQL a concurrent edit marks the person dirty again): an
    edit is never lost between reading a profile and clearing its mark. People who left get
    no entry. A new or renamed person takes a position between their neighbours by name;
    when there is no room left there, everyone is renumbered.
    """
    async with AsyncSession(engine) as session:
        if await session.scalar(select(DirectoryDirty.user_id).limit(1)) is None:
            return 0
    sqlite = engine.dialect.name == "sqlite"
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        if sqlite:
            # FTS5 merges its segments through the page cache: at SQLite's default 2 MB, a
            # rebuild of 20,000 entries took 15 s; at 32 MB, 4 s. Only while this runs.
            cache_pages = int(await session.scalar(text("PRAGMA cache_size")))
            await session.execute(text(f"PRAGMA cache_size = {_REFRESH_CACHE_KIB}"))
        else:
            await session.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REFRESH_LOCK}
            )
        user_ids = list(
            await session.scalars(delete(DirectoryDirty).returning(DirectoryDirty.user_id))
        )
        table = _ENTRIES
        stored: dict[str, dict[str, Any]] = {}
        entries: list[dict[str, Any]] = []
        for chunk in _chunks(user_ids):
            stored |= {
                row["user_id"]: dict(row)
                for row in (
                    await session.execute(select(table).where(table.c.user_id.in_(chunk)))
                ).mappings()
            }
            entries += await _entries(session, chunk)
        # Rewrite only what changed: a touched but equal profile costs no index work.
        changed = [
            e for e in entries if (old := stored.get(e["user_id"])) is None or _unplaced(old) != e
        ]
        current = {e["user_id"] for e in entries}
        stale = [u for u in stored if u not in current] + [
            e["user_id"] for e in changed if e["user_id"] in stored
        ]
        if stale:
            await session.execute(delete(table).where(table.c.user_id.in_(stale)))
        if changed:
            await _place(session, changed, stored)
            # In position order: see migration 0012 on FTS5 and rowids going backwards.
            changed.sort(key=lambda e: e["position"])
            await session.execute(insert(table), changed)
        if sqlite:
            await session.execute(text(f"PRAGMA cache_size = {cache_pages}"))
    return len(user_ids)


async def _entries(session: AsyncSession, user_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Fresh entries (without positions) for the present people among `user_ids`."""
    people = await session.execute(
        select(
            Profile.user_id,
            Profile.username,
            Profile.display_name,
            Profile.job_title,
            Profile.organisation,
            Profile.role,
            Profile.units,
        ).where(Profile.user_id.in_(user_ids), Profile.left_at.is_(None))
    )
    fields: dict[str, dict[str, tuple[Any, str | None]]] = {}
    for user_id, name, value, visibility in await session.execute(
        select(
            ProfileFieldRow.user_id,
            ProfileFieldRow.name,
            ProfileFieldRow.value,
            ProfileFieldRow.visibility,
        ).where(ProfileFieldRow.user_id.in_(user_ids), ProfileFieldRow.name.in_(("skills", "bio")))
    ):
        fields.setdefault(user_id, {})[name] = (value, visibility)
    return [
        entry_columns(
            person,
            fields.get(person.user_id, {}).get("skills", ([], None)),
            fields.get(person.user_id, {}).get("bio", ("", None)),
        )
        for person in people
    ]


def _unplaced(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "position"}


async def _place(
    session: AsyncSession, changed: list[dict[str, Any]], stored: dict[str, dict[str, Any]]
) -> None:
    """Give each changed entry a position: its old one if its name is unchanged, else one
    between its neighbours; renumber everyone when a gap is used up."""
    entry = DirectoryEntry
    new: list[dict[str, Any]] = []
    for e in changed:
        old = stored.get(e["user_id"])
        if old is not None and old["display_name"] == e["display_name"]:
            e["position"] = old["position"]
        else:
            new.append(e)
    if not new:
        return
    kept = await session.execute(select(entry.display_name, entry.user_id, entry.position))
    existing = sorted(
        [(sort_key(name, user_id), position) for name, user_id, position in kept]
        + [
            (sort_key(e["display_name"], e["user_id"]), e["position"])
            for e in changed
            if "position" in e
        ]
    )
    new.sort(key=lambda e: sort_key(e["display_name"], e["user_id"]))
    positions = place(existing, [sort_key(e["display_name"], e["user_id"]) for e in new])
    if positions is not None:
        for e, position in zip(new, positions, strict=True):
            e["position"] = position
        return
    # No room: take everyone out and number them afresh (the entries are derived data).
    table = _ENTRIES
    others = [_unplaced(dict(row)) for row in (await session.execute(select(table))).mappings()]
    await session.execute(delete(table))
    everyone = sorted([*others, *changed], key=lambda e: sort_key(e["display_name"], e["user_id"]))
    for e, position in zip(everyone, numbered(len(everyone)), strict=True):
        e["position"] = position
    if others:
        await session.execute(insert(table), sorted(others, key=lambda e: e["position"]))


async def fresh(session: AsyncSession) -> None:
    """Bring the entries up to date before reading them (see `refresh`)."""
    await _fresh(session)


async def _fresh(session: AsyncSession) -> None:
    # The check runs in the caller's session: one cheap read when nothing is dirty.
    if await session.scalar(select(DirectoryDirty.user_id).limit(1)) is not None:
        await refresh(_engine(session))


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _dialect(session: AsyncSession) -> str:
    return _engine(session).dialect.name


def _engine(session: AsyncSession) -> AsyncEngine:
    bind = session.bind
    if not isinstance(bind, AsyncEngine):
        raise TypeError("directory queries need a session bound to an AsyncEngine")
    return bind
