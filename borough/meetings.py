"""Meetings in the app database: the one place their queries and state transitions live.

The bot creates, schedules, starts, ends and cancels meetings; the widget server finds a
room's live meeting and records who was admitted. A reminder or a start is *claimed* by a
conditional UPDATE that commits before anything is sent, so two bots, or one bot restarted,
never remind or start the same meeting twice.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import ColumnElement, Select, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import InstrumentedAttribute

from borough.db import DigestSubscription, Meeting, MeetingParticipant, rows_changed

REMINDER_LEAD = timedelta(minutes=10)


def as_utc(value: datetime) -> datetime:
    """SQLite hands back naive datetimes; Borough stores UTC, so naive means UTC."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@dataclass
class MeetingStore:
    sessions: async_sessionmaker[AsyncSession]

    async def create(
        self,
        *,
        room_id: str,
        widget_id: str,
        conference_id: str,
        title: str,
        is_audio_only: bool,
        created_by: str,
        timezone: str,
        scheduled_for: datetime | None = None,
        started_at: datetime | None = None,
        reminded_at: datetime | None = None,
    ) -> Meeting:
        meeting = Meeting(
            room_id=room_id,
            widget_id=widget_id,
            conference_id=conference_id,
            title=title,
            is_audio_only=is_audio_only,
            created_by=created_by,
            timezone=timezone,
            scheduled_for=scheduled_for,
            started_at=started_at,
            reminded_at=reminded_at,
            created_at=datetime.now(UTC),
        )
        async with self.sessions.begin() as session:
            session.add(meeting)
        return meeting

    async def live_or_open(
        self, *, room_id: str, started_at: datetime, **fields: str | bool
    ) -> tuple[Meeting, bool]:
        """The room's live meeting, or a new one started at `started_at` if none is live; and
        whether it is new.

        Whoever opens a meeting, the bot for `!meet` or a widget server admitting the first
        people to a room's conference, must open one, not one each: on PostgreSQL the look
        and the insert hold a lock on the room for the transaction (SQLite has one writer,
        so its transaction is enough)."""
        async with self.sessions.begin() as session:
            await _lock_room(session, room_id)
            meeting = await session.scalar(_live(room_id))
            if meeting is not None:
                return meeting, False
            meeting = Meeting(
                room_id=room_id, started_at=started_at, created_at=datetime.now(UTC), **fields
            )
            session.add(meeting)
        return meeting, True

    async def person_timezone(self, user_id: str) -> str | None:
        """The timezone a person chose for themselves (with `!digest`), if any."""
        async with self.sessions() as session:
            return await session.scalar(
                select(DigestSubscription.tz).where(DigestSubscription.user_id == user_id)
            )

    async def get(self, meeting_id: int) -> Meeting | None:
        async with self.sessions() as session:
            return await session.get(Meeting, meeting_id)

    async def with_widget(self, room_id: str, widget_id: str) -> Meeting | None:
        """The room's meeting with this widget id: the one a replayed command already made
        (its widget id comes from the command's event id)."""
        async with self.sessions() as session:
            return await session.scalar(
                select(Meeting)
                .where(Meeting.room_id == room_id, Meeting.widget_id == widget_id)
                .order_by(Meeting.id)
                .limit(1)
            )

    async def live(self, room_id: str) -> Meeting | None:
        """The room's meeting that has started and not ended, if any (the newest)."""
        async with self.sessions() as session:
            return await session.scalar(_live(room_id))

    async def by_widget(self, room_id: str, widget_id: str) -> Meeting | None:
        async with self.sessions() as session:
            return await session.scalar(
                select(Meeting)
                .where(Meeting.room_id == room_id, Meeting.widget_id == widget_id)
                .order_by(Meeting.id.desc())
                .limit(1)
            )

    async def upcoming(self, room_id: str) -> Sequence[Meeting]:
        async with self.sessions() as session:
            rows = await session.scalars(
                select(Meeting)
                .where(
                    Meeting.room_id == room_id,
                    Meeting.scheduled_for.is_not(None),
                    Meeting.started_at.is_(None),
                    Meeting.cancelled_at.is_(None),
                )
                .order_by(Meeting.scheduled_for, Meeting.id)
            )
            return rows.all()

    async def claim_reminders(self, now: datetime) -> list[Meeting]:
        """Scheduled meetings due a reminder, each claimed (reminded_at set and committed)."""
        return await self._claim(
            Meeting.reminded_at,
            Meeting.scheduled_for <= now + REMINDER_LEAD,
            Meeting.scheduled_for > now,
            now=now,
        )

    async def claim_starts(self, now: datetime) -> list[ScheduledStart]:
        """Scheduled meetings whose time has come, each claimed and committed: started, or, when
        its room already has a meeting on (a `!meet`, or a widget server admitting people),
        cancelled in favour of that one.

        A start opens a meeting as `live_or_open` does, so it takes the same room lock: a
        `!meet` or a widget server racing it on another process opens the one meeting, or
        finds this one on."""
        async with self.sessions() as session:
            candidates = (
                await session.execute(
                    select(Meeting.id, Meeting.room_id).where(
                        *_pending(Meeting.started_at), Meeting.scheduled_for <= now
                    )
                )
            ).all()
        claimed: list[ScheduledStart] = []
        for meeting_id, room_id in candidates:
            async with self.sessions.begin() as session:
                await _lock_room(session, room_id)
                already_on = await session.scalar(_live(room_id))
                column = Meeting.started_at if already_on is None else Meeting.cancelled_at
                won = await rows_changed(
                    session,
                    update(Meeting)
                    .where(*_pending(Meeting.started_at), Meeting.id == meeting_id)
                    .values({column.key: now}),
                )
            meeting = await self.get(meeting_id) if won == 1 else None
            if meeting is not None:
                claimed.append(ScheduledStart(meeting, already_on))
        return claimed

    async def _claim(
        self,
        column: InstrumentedAttribute[datetime | None],
        *due: ColumnElement[bool],
        now: datetime,
    ) -> list[Meeting]:
        async with self.sessions() as session:
            candidates = (
                await session.scalars(select(Meeting.id).where(*_pending(column), *due))
            ).all()
        claimed: list[Meeting] = []
        for meeting_id in candidates:
            async with self.sessions.begin() as session:
                won = (
                    await rows_changed(
                        session,
                        update(Meeting)
                        .where(
                            Meeting.id == meeting_id,
                            column.is_(None),
                            Meeting.cancelled_at.is_(None),
                        )
                        .values({column.key: now}),
                    )
                    == 1
                )
            if won:
                meeting = await self.get(meeting_id)
                if meeting is not None:
                    claimed.append(meeting)
        return claimed

    async def mark_started(self, meeting_id: int, now: datetime) -> None:
        async with self.sessions.begin() as session:
            await session.execute(
                update(Meeting)
                .where(Meeting.id == meeting_id, Meeting.started_at.is_(None))
                .values(started_at=now)
            )

    async def end(self, meeting_id: int, now: datetime) -> bool:
        """Mark a meeting ended; False if it had already ended."""
        async with self.sessions.begin() as session:
            ended = await rows_changed(
                session,
                update(Meeting)
                .where(Meeting.id == meeting_id, Meeting.ended_at.is_(None))
                .values(ended_at=now),
            )
            return bool(ended)

    async def end_widget(self, room_id: str, widget_id: str, now: datetime) -> int:
        """Someone removed a widget: every live meeting drawn by it has ended."""
        async with self.sessions.begin() as session:
            return await rows_changed(
                session,
                update(Meeting)
                .where(
                    Meeting.room_id == room_id,
                    Meeting.widget_id == widget_id,
                    Meeting.started_at.is_not(None),
                    Meeting.ended_at.is_(None),
                )
                .values(ended_at=now),
            )

    async def cancel(self, room_id: str, meeting_id: int, now: datetime) -> Meeting | None:
        """Cancel a scheduled meeting of this room that has not started; None if there is none."""
        async with self.sessions.begin() as session:
            cancelled = await rows_changed(
                session,
                update(Meeting)
                .where(
                    Meeting.id == meeting_id,
                    Meeting.room_id == room_id,
                    Meeting.started_at.is_(None),
                    Meeting.cancelled_at.is_(None),
                )
                .values(cancelled_at=now),
            )
            if not cancelled:
                return None
        return await self.get(meeting_id)

    async def last_activity(self, meeting: Meeting) -> datetime:
        """When the meeting last admitted someone (or started)."""
        async with self.sessions() as session:
            latest = await session.scalar(
                select(func.max(MeetingParticipant.first_seen_at)).where(
                    MeetingParticipant.meeting_id == meeting.id
                )
            )
        moments = [as_utc(m) for m in (latest, meeting.started_at) if m is not None]
        return max(moments) if moments else as_utc(meeting.created_at)

    async def record_participant(self, meeting_id: int, user_id: str, now: datetime) -> bool:
        """Note that `user_id` was admitted; True the first time only."""
        try:
            async with self.sessions.begin() as session:
                if await session.get(MeetingParticipant, (meeting_id, user_id)) is not None:
                    return False
                session.add(
                    MeetingParticipant(meeting_id=meeting_id, user_id=user_id, first_seen_at=now)
                )
        except IntegrityError:
            return False  # admitted twice at once: the other request recorded it
        return True


@dataclass(frozen=True)
class ScheduledStart:
    """A scheduled meeting whose start was claimed; `already_on` is the room's live meeting
    when one was on at that moment (and the scheduled one was cancelled rather than opened)."""

    meeting: Meeting
    already_on: Meeting | None = None


def _pending(column: InstrumentedAttribute[datetime | None]) -> tuple[ColumnElement[bool], ...]:
    """A scheduled meeting that has not started, not been cancelled, and has no `column` yet."""
    return (
        Meeting.scheduled_for.is_not(None),
        Meeting.started_at.is_(None),
        Meeting.cancelled_at.is_(None),
        column.is_(None),
    )


async def _lock_room(session: AsyncSession, room_id: str) -> None:
    """Hold the room's meeting lock until the transaction ends: whoever opens a meeting in a
    room takes it first. On PostgreSQL it is an advisory lock; SQLite has one writer, so its
    transaction is enough."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": room_lock_key(room_id)}
        )


def _live(room_id: str) -> Select[Meeting]:
    """The room's meeting that has started and not ended (the newest, if several)."""
    return (
        select(Meeting)
        .where(
            Meeting.room_id == room_id,
            Meeting.started_at.is_not(None),
            Meeting.ended_at.is_(None),
            Meeting.cancelled_at.is_(None),
        )
        .order_by(Meeting.started_at.desc(), Meeting.id.desc())
        .limit(1)
    )


def room_lock_key(room_id: str) -> int:
    """A PostgreSQL advisory lock key (a signed 64-bit number) for one room's meetings."""
    return int.from_bytes(
        hashlib.sha256(b"borough meeting\x00" + room_id.encode()).digest()[:8], "big", signed=True
    )
