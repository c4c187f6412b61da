"""The people directory for one viewer: search, whois, cards and team lists, as plain data.

The bot formats these answers for chat and the widget server for the web, so both say the
same thing, and every field has passed the visibility rule (`borough.visibility`) before it
leaves this module. Searches run in SQL over `directory_entries`: lower-cased text derived
from profiles, rebuilt by `refresh` for the people that database triggers marked dirty.

Every query function takes an `AsyncSession` from `borough.db.session_factory` and raises
`DirectoryError` (whose message a person can act on) for a question it cannot answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    delete,
    func,
    insert,
    literal,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from borough.db import DirectoryDirty, DirectoryEntry, Profile, ProfileFieldRow, UnitRow
from borough.visibility import Viewer, may_see, may_see_clause

#: Managers first in team lists; everyone else after them, by name.
ROLE_ORDER = {"senior_manager": 0, "manager": 1}
FILTERS = ("org", "unit", "skill", "role", "page")
CARD_FIELDS = ("pronouns", "bio", "skills", "location", "phone")
_CHUNK = 500  # ids per IN (...) list, well under SQLite's and asyncpg's parameter limits


class DirectoryError(Exception):
    """The directory cannot answer this; the message says what to ask instead."""


# --- Plain answers ---


@dataclass(frozen=True)
class PersonSummary:
    user_id: str
    display_name: str
    job_title: str | None


@dataclass(frozen=True)
class SearchPage:
    """One page of ranked matches; `total` counts every match, not just this page."""

    total: int
    page: int
    page_size: int
    people: tuple[PersonSummary, ...]

    @property
    def has_more(self) -> bool:
        return self.total > self.page * self.page_size


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
class SubUnit:
    key: str
    name: str
    member_count: int


@dataclass(frozen=True)
class TeamListing:
    key: str
    name: str
    members: tuple[PersonSummary, ...]  # managers first, then by name
    sub_units: tuple[SubUnit, ...]


@dataclass(frozen=True)
class DirectoryQuery:
    words: tuple[str, ...]
    organisation: str | None = None
    unit: str | None = None
    skill: str | None = None
    role: str | None = None
    page: int = 1


def parse_query(words: Sequence[str]) -> DirectoryQuery:
    """`safeguarding org:police skill:"family support"` (already split) → words and filters."""
    free: list[str] = []
    filters: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key.lower() in FILTERS:
            if not value:
                raise DirectoryError(f"`{key}:` needs a value, e.g. `{key}:housing`.")
            filters[key.lower()] = value.lower()
        else:
            free.append(word.lower())
    page = filters.pop("page", "1")
    if not page.isdigit() or int(page) < 1:
        raise DirectoryError(f"`page:{page}` is not a page number.")
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
        int(page),
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
    row = await session.get(Profile, owner_id)
    if row is None or row.left_at is not None:
        raise DirectoryError(f"I have no profile for {owner_id}.")
    manager = (
        await session.scalar(select(Profile.display_name).where(Profile.user_id == row.manager))
        if row.manager
        else None
    )
    return card_for(asker, row, manager)


def card_for(asker: Viewer, row: Profile, manager_name: str | None) -> Card:
    """The card `asker` may see. Organisation details are for staff and partners only."""

    def visible(visibility: str) -> bool:
        return may_see(asker, row.user_id, row.organisation, visibility)

    fields = {f.name: f.value for f in row.fields if visible(f.visibility)}
    title = row.job_title or (str(fields["title"]) if "title" in fields else None)
    partners = visible("partners")
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


async def find_people(
    session: AsyncSession, text: str, server_name: str, limit: int = 10
) -> list[PersonSummary]:
    """`@user`, `@user:server`, a username or part of a display name → present people."""
    if text.startswith("@"):
        user_id = text if ":" in text else f"{text}:{server_name}"
        found = await session.execute(
            select(Profile.user_id, Profile.display_name, Profile.job_title).where(
                Profile.user_id == user_id, Profile.left_at.is_(None)
            )
        )
        return [PersonSummary(*row) for row in found]
    await _fresh(session)
    wanted = text.lower()
    entry = DirectoryEntry
    texts = _Text(_engine(session).dialect.name)
    candidates = texts.candidates([wanted])
    rows = await session.execute(
        select(entry.user_id, entry.display_name, entry.job_title)
        .where(*([candidates] if candidates is not None else []))
        .where(or_(texts.has(entry.name_text, wanted), entry.username == wanted))
        .order_by(entry.display_name, entry.user_id)
        .limit(limit)
    )
    return [PersonSummary(*row) for row in rows]


async def search(
    session: AsyncSession, asker: Viewer, query: DirectoryQuery, page_size: int = 10
) -> SearchPage:
    """Ranked matches, best first, then by name. Every word must match a field the asker may
    see: the name or username (3 points), job title (2), skills (2) or bio (1)."""
    await _fresh(session)
    entry = DirectoryEntry
    conditions, points = _match(asker, query, _Text(_engine(session).dialect.name))
    # Two passes beat one with count(*) OVER (): that window keeps every match in a temporary
    # table, while ORDER BY ... LIMIT alone keeps only the page.
    rows = (
        await session.execute(
            select(entry.user_id, entry.display_name, entry.job_title)
            .where(*conditions)
            .order_by(points.desc(), entry.display_name, entry.user_id)
            .offset((query.page - 1) * page_size)
            .limit(page_size)
        )
    ).all()
    if query.page == 1 and len(rows) < page_size:
        total = len(rows)  # all of them are on this page
    else:
        counted = select(func.count()).select_from(DirectoryEntry).where(*conditions)
        total = int(await session.scalar(counted) or 0)
    people = tuple(PersonSummary(user_id, name, title) for user_id, name, title in rows)
    return SearchPage(total, query.page, page_size, people)


def _match(
    asker: Viewer, query: DirectoryQuery, texts: _Text
) -> tuple[list[ColumnElement[bool]], ColumnElement[int]]:
    entry = DirectoryEntry
    skills_visible = may_see_clause(
        asker, entry.user_id, entry.organisation, entry.skills_visibility
    )
    bio_visible = may_see_clause(asker, entry.user_id, entry.organisation, entry.bio_visibility)
    conditions: list[ColumnElement[bool]] = []
    candidates = texts.candidates([*query.words, *([query.skill] if query.skill else [])])
    if candidates is not None:
        conditions.append(candidates)
    if query.organisation:
        conditions.append(entry.org_key == query.organisation)
    if query.unit:
        conditions.append(texts.has(entry.units_text, f"\n{query.unit}\n"))
    if query.role:
        conditions.append(entry.role == query.role)
    if query.skill:
        conditions.append(and_(skills_visible, texts.has(entry.skills_text, query.skill)))
    points: ColumnElement[int] = literal(1)
    for word in query.words:
        hits = (
            (or_(texts.has(entry.name_text, word), entry.username == word), 3),
            (texts.has(entry.title_text, word), 2),
            (and_(skills_visible, texts.has(entry.skills_text, word)), 2),
            (and_(bio_visible, texts.has(entry.bio_text, word)), 1),
        )
        conditions.append(or_(*(hit for hit, _ in hits)))
        for hit, worth in hits:
            points = points + case((hit, worth), else_=0)
    return conditions, points


@dataclass(frozen=True)
class _Text:
    """Substring tests in the backend's cheapest form (the texts are lower-cased already)."""

    dialect: str

    def has(self, column: ColumnElement[str], needle: str) -> ColumnElement[bool]:
        if self.dialect == "sqlite":
            return func.instr(column, needle) > 0
        return func.strpos(column, needle) > 0

    def candidates(self, needles: Sequence[str]) -> ColumnElement[bool] | None:
        """On SQLite, the entries whose text holds every needle of 3+ characters, found in
        the trigram index (shorter ones it cannot look up). None: no narrowing possible."""
        usable = [n for n in needles if len(n) >= 3]
        if self.dialect != "sqlite" or not usable:
            return None
        match = " AND ".join('"' + n.replace('"', '""') + '"' for n in usable)
        found = text("SELECT rowid FROM directory_fts WHERE directory_fts MATCH :match")
        return literal_column("directory_entries.rowid").in_(found.bindparams(match=match))


async def team(session: AsyncSession, asker: Viewer, reference: str) -> TeamListing:
    """A unit by key or name: its present members, managers first, and the units within it."""
    if asker.is_community:
        raise DirectoryError("Team lists are for staff and partner organisations.")
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
    sub_units = []
    for child in children:
        count = await session.scalar(
            select(func.count()).select_from(DirectoryEntry).where(_in_unit(child.key))
        )
        sub_units.append(SubUnit(child.key, child.name, int(count or 0)))
    return TeamListing(
        unit.key,
        unit.name,
        tuple(PersonSummary(r.user_id, r.display_name, r.job_title) for r in members),
        tuple(sub_units),
    )


def _in_unit(key: str) -> ColumnElement[bool]:
    return DirectoryEntry.units_text.contains(f"\n{key.lower()}\n", autoescape=True)


# --- Keeping the entries current ---


class PersonColumns(Protocol):
    """The profile columns a directory entry is made from (an ORM row or a selected row)."""

    user_id: str
    username: str
    display_name: str
    job_title: str | None
    organisation: str | None
    role: str
    units: list[str]


#: Field name → (value, visibility), for the fields the directory searches.
SearchedFields = Mapping[str, tuple[Any, str]]


def entry_for(person: PersonColumns, fields: SearchedFields) -> dict[str, Any]:
    """A present person's directory entry as column values, lower-cased for substring tests."""
    skills, skills_visibility = fields.get("skills", ([], None))
    bio, bio_visibility = fields.get("bio", ("", None))
    skill_list = skills if isinstance(skills, list) else []
    entry: dict[str, Any] = {
        "user_id": person.user_id,
        "display_name": person.display_name,
        "username": person.username,
        "job_title": person.job_title,
        "organisation": person.organisation,
        "org_key": person.organisation.lower() if person.organisation else None,
        "role": person.role,
        "name_text": person.display_name.lower(),
        "title_text": (person.job_title or "").lower(),
        # Newline-delimited, so a filter matches one whole unit or within one skill only.
        "units_text": "".join(f"\n{u.lower()}" for u in person.units) + "\n",
        "skills_text": "\n".join(str(s).lower() for s in skill_list),
        "skills_visibility": skills_visibility,
        "bio_text": str(bio).lower() if bio_visibility is not None else "",
        "bio_visibility": bio_visibility,
    }
    entry["search_text"] = "\n".join(
        (
            entry["name_text"],
            person.username,
            entry["title_text"],
            entry["skills_text"],
            entry["bio_text"],
        )
    )
    return entry


async def refresh(engine: AsyncEngine) -> int:
    """Rebuild the entries of people marked dirty; returns how many. Cheap when none are.

    It runs in its own transaction that first takes the dirty marks (so on SQLite it holds
    the write lock, and on PostgreSQL a concurrent edit marks the person dirty again): an
    edit is never lost between reading a profile and clearing its mark. People who left get
    no entry.
    """
    async with AsyncSession(engine) as session:
        if await session.scalar(select(DirectoryDirty.user_id).limit(1)) is None:
            return 0
    async with AsyncSession(engine, expire_on_commit=False) as session, session.begin():
        user_ids = list(
            await session.scalars(delete(DirectoryDirty).returning(DirectoryDirty.user_id))
        )
        table = DirectoryEntry.__table__
        for chunk in _chunks(user_ids):
            stored = {
                row["user_id"]: dict(row)
                for row in (
                    await session.execute(select(table).where(table.c.user_id.in_(chunk)))
                ).mappings()
            }
            people = await session.execute(
                select(
                    Profile.user_id,
                    Profile.username,
                    Profile.display_name,
                    Profile.job_title,
                    Profile.organisation,
                    Profile.role,
                    Profile.units,
                ).where(Profile.user_id.in_(chunk), Profile.left_at.is_(None))
            )
            fields: dict[str, dict[str, tuple[Any, str]]] = {}
            for user_id, name, value, visibility in await session.execute(
                select(
                    ProfileFieldRow.user_id,
                    ProfileFieldRow.name,
                    ProfileFieldRow.value,
                    ProfileFieldRow.visibility,
                ).where(
                    ProfileFieldRow.user_id.in_(chunk), ProfileFieldRow.name.in_(("skills", "bio"))
                )
            ):
                fields.setdefault(user_id, {})[name] = (value, visibility)
            entries = [entry_for(p, fields.get(p.user_id, {})) for p in people]  # type: ignore[arg-type]
            # Rewrite only what changed: a touched but equal profile costs no index work.
            changed = [e for e in entries if stored.get(e["user_id"]) != e]
            current = {e["user_id"] for e in entries}
            gone = [u for u in stored if u not in current]
            stale = gone + [e["user_id"] for e in changed if e["user_id"] in stored]
            if stale:
                await session.execute(delete(table).where(table.c.user_id.in_(stale)))
            if changed:
                await session.execute(insert(table), changed)
    return len(user_ids)


async def _fresh(session: AsyncSession) -> None:
    # The check runs in the caller's session: one cheap read when nothing is dirty.
    if await session.scalar(select(DirectoryDirty.user_id).limit(1)) is not None:
        await refresh(_engine(session))


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def _engine(session: AsyncSession) -> AsyncEngine:
    bind = session.bind
    if not isinstance(bind, AsyncEngine):
        raise TypeError("directory queries need a session bound to an AsyncEngine")
    return bind
