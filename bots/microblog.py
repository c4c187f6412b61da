"""Reading the microblog index: follows, the feed, hashtags and trends, always limited to the
channels the asker may read (`borough.readers`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import ChannelRow, Follow, Post, PostTag, Profile, rows_changed
from borough.hashtags import hashtag
from borough.readers import find_channel, latest_posts, readable_channel_ids, readable_channels
from borough.wording import MAX_PAGE, count, page_number
from bots.commands import Arg, Commands, Request, UsageError
from bots.index import Indexer

PAGE_SIZE = 5
EXCERPT = 280


@dataclass
class Microblog:
    sessions: async_sessionmaker[AsyncSession]
    indexer: Indexer
    server_name: str

    async def channel(self, reference: str, asker: str) -> ChannelRow:
        async with self.sessions() as session:
            row = await find_channel(session, reference, self.server_name, asker)
        if row is None:
            # Sealed channels are not admitted to exist for outsiders.
            raise UsageError(f"I know no channel `{reference}` that you can read.")
        return row

    async def follow(self, asker: str, reference: str) -> str:
        row = await self.channel(reference, asker)
        async with self.sessions.begin() as session:
            if await session.get(Follow, (asker, row.room_id)) is None:
                session.add(Follow(user_id=asker, room_id=row.room_id))
        return f"You follow **{row.name}**. See its posts with `!feed`."

    async def unfollow(self, asker: str, reference: str) -> str:
        row = await self.channel(reference, asker)
        async with self.sessions.begin() as session:
            removed = await rows_changed(
                session,
                delete(Follow).where(Follow.user_id == asker, Follow.room_id == row.room_id),
            )
        if not removed:
            return f"You were not following **{row.name}**, so nothing changed."
        return f"You no longer follow **{row.name}**."

    async def feed(self, asker: str, page: int) -> str:
        async with self.sessions() as session:
            rooms = set(
                await session.scalars(
                    select(Follow.room_id).where(
                        Follow.user_id == asker, Follow.room_id.in_(readable_channels(asker))
                    )
                )
            )
            if not rooms:
                return "You follow no channels yet: `!follow #channel` to start."
            posts = await latest_posts(session, rooms, PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE)
            names = await self._names(session, posts)
        return self._render(posts, names, page, "Your feed", f"!feed {page + 1}")

    async def tag(self, asker: str, tag: str, page: int) -> str:
        name = tag.lstrip("#").lower()
        async with self.sessions() as session:
            rooms = await readable_channel_ids(session, asker)
        # Newest first by the tag's own time (a post's time, copied), so the (tag, sent_at)
        # index is read backwards and stops at the page: no sort of every tagged post.
        query = (
            select(Post)
            .join(PostTag, PostTag.event_id == Post.event_id)
            .where(PostTag.tag == name, Post.room_id.in_(rooms))
            .order_by(PostTag.sent_at.desc(), PostTag.event_id.desc())
        )
        return await self._page(query, page, f"Posts tagged #{name}", f"!tag #{name} {page + 1}")

    async def trending(self, asker: str, now: datetime | None = None) -> str:
        now = now or datetime.now(UTC)
        lines = ["**Trending**"]
        async with self.sessions() as session:
            rooms = await readable_channel_ids(session, asker)
            for label, window in (
                ("past 24 hours", timedelta(hours=24)),
                ("past 7 days", timedelta(days=7)),
            ):
                # The window's tags first, then the counting: asked in one query, SQLite
                # walks (tag, sent_at) for the GROUP BY's order across every tag ever used
                # (38 ms at 1M posts, against 8 ms from the `post_tags_recent` range).
                recent = (
                    select(PostTag.tag)
                    .where(PostTag.room_id.in_(rooms), PostTag.sent_at >= now - window)
                    .cte("recent")
                    .prefix_with("MATERIALIZED")
                )
                counts = (
                    await session.execute(
                        select(recent.c.tag, func.count())
                        .group_by(recent.c.tag)
                        .order_by(func.count().desc(), recent.c.tag)
                        .limit(10)
                    )
                ).all()
                shown = ", ".join(f"#{tag} ({uses})" for tag, uses in counts) or "nothing yet"
                lines.append(f"- {label}: {shown}")
        return "\n".join(lines)

    async def _page(self, query: Any, page: int, title: str, more: str) -> str:
        """One page of an ordered query of posts."""
        async with self.sessions() as session:
            posts = list(
                await session.scalars(query.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE + 1))
            )
            names = await self._names(session, posts)
        return self._render(posts, names, page, title, more)

    async def _names(self, session: AsyncSession, posts: list[Post]) -> dict[str, str]:
        authors = {p.author for p in posts}
        rows = await session.execute(
            select(Profile.user_id, Profile.display_name).where(Profile.user_id.in_(authors))
        )
        return {user_id: name for user_id, name in rows.all()}

    def _render(
        self, posts: list[Post], names: dict[str, str], page: int, title: str, more: str
    ) -> str:
        if not posts:
            return f"{title}: nothing {'more ' if page > 1 else ''}to show."
        lines = [f"**{title}** (page {page})", ""]
        for post in posts[:PAGE_SIZE]:
            channel = self.indexer.channels.get(post.room_id, {}).get("name", "a channel")
            excerpt = post.body if len(post.body) <= EXCERPT else post.body[: EXCERPT - 1] + "…"
            link = f"https://matrix.to/#/{quote(post.room_id)}/{quote(post.event_id)}"
            lines += [
                f"**{names.get(post.author, post.author)}** in **{channel}** · {post.sent_at:%d %b %H:%M}",
                f"> {excerpt}",
                f"{count(post.reply_count, 'reply', 'replies')} · "
                f"{count(post.reaction_count, 'reaction')} · [open]({link})",
                "",
            ]
        if len(posts) > PAGE_SIZE:
            lines.append(f"More: `{more}`")
        return "\n".join(lines)


# --- commands ------------------------------------------------------------------------------------

COMMANDS = Commands(Microblog)
CHANNEL = Arg("channel", "a channel's alias, e.g. #council-news", max_length=255)
PAGE = Arg("page", f"which page, from 1 to {MAX_PAGE}", is_optional=True, convert=page_number)


@COMMANDS.command("follow", CHANNEL, help="Follow a channel: its posts come into your !feed.")
async def follow(microblog: Microblog, request: Request, channel: str) -> str:
    return await microblog.follow(request.sender, channel)


@COMMANDS.command("unfollow", CHANNEL, help="Stop following a channel.")
async def unfollow(microblog: Microblog, request: Request, channel: str) -> str:
    return await microblog.unfollow(request.sender, channel)


@COMMANDS.command("feed", PAGE, help="The latest posts of the channels you follow.")
async def feed(microblog: Microblog, request: Request, page: int | None) -> str:
    return await microblog.feed(request.sender, page or 1)


def one_hashtag(text: str) -> str:
    """`!tag`'s argument, as typed, once it is a hashtag (the index's rule) and not empty."""
    if hashtag(text) is None:
        raise ValueError("Give a hashtag after `!tag`, e.g. `!tag #housing`.")
    return text


@COMMANDS.command(
    "tag",
    Arg("hashtag", "e.g. #housing", max_length=101, convert=one_hashtag),
    PAGE,
    help="Posts with a hashtag, in channels you can read.",
)
async def tag(microblog: Microblog, request: Request, hashtag: str, page: int | None) -> str:
    return await microblog.tag(request.sender, hashtag, page or 1)


@COMMANDS.command(
    "trending", help="The hashtags of the past 24 hours and 7 days, in channels you can read."
)
async def trending(microblog: Microblog, request: Request) -> str:
    return await microblog.trending(request.sender)
