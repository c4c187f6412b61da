"""Unit blogs: indexing blog rooms (posts, their media, edits, redactions) and `!blog latest`.

What counts as a post, and how it is rendered, is `borough.blogs`. The index is written in the
sync's transaction, like the microblog's, and keyed by event id, so a replayed batch changes
nothing. A blog is readable by the people joined to its room, and by everyone when public.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import events
from borough.blogs import MEDIA_WINDOW, media_of, render_post
from borough.db import BlogMedia, BlogPost, BlogRoom, ChannelMember, Profile, UnitRow
from borough.wording import count
from bots.commands import Arg, Commands, Request, UsageError

LATEST = 10


def _when(source: dict[str, Any]) -> datetime:
    return datetime.fromtimestamp(int(source.get("origin_server_ts", 0)) / 1000, UTC)


class BlogIndexer:
    """Knows which rooms are blogs and indexes their posts."""

    def __init__(self) -> None:
        self.rooms: dict[str, BlogRoom] = {}

    async def load(self, session: AsyncSession) -> None:
        self.rooms = {row.room_id: row for row in await session.scalars(select(BlogRoom))}

    async def state(
        self, session: AsyncSession, room_id: str, state_events: Iterable[dict[str, Any]]
    ) -> None:
        for source in sorted(state_events, key=lambda s: s.get("type") != events.BLOG):
            content = source.get("content", {})
            if source.get("type") == events.BLOG and isinstance(content.get("unit"), str):
                row = await session.get(BlogRoom, room_id)
                if row is None:
                    row = BlogRoom(room_id=room_id, unit=content["unit"], name=room_id)
                    session.add(row)
                row.unit, row.is_public = content["unit"], bool(content.get("public"))
                # A blog made members-only takes its posts off the web at once.
                await session.execute(
                    update(BlogPost)
                    .where(BlogPost.room_id == room_id)
                    .values(is_public=row.is_public, unit=row.unit)
                )
                await session.flush()
                self.rooms[room_id] = row
            elif source.get("type") == "m.room.name" and room_id in self.rooms:
                row = await session.get(BlogRoom, room_id)
                if row is not None and content.get("name"):
                    row.name = str(content["name"])[:255]

    async def timeline(self, session: AsyncSession, room_id: str, source: dict[str, Any]) -> None:
        if "state_key" in source:
            await self.state(session, room_id, [source])
            return
        room = self.rooms.get(room_id)
        if room is None:
            return
        content = source.get("content", {})
        relation = content.get("m.relates_to") or {}
        if source.get("type") == "m.room.redaction":
            await self._redact(session, source.get("redacts") or content.get("redacts"))
        elif source.get("type") != "m.room.message":
            return
        elif relation.get("rel_type") == "m.replace":
            await self._edit(session, source, relation)
        elif (media := media_of(content)) is not None:
            await self._attach(session, room_id, source, relation, media.as_json())
        elif relation.get("rel_type") != "m.thread":
            await self._post(session, room, source)

    async def _post(self, session: AsyncSession, room: BlogRoom, source: dict[str, Any]) -> None:
        body = source.get("content", {}).get("body")
        if not isinstance(body, str):
            return
        if await session.get(BlogPost, source["event_id"]) is not None:
            return  # already recorded: the same event seen again
        rendered = render_post(body)
        if rendered is None:
            return  # chat in the blog room, not a post
        session.add(
            BlogPost(
                event_id=source["event_id"],
                room_id=room.room_id,
                unit=room.unit,
                author=source["sender"],
                title=rendered.title,
                html=rendered.html,
                summary=rendered.summary,
                media=[],
                sent_at=_when(source),
                is_public=room.is_public,
            )
        )
        await session.flush()

    async def _attach(
        self,
        session: AsyncSession,
        room_id: str,
        source: dict[str, Any],
        relation: dict[str, Any],
        media: dict[str, str],
    ) -> None:
        if await session.get(BlogMedia, source["event_id"]) is not None:
            return
        sent_at = _when(source)
        if relation.get("rel_type") == "m.thread":
            post = await session.get(BlogPost, relation.get("event_id", ""))
            if post is not None and post.author != source["sender"]:
                post = None  # only the author's uploads belong to the post
        else:
            post = await session.scalar(
                select(BlogPost)
                .where(
                    BlogPost.room_id == room_id,
                    BlogPost.author == source["sender"],
                    BlogPost.sent_at >= sent_at - MEDIA_WINDOW,
                    BlogPost.sent_at <= sent_at,
                )
                .order_by(BlogPost.sent_at.desc())
                .limit(1)
            )
        if post is None:
            return
        post.media = [*post.media, {**media}]
        session.add(BlogMedia(event_id=source["event_id"], post_id=post.event_id, url=media["url"]))
        await session.flush()

    async def _edit(
        self, session: AsyncSession, source: dict[str, Any], relation: dict[str, Any]
    ) -> None:
        post = await session.get(BlogPost, relation.get("event_id", ""))
        new = source.get("content", {}).get("m.new_content") or {}
        if post is None or post.author != source["sender"] or not isinstance(new.get("body"), str):
            return
        rendered = render_post(new["body"])
        if rendered is None:
            await self._delete(session, post)  # the heading is gone: no longer a post
            return
        post.title, post.html, post.summary = rendered.title, rendered.html, rendered.summary
        post.edited_at = _when(source)
        await session.flush()

    async def _redact(self, session: AsyncSession, event_id: Any) -> None:
        if not isinstance(event_id, str):
            return
        if (post := await session.get(BlogPost, event_id)) is not None:
            await self._delete(session, post)
        elif (attached := await session.get(BlogMedia, event_id)) is not None:
            if (owner := await session.get(BlogPost, attached.post_id)) is not None:
                owner.media = [m for m in owner.media if m.get("url") != attached.url]
            await session.delete(attached)
            await session.flush()

    async def _delete(self, session: AsyncSession, post: BlogPost) -> None:
        await session.execute(delete(BlogMedia).where(BlogMedia.post_id == post.event_id))
        await session.delete(post)
        await session.flush()


@dataclass
class Blogs:
    """Reading the blog index: only posts of blogs the asker may read."""

    sessions: async_sessionmaker[AsyncSession]

    async def latest(self, asker: str, unit_ref: str) -> str:
        async with self.sessions() as session:
            owner = await self._owner(session, unit_ref)
            if owner is None:
                raise UsageError(
                    f"I know no unit or blog `{unit_ref}`. Try a unit's key or name "
                    "(`!team` lists units), or a partnership's key."
                )
            key, owner_name = owner
            joined = select(ChannelMember.room_id).where(ChannelMember.user_id == asker)
            posts = list(
                await session.scalars(
                    select(BlogPost)
                    .where(
                        BlogPost.unit == key,
                        or_(BlogPost.is_public, BlogPost.room_id.in_(joined)),
                    )
                    .order_by(BlogPost.sent_at.desc(), BlogPost.event_id)
                    .limit(LATEST)
                )
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
            return f"No blog posts of **{owner_name}** that you can read."
        lines = [f"**{owner_name}: latest blog posts**", ""]
        for post in posts:
            link = f"https://matrix.to/#/{quote(post.room_id)}/{quote(post.event_id)}"
            media = f" · {count(len(post.media), 'attachment')}" if post.media else ""
            lines += [
                f"**{post.title}** by {names.get(post.author, post.author)} · "
                f"{post.sent_at:%d %b %Y}{media} · [read]({link})",
                f"> {post.summary}" if post.summary else "",
                "",
            ]
        return "\n".join(lines).rstrip()

    async def _owner(self, session: AsyncSession, reference: str) -> tuple[str, str] | None:
        """(key, name) of the unit, or of another blog's owner such as a partnership, named
        by key or by name (a partnership by its blog room's name)."""
        wanted = reference.lower()
        unit = await session.scalar(
            select(UnitRow).where(or_(UnitRow.key == wanted, func.lower(UnitRow.name) == wanted))
        )
        if unit is not None:
            return unit.key, unit.name
        room = await session.scalar(
            select(BlogRoom)
            .where(or_(BlogRoom.unit == wanted, func.lower(BlogRoom.name) == wanted))
            .order_by(BlogRoom.room_id)
            .limit(1)
        )
        return (room.unit, room.name) if room is not None else None


COMMANDS = Commands(Blogs)


@COMMANDS.command(
    "blog latest",
    Arg("unit", "a unit's key or name, or a partnership's key", is_rest=True, max_length=255),
    help="The latest posts of a unit's or a partnership's blog that you can read.",
)
async def blog_latest(blogs: Blogs, request: Request, unit: str) -> str:
    return await blogs.latest(request.sender, unit)
