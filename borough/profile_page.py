"""A person's profile page and the directory's opening view, for one viewer, as plain data.

Every field comes through `borough.directory` (the rule `!whois` follows), and every post
and channel through `borough.readers` (the rule `!feed` follows): a field hidden from
someone in chat is hidden here, and a sealed channel's posts never reach an outsider.
The widget server shapes these answers for the web.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from borough import directory, readers
from borough.blogs import render_markdown
from borough.db import ChannelMember, ChannelRow, PartnershipRow, Post, Profile, UnitRow
from borough.directory import Card, PersonSummary, Place, UnitSummary
from borough.visibility import Viewer

#: Someone reading the public pages, signed out: no id (no channel has "" as a member), no
#: organisation, so they see what is public and nothing else.
SIGNED_OUT = Viewer("", None, None)
#: How many of a person's posts their page shows.
RECENT_POSTS = 10
#: New joiners are those whose profile was first written within this long.
NEW_JOINER_WINDOW = timedelta(days=7)
#: Of the viewer's own unit, the opening view lists this many people (the unit page has all).
UNIT_PREVIEW = 12
#: Contact fields, in the order a page shows them (email comes with the card).
CONTACT_FIELDS = ("phone", "location")


def profile_path(user_id: str) -> str:
    """A person's profile page on the widget server. Every name Borough shows links here:
    the widgets, the timeline, `!whois` (after the server's public URL)."""
    return f"/widgets/people/{quote(user_id, safe='@:')}"


def is_public_person(row: Profile) -> bool:
    """Whether the public pages may show this person (a face, a page of their own): they are
    present and at least one of their fields is public, by the rule `!whois` follows, for a
    reader who is signed out."""
    return row.left_at is None and bool(directory.visible_fields(SIGNED_OUT, row))


@dataclass(frozen=True)
class ChannelSummary:
    room_id: str
    name: str
    alias: str | None


@dataclass(frozen=True)
class PartnershipSummary:
    key: str
    name: str


@dataclass(frozen=True)
class RecentPost:
    event_id: str
    room_id: str
    channel: ChannelSummary
    sent_at: datetime
    body: str
    reply_count: int
    reaction_count: int


@dataclass(frozen=True)
class FieldEdit:
    """How the owner changes one field: a chat command, or why they cannot."""

    name: str
    command: str | None
    visibility: str | None
    note: str | None


@dataclass(frozen=True)
class ProfilePage:
    card: Card
    place: Place
    pronouns: str | None
    bio_html: str | None
    skills: tuple[str, ...]
    contact: tuple[tuple[str, str], ...]
    chain: tuple[PersonSummary, ...]
    reports: tuple[PersonSummary, ...]
    posts: tuple[RecentPost, ...]
    channels: tuple[ChannelSummary, ...]
    partnerships: tuple[PartnershipSummary, ...]
    #: Only on the viewer's own page: how to change each field.
    edits: tuple[FieldEdit, ...]

    @property
    def is_own(self) -> bool:
        return bool(self.edits)


async def profile_page(session: AsyncSession, asker: Viewer, owner_id: str) -> ProfilePage:
    """What `asker` may see of `owner_id`'s page; `DirectoryError` (the same words for
    someone who never was, left, or was erased) when there is no such person."""
    row = await directory.present_profile(session, owner_id)
    sees_place = directory.sees_organisation(asker, row)
    chain = await directory.manager_chain(session, row) if sees_place else ()
    card = directory.card_for(asker, row, chain[-1].display_name if chain else None)
    fields = directory.visible_fields(asker, row)
    place = await directory.place_of(session, card.organisation, card.units)
    skills = fields.get("skills")
    bio = fields.get("bio")
    return ProfilePage(
        card=card,
        place=place,
        pronouns=str(fields["pronouns"]) if "pronouns" in fields else None,
        bio_html=render_markdown(str(bio)) if bio else None,
        skills=tuple(map(str, skills)) if isinstance(skills, list) else (),
        contact=tuple((name, str(fields[name])) for name in CONTACT_FIELDS if name in fields),
        chain=chain,
        reports=await directory.reports(session, row.user_id) if sees_place else (),
        posts=await recent_posts(session, asker.user_id, row.user_id),
        channels=await shared_channels(session, asker.user_id, row.user_id),
        partnerships=await partnerships_of(session, row) if sees_place else (),
        edits=field_edits(row) if asker.user_id == row.user_id else (),
    )


def field_edits(row: Profile) -> tuple[FieldEdit, ...]:
    """For the owner: each field they may set, with the `!profile` commands that change it,
    or, for a field the org chart sets, that their admin changes it."""
    stored = {f.name: f for f in row.fields}
    edits = []
    for name in directory.EDITABLE:
        field = stored.get(name)
        from_chart = (field is not None and field.source == "org") or (
            name == "title" and bool(row.job_title)
        )
        if from_chart:
            edits.append(
                FieldEdit(name, None, None, "from your organisation's org chart: ask your admin")
            )
        else:
            edits.append(
                FieldEdit(
                    name,
                    f"!profile set {name} …",
                    f"!profile visibility {name} staff|partners|public" if field else None,
                    None,
                )
            )
    return tuple(edits)


async def recent_posts(
    session: AsyncSession, reader: str, author: str, limit: int = RECENT_POSTS
) -> tuple[RecentPost, ...]:
    """`author`'s newest top-level posts in channels `reader` may read (`borough.readers`)."""
    rows = (
        await session.execute(
            select(Post, ChannelRow.name, ChannelRow.alias)
            .join(ChannelRow, ChannelRow.room_id == Post.room_id)
            .where(
                Post.author == author,
                Post.thread_root.is_(None),
                Post.room_id.in_(readers.readable_channels(reader)),
            )
            .order_by(Post.sent_at.desc(), Post.event_id.desc())
            .limit(limit)
        )
    ).all()
    return tuple(
        RecentPost(
            post.event_id,
            post.room_id,
            ChannelSummary(post.room_id, name, alias),
            post.sent_at,
            post.body,
            post.reply_count,
            post.reaction_count,
        )
        for post, name, alias in rows
    )


async def shared_channels(
    session: AsyncSession, reader: str, member: str
) -> tuple[ChannelSummary, ...]:
    """The channels `member` is in that `reader` may read: a sealed channel is named only
    to the people inside it."""
    rows = await session.execute(
        select(ChannelRow.room_id, ChannelRow.name, ChannelRow.alias)
        .join(ChannelMember, ChannelMember.room_id == ChannelRow.room_id)
        .where(
            ChannelMember.user_id == member,
            ChannelRow.room_id.in_(readers.readable_channels(reader)),
        )
        .order_by(ChannelRow.name, ChannelRow.room_id)
    )
    return tuple(ChannelSummary(*row) for row in rows)


async def partnerships_of(session: AsyncSession, row: Profile) -> tuple[PartnershipSummary, ...]:
    """The partnerships `row` is in, by the chart's rule: every person of a joined
    organisation, of a joined unit and the units below it, and the people named."""
    parents: dict[str, str | None] = {
        key: parent for key, parent in await session.execute(select(UnitRow.key, UnitRow.parent))
    }
    units: set[str] = set()
    for unit in row.units:
        at: str | None = unit
        while at is not None and at not in units:
            units.add(at)
            at = parents.get(at)
    found = [
        PartnershipSummary(p.key, p.name)
        for p in await session.scalars(select(PartnershipRow))
        if row.organisation in p.organisations
        or units.intersection(p.units)
        or row.user_id in p.people
        or row.user_id in p.leads
    ]
    return tuple(sorted(found, key=lambda p: (p.name.casefold(), p.key)))


# --- The directory's opening view ---


@dataclass(frozen=True)
class UnitPreview:
    unit: UnitSummary
    people: tuple[PersonSummary, ...]


@dataclass(frozen=True)
class OpeningView:
    """What the directory shows before a search: the viewer, where they sit, their manager,
    this week's new joiners they may see, and the profiles they opened last."""

    me: PersonSummary | None
    manager: PersonSummary | None
    units: tuple[UnitPreview, ...]
    new_joiners: tuple[PersonSummary, ...]
    recently_viewed: tuple[PersonSummary, ...]


async def opening_view(session: AsyncSession, asker: Viewer, now: datetime) -> OpeningView:
    me: PersonSummary | None = None
    manager: PersonSummary | None = None
    units: list[UnitPreview] = []
    try:
        row = await directory.present_profile(session, asker.user_id)
    except directory.DirectoryError:
        row = None  # signed in, but not (or no longer) in the directory
    if row is not None:
        me = PersonSummary(row.user_id, row.display_name, row.job_title)
        chain = await directory.manager_chain(session, row)
        manager = chain[-1] if chain else None
        if not asker.is_community:
            for key in row.units:
                found = await directory.unit_preview(session, key, asker.user_id, UNIT_PREVIEW)
                if found is not None:  # else a unit the chart no longer has
                    units.append(UnitPreview(*found))
    return OpeningView(
        me=me,
        manager=manager,
        units=tuple(units),
        new_joiners=await directory.new_joiners(session, asker, now - NEW_JOINER_WINDOW),
        recently_viewed=await directory.recently_viewed(session, asker.user_id),
    )
