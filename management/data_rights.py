"""Data rights (UK GDPR): everything Borough and Synapse hold about a person, exported or erased.

`PERSONAL_DATA` lists every app-database table that holds personal data, the column that
names the person, and what erasure does to it. A new table with personal data gets one line
there; export and erase both read the list.

What the audit log keeps after an erasure: the audit log is an append-only record of admin
actions, kept to account for them (UK GDPR Art. 17(3)(b) and (e)), so its entries are not
deleted. The erasure entry names the erased account by its Matrix id and holds only row
counts, none of the erased data. The id is kept in clear, not hashed: Synapse never frees an
erased account's id (it stays in its users table, deactivated and marked erased), and the
earlier entries already name it, so a hash would hide nothing and would stop an information
governance officer from showing that a given request was carried out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Table, case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import audit
from borough.db import AuditEntry, Base, rows_changed
from borough.matrix import MatrixClient, MatrixError, q

logger = logging.getLogger(__name__)

#: What an erased person's id becomes where a shared record must stay (a meeting others held).
ERASED = "[erased]"

#: delete the rows; anonymise: the column becomes ERASED (a shared record stays); clear: the
#: column becomes empty in other people's rows (only the reference to the person goes).
Erasure = Literal["delete", "anonymise", "clear"]


@dataclass(frozen=True)
class Holding:
    """One table's personal data: the column naming the person, and what erasure does."""

    table: str
    column: str
    erasure: Erasure = "delete"
    why: str = ""


#: Every table holding personal data. A table not created yet (its feature is off or newer
#: than this database) is skipped. Order matters for erasure: profiles before the directory
#: tables, whose triggers mark the deleted person dirty again.
PERSONAL_DATA: tuple[Holding, ...] = (
    Holding("profiles", "user_id", why="the profile card"),
    Holding("profile_fields", "user_id", why="profile fields"),
    Holding("profiles", "manager", "clear", why="named as the manager of these people"),
    Holding("posts", "author", why="channel posts and thread replies"),
    Holding("post_mentions", "user_id", why="mentions of the person"),
    Holding("reactions", "sender", why="reactions"),
    Holding("follows", "user_id", why="channels followed"),
    Holding("channel_members", "user_id", why="channel memberships"),
    Holding("reposts", "reposter", why="reposts"),
    Holding("digest_subscriptions", "user_id", why="digest settings"),
    Holding("digests_sent", "user_id", why="digests delivered"),
    Holding("direct_rooms", "user_id", why="the bot's chat with them"),
    Holding("blog_posts", "author", why="blog posts"),
    Holding("mirrored_profiles", "user_id", why="profile fields mirrored to Matrix"),
    Holding("meeting_participants", "user_id", why="meetings joined"),
    Holding("meetings", "created_by", "anonymise", why="meetings started (others attended)"),
    Holding("profile_views", "viewer", why="profiles the person opened lately"),
    Holding("questions", "asker", why="questions asked with !ask"),
    Holding("question_routes", "user_id", why="questions the bot sent them"),
    Holding("answers", "sender", why="answers to questions"),
    Holding("directory_entries", "user_id", why="the directory's search entry"),
    Holding("directory_dirty", "user_id", why="directory bookkeeping"),
)


class PersonNotFound(Exception):
    """Neither Synapse nor the app database knows the person."""


class ErasureRefused(Exception):
    """The account must not be erased (Borough's own accounts)."""


def present_holdings() -> list[tuple[Holding, Table]]:
    """The holdings whose tables this version of Borough defines."""
    tables = Base.metadata.tables
    return [(h, tables[h.table]) for h in PERSONAL_DATA if h.table in tables]


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def _rows(session: AsyncSession, holding: Holding, table: Table, user_id: str) -> list[Any]:
    # Other people's rows that merely name the person show only which rows they are.
    columns = table.primary_key.columns if holding.erasure == "clear" else table.columns
    result = await session.execute(select(*columns).where(table.c[holding.column] == user_id))
    return [{k: _plain(v) for k, v in row._mapping.items()} for row in result]


async def _audit_about(session: AsyncSession, user_id: str) -> list[AuditEntry]:
    entries = await audit.entries(session)
    return [e for e in entries if e.actor == user_id or user_id in (e.target_ids or [])]


async def _synapse_account(client: MatrixClient, user_id: str) -> dict[str, Any] | None:
    try:
        return await client.request("GET", f"/_synapse/admin/v2/users/{q(user_id)}")
    except MatrixError as exc:
        if exc.status in (400, 404):
            return None
        raise


async def _held_rows(
    sessions: async_sessionmaker[AsyncSession], user_id: str
) -> dict[str, list[Any]]:
    async with sessions() as session:
        return {
            _name(holding): await _rows(session, holding, table, user_id)
            for holding, table in present_holdings()
        }


def _name(holding: Holding) -> str:
    """A holding's name in the archive and counts: the table, and the column if not the first."""
    firsts = {h.table: h.column for h in reversed(PERSONAL_DATA)}
    return (
        holding.table
        if firsts[holding.table] == holding.column
        else (f"{holding.table}.{holding.column}")
    )


async def export_person(
    client: MatrixClient, sessions: async_sessionmaker[AsyncSession], user_id: str, actor: str
) -> dict[str, Any]:
    """The archive: Borough's rows, audit entries about them, and Synapse's admin data."""
    account = await _synapse_account(client, user_id)
    held = await _held_rows(sessions, user_id)
    if account is None and not any(held.values()):
        raise PersonNotFound(
            f"no user {user_id} on this homeserver, and nothing about them in Borough's database"
        )
    synapse: dict[str, Any] = {"account": account}
    if account is not None:
        quoted = q(user_id)
        reads = {
            "joined_rooms": f"/_synapse/admin/v1/users/{quoted}/joined_rooms",
            "devices": f"/_synapse/admin/v2/users/{quoted}/devices",
            "media": f"/_synapse/admin/v1/users/{quoted}/media",
            "sessions": f"/_synapse/admin/v1/whois/{quoted}",
            "pushers": f"/_synapse/admin/v1/users/{quoted}/pushers",
            "account_data": f"/_synapse/admin/v1/users/{quoted}/accountdata",
            "profile": f"/_matrix/client/v3/profile/{quoted}",
        }
        for name, path in reads.items():
            try:
                synapse[name] = await client.request("GET", path)
            except MatrixError as exc:
                synapse[name] = {"unavailable": f"{exc.errcode}: {exc.error}"}
    async with sessions.begin() as session:
        about = await _audit_about(session, user_id)
        await audit.record(
            session,
            actor=actor,
            action="person.export",
            target_ids=[user_id],
            details={"tables": sorted(t for t, rows in held.items() if rows)},
        )
    return {
        "user_id": user_id,
        "exported_at": datetime.now(UTC).isoformat(),
        "exported_by": actor,
        "borough": {
            "tables": {
                _name(holding): {"about": holding.why, "rows": held[_name(holding)]}
                for holding, _ in present_holdings()
            },
            "audit_log": [
                {
                    "at": _plain(e.at),
                    "actor": e.actor,
                    "action": e.action,
                    "reason": e.reason,
                    "target_ids": e.target_ids,
                    "details": e.details,
                }
                for e in about
            ],
        },
        "synapse": synapse,
    }


@dataclass(frozen=True)
class ErasureResult:
    user_id: str
    deactivated: bool
    media_deleted: int
    rows: dict[str, int]


async def erase_person(
    client: MatrixClient,
    sessions: async_sessionmaker[AsyncSession],
    user_id: str,
    actor: str,
    protected: set[str],
    reason: str | None = None,
) -> ErasureResult:
    """Deactivate with erase in Synapse, delete their media and every personal row, audit it.

    Synapse goes first: if it fails, nothing in Borough changed. If the database step fails
    after it, running the erasure again finishes it (each step is idempotent).
    """
    if user_id in protected:
        raise ErasureRefused(f"{user_id} is one of Borough's own accounts; it cannot be erased")
    account = await _synapse_account(client, user_id)
    async with sessions() as session:
        known = await session.scalar(
            select(func.count())
            .select_from(Base.metadata.tables["profiles"])
            .where(Base.metadata.tables["profiles"].c.user_id == user_id)
        )
    if account is None and not known:
        raise PersonNotFound(
            f"no user {user_id} on this homeserver, and nothing about them in Borough's database"
        )
    media_deleted = 0
    if account is not None:
        media_deleted = await _delete_media(client, user_id)
        await client.request(
            "POST", f"/_synapse/admin/v1/deactivate/{q(user_id)}", json={"erase": True}
        )
    async with sessions.begin() as session:
        rows = await _delete_rows(session, user_id)
        await audit.record(
            session,
            actor=actor,
            action="person.erase",
            target_ids=[user_id],
            reason=reason,
            details={
                "synapse": "deactivated with erase" if account is not None else "no account",
                "media_deleted": media_deleted,
                "rows": rows,
            },
        )
    logger.info("erased %s: %d rows, %d media", user_id, sum(rows.values()), media_deleted)
    return ErasureResult(user_id, account is not None, media_deleted, rows)


async def _delete_media(client: MatrixClient, user_id: str) -> int:
    deleted = 0
    while True:
        answer = await client.request("DELETE", f"/_synapse/admin/v1/users/{q(user_id)}/media")
        count = int(answer.get("total", 0))
        deleted += count
        if count == 0:
            return deleted


async def _delete_rows(session: AsyncSession, user_id: str) -> dict[str, int]:
    tables = Base.metadata.tables
    await _uncount(session, user_id)
    counts: dict[str, int] = {}
    for holding, table in present_holdings():
        column = table.c[holding.column]
        if holding.erasure != "delete":
            value = ERASED if holding.erasure == "anonymise" else None
            changed = await rows_changed(
                session, update(table).where(column == user_id).values({holding.column: value})
            )
        else:
            changed = await rows_changed(session, delete(table).where(column == user_id))
        counts[_name(holding)] = changed
    if "profile_views" in tables:
        # Others' views of their profile go too. Not a holding: an export would show the
        # person who looked at whom, which is the viewer's business, not theirs.
        views = tables["profile_views"]
        await session.execute(delete(views).where(views.c.viewed == user_id))
    if "directory_dirty" in tables:
        # The profiles triggers mark the person dirty as their rows go; clear that last.
        dirty = tables["directory_dirty"]
        await session.execute(delete(dirty).where(dirty.c.user_id == user_id))
    return {name: n for name, n in counts.items() if n}


async def _uncount(session: AsyncSession, user_id: str) -> None:
    """Their replies and reactions stop counting on other people's posts."""
    tables = Base.metadata.tables
    if "posts" not in tables:
        return
    posts = tables["posts"]
    replies = await session.execute(
        select(posts.c.thread_root, func.count())
        .where(posts.c.author == user_id, posts.c.thread_root.is_not(None))
        .group_by(posts.c.thread_root)
    )
    for root, n in replies.all():
        await session.execute(
            update(posts)
            .where(posts.c.event_id == root)
            .values(reply_count=case((posts.c.reply_count > n, posts.c.reply_count - n), else_=0))
        )
    if "reactions" in tables:
        reactions = tables["reactions"]
        counted = await session.execute(
            select(reactions.c.post_id, func.count())
            .where(reactions.c.sender == user_id)
            .group_by(reactions.c.post_id)
        )
        for post_id, n in counted.all():
            await session.execute(
                update(posts)
                .where(posts.c.event_id == post_id)
                .values(
                    reaction_count=case(
                        (posts.c.reaction_count > n, posts.c.reaction_count - n), else_=0
                    )
                )
            )
