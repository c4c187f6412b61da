"""Profiles in chat: `!profile`, `!profile set`, `!profile visibility`, `!whois`, `!find`, `!team`.

The questions are answered by `borough.directory` (shared with the widgets, visibility
applied there); this module words the answers for chat and makes a person's own edits.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import directory
from borough.db import Profile, ProfileFieldRow
from borough.directory import (
    EDITABLE,
    Card,
    DirectoryError,
    DirectoryQuery,
    PersonSummary,
    Place,
    SearchPage,
)
from borough.profile_mirror import ProfileMirror
from borough.profile_page import profile_path
from borough.wording import count
from bots.commands import Arg, Commands, Request, UsageError

#: Each field a person may set themselves (`borough.directory.EDITABLE`): its validation
#: and default visibility.
DEFAULT_VISIBILITY = {
    "title": "partners",
    "bio": "partners",
    "skills": "partners",
    "location": "staff",
    "pronouns": "partners",
    "phone": "staff",
    # Whether `!ask` may send you questions (bots.ask): seen by those who may ask you.
    "available": "partners",
}
_LIMITS = {"title": 100, "bio": 500, "location": 100, "pronouns": 30, "phone": 25}
AVAILABLE_CHOICES = ("yes", "no")
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
    if field == "available":
        if value.lower() not in AVAILABLE_CHOICES:
            raise UsageError(
                "Available is `yes` (questions that match your skills may be sent to you) or `no`."
            )
        return value.lower()
    if len(value) > _LIMITS[field]:
        raise UsageError(f"{field.capitalize()} is too long: at most {_LIMITS[field]} characters.")
    if field == "phone" and not _PHONE.match(value):
        raise UsageError(
            "That does not look like a phone number, e.g. 020 7946 0000 or +44 20 7946 0000."
        )
    return value


@dataclass
class ProfileDirectory:
    """The directory's answers (`borough.directory`) in chat form, and a person's own edits."""

    sessions: async_sessionmaker[AsyncSession]
    server_name: str
    #: Pushes a person's public fields to their Matrix profile after their own edit (MSC4133);
    #: None when the bot runs without the service account's token.
    mirror: ProfileMirror | None = None
    #: The widget server as people reach it: a card links to the person's profile page there.
    public_url: str | None = None

    async def card(self, viewer_id: str, owner_id: str) -> str:
        async with self.sessions() as session:
            asker = await directory.viewer(session, viewer_id)
            with _usage():
                shown = await directory.card(session, asker, owner_id)
            place = await directory.place_of(session, shown.organisation, shown.units)
        page = f"{self.public_url.rstrip('/')}{profile_path(owner_id)}" if self.public_url else None
        return render_card(shown, place, page)

    async def find_people(self, text: str, limit: int = 10) -> list[PersonSummary]:
        async with self.sessions() as session:
            return await directory.find_people(session, text, self.server_name, limit)

    async def search(self, viewer_id: str, query: DirectoryQuery, page_size: int = 10) -> str:
        async with self.sessions() as session:
            asker = await directory.viewer(session, viewer_id)
            found = await directory.search(session, asker, query, page_size)
        return render_search(found)

    async def team(self, viewer_id: str, reference: str) -> str:
        async with self.sessions() as session:
            asker = await directory.viewer(session, viewer_id)
            with _usage():
                listing = await directory.team(session, asker, reference)
        lines = [f"**{listing.name}** ({count(len(listing.members), 'person', 'people')})", ""]
        lines += [_summary(person) for person in listing.members] or ["- nobody yet"]
        if listing.sub_units:
            lines += ["", "Teams within:"]
            lines += [
                f"- {u.name} (`!team {u.key}`, {count(u.member_count, 'person', 'people')})"
                for u in listing.sub_units
            ]
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
        await self._mirror(user_id)
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
        await self._mirror(user_id)
        return f"Your {field} is now visible to **{visibility}**."

    async def _mirror(self, user_id: str) -> None:
        if self.mirror is not None:
            await self.mirror.sync_person(user_id)

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


def render_card(card: Card, place: Place, page_url: str | None = None) -> str:
    """A profile card: the name and title, where they sit, then one line per detail, and a
    link to their profile page. The blank line matters: Markdown without it runs the details
    into the name's paragraph, and Element showed the whole card as one line joined by " - "."""
    lines = [f"**{card.display_name}**" + (f" — {card.title}" if card.title else ""), ""]
    if place.organisation:
        lines.append(f"- Organisation: {place.organisation}")
    if place.units:
        lines.append(f"- {'Unit' if len(place.units) == 1 else 'Units'}: {', '.join(place.units)}")
    if card.manager_name:
        lines.append(f"- Manager: {card.manager_name}")
    if card.email:
        lines.append(f"- Email: {card.email}")
    lines += [f"- {name.capitalize()}: {shown}" for name, shown in card.fields]
    lines.append(f"- Matrix: {card.user_id}")
    if page_url:
        lines.append(f"- Profile page: [{card.display_name}]({page_url})")
    return "\n".join(lines)


def parse_query(words: list[str]) -> DirectoryQuery:
    with _usage():
        return directory.parse_query(words)


def render_search(found: SearchPage) -> str:
    """A page of `!find` results as a chat message. Past `directory.EXACT_TOTAL` matches it
    says "more than" that many and how to narrow the search."""
    if found.total == 0:
        return "Nobody matches that. Try fewer words, or a filter such as `org:` or `unit:`."
    matching = _matching(found)
    if not found.people:
        in_all = "" if found.more_than_total else " in all"
        return f"Page {found.page} is past the end: {matching}{in_all}."
    lines = [f"**{matching[0].upper()}{matching[1:]}** (page {found.page})", ""]
    if found.more_than_total:
        lines += [
            "Add a word, a unit or an organisation to narrow the search, "
            "e.g. `unit:housing` or `org:police`.",
            "",
        ]
    lines += [_summary(person) for person in found.people]
    if found.has_more:
        lines += ["", f"More: add `page:{found.page + 1}` to your search."]
    return "\n".join(lines)


def _matching(found: SearchPage) -> str:
    """ "12 people match", or "more than 1,000 people match"."""
    if found.more_than_total:
        return f"more than {found.total:,} people match"
    return f"{found.total:,} {'person matches' if found.total == 1 else 'people match'}"


def _summary(person: PersonSummary) -> str:
    title = f", {person.job_title}" if person.job_title else ""
    return f"- {person.display_name}{title} ({person.user_id})"


@contextmanager
def _usage() -> Iterator[None]:
    """The directory's refusals are answers to the person, like the registry's."""
    try:
        yield
    except DirectoryError as exc:
        raise UsageError(str(exc)) from None


# --- commands ------------------------------------------------------------------------------------

COMMANDS = Commands(ProfileDirectory)


@COMMANDS.command("profile", help="Show your own profile card.")
async def profile(profiles: ProfileDirectory, request: Request) -> str:
    return await profiles.card(request.sender, request.sender)


@COMMANDS.command(
    "profile set",
    Arg("field", "which field", choices=EDITABLE),
    Arg("value", "the new value; skills are separated by commas", is_rest=True),
    help="Set a field of your profile.",
)
async def profile_set(profiles: ProfileDirectory, request: Request, field: str, value: str) -> str:
    return await profiles.set_field(request.sender, field, value)


@COMMANDS.command(
    "profile visibility",
    Arg("field", "which field", choices=EDITABLE),
    Arg("audience", "who may see it", choices=("staff", "partners", "public")),
    help="Choose who sees a field: your organisation (staff), partner organisations too, or everyone.",
)
async def profile_visibility(
    profiles: ProfileDirectory, request: Request, field: str, audience: str
) -> str:
    return await profiles.set_visibility(request.sender, field, audience)


@COMMANDS.command(
    "whois",
    Arg("person", "@user:server or part of a name", is_rest=True, max_length=100),
    help="Show someone's profile card.",
)
async def whois(profiles: ProfileDirectory, request: Request, person: str) -> str:
    matches = await profiles.find_people(person)
    if not matches:
        raise UsageError(f"Nobody matches `{person}`. Try part of their name, or `@username`.")
    if len(matches) > 1:
        names = "\n".join(f"- {m.display_name} ({m.user_id})" for m in matches)
        return (
            f"{count(len(matches), 'person', 'people')} match `{person}`:\n\n{names}\n\n"
            "Ask again with their `@username`."
        )
    return await profiles.card(request.sender, matches[0].user_id)


@COMMANDS.command(
    "find",
    Arg(
        "query",
        'words and filters: org:KEY unit:KEY skill:"…" role:ROLE page:N',
        is_rest=True,
        keeps_quotes=True,
        max_length=300,
        convert=lambda words: parse_query(shlex.split(words)),
    ),
    help="Search the people directory, ranked; only fields you may see are searched.",
)
async def find(profiles: ProfileDirectory, request: Request, query: DirectoryQuery) -> str:
    return await profiles.search(request.sender, query)


@COMMANDS.command(
    "team",
    Arg("unit", "a unit's key or name", is_rest=True, max_length=255),
    help="The members of a unit, managers first, and the teams within it.",
)
async def team(profiles: ProfileDirectory, request: Request, unit: str) -> str:
    return await profiles.team(request.sender, unit)
