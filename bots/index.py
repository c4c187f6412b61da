"""The microblog index: what the bot learns from channel rooms, written in the sync's transaction.

Posts, thread replies, reactions, edits and redactions update `posts` and its side tables;
a redacted post disappears. Every write is keyed by event id, so a replayed batch changes
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from borough import events, hashtags
from borough.db import ChannelMember, ChannelRow, Post, PostMention, PostTag, Reaction

TAG = hashtags.IN_TEXT
MENTION = re.compile(r"@[a-z0-9._=/-]+:[A-Za-z0-9.-]+(?::\d+)?")
LINK = re.compile(r"https?://[^\s<>\"')\]]+")
POST_TYPES = frozenset({"m.room.message", "m.sticker"})


@dataclass(frozen=True)
class ParsedText:
    tags: frozenset[str]
    mentions: frozenset[str]
    links: tuple[str, ...]


def parse_text(body: str) -> ParsedText:
    return ParsedText(
        tags=frozenset(t.lower() for t in TAG.findall(body)),
        mentions=frozenset(MENTION.findall(body)),
        links=tuple(dict.fromkeys(LINK.findall(body))),
    )


def _when(source: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(source.get("origin_server_ts", 0)) / 1000, UTC)


class Indexer:
    """Holds which rooms are channels, keeps the members of channels and blogs in
    `channel_members` (whom `borough.readers` and `bots.blogs` ask who may read), and indexes
    the channels' events."""

    def __init__(
        self,
        bot_user_id: str | None = None,
        is_blog: Callable[[str], bool] = lambda _room_id: False,
    ) -> None:
        self.channels: dict[str, dict[str, Any]] = {}
        #: The bot's own notices (meeting reminders, and any answer) are never posts; its
        #: boosts (`!repost`, sent as text) are.
        self.bot_user_id = bot_user_id
        #: Whether a room is a blog the bot already knows (`BlogIndexer.rooms`): a blog is
        #: read by its members too, so its members are kept as a channel's are.
        self.is_blog = is_blog

    async def load(self, session: AsyncSession) -> None:
        """Pick up the channels already known, before the first sync of this run."""
        for row in await session.scalars(select(ChannelRow)):
            self.channels[row.room_id] = {"name": row.name, "key": row.key}

    async def state(
        self, session: AsyncSession, room_id: str, state_events: Iterable[dict[str, Any]]
    ) -> None:
        # The channel's own state first, so its name and alias find a row to land on.
        joined: dict[str, bool] = {}  # the last membership of each person in this batch
        batch = sorted(state_events, key=lambda s: s.get("type") != events.CHANNEL)
        for source in batch:
            event_type, content = source.get("type"), source.get("content", {})
            if event_type == "m.room.member":
                joined[source["state_key"]] = content.get("membership") == "join"
            elif event_type in (
                events.CHANNEL,
                events.MANAGED,
                "m.room.name",
                "m.room.canonical_alias",
            ):
                await self._channel_state(session, room_id, str(event_type), content)
        if joined and self._has_readers(room_id, batch):
            await self._members(session, room_id, joined)

    def _has_readers(self, room_id: str, batch: list[dict[str, Any]]) -> bool:
        """Whether who has joined this room decides who may read it: a channel, or a blog
        (known, or made one by this very batch, which `BlogIndexer` has not seen yet). The bot
        is in every room where people talk too, and their members are no business of the
        index."""
        return (
            room_id in self.channels
            or self.is_blog(room_id)
            or any(source.get("type") == events.BLOG for source in batch)
        )

    async def _members(self, session: AsyncSession, room_id: str, joined: dict[str, bool]) -> None:
        # A full-state sync repeats every member: compare with what is stored, write the change.
        query = select(ChannelMember.user_id).where(ChannelMember.room_id == room_id)
        if len(joined) <= 500:
            query = query.where(ChannelMember.user_id.in_(list(joined)))
        stored = set(await session.scalars(query))
        arrived = [u for u, is_joined in joined.items() if is_joined and u not in stored]
        gone = [u for u, is_joined in joined.items() if not is_joined and u in stored]
        if arrived:
            await session.execute(
                insert(ChannelMember), [{"room_id": room_id, "user_id": u} for u in arrived]
            )
        for start in range(0, len(gone), 500):
            await session.execute(
                delete(ChannelMember).where(
                    ChannelMember.room_id == room_id,
                    ChannelMember.user_id.in_(gone[start : start + 500]),
                )
            )

    async def _channel_state(
        self, session: AsyncSession, room_id: str, event_type: str, content: dict[str, Any]
    ) -> None:
        row = await session.get(ChannelRow, room_id)
        if event_type == events.CHANNEL:
            if not isinstance(content.get("posters"), list):
                return
            if row is None:
                row = ChannelRow(
                    room_id=room_id,
                    key=room_id,
                    name=room_id,
                    is_sealed=False,
                    posters=[],
                    max_length=500,
                )
                session.add(row)
            row.posters = [str(p) for p in content["posters"]]
            row.is_sealed = bool(content.get("sealed"))
            row.is_public = bool(content.get("public")) and not row.is_sealed
            row.max_length = int(content.get("max_length") or 500)
        elif row is None:
            return  # not a channel
        elif event_type == "m.room.name" and content.get("name"):
            row.name = str(content["name"])
        elif event_type == "m.room.canonical_alias" and content.get("alias"):
            row.alias = str(content["alias"])
        elif event_type == events.MANAGED and content.get("key"):
            row.key = str(content["key"])
        await session.flush()
        self.channels[room_id] = {"name": row.name, "key": row.key}

    async def timeline(self, session: AsyncSession, room_id: str, source: dict[str, Any]) -> None:
        if "state_key" in source:
            await self.state(session, room_id, [source])
            return
        if room_id not in self.channels:
            return
        event_type = source.get("type")
        content = source.get("content", {})
        relation = content.get("m.relates_to") or {}
        if event_type == "m.room.redaction":
            await self._redact(session, source.get("redacts") or content.get("redacts"))
        elif event_type == "m.reaction" and relation.get("rel_type") == "m.annotation":
            await self._react(session, source, relation)
        elif event_type in POST_TYPES and relation.get("rel_type") == "m.replace":
            await self._edit(session, source, relation)
        elif event_type in POST_TYPES and not self._is_own_notice(source, content):
            await self._post(session, room_id, source, relation)

    def _is_own_notice(self, source: dict[str, Any], content: dict[str, Any]) -> bool:
        return source.get("sender") == self.bot_user_id and content.get("msgtype") == "m.notice"

    async def _post(
        self, session: AsyncSession, room_id: str, source: dict[str, Any], relation: dict[str, Any]
    ) -> None:
        if await session.get(Post, source["event_id"]) is not None:
            return  # already indexed: a replayed batch
        body = str(source.get("content", {}).get("body", ""))
        root = relation.get("event_id") if relation.get("rel_type") == "m.thread" else None
        parsed = parse_text(body)
        sent_at = _when(source)
        session.add(
            Post(
                event_id=source["event_id"],
                room_id=room_id,
                author=source["sender"],
                sent_at=sent_at,
                body=body,
                links=list(parsed.links),
                thread_root=root,
                reply_count=0,
                reaction_count=0,
            )
        )
        session.add_all(
            PostTag(event_id=source["event_id"], tag=t, sent_at=sent_at, room_id=room_id)
            for t in parsed.tags
        )
        session.add_all(
            PostMention(event_id=source["event_id"], user_id=m) for m in parsed.mentions
        )
        if root is not None and (parent := await session.get(Post, root)) is not None:
            parent.reply_count += 1
        await session.flush()

    async def _react(
        self, session: AsyncSession, source: dict[str, Any], relation: dict[str, Any]
    ) -> None:
        if await session.get(Reaction, source["event_id"]) is not None:
            return
        post = await session.get(Post, relation.get("event_id", ""))
        if post is None:
            return
        session.add(
            Reaction(
                event_id=source["event_id"],
                post_id=post.event_id,
                sender=source["sender"],
                key=str(relation.get("key", ""))[:255],
                sent_at=_when(source),
            )
        )
        post.reaction_count += 1
        await session.flush()

    async def _edit(
        self, session: AsyncSession, source: dict[str, Any], relation: dict[str, Any]
    ) -> None:
        post = await session.get(Post, relation.get("event_id", ""))
        new = source.get("content", {}).get("m.new_content") or {}
        if post is None or post.author != source["sender"] or not isinstance(new.get("body"), str):
            return  # only the author's edits count, as in Element
        parsed = parse_text(new["body"])
        post.body, post.links, post.edited_at = new["body"], list(parsed.links), _when(source)
        await session.execute(delete(PostTag).where(PostTag.event_id == post.event_id))
        await session.execute(delete(PostMention).where(PostMention.event_id == post.event_id))
        session.add_all(
            PostTag(event_id=post.event_id, tag=t, sent_at=post.sent_at, room_id=post.room_id)
            for t in parsed.tags
        )
        session.add_all(PostMention(event_id=post.event_id, user_id=m) for m in parsed.mentions)
        await session.flush()

    async def _redact(self, session: AsyncSession, event_id: Any) -> None:
        if not isinstance(event_id, str):
            return
        post = await session.get(Post, event_id)
        if post is not None:
            if (
                post.thread_root
                and (parent := await session.get(Post, post.thread_root)) is not None
            ):
                parent.reply_count = max(0, parent.reply_count - 1)
            await session.execute(delete(PostTag).where(PostTag.event_id == event_id))
            await session.execute(delete(PostMention).where(PostMention.event_id == event_id))
            await session.execute(delete(Reaction).where(Reaction.post_id == event_id))
            # A statement, not session.delete: `borough moderate remove-post` may have deleted
            # the row already, and then there is nothing left to remove.
            await session.execute(delete(Post).where(Post.event_id == event_id))
            return
        reaction = await session.get(Reaction, event_id)
        if reaction is not None:
            if (target := await session.get(Post, reaction.post_id)) is not None:
                target.reaction_count = max(0, target.reaction_count - 1)
            await session.delete(reaction)
            await session.flush()
