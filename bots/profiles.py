"""Profile cards and edits: `!profile`, `!profile set`, `!profile visibility`, `!whois`.

Queries live here, not in the handlers; every answer passes through `may_see`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import Profile, ProfileFieldRow, UnitRow
from bots.commands import UsageError
from bots.visibility import Viewer, may_see

#: Fields a person may set themselves, with their validation and default visibility.
EDITABLE = ("title", "bio", "skills", "location", "pronouns", "phone")
DEFAULT_VISIBILITY = {
    "title": "partners",
    "bio": "partners",
    "skills": "partners",
    "location": "staff",
    "pronouns": "partners",
    "phone": "staff",
}
_LIMITS = {"title": 100, "bio": 500, "location": 100, "pronouns": 30, "phone": 25}
_ROLE_ORDER = {"senior_manager": 0, "manager": 1}
_PHONE = re.compile(r"^\+?[0-9 ()-]{6,24}$")


def validate(field: str, value: str) -> str | list[str]:
    value = value.strip()
    if not value:
        raise UsageError(f"Give a value for {field}.")
    if field == "skills":
        skills = [s.strip() for s in value.split(",") if s.strip()]
        if len(skills) > 20 or any(len(s) > 50 for s in skills):
            raise UsageError("Skills: at most 20, separated by commas, each up to 50 characters.")
        return skills
    if len(value) > _LIMITS[field]:
        raise UsageError(f"{field.capitalize()} is too long: at most {_LIMITS[field]} characters.")
    if field == "phone" and not _PHONE.match(value):
        raise UsageError(
            "That does not look like a phone number, e.g. 020 7946 0000 or +44 20 7946 0000."
        )
    return value


@dataclass
class ProfileDirectory:
    sessions: async_sessionmaker[AsyncSession]
    server_name: str

    async def viewer(self, user_id: str) -> Viewer:
        async with self.sessions() as session:
            row = await session.get(Profile, user_id)
        if row is None or row.left_at is not None:
            return Viewer(user_id, None, None)
        return Viewer(user_id, row.organisation, row.role)

    async def card(self, viewer_id: str, owner_id: str) -> str:
        viewer = await self.viewer(viewer_id)
        async with self.sessions() as session:
            row = await session.get(Profile, owner_id)
            if row is None or row.left_at is not None:
                raise UsageError(f"I have no profile for {owner_id}.")
            manager = await session.get(Profile, row.manager) if row.manager else None
        return render_card(viewer, row, manager)

    async def find_people(self, query: str, limit: int = 10) -> list[Profile]:
        if query.startswith("@"):
            user_id = query if ":" in query else f"{query}:{self.server_name}"
            async with self.sessions() as session:
                row = await session.get(Profile, user_id)
            return [row] if row is not None and row.left_at is None else []
        pattern = f"%{query.lower()}%"
        async with self.sessions() as session:
            rows = await session.scalars(
                select(Profile)
                .where(Profile.left_at.is_(None))
                .where(
                    or_(
                        func.lower(Profile.display_name).like(pattern),
                        func.lower(Profile.username) == query.lower(),
                    )
                )
                .order_by(Profile.display_name)
                .limit(limit)
            )
            return list(rows)

    async def search(self, viewer_id: str, query: DirectoryQuery, page_size: int = 10) -> str:
        page = query.page
        viewer = await self.viewer(viewer_id)
        async with self.sessions() as session:
            rows = list(await session.scalars(select(Profile).where(Profile.left_at.is_(None))))
        ranked = sorted(
            ((score(viewer, row, query), row) for row in rows),
            key=lambda pair: (-pair[0], pair[1].display_name),
        )
        matches = [row for points, row in ranked if points > 0]
        if not matches:
            return "Nobody matches that. Try fewer words, or a filter such as `org:` or `unit:`."
        shown = matches[(page - 1) * page_size : page * page_size]
        if not shown:
            return f"There are only {len(matches)} matches."
        lines = [f"**{len(matches)} people match** (page {page})", ""]
        lines += [
            f"- {row.display_name}"
            + (f", {row.job_title}" if row.job_title else "")
            + f" ({row.user_id})"
            for row in shown
        ]
        if len(matches) > page * page_size:
            lines += ["", f"More: add `page:{page + 1}` to your search."]
        return "\n".join(lines)

    async def team(self, viewer_id: str, reference: str) -> str:
        viewer = await self.viewer(viewer_id)
        if viewer.is_community:
            raise UsageError("Team lists are for staff and partner organisations.")
        async with self.sessions() as session:
            unit = await session.get(UnitRow, reference.lower()) or await session.scalar(
                select(UnitRow).where(func.lower(UnitRow.name) == reference.lower())
            )
            if unit is None:
                raise UsageError(f"I know no unit `{reference}`. Try its key or its full name.")
            people = list(await session.scalars(select(Profile).where(Profile.left_at.is_(None))))
            children = list(
                await session.scalars(
                    select(UnitRow).where(UnitRow.parent == unit.key).order_by(UnitRow.name)
                )
            )
        members = sorted(
            (p for p in people if unit.key in p.units),
            key=lambda p: (_ROLE_ORDER.get(p.role, 9), p.display_name),
        )
        lines = [f"**{unit.name}** ({len(members)} people)", ""]
        lines += [
            f"- {p.display_name}" + (f", {p.job_title}" if p.job_title else "") + f" ({p.user_id})"
            for p in members
        ] or ["- nobody yet"]
        if children:
            counts = {c.key: sum(c.key in p.units for p in people) for c in children}
            lines += ["", "Teams within:"]
            lines += [f"- {c.name} (`!team {c.key}`, {counts[c.key]} people)" for c in children]
        return "\n".join(lines)

    async def set_field(self, user_id: str, field: str, raw: str) -> str:
        value = validate(field, raw)
        async with self.sessions.begin() as session:
            row = await self._own_row(session, user_id)
            existing = next((f for f in row.fields if f.name == field), None)
            if existing is not None and existing.source == "org":
                raise UsageError(_managed(field))
            if field == "title" and row.job_title:
                raise UsageError(_managed("title"))
            if existing is None:
                row.fields.append(
                    ProfileFieldRow(
                        name=field, value=value, visibility=DEFAULT_VISIBILITY[field], source="self"
                    )
                )
                visibility = DEFAULT_VISIBILITY[field]
            else:
                existing.value = value
                visibility = existing.visibility
        return f"Your {field} is set, visible to **{visibility}**."

    async def set_visibility(self, user_id: str, field: str, visibility: str) -> str:
        async with self.sessions.begin() as session:
            row = await self._own_row(session, user_id)
            existing = next((f for f in row.fields if f.name == field), None)
            if existing is None:
                raise UsageError(
                    f"You have no {field} yet: set it first with `!profile set {field} …`."
                )
            if existing.source == "org":
                raise UsageError(_managed(field))
            existing.visibility = visibility
        return f"Your {field} is now visible to **{visibility}**."

    async def _own_row(self, session: AsyncSession, user_id: str) -> Profile:
        row = await session.get(Profile, user_id)
        if row is None:
            row = Profile(
                user_id=user_id,
                username=user_id[1:].split(":", 1)[0],
                display_name=user_id[1:].split(":", 1)[0],
                units=[],
                role="community",
                is_managed=False,
                fields=[],
            )
            session.add(row)
        return row


def _managed(field: str) -> str:
    return f"Your {field} comes from your organisation's org chart; ask your Borough admin to change it."


def render_card(viewer: Viewer, row: Profile, manager: Profile | None) -> str:
    visible: Callable[[str], bool] = lambda v: may_see(viewer, row.user_id, row.organisation, v)  # noqa: E731
    fields = {f.name: f for f in row.fields if visible(f.visibility)}
    title = row.job_title or (fields["title"].value if "title" in fields else None)
    lines = [f"**{row.display_name}**" + (f" — {title}" if title else "")]
    if visible("partners"):
        if row.organisation:
            lines.append(f"- Organisation: {row.organisation}")
        if row.units:
            lines.append(f"- Units: {', '.join(row.units)}")
        if manager is not None:
            lines.append(f"- Manager: {manager.display_name}")
        if row.email:
            lines.append(f"- Email: {row.email}")
    for name in ("pronouns", "bio", "skills", "location", "phone"):
        if name in fields:
            value = fields[name].value
            shown = ", ".join(value) if isinstance(value, list) else str(value)
            lines.append(f"- {name.capitalize()}: {shown}")
    lines.append(f"- Matrix: {row.user_id}")
    return "\n".join(lines)


@dataclass(frozen=True)
class DirectoryQuery:
    words: tuple[str, ...]
    organisation: str | None = None
    unit: str | None = None
    skill: str | None = None
    role: str | None = None
    page: int = 1


_FILTERS = ("org", "unit", "skill", "role", "page")


def parse_query(words: list[str]) -> DirectoryQuery:
    """`safeguarding org:police skill:"family support"` → words and filters."""
    free: list[str] = []
    filters: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key.lower() in _FILTERS:
            if not value:
                raise UsageError(f"`{key}:` needs a value, e.g. `{key}:housing`.")
            filters[key.lower()] = value.lower()
        else:
            free.append(word.lower())
    page = filters.pop("page", "1")
    if not page.isdigit() or int(page) < 1:
        raise UsageError(f"`page:{page}` is not a page number.")
    if not free and not filters:
        raise UsageError(
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


def score(viewer: Viewer, row: Profile, query: DirectoryQuery) -> int:
    """0 means no match. Only fields the viewer may see count, so search never leaks them."""
    fields = {
        f.name: f.value
        for f in row.fields
        if may_see(viewer, row.user_id, row.organisation, f.visibility)
    }
    skills = (
        [s.lower() for s in fields.get("skills", []) or []]
        if isinstance(fields.get("skills"), list)
        else []
    )
    if query.organisation and (row.organisation or "").lower() != query.organisation:
        return 0
    if query.unit and query.unit not in [u.lower() for u in row.units]:
        return 0
    if query.role and row.role != query.role:
        return 0
    if query.skill and not any(query.skill in s for s in skills):
        return 0
    total = 1
    for word in query.words:
        points = 0
        if word in row.display_name.lower() or word == row.username:
            points += 3
        if word in (row.job_title or "").lower():
            points += 2
        if any(word in s for s in skills):
            points += 2
        if word in str(fields.get("bio", "")).lower():
            points += 1
        if points == 0:
            return 0
        total += points
    return total
