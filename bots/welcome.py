"""The welcome: one direct message to each person the org chart places, when they first
sign in or are first placed.

Element's Home hides rooms that sit in a space, so a newcomer's first screen is empty. The
welcome is the first thing there: what Borough is, their organisation, units and channels as
links, and three commands to try.

Both a sign-in (a new device) and a join to a room the bot is in reach the bot as a change in
its sync's `device_lists`. The bot records a welcome to send in the transaction that moves its
sync position, and its loop sends it with a transaction id fixed per person, so a restart
finishes a send it began and no one is ever welcomed twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import directory
from borough.db import ChannelMember, ChannelRow, Profile, WelcomeSent
from bots.direct import DirectMessages
from bots.ticking import run_ticks

logger = logging.getLogger(__name__)

#: Welcomes sent per look, so that a chart applied for thousands never holds up the loop long.
BATCH = 20


def link(target: str) -> str:
    """A matrix.to link to a room, space or alias, which Element opens in place."""
    return f"https://matrix.to/#/{quote(target)}"


@dataclass(frozen=True)
class Newcomer:
    """What the welcome says about someone: all names, with where each one is."""

    first_name: str
    organisation: tuple[str, str] | None
    units: tuple[tuple[str, str], ...]
    channels: tuple[tuple[str, str], ...]


def welcome_text(person: Newcomer) -> str:
    lines = [
        f"**Welcome to Borough, {person.first_name}.**",
        "",
        "Borough is your organisation's network on Matrix: your organisation, your teams and "
        "your partnerships are spaces in Element's left-hand bar, each with its rooms inside, "
        "and channels carry your teams' news. I am Borough's bot: I answer `!` commands here "
        "and in your teams' rooms.",
        "",
    ]
    if person.organisation is not None:
        name, target = person.organisation
        lines += [f"- Your organisation: [{name}]({link(target)})"]
    if person.units:
        shown = ", ".join(f"[{name}]({link(target)})" for name, target in person.units)
        lines += [f"- {'Your team' if len(person.units) == 1 else 'Your teams'}: {shown}"]
    if person.channels:
        shown = ", ".join(f"[{name}]({link(target)})" for name, target in person.channels)
        lines += [f"- Your channels: {shown}"]
    lines += [
        "",
        "Three commands to try:",
        "",
        "- `!profile`: your profile card, as colleagues see it",
        "- `!find WORDS`: search the people directory",
        "- `!meet`: start a meeting in the room you type it in",
        "",
        "`!help` lists every command.",
    ]
    return "\n".join(lines)


@dataclass
class Welcomes:
    sessions: async_sessionmaker[AsyncSession]
    direct: DirectMessages
    server_name: str
    bot_user_id: str
    interval: float = 5.0
    ticks: int = field(default=0, init=False)

    async def note(self, session: AsyncSession, user_ids: Iterable[str]) -> None:
        """Within the sync's transaction: a welcome to send for each person here whom the
        org chart places (a managed profile with an organisation) and who has none yet."""
        local = {
            u for u in user_ids if u != self.bot_user_id and u.endswith(f":{self.server_name}")
        }
        if not local:
            return
        placed = set(
            await session.scalars(
                select(Profile.user_id).where(
                    Profile.user_id.in_(local),
                    Profile.is_managed.is_(True),
                    Profile.organisation.is_not(None),
                    Profile.left_at.is_(None),
                )
            )
        )
        welcomed = set(
            await session.scalars(
                select(WelcomeSent.user_id).where(WelcomeSent.user_id.in_(placed))
            )
        )
        for user_id in sorted(placed - welcomed):
            txn = hashlib.sha256(user_id.encode()).hexdigest()[:32]
            session.add(WelcomeSent(user_id=user_id, txn_id=f"welcome-{txn}"))

    async def run(self, stopping: asyncio.Event) -> None:
        await run_ticks(self, stopping, "the welcome loop")

    async def tick(self) -> None:
        async with self.sessions() as session:
            pending = list(
                await session.scalars(
                    select(WelcomeSent)
                    .where(WelcomeSent.event_id.is_(None))
                    .order_by(WelcomeSent.created_at)
                    .limit(BATCH)
                )
            )
        for row in pending:
            text = welcome_text(await self.newcomer(row.user_id))
            sent = await self.direct.send(row.user_id, text, row.txn_id)
            if sent is None:
                logger.warning("could not welcome %s; trying again later", row.user_id)
                continue
            async with self.sessions.begin() as session:
                if (done := await session.get(WelcomeSent, row.user_id)) is not None:
                    done.event_id = sent[1]

    async def newcomer(self, user_id: str) -> Newcomer:
        async with self.sessions() as session:
            profile = await session.get(Profile, user_id)
            if profile is None:
                return Newcomer(user_id[1:].split(":", 1)[0], None, (), ())
            place = await directory.place_of(session, profile.organisation, profile.units)
            channels = (
                await session.execute(
                    select(ChannelRow.name, ChannelRow.alias, ChannelRow.room_id)
                    .join(ChannelMember, ChannelMember.room_id == ChannelRow.room_id)
                    .where(ChannelMember.user_id == user_id)
                    .order_by(ChannelRow.name)
                )
            ).all()
            shown_channels = tuple((name, alias or room_id) for name, alias, room_id in channels)
        organisation = (
            (place.organisation, self.alias(profile.organisation))
            if place.organisation and profile.organisation
            else None
        )
        return Newcomer(
            first_name=profile.display_name.split()[0] if profile.display_name else user_id,
            organisation=organisation,
            units=tuple(
                (name, self.alias(key))
                for name, key in zip(place.units, profile.units, strict=True)
            ),
            channels=shown_channels,
        )

    def alias(self, key: str) -> str:
        """A space's alias: an organisation's or a unit's key (`borough.network`)."""
        return f"#{key}:{self.server_name}"
