"""`!digest daily|weekly|off [HH:MM] [TIMEZONE]`, and the loop that sends digests by DM.

The loop runs inside the bot process and asks `borough.digests` what is due. Before sending,
it commits a `digests_sent` row keyed by person and period, holding the transaction id the
send will use; a crash between the commit and the send retries with the same id, which
Synapse deduplicates, and a period with a row marked sent is never sent again. A digest lists
only posts of followed channels the person may read at the time of sending.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nio import AsyncClient
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import (
    ChannelRow,
    DigestSent,
    DigestSubscription,
    DirectRoom,
    Follow,
    Post,
    Profile,
)
from borough.digests import DEFAULT_TIME, DueDigest, Schedule, due, is_frequency, parse_time
from borough.readers import readable_channel_ids
from borough.wording import count
from bots.commands import Arg, Commands, Request, UsageError
from bots.direct import DirectMessages
from bots.ticking import run_ticks

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
#: Most posts listed in one digest; the rest are counted.
DIGEST_POSTS = 30
EXCERPT = 200


def utc_now() -> datetime:
    return datetime.now(UTC)


def digest_txn_id(user_id: str, period: str) -> str:
    """The transaction id of one person's digest for one period: the same on every retry."""
    return "digest-" + hashlib.sha256(f"{user_id}|{period}".encode()).hexdigest()[:32]


@dataclass
class Digests:
    sessions: async_sessionmaker[AsyncSession]
    client: AsyncClient
    default_tz: str
    clock: Clock = utc_now
    #: Seconds between looks at the clock.
    interval: float = 30.0
    #: How many times the loop has looked; tests await it.
    ticks: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.direct = DirectMessages(self.sessions, self.client)

    # --- the command -----------------------------------------------------------------------

    async def subscribe(
        self, asker: str, room_id: str, frequency: str, at: str | None, tz: str | None
    ) -> str:
        if frequency == "off":
            if at is not None:
                raise UsageError("`!digest off` takes nothing after it.")
            async with self.sessions.begin() as session:
                await session.execute(
                    delete(DigestSubscription).where(DigestSubscription.user_id == asker)
                )
            return "Your digest is off."
        when = parse_time(at or DEFAULT_TIME)
        if when is None:
            raise UsageError(
                f"`{at}` is not a time: use HH:MM on a 24-hour clock, e.g. `!digest daily 08:30`."
            )
        zone = tz or self.default_tz
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(
                f"`{zone}` is not a timezone I know: use a name like Europe/London."
            ) from None
        async with self.sessions.begin() as session:
            row = await session.get(DigestSubscription, asker)
            if row is None:
                row = DigestSubscription(user_id=asker, frequency=frequency, at_time="", tz=zone)
                session.add(row)
            row.frequency, row.at_time, row.tz = frequency, f"{when:%H:%M}", zone
            row.since = self.clock()
            if await self._is_direct(session, room_id, asker):
                await session.merge(DirectRoom(user_id=asker, room_id=room_id))
        day = " on Mondays" if frequency == "weekly" else ""
        return (
            f"You will get a **{frequency}** digest of the channels you follow{day} at "
            f"**{when:%H:%M}** ({zone}), in a direct message. `!digest off` stops it."
        )

    async def _is_direct(self, session: AsyncSession, room_id: str, user_id: str) -> bool:
        """Whether only this person and the bot are in the room (as the sync showed it)."""
        room = self.client.rooms.get(room_id)
        is_channel = await session.get(ChannelRow, room_id) is not None
        members = set(room.users) if room is not None else set()
        return not is_channel and members == {user_id, self.client.user_id}

    # --- the loop --------------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        await run_ticks(self, stopping, "the digest loop")

    async def tick(self) -> None:
        now = self.clock()
        async with self.sessions() as session:
            subscriptions = list(await session.scalars(select(DigestSubscription)))
        for sub in subscriptions:
            at = parse_time(sub.at_time)
            if at is None or not is_frequency(sub.frequency):
                continue
            schedule = Schedule(sub.frequency, at, sub.tz)
            since = sub.since if sub.since.tzinfo else sub.since.replace(tzinfo=UTC)
            if (digest := due(schedule, since, now)) is not None:
                await self.deliver(sub.user_id, sub.frequency, digest)

    async def deliver(self, user_id: str, frequency: str, digest: DueDigest) -> None:
        txn_id = digest_txn_id(user_id, digest.period)
        async with self.sessions.begin() as session:
            sent = await session.get(DigestSent, (user_id, digest.period))
            if sent is not None and sent.sent_at is not None:
                return
            if sent is None:
                session.add(DigestSent(user_id=user_id, period=digest.period, txn_id=txn_id))
        text = await self.compose(user_id, frequency, digest)
        if text is None:
            await self._mark(user_id, digest.period, None, None)
            return  # nothing new: no message
        delivered = await self.direct.send(user_id, text, txn_id)
        if delivered is None:
            return  # retried on the next tick, with the same transaction id
        await self._mark(user_id, digest.period, *delivered)

    async def _mark(
        self, user_id: str, period: str, room_id: str | None, event_id: str | None
    ) -> None:
        async with self.sessions.begin() as session:
            sent = await session.get(DigestSent, (user_id, period))
            if sent is not None:
                sent.room_id, sent.event_id, sent.sent_at = room_id, event_id, self.clock()

    async def compose(self, user_id: str, frequency: str, digest: DueDigest) -> str | None:
        async with self.sessions() as session:
            readable = await readable_channel_ids(session, user_id)
            followed = set(
                await session.scalars(select(Follow.room_id).where(Follow.user_id == user_id))
            )
            rooms = readable & followed
            if not rooms:
                return None
            posts = list(
                await session.scalars(
                    select(Post)
                    .where(
                        Post.room_id.in_(rooms),
                        Post.thread_root.is_(None),
                        Post.sent_at > digest.start,
                        Post.sent_at <= digest.end,
                    )
                    .order_by(Post.sent_at.desc(), Post.event_id)
                    .limit(DIGEST_POSTS + 1)
                )
            )
            channels = dict(
                (
                    await session.execute(
                        select(ChannelRow.room_id, ChannelRow.name).where(
                            ChannelRow.room_id.in_(rooms)
                        )
                    )
                ).all()
            )
            names = dict(
                (
                    await session.execute(
                        select(Profile.user_id, Profile.display_name).where(
                            Profile.user_id.in_({p.author for p in posts})
                        )
                    )
                ).all()
            )
        if not posts:
            return None
        lines = [f"**Your {frequency} digest**", ""]
        for post in posts[:DIGEST_POSTS]:
            excerpt = post.body if len(post.body) <= EXCERPT else post.body[: EXCERPT - 1] + "…"
            link = f"https://matrix.to/#/{quote(post.room_id)}/{quote(post.event_id)}"
            lines += [
                f"**{names.get(post.author, post.author)}** in **{channels.get(post.room_id, 'a channel')}**"
                f" · {count(post.reply_count, 'reply', 'replies')} · [open]({link})",
                f"> {excerpt}",
                "",
            ]
        if len(posts) > DIGEST_POSTS:
            lines.append("More in `!feed`.")
        lines.append("`!digest off` stops these.")
        return "\n".join(lines)


COMMANDS = Commands(Digests)


@COMMANDS.command(
    "digest",
    Arg("frequency", "how often", choices=("daily", "weekly", "off")),
    Arg("time", "when, HH:MM on a 24-hour clock (default 08:00)", is_optional=True, max_length=5),
    Arg("timezone", "e.g. Europe/London (default: the council's)", is_optional=True, max_length=64),
    help="A digest of the channels you follow, sent to you by direct message.",
)
async def digest(
    digests: Digests, request: Request, frequency: str, time: str | None, timezone: str | None
) -> str:
    return await digests.subscribe(request.sender, request.room_id, frequency, time, timezone)
