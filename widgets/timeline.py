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
from borough.hashtags import hashtag, pieces
from borough.profile_page import profile_path
from widgets import pages
from widgets.app import SESSIONS, SETTINGS, JsonError
from widgets.avatars import avatar_url
from widgets.public import matrix_to
from widgets.viewer import viewer_id

PAGE_SIZE = 30
#: Room ids and aliases are at most 255 characters (the Matrix spec); so are Borough's keys.
MAX_REFERENCE = 255


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


async def timeline(request: web.Request) -> web.Response:
    asker = viewer_id(request)
    reference = request.query.get("channel", "").strip()
    if len(reference) > MAX_REFERENCE:
        raise JsonError(
            400,
            f"`channel` is longer than any channel's name, alias or room id "
            f"({MAX_REFERENCE} characters at most)",
            "M_INVALID_PARAM",
        )
    try:
        tag = hashtag(request.query.get("tag", ""))
    except ValueError as exc:
        raise JsonError(400, f"`tag`: {exc}", "M_INVALID_PARAM") from None
    async with request.app[SESSIONS]() as session:
        if reference:
            server_name = request.app[SETTINGS].homeserver.server_name
            chosen = await readers.find_channel(session, reference, server_name, asker)
            if chosen is None:
                raise JsonError(
                    404, f"there is no channel {reference!r} that you can read", "M_NOT_FOUND"
                )
            channels = {chosen.room_id: chosen}
            title, rooms = chosen.name, {chosen.room_id}
        else:
            channels = await _readable(session, asker)
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
        names: dict[str, str] = {}
        present: set[str] = set()  # authors with a profile page (not left)
        for user_id, name, left_at in await session.execute(
            select(Profile.user_id, Profile.display_name, Profile.left_at).where(
                Profile.user_id.in_({p.author for p in posts})
            )
        ):
            names[user_id] = name
            if left_at is None:
                present.add(user_id)
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
                    "author_profile": profile_path(p.author) if p.author in present else None,
                    "author_avatar": (
                        avatar_url(request.app, p.author) if p.author in present else None
                    ),
                    "sent_at": p.sent_at.isoformat(),
                    "body": p.body,
                    # The text with each hashtag apart, for a link where it stands.
                    "pieces": [{"text": text, "tag": tag} for text, tag in pieces(p.body)],
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
