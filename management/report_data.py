"""Gather the engagement report's facts: grouped counts from the app database (in SQL), the
network's shape from the live server, and new joiners from Synapse's admin API.

Only counts and ids leave this module: no post text is read, so sealed channels are counted
without ever being shown.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import aliased

from borough import events
from borough.db import (
    Answer,
    ChannelRow,
    Meeting,
    MeetingParticipant,
    Post,
    Profile,
    Question,
    Reaction,
    UnitRow,
)
from borough.live import LiveNetwork, read_live
from borough.matrix import MatrixClient, q
from management.engagement import Activity, Interaction, MeetingFact, Network, Scope
from management.questions import AnswerFact, QuestionFact

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportFacts:
    since: datetime
    until: datetime
    network: Network
    activities: list[Activity]
    interactions: list[Interaction]
    meetings: list[MeetingFact]
    new_accounts: set[str]
    room_joins: dict[str, set[str]]
    questions: list[QuestionFact]
    answers: list[AnswerFact]


def _week(session: AsyncSession, column: Any) -> ColumnElement[Any]:
    """The Monday of a timestamp's ISO week (UTC), in the database's own dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date(func.date_trunc("week", func.timezone("UTC", column)))
    # SQLite: forward to Sunday (or stay on it), then back six days.
    return func.date(column, "weekday 0", "-6 days")


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _period(column: Any, since: datetime, until: datetime) -> tuple[Any, Any]:
    return column >= since, column < until


async def load_activities(
    session: AsyncSession, since: datetime, until: datetime
) -> list[Activity]:
    """Posts, replies and reactions per room, person and kind over the period: what active
    people and the counts per scope need, and no more (a person has a few rooms)."""
    kind = case((Post.thread_root.is_(None), "post"), else_="reply")
    posts = (
        select(Post.room_id, Post.author, kind, func.count())
        .where(*_period(Post.sent_at, since, until))
        .group_by(Post.room_id, Post.author, kind)
    )
    reacted = aliased(Post)
    reactions = (
        select(reacted.room_id, Reaction.sender, func.count())
        .select_from(Reaction)
        .join(reacted, reacted.event_id == Reaction.post_id)
        .where(*_period(Reaction.sent_at, since, until))
        .group_by(reacted.room_id, Reaction.sender)
    )
    found = [
        Activity(room_id, actor, kind_, int(n))
        for room_id, actor, kind_, n in (await session.execute(posts)).all()
    ]
    found += [
        Activity(room_id, actor, "reaction", int(n))
        for room_id, actor, n in (await session.execute(reactions)).all()
    ]
    return found


async def load_interactions(
    session: AsyncSession, since: datetime, until: datetime
) -> list[Interaction]:
    """Posts, replies and reactions per room, UTC week, kind, the actor's organisation and
    the organisation of the post's author: what the week-by-week views need."""
    actor, root, target = aliased(Profile), aliased(Post), aliased(Profile)
    week = _week(session, Post.sent_at)
    kind = case((Post.thread_root.is_(None), "post"), else_="reply")
    posts = (
        select(Post.room_id, week, kind, actor.organisation, target.organisation, func.count())
        .select_from(Post)
        .outerjoin(actor, actor.user_id == Post.author)
        .outerjoin(root, root.event_id == Post.thread_root)
        .outerjoin(target, target.user_id == root.author)
        .where(*_period(Post.sent_at, since, until))
        .group_by(Post.room_id, week, kind, actor.organisation, target.organisation)
    )
    reacted, reactor, author = aliased(Post), aliased(Profile), aliased(Profile)
    reaction_week = _week(session, Reaction.sent_at)
    reactions = (
        select(
            reacted.room_id, reaction_week, reactor.organisation, author.organisation, func.count()
        )
        .select_from(Reaction)
        .join(reacted, reacted.event_id == Reaction.post_id)
        .outerjoin(reactor, reactor.user_id == Reaction.sender)
        .outerjoin(author, author.user_id == reacted.author)
        .where(*_period(Reaction.sent_at, since, until))
        .group_by(reacted.room_id, reaction_week, reactor.organisation, author.organisation)
    )
    found = [
        Interaction(room_id, _as_date(w), kind_, a, t if kind_ == "reply" else None, int(n))
        for room_id, w, kind_, a, t, n in (await session.execute(posts)).all()
    ]
    found += [
        Interaction(room_id, _as_date(w), "reaction", a, t, int(n))
        for room_id, w, a, t, n in (await session.execute(reactions)).all()
    ]
    return found


async def load_questions(
    session: AsyncSession, since: datetime, until: datetime
) -> tuple[list[QuestionFact], list[AnswerFact]]:
    """Questions asked in the period with their first answer (by anyone but the asker), and
    answers given in the period with whom they answered: ids and times, never the text."""
    first = (
        select(Answer.question_id, func.min(Answer.answered_at).label("at"))
        .join(Question, Question.id == Answer.question_id)
        .where(Answer.sender != Question.asker)
        .group_by(Answer.question_id)
        .subquery()
    )
    asked = await session.execute(
        select(Question.id, Question.asker, Question.asked_at, first.c.at)
        .outerjoin(first, first.c.question_id == Question.id)
        .where(*_period(Question.asked_at, since, until))
        .order_by(Question.id)
    )
    questions = [
        QuestionFact(qid, asker, _utc(at), _utc(_as_datetime(answered)) if answered else None)
        for qid, asker, at, answered in asked
    ]
    given = await session.execute(
        select(Answer.question_id, Answer.sender, Question.asker, Answer.answered_at)
        .join(Question, Question.id == Answer.question_id)
        .where(Answer.sender != Question.asker, *_period(Answer.answered_at, since, until))
    )
    answers = [AnswerFact(qid, sender, asker, _utc(at)) for qid, sender, asker, at in given]
    return questions, answers


def _as_datetime(value: Any) -> datetime:
    """An aggregate's timestamp: SQLite's min() gives back text, PostgreSQL a datetime."""
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def load_meetings(
    session: AsyncSession, since: datetime, until: datetime
) -> list[MeetingFact]:
    """Meetings held (started, not cancelled) in the period, with who took part. Minutes run
    from start to end, or to the report's end for a meeting still going."""
    held = (
        await session.execute(
            select(
                Meeting.id,
                Meeting.room_id,
                Meeting.started_at,
                Meeting.ended_at,
                Meeting.created_by,
            )
            .where(
                Meeting.started_at.is_not(None),
                Meeting.cancelled_at.is_(None),
                Meeting.started_at >= since,
                Meeting.started_at < until,
            )
            .order_by(Meeting.id)
        )
    ).all()
    participants: dict[int, set[str]] = {row.id: set() for row in held}
    if held:
        rows = await session.execute(
            select(MeetingParticipant.meeting_id, MeetingParticipant.user_id)
            .join(Meeting, Meeting.id == MeetingParticipant.meeting_id)
            .where(
                Meeting.started_at >= since,
                Meeting.started_at < until,
                Meeting.cancelled_at.is_(None),
            )
        )
        for meeting_id, user_id in rows:
            if meeting_id in participants:
                participants[meeting_id].add(user_id)
    facts = []
    for meeting_id, room_id, started_at, ended_at, created_by in held:
        assert started_at is not None  # the query reads started meetings only
        started = _utc(started_at)
        ended = min(_utc(ended_at) if ended_at else until, until)
        facts.append(
            MeetingFact(
                meeting_id=meeting_id,
                room_id=room_id,
                started_at=started,
                minutes=max(0.0, (ended - started).total_seconds() / 60),
                participants=frozenset(participants[meeting_id] or {created_by}),
            )
        )
    return facts


def network_from(
    live: LiveNetwork, profiles: list[Profile], units: list[UnitRow], channel_names: dict[str, str]
) -> Network:
    """The report's view of the network: people and units from the app database, rooms
    and their owners from the live server's Borough keys (see borough.network)."""
    names: dict[Scope, str] = {Scope("unit", u.key): u.name for u in units}
    room_partnership: dict[str, str] = {}
    room_channel: dict[str, str] = {}
    channel_owner: dict[str, tuple[str, str]] = {}
    partnership_members: dict[str, set[str]] = {}
    for key, room in live.rooms.items():
        if room.is_retired:
            continue
        kind, _, rest = key.partition("/")
        name = str((room.content("m.room.name") or {}).get("name") or rest)
        owner_key, _, template = rest.partition("/")
        if kind == "org":
            names[Scope("organisation", rest)] = name
        if kind == "partnership":
            room_partnership[room.room_id] = owner_key
            if not template:
                names[Scope("partnership", owner_key)] = name
                partnership_members[owner_key] = set(room.members)
        channel: str | None = None
        if kind == "channel":
            channel = rest
            for parent in live.parents(room):
                owner_kind, _, owner = parent.key.partition("/")
                channel_owner[channel] = (owner_kind, owner)
        elif template and room.content(events.CHANNEL):
            # A templated channel (a unit's announcements): its key is its alias.
            channel = f"{owner_key}-{template}"
            channel_owner[channel] = (kind, owner_key)
        if channel is not None:
            room_channel[room.room_id] = channel
            names[Scope("channel", channel)] = channel_names.get(room.room_id, name)
            owner_kind, owner = channel_owner.get(channel, ("", ""))
            if owner_kind == "partnership":
                room_partnership[room.room_id] = owner
    person_org = {p.user_id: p.organisation for p in profiles if p.organisation}
    return Network(
        person_org=person_org,
        person_units={p.user_id: tuple(p.units or ()) for p in profiles},
        unit_parent={u.key: u.parent for u in units},
        unit_org={u.key: u.organisation for u in units},
        room_partnership=room_partnership,
        room_channel=room_channel,
        channel_owner=channel_owner,
        partnership_orgs={
            p: frozenset(person_org[m] for m in members if m in person_org)
            for p, members in partnership_members.items()
        },
        partnership_members={p: frozenset(m) for p, m in partnership_members.items()},
        names=names,
    )


async def new_accounts(client: MatrixClient, since: datetime) -> set[str]:
    """Local accounts created since `since` (newest first, so paging stops early)."""
    cutoff = int(since.timestamp() * 1000)
    found: set[str] = set()
    start: str | None = "0"
    while start is not None:
        page = await client.request(
            "GET",
            "/_synapse/admin/v2/users",
            params={
                "from": start,
                "limit": "500",
                "guests": "false",
                "order_by": "creation_ts",
                "dir": "b",
            },
        )
        for user in page.get("users", []):
            if int(user.get("creation_ts") or 0) < cutoff:
                return found
            if not user.get("deactivated"):
                found.add(str(user["name"]))
        token = page.get("next_token")
        start = str(token) if token is not None else None
    return found


async def room_joins(
    client: MatrixClient, room_ids: list[str], since: datetime
) -> dict[str, set[str]]:
    """Who joined each room since `since`: join events that were not already a join."""
    cutoff = int(since.timestamp() * 1000)
    joins: dict[str, set[str]] = {}
    for room_id in room_ids:
        state = await client.request("GET", f"/_synapse/admin/v1/rooms/{q(room_id)}/state")
        joined = set()
        for event in state.get("state", []):
            if event.get("type") != "m.room.member":
                continue
            if (event.get("content") or {}).get("membership") != "join":
                continue
            previous = ((event.get("unsigned") or {}).get("prev_content") or {}).get("membership")
            if previous != "join" and int(event.get("origin_server_ts", 0)) >= cutoff:
                joined.add(str(event["state_key"]))
        joins[room_id] = joined
    return joins


async def gather(
    client: MatrixClient,
    sessions: async_sessionmaker[AsyncSession],
    since: datetime,
    until: datetime,
) -> ReportFacts:
    live = await read_live(client, None)
    async with sessions() as session:
        profiles = list((await session.scalars(select(Profile))).all())
        units = list((await session.scalars(select(UnitRow))).all())
        channel_names = {
            c.room_id: c.name for c in (await session.scalars(select(ChannelRow))).all()
        }
        activities = await load_activities(session, since, until)
        interactions = await load_interactions(session, since, until)
        meetings = await load_meetings(session, since, until)
        questions, answers = await load_questions(session, since, until)
    network = network_from(live, profiles, units, channel_names)
    partnership_spaces = [
        room.room_id
        for key, room in live.rooms.items()
        if key.startswith("partnership/") and key.count("/") == 1 and not room.is_retired
    ]
    # New joiners are people on the network: Borough's own accounts (the service account
    # that creates every room, the bot) have no profile and are left out.
    people = {p.user_id for p in profiles}
    joins = await room_joins(client, [*partnership_spaces, *network.room_channel], since)
    return ReportFacts(
        since=since,
        until=until,
        network=network,
        activities=activities,
        interactions=interactions,
        meetings=meetings,
        new_accounts=await new_accounts(client, since) & people,
        room_joins={room: joined & people for room, joined in joins.items()},
        questions=questions,
        answers=answers,
    )


__all__ = [
    "ReportFacts",
    "gather",
    "load_activities",
    "load_interactions",
    "load_meetings",
    "load_questions",
    "network_from",
]
