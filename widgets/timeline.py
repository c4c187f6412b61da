"""The channel timeline widget: posts of one channel or of the viewer's follows, newest first,
with a hashtag filter, reply and reaction counts and links that open each post in Element.

Everything starts from `borough.readers.readable_channel_ids`, the rule the bot's `!feed`
uses: a channel the viewer may not read is answered exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from borough import readers
from borough.db import ChannelRow, Follow, Post, PostTag, Profile
from widgets import pages
from widgets.app import SESSIONS, JsonError
from widgets.public import matrix_to
from widgets.viewer import viewer_id

PAGE_SIZE = 30


async def page(request: web.Request) -> web.Response:
    return pages.render(request, "timeline.html")


def _channel_json(row: ChannelRow) -> dict[str, Any]:
    return {"room_id": row.room_id, "key": row.key, "alias": row.alias, "name": row.name}


async def _readable(session: AsyncSession, user_id: str) -> dict[str, ChannelRow]:
    rooms = await readers.readable_channel_ids(session, user_id)
    rows = await session.scalars(select(ChannelRow).where(ChannelRow.room_id.in_(rooms)))
    return {row.room_id: row for row in rows}


async def sources(request: web.Request) -> web.Response:
    asker = viewer_id(request)
    async with request.app[SESSIONS]() as session:
        channels = await _readable(session, asker)
    ordered = sorted(channels.values(), key=lambda c: c.name.lower())
    return web.json_response({"channels": [_channel_json(c) for c in ordered]})


def _pick(channels: dict[str, ChannelRow], reference: str) -> ChannelRow:
    for row in channels.values():
        if reference in (row.room_id, row.alias, row.key):
            return row
    raise JsonError(404, f"there is no channel {reference!r} that you can read", "M_NOT_FOUND")


async def timeline(request: web.Request) -> web.Response:
    asker = viewer_id(request)
    reference = request.query.get("channel", "").strip()
    tag = request.query.get("tag", "").strip().lstrip("#").lower() or None
    if tag is not None and (len(tag) > 100 or any(ch.isspace() for ch in tag)):
        raise JsonError(400, "a hashtag is one word, e.g. #housing", "M_INVALID_PARAM")
    async with request.app[SESSIONS]() as session:
        channels = await _readable(session, asker)
        if reference:
            chosen = _pick(channels, reference)
            title, rooms = chosen.name, {chosen.room_id}
        else:
            title = "Your follows"
            followed = set(
                await session.scalars(select(Follow.room_id).where(Follow.user_id == asker))
            )
            rooms = followed & set(channels)
        if tag is None:
            posts = await readers.latest_posts(session, rooms, PAGE_SIZE)
        else:
            title += f" · #{tag}"
            posts = list(
                await session.scalars(
                    select(Post)
                    .join(PostTag, PostTag.event_id == Post.event_id)
                    .where(PostTag.tag == tag, Post.room_id.in_(rooms))
                    .order_by(Post.sent_at.desc(), Post.event_id.desc())
                    .limit(PAGE_SIZE)
                )
            )
        ids = [p.event_id for p in posts]
        tags: dict[str, list[str]] = {}
        for event_id, name in await session.execute(
            select(PostTag.event_id, PostTag.tag).where(PostTag.event_id.in_(ids))
        ):
            tags.setdefault(event_id, []).append(name)
        names: dict[str, str] = {
            key: value
            for key, value in await session.execute(
                select(Profile.user_id, Profile.display_name).where(
                    Profile.user_id.in_({p.author for p in posts})
                )
            )
        }
    return web.json_response(
        {
            "title": title,
            "posts": [
                {
                    "event_id": p.event_id,
                    "room_id": p.room_id,
                    "channel": channels[p.room_id].name,
                    "author_id": p.author,
                    "author": names.get(p.author, p.author),
                    "sent_at": p.sent_at.isoformat(),
                    "body": p.body,
                    "tags": sorted(tags.get(p.event_id, [])),
                    "is_reply": p.thread_root is not None,
                    "reply_count": p.reply_count,
                    "reaction_count": p.reaction_count,
                    "link": matrix_to(channels[p.room_id].alias or p.room_id, p.event_id),
                }
                for p in posts
            ],
        }
    )


def setup(app: web.Application) -> None:
    pages.setup(app)
    app.router.add_get("/widgets/timeline", page)
    app.router.add_get("/widgets/api/timeline/sources", sources)
    app.router.add_get("/widgets/api/timeline", timeline)
