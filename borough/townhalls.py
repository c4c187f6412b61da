"""Town halls in the app database: the one place their queries and state transitions live,
and the ranking of their questions, which the bot's pinned list and the widget both show.

A start or an end is *claimed* by a conditional UPDATE that commits before anything is sent
(as meetings are, `borough.meetings`), so two bots, or one bot restarted, never start or
summarise a town hall twice. What the room says about questions (thread replies, 👍 and
their redactions) arrives as `Happening`s and lands in one transaction per sync batch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import (
    MeetingParticipant,
    OrganisationRow,
    Profile,
    TownHall,
    TownHallQuestion,
    TownHallViewer,
    TownHallVote,
    UnitRow,
    rows_changed,
)
from borough.meetings import as_utc

#: An anonymous question names the asker's unit only when at least this many people are in
#: it (sub-units included); else the unit above it, then the organisation, then nothing.
MIN_CROWD = 3
ANONYMOUS = "Anonymous"
#: The reaction that upvotes (any skin tone, with or without the emoji presentation mark).
UPVOTE = "👍"


def is_upvote(key: str) -> bool:
    return key.startswith(UPVOTE)


# --- pure: ranking and anonymous labels ------------------------------------------------------


@dataclass(frozen=True)
class RankedQuestion:
    number: int
    label: str
    body: str
    votes: int
    is_answered: bool
    event_id: str | None


def ranked(questions: Iterable[RankedQuestion]) -> list[RankedQuestion]:
    """Most upvoted first; equal votes in the order they were asked."""
    return sorted(questions, key=lambda q: (-q.votes, q.number))


@dataclass(frozen=True)
class UnitPlace:
    name: str
    parent: str | None


def anonymous_label(
    first_unit: str | None,
    units: dict[str, UnitPlace],
    crowd: Counter[str],
    organisation: tuple[str, int] | None,
) -> str:
    """ "Anonymous (Housing)": the asker's first unit if `crowd` (people per unit, sub-units
    included) holds at least MIN_CROWD there, else the nearest unit above that does, else the
    organisation (name, headcount) if it does, else just "Anonymous"."""
    key, seen = first_unit, set()
    while key is not None and key in units and key not in seen:
        seen.add(key)
        if crowd[key] >= MIN_CROWD:
            return f"{ANONYMOUS} ({units[key].name})"
        key = units[key].parent
    if organisation is not None and organisation[1] >= MIN_CROWD:
        return f"{ANONYMOUS} ({organisation[0]})"
    return ANONYMOUS


def unit_crowds(member_units: Iterable[Sequence[str]], units: dict[str, UnitPlace]) -> Counter[str]:
    """People per unit, each counted once in every unit they are in or below."""
    crowd: Counter[str] = Counter()
    for keys in member_units:
        within: set[str] = set()
        for key in keys:
            at: str | None = key
            while at is not None and at in units and at not in within:
                within.add(at)
                at = units[at].parent
        crowd.update(within)
    return crowd


# --- what the room says ----------------------------------------------------------------------


@dataclass(frozen=True)
class Asked:
    """A reply in a town hall's question thread."""

    event_id: str
    sender: str
    root: str
    body: str
    at: datetime


@dataclass(frozen=True)
class Voted:
    reaction_event_id: str
    sender: str
    target: str


@dataclass(frozen=True)
class Redacted:
    event_id: str


Happening = Asked | Voted | Redacted
Mark = Literal["answered", "hidden", "withdrawn"]


class QuestionRefused(Exception):
    """The question cannot be taken; the message says why."""


@dataclass
class TownHallStore:
    sessions: async_sessionmaker[AsyncSession]

    # --- town halls --------------------------------------------------------------------------

    async def plan(
        self,
        *,
        room_id: str,
        title: str,
        created_by: str,
        timezone: str,
        command_event_id: str,
        scheduled_for: datetime | None,
        now: datetime,
    ) -> tuple[TownHall, bool]:
        """The town hall this command made, and whether it is new: a command replayed after a
        restart finds the one it already made."""
        known = await self._by_command(command_event_id)
        if known is not None:
            return known, False
        town_hall = TownHall(
            room_id=room_id,
            title=title,
            created_by=created_by,
            timezone=timezone,
            command_event_id=command_event_id,
            scheduled_for=scheduled_for,
            started_at=None if scheduled_for is not None else now,
            edits_sent=0,
            created_at=now,
        )
        try:
            async with self.sessions.begin() as session:
                session.add(town_hall)
        except IntegrityError:
            known = await self._by_command(command_event_id)
            assert known is not None
            return known, False
        return town_hall, True

    async def _by_command(self, command_event_id: str) -> TownHall | None:
        async with self.sessions() as session:
            return await session.scalar(
                select(TownHall).where(TownHall.command_event_id == command_event_id)
            )

    async def get(self, town_hall_id: int) -> TownHall | None:
        async with self.sessions() as session:
            return await session.get(TownHall, town_hall_id)

    async def live(self, room_id: str) -> TownHall | None:
        """The room's town hall that has started and not ended, if any."""
        async with self.sessions() as session:
            return await session.scalar(_live().where(TownHall.room_id == room_id).limit(1))

    async def all_live(self) -> list[TownHall]:
        async with self.sessions() as session:
            return list(await session.scalars(_live()))

    async def live_in(self, room_ids: Iterable[str]) -> list[TownHall]:
        async with self.sessions() as session:
            return list(await session.scalars(_live().where(TownHall.room_id.in_(list(room_ids)))))

    async def shown_in(self, room_id: str) -> TownHall | None:
        """What the room's widget shows: the live town hall, else the latest one that ran."""
        async with self.sessions() as session:
            return await session.scalar(
                select(TownHall)
                .where(TownHall.room_id == room_id, TownHall.started_at.is_not(None))
                .order_by(TownHall.ended_at.is_not(None), TownHall.started_at.desc())
                .limit(1)
            )

    async def upcoming(self, room_id: str) -> list[TownHall]:
        async with self.sessions() as session:
            return list(
                await session.scalars(
                    select(TownHall)
                    .where(
                        TownHall.room_id == room_id,
                        TownHall.started_at.is_(None),
                        TownHall.cancelled_at.is_(None),
                    )
                    .order_by(TownHall.scheduled_for, TownHall.id)
                )
            )

    async def claim_starts(self, now: datetime) -> list[TownHall]:
        """Planned town halls whose time has come, each claimed (started_at committed)."""
        async with self.sessions() as session:
            due = list(
                await session.scalars(
                    select(TownHall.id).where(
                        TownHall.scheduled_for <= now,
                        TownHall.started_at.is_(None),
                        TownHall.cancelled_at.is_(None),
                    )
                )
            )
        claimed = []
        for town_hall_id in due:
            async with self.sessions.begin() as session:
                won = await rows_changed(
                    session,
                    update(TownHall)
                    .where(
                        TownHall.id == town_hall_id,
                        TownHall.started_at.is_(None),
                        TownHall.cancelled_at.is_(None),
                    )
                    .values(started_at=now),
                )
            if won and (town_hall := await self.get(town_hall_id)) is not None:
                claimed.append(town_hall)
        return claimed

    async def half_open(self) -> list[TownHall]:
        """Started but with no list yet: a start cut short (a restart), to finish."""
        async with self.sessions() as session:
            return list(await session.scalars(_live().where(TownHall.root_event_id.is_(None))))

    async def opened(
        self, town_hall_id: int, *, meeting_id: int | None, root: str, text: str
    ) -> None:
        """The list is posted (`root`, saying `text`) and the meeting, if any, added."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(TownHall)
                .where(TownHall.id == town_hall_id)
                .values(meeting_id=meeting_id, root_event_id=root, list_text=text)
            )

    async def claim_end(self, town_hall_id: int, now: datetime) -> bool:
        async with self.sessions.begin() as session:
            return 1 == await rows_changed(
                session,
                update(TownHall)
                .where(TownHall.id == town_hall_id, TownHall.ended_at.is_(None))
                .values(ended_at=now),
            )

    async def cancel(self, room_id: str, town_hall_id: int, now: datetime) -> bool:
        async with self.sessions.begin() as session:
            return 1 == await rows_changed(
                session,
                update(TownHall)
                .where(
                    TownHall.id == town_hall_id,
                    TownHall.room_id == room_id,
                    TownHall.started_at.is_(None),
                    TownHall.cancelled_at.is_(None),
                )
                .values(cancelled_at=now),
            )

    async def unsummarised(self) -> list[TownHall]:
        """Ended town halls whose summary is not known to be sent (a restart in between)."""
        async with self.sessions() as session:
            return list(
                await session.scalars(
                    select(TownHall).where(
                        TownHall.ended_at.is_not(None),
                        TownHall.root_event_id.is_not(None),
                        TownHall.summary_event_id.is_(None),
                    )
                )
            )

    async def summarised(self, town_hall_id: int, event_id: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(TownHall)
                .where(TownHall.id == town_hall_id)
                .values(summary_event_id=event_id)
            )

    async def listed(self, town_hall_id: int, text: str) -> None:
        """The pinned list now says `text`: one more edit sent."""
        async with self.sessions.begin() as session:
            await session.execute(
                update(TownHall)
                .where(TownHall.id == town_hall_id)
                .values(list_text=text, edits_sent=TownHall.edits_sent + 1)
            )

    # --- questions ---------------------------------------------------------------------------

    async def ask_anonymously(
        self,
        town_hall: TownHall,
        *,
        asker: str,
        body: str,
        source_event_id: str,
        now: datetime,
        audit: Callable[[AsyncSession, TownHallQuestion], Awaitable[None]],
    ) -> TownHallQuestion:
        """The question this `!q` made (a replayed one finds it), numbered in its town hall;
        `audit` records who asked, in the same transaction."""
        async with self.sessions() as session:
            known = await session.scalar(
                select(TownHallQuestion).where(TownHallQuestion.source_event_id == source_event_id)
            )
        if known is not None:
            return known
        label = await self.anonymous_label(asker)
        async with self.sessions.begin() as session:
            question = await _add_question(
                session, town_hall.id, source_event_id, None, asker, True, label, body, now
            )
            await audit(session, question)
        return question

    async def posted(self, question_id: int, event_id: str) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(TownHallQuestion)
                .where(TownHallQuestion.id == question_id)
                .values(event_id=event_id)
            )

    async def forget(self, question_id: int) -> None:
        """An anonymous question the homeserver refused to post: as if never asked."""
        async with self.sessions.begin() as session:
            question = await session.get(TownHallQuestion, question_id)
            if question is not None:
                await session.delete(question)

    async def question(self, town_hall_id: int, number: int) -> TownHallQuestion | None:
        async with self.sessions() as session:
            return await session.scalar(
                select(TownHallQuestion).where(
                    TownHallQuestion.town_hall_id == town_hall_id,
                    TownHallQuestion.number == number,
                )
            )

    async def own_questions(self, asker: str, number: int) -> list[TownHallQuestion]:
        """`asker`'s question number `number` in every live town hall (usually one)."""
        async with self.sessions() as session:
            return list(
                await session.scalars(
                    select(TownHallQuestion)
                    .join(TownHall, TownHall.id == TownHallQuestion.town_hall_id)
                    .where(
                        TownHallQuestion.asker == asker,
                        TownHallQuestion.number == number,
                        TownHallQuestion.withdrawn_at.is_(None),
                        TownHall.started_at.is_not(None),
                        TownHall.ended_at.is_(None),
                    )
                )
            )

    async def mark(self, question_id: int, mark: Mark, now: datetime) -> bool:
        """Mark a question answered, hidden or withdrawn; False if it already was."""
        column = {
            "answered": TownHallQuestion.answered_at,
            "hidden": TownHallQuestion.hidden_at,
            "withdrawn": TownHallQuestion.withdrawn_at,
        }[mark]
        async with self.sessions.begin() as session:
            return 1 == await rows_changed(
                session,
                update(TownHallQuestion)
                .where(TownHallQuestion.id == question_id, column.is_(None))
                .values({column.key: now}),
            )

    async def ranking(self, town_hall_id: int) -> list[RankedQuestion]:
        """The questions still shown (not hidden or withdrawn), most upvoted first."""
        async with self.sessions() as session:
            votes = func.count(func.distinct(TownHallVote.voter))
            rows = await session.execute(
                select(TownHallQuestion, votes)
                .outerjoin(TownHallVote, TownHallVote.question_id == TownHallQuestion.id)
                .where(
                    TownHallQuestion.town_hall_id == town_hall_id,
                    TownHallQuestion.hidden_at.is_(None),
                    TownHallQuestion.withdrawn_at.is_(None),
                    TownHallQuestion.event_id.is_not(None),
                )
                .group_by(TownHallQuestion.id)
            )
            return ranked(
                RankedQuestion(
                    q.number, q.label, q.body, int(n), q.answered_at is not None, q.event_id
                )
                for q, n in rows.all()
            )

    async def apply(
        self,
        room_id: str,
        happenings: Sequence[Happening],
        confirm: Callable[[AsyncSession], Awaitable[None]],
    ) -> set[int]:
        """Take a sync batch's questions, votes and redactions in one transaction (after
        `confirm`, the bot's lease); the ids of the town halls whose list changed."""
        changed: set[int] = set()
        async with self.sessions.begin() as session:
            await confirm(session)
            live = {
                t.root_event_id: t
                for t in await session.scalars(_live().where(TownHall.room_id == room_id))
            }
            live_ids = {t.id for t in live.values()}
            for happening in happenings:
                if isinstance(happening, Asked):
                    town_hall = live.get(happening.root)
                    if town_hall is None or await _known_source(session, happening.event_id):
                        continue
                    label = await _display_name(session, happening.sender)
                    await _add_question(
                        session,
                        town_hall.id,
                        happening.event_id,
                        happening.event_id,
                        happening.sender,
                        False,
                        label,
                        happening.body,
                        happening.at,
                    )
                    changed.add(town_hall.id)
                elif isinstance(happening, Voted):
                    question = await session.scalar(
                        select(TownHallQuestion).where(
                            TownHallQuestion.event_id == happening.target
                        )
                    )
                    if question is None or question.town_hall_id not in live_ids:
                        continue
                    if await session.get(TownHallVote, happening.reaction_event_id) is None:
                        session.add(
                            TownHallVote(
                                reaction_event_id=happening.reaction_event_id,
                                question_id=question.id,
                                voter=happening.sender,
                            )
                        )
                        await session.flush()
                        changed.add(question.town_hall_id)
                else:
                    changed |= await _redact(session, happening.event_id, live_ids)
        return changed

    # --- anonymous labels and who joined -----------------------------------------------------

    async def anonymous_label(self, user_id: str) -> str:
        async with self.sessions() as session:
            person = await session.get(Profile, user_id)
            if person is None or person.organisation is None:
                return ANONYMOUS
            units = {
                row.key: UnitPlace(row.name, row.parent)
                for row in await session.scalars(
                    select(UnitRow).where(UnitRow.organisation == person.organisation)
                )
            }
            colleagues = list(
                await session.scalars(
                    select(Profile.units).where(
                        Profile.organisation == person.organisation, Profile.left_at.is_(None)
                    )
                )
            )
            org = await session.get(OrganisationRow, person.organisation)
        first = person.units[0] if person.units else None
        organisation = (org.name, len(colleagues)) if org is not None else None
        return anonymous_label(first, units, unit_crowds(colleagues, units), organisation)

    async def note_viewer(self, town_hall_id: int, user_id: str) -> None:
        try:
            async with self.sessions.begin() as session:
                if await session.get(TownHallViewer, (town_hall_id, user_id)) is None:
                    session.add(
                        TownHallViewer(
                            town_hall_id=town_hall_id,
                            user_id=user_id,
                            first_seen_at=datetime.now(UTC),
                        )
                    )
        except IntegrityError:
            pass  # two loads at once: the other one noted it

    async def joined(self, town_hall: TownHall) -> int:
        """How many people joined: admitted to its conference by the token service, or, where
        Jitsi does not ask Borough, opened its widget; each person once."""
        async with self.sessions() as session:
            people = set(
                await session.scalars(
                    select(TownHallViewer.user_id).where(
                        TownHallViewer.town_hall_id == town_hall.id
                    )
                )
            )
            if town_hall.meeting_id is not None:
                people |= set(
                    await session.scalars(
                        select(MeetingParticipant.user_id).where(
                            MeetingParticipant.meeting_id == town_hall.meeting_id
                        )
                    )
                )
        return len(people)


def _live() -> Select[TownHall]:
    return (
        select(TownHall)
        .where(
            TownHall.started_at.is_not(None),
            TownHall.ended_at.is_(None),
            TownHall.cancelled_at.is_(None),
        )
        .order_by(TownHall.id)
    )


async def _known_source(session: AsyncSession, event_id: str) -> bool:
    found = await session.scalar(
        select(TownHallQuestion.id).where(TownHallQuestion.source_event_id == event_id)
    )
    return found is not None


async def _display_name(session: AsyncSession, user_id: str) -> str:
    name = await session.scalar(select(Profile.display_name).where(Profile.user_id == user_id))
    return name or user_id


async def _add_question(
    session: AsyncSession,
    town_hall_id: int,
    source_event_id: str,
    event_id: str | None,
    asker: str,
    is_anonymous: bool,
    label: str,
    body: str,
    now: datetime,
) -> TownHallQuestion:
    """Numbered after the town hall's last question. The bot is the only writer of a town
    hall's questions (the lease), so max + 1 cannot race."""
    last = await session.scalar(
        select(func.max(TownHallQuestion.number)).where(
            TownHallQuestion.town_hall_id == town_hall_id
        )
    )
    question = TownHallQuestion(
        town_hall_id=town_hall_id,
        number=(last or 0) + 1,
        event_id=event_id,
        source_event_id=source_event_id,
        asker=asker,
        is_anonymous=is_anonymous,
        label=label[:255],
        body=body,
        asked_at=now,
    )
    session.add(question)
    await session.flush()
    return question


async def _redact(session: AsyncSession, event_id: str, live_ids: set[int]) -> set[int]:
    """A redacted 👍 is a vote taken back; a redacted question is withdrawn."""
    vote = await session.get(TownHallVote, event_id)
    if vote is not None:
        question = await session.get(TownHallQuestion, vote.question_id)
        await session.delete(vote)
        await session.flush()
        if question is not None and question.town_hall_id in live_ids:
            return {question.town_hall_id}
        return set()
    question = await session.scalar(
        select(TownHallQuestion).where(TownHallQuestion.event_id == event_id)
    )
    if question is None or question.town_hall_id not in live_ids:
        return set()
    if question.withdrawn_at is None:
        question.withdrawn_at = datetime.now(UTC)
    return {question.town_hall_id}


__all__ = [
    "ANONYMOUS",
    "MIN_CROWD",
    "Asked",
    "Happening",
    "QuestionRefused",
    "RankedQuestion",
    "Redacted",
    "TownHallStore",
    "UnitPlace",
    "Voted",
    "anonymous_label",
    "as_utc",
    "is_upvote",
    "ranked",
    "unit_crowds",
]
