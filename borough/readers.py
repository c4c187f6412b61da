"""What a person may read of the microblog, and reading it fast.

A channel is readable by the people joined to it (the bot keeps `channel_members` from the
rooms' member events) and, when it is public and not sealed, by everyone. Every feed, tag
list, trend, digest and timeline starts from `readable_channel_ids`, so sealed posts never
reach an outsider.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import lru_cache

from sqlalchemy import (
    CompoundSelect,
    DateTime,
    Select,
    TextClause,
    bindparam,
    or_,
    select,
    text,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession

from borough.db import ChannelMember, ChannelRow, Post

# SQLite allows 500 terms in one compound SELECT; keep each feed query well under it.
_ROOMS_PER_QUERY = 200


async def readable_channel_ids(session: AsyncSession, user_id: str) -> set[str]:
    """The channels `user_id` may read: those they are joined to, and public unsealed ones."""
    return set(await session.scalars(readable_channels(user_id)))


def readable_channels(user_id: str) -> CompoundSelect[str]:
    """The same rule as a query of room ids, to use inside another query (`IN (...)`)."""
    joined = (
        select(ChannelRow.room_id)
        .join(ChannelMember, ChannelMember.room_id == ChannelRow.room_id)
        .where(ChannelMember.user_id == user_id)
    )
    return union(joined, public_channels())


def public_channels() -> Select[str]:
    """The channels anyone may read, signed in or not: public and not sealed."""
    return select(ChannelRow.room_id).where(ChannelRow.is_public, ChannelRow.is_sealed.is_(False))


async def find_channel(
    session: AsyncSession, reference: str, server_name: str, reader: str | None
) -> ChannelRow | None:
    """The channel `reference` names, if `reader` may read it (None: anyone, signed out).

    A reference is a room id (`!…`), an alias (`#news:server`, or `#news` on this server),
    Borough's key (`unit/housing/news`, `channel/news`) or a bare name: a channel's own key
    or its alias on this server (`news`). A channel the reader may not read gives None, the
    same as one that does not exist, so a sealed channel cannot even be confirmed."""
    reference = reference.strip()
    if reference.startswith("!"):
        named = [ChannelRow.room_id == reference]
    elif reference.startswith("#"):
        alias = reference if ":" in reference else f"{reference}:{server_name}"
        named = [ChannelRow.alias == alias]
        localpart, _, server = alias[1:].partition(":")
        if server == server_name:
            # A sealed channel has no address (see DesiredRoom.publishes_address); those
            # inside it still name it `#news`, after its key `channel/news`.
            named.append(ChannelRow.key == f"channel/{localpart}")
    else:
        named = [
            ChannelRow.key == reference,
            ChannelRow.key == f"channel/{reference}",
            ChannelRow.alias == f"#{reference}:{server_name}",
        ]
    may_read = public_channels() if reader is None else readable_channels(reader)
    rows = await session.scalars(
        select(ChannelRow).where(or_(*named), ChannelRow.room_id.in_(may_read)).limit(len(named))
    )
    # Two rows could answer a bare name (one by key, another by alias): the key wins.
    return min(
        rows, key=lambda row: row.key not in (reference, f"channel/{reference}"), default=None
    )


async def latest_posts(
    session: AsyncSession,
    room_ids: Collection[str],
    limit: int,
    *,
    offset: int = 0,
    before: tuple[datetime, str] | None = None,
) -> list[Post]:
    """Top-level posts in these rooms, newest first (ties by event id, descending).

    For keyset pagination pass `before=(sent_at, event_id)` of the last post shown; `offset`
    serves page numbers. Each room is read newest-first from the `posts_feed` index and only
    `offset + limit` posts per room are merged, so the cost follows the page, not the index.
    The caller limits `room_ids` to what the reader may read.
    """
    wanted = offset + limit
    if wanted <= 0 or not room_ids:
        return []
    rooms = sorted(room_ids)
    posts: list[Post] = []
    for start in range(0, len(rooms), _ROOMS_PER_QUERY):
        posts += await _newest(session, rooms[start : start + _ROOMS_PER_QUERY], wanted, before)
    posts.sort(key=lambda p: (p.sent_at, p.event_id), reverse=True)
    return posts[offset:wanted]


async def _newest(
    session: AsyncSession, rooms: list[str], wanted: int, before: tuple[datetime, str] | None
) -> list[Post]:
    params: dict[str, object] = {f"room{n}": room for n, room in enumerate(rooms)}
    params["wanted"] = wanted
    if before is not None:
        params["before_at"], params["before_id"] = before
    statement = _newest_statement(len(rooms), before is not None)
    return list(await session.scalars(select(Post).from_statement(statement), params))


@lru_cache(maxsize=256)
def _newest_statement(rooms: int, keyset: bool) -> TextClause:
    """The newest `:wanted` top-level posts of `rooms` rooms, each room read newest-first from
    `posts_feed` and stopped at `:wanted`. Written once per room count: building it from
    SQLAlchemy constructs on every feed cost more than running it."""
    after = (
        " AND (sent_at < :before_at OR (sent_at = :before_at AND event_id < :before_id))"
        if keyset
        else ""
    )
    arms = " UNION ALL ".join(
        f"SELECT * FROM (SELECT event_id, sent_at FROM posts WHERE room_id = :room{n} "
        f"AND thread_root IS NULL{after} ORDER BY sent_at DESC, event_id DESC "
        f"LIMIT :wanted) AS room{n}"
        for n in range(rooms)
    )
    statement = text(
        "SELECT posts.* FROM posts WHERE posts.event_id IN (SELECT merged.event_id FROM "
        f"({arms}) AS merged ORDER BY merged.sent_at DESC, merged.event_id DESC LIMIT :wanted)"
    )
    if keyset:
        statement = statement.bindparams(bindparam("before_at", type_=DateTime(timezone=True)))
    return statement
