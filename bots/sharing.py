"""`!repost LINK #channel`: boost a post into another channel, with attribution.

The bot sends the boost, and the channel-rules module lets the bot post anywhere, so the bot
checks the asker's rights itself: they must read the post, and be a poster of the target
channel. Whether the target's audience fits the post's is `borough.reposts`. Each repost is
recorded (one per post and channel) before it is sent, with the transaction id it is sent
with, so a retry never posts twice.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from nio import AsyncClient, RoomGetStateEventResponse, RoomSendResponse
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import events
from borough.db import ChannelRow, Post, Profile, Repost, UnitRow
from borough.readers import find_channel, readable_channel_ids
from borough.reposts import ChannelAudience, attribution, parse_post_link, repost_refusal
from bots.commands import Arg, Commands, Request, UsageError
from bots.homeserver import HomeserverRefused, checked
from bots.replies import render_html

logger = logging.getLogger(__name__)

#: Content key on a boost, naming the original post, for clients and the index.
REPOST_KEY = "org.borough.repost"


@dataclass
class Reposts:
    sessions: async_sessionmaker[AsyncSession]
    client: AsyncClient
    server_name: str

    async def repost(self, asker: str, link: str, reference: str) -> str:
        parsed = parse_post_link(link)
        if parsed is None:
            raise UsageError(
                f"`{link}` is not a link to a post. In Element, choose *Share* or "
                "*Copy link* on the post. Usage: `!repost LINK #channel`"
            )
        async with self.sessions() as session:
            readable = await readable_channel_ids(session, asker)
            post = await session.get(Post, parsed.event_id)
            if (
                post is None
                or post.thread_root is not None
                or post.room_id not in readable
                or (
                    parsed.room is not None
                    and parsed.room.startswith("!")
                    and parsed.room != post.room_id
                )
            ):
                raise UsageError("I know no channel post at that link that you can read.")
            source = await session.get(ChannelRow, post.room_id)
            target = await find_channel(session, reference, self.server_name, asker)
            if source is None or target is None or target.room_id not in readable:
                raise UsageError(f"I know no channel `{reference}` that you can read.")
            if target.room_id == source.room_id:
                raise UsageError("That post is already in that channel.")
            if asker not in target.posters:
                raise UsageError(
                    f"You may not post in **{target.name}**, so you cannot repost there."
                )
            parents = dict((await session.execute(select(UnitRow.key, UnitRow.parent))).all())
            names = dict(
                (
                    await session.execute(
                        select(Profile.user_id, Profile.display_name).where(
                            Profile.user_id.in_([asker, post.author])
                        )
                    )
                ).all()
            )
        try:
            refusal = repost_refusal(
                await self._audience(source), await self._audience(target), parents
            )
        except HomeserverRefused as refused:
            logger.warning("%s", refused)
            return "I could not check who reads those channels just now. Try again in a minute."
        if refusal is not None:
            return refusal
        txn_id = (
            "repost-"
            + hashlib.sha256(f"{post.event_id}|{target.room_id}".encode()).hexdigest()[:32]
        )
        try:
            async with self.sessions.begin() as session:
                existing = await session.scalar(
                    select(Repost).where(
                        Repost.source_event_id == post.event_id,
                        Repost.target_room_id == target.room_id,
                    )
                )
                if existing is not None and existing.event_id is not None:
                    return f"That post is already reposted in **{target.name}**."
                if existing is None:
                    session.add(
                        Repost(
                            source_event_id=post.event_id,
                            source_room_id=post.room_id,
                            target_room_id=target.room_id,
                            reposter=asker,
                            txn_id=txn_id,
                        )
                    )
        except IntegrityError:
            return f"That post is already being reposted in **{target.name}**."
        link_to = f"https://matrix.to/#/{quote(post.room_id)}/{quote(post.event_id)}"
        text = attribution(
            names.get(asker, asker),
            names.get(post.author, post.author),
            source.name,
            link_to,
            post.body,
            target.max_length,
        )
        content = {
            "msgtype": "m.text",
            "body": text,
            "format": "org.matrix.custom.html",
            "formatted_body": render_html(text),
            REPOST_KEY: {"event_id": post.event_id, "room_id": post.room_id, "by": asker},
            # The quote may name people; a boost should not ping them a second time.
            "m.mentions": {},
        }
        response = await self.client.room_send(
            target.room_id, "m.room.message", content, tx_id=txn_id
        )
        try:
            sent = checked(response, RoomSendResponse, f"reposting into {target.room_id}")
        except HomeserverRefused as refused:
            logger.warning("%s", refused)
            return f"I could not post in **{target.name}** just now. Ask again to retry."
        async with self.sessions.begin() as session:
            row = await session.scalar(
                select(Repost).where(
                    Repost.source_event_id == post.event_id,
                    Repost.target_room_id == target.room_id,
                )
            )
            if row is not None:
                row.event_id = sent.event_id
        return f"Reposted to **{target.name}**."

    async def _audience(self, channel: ChannelRow) -> ChannelAudience:
        if channel.is_public:  # everyone reads it: no more to know
            return ChannelAudience(channel.name, channel.is_sealed, channel.is_public)
        rules = await self._state(channel.room_id, events.CHANNEL, "the rules")
        listed = rules.get("organisations")
        organisations = frozenset(map(str, listed)) if isinstance(listed, list) else None
        owner = None
        if channel.is_sealed:
            owner = (await self._state(channel.room_id, events.POLICY, "the seal")).get("owner")
            owner = owner if isinstance(owner, str) else None
        return ChannelAudience(
            channel.name, channel.is_sealed, channel.is_public, owner, organisations
        )

    async def _state(self, room_id: str, event_type: str, what: str) -> dict[str, Any]:
        response = await self.client.room_get_state_event(room_id, event_type)
        state = checked(response, RoomGetStateEventResponse, f"reading {what} of {room_id}")
        content: dict[str, Any] = state.content
        return content


COMMANDS = Commands(Reposts)


@COMMANDS.command(
    "repost",
    Arg("link", "the post's link (Share or Copy link in Element)", max_length=500),
    Arg("channel", "the channel to repost into, e.g. #council-news", max_length=255),
    help="Boost a post into another channel you post in, crediting its author.",
)
async def repost(reposts: Reposts, request: Request, link: str, channel: str) -> str:
    return await reposts.repost(request.sender, link, channel)
