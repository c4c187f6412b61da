"""Moderation through the service account: remove a post, suspend a person, lock a channel,
list reported content. Every action writes an audit entry in the same transaction as its
index changes. The pure parts (event references, lock levels) take and return plain data.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import audit, events
from borough.db import BlogPost, Post, PostMention, PostTag, Reaction, Repost
from borough.matrix import MatrixClient, MatrixError, q
from borough.room_power import level

logger = logging.getLogger(__name__)

#: A locked channel's `events_default`: members (0) and posters cannot send anything;
#: moderators (unit managers, org admins) still can, to explain the lock.
LOCKED_LEVEL = events.MODERATOR


class ModerationError(Exception):
    """Input a person can fix: an unknown user, event or channel, or a channel not locked."""


@dataclass(frozen=True)
class Operator:
    """Who is acting (`--as`, or the OS user) and the service account acting for them."""

    actor: str
    via: str


# --- pure parts -------------------------------------------------------------------------------

_EVENT_ID = re.compile(r"\$[A-Za-z0-9_\-+/=.:]+")
_ROOM = re.compile(r"[!#][^/?\s$]+:[^/?\s$]+")


@dataclass(frozen=True)
class EventRef:
    event_id: str
    room: str | None  # a room id or alias, when the reference names one


def parse_event_ref(text: str) -> EventRef:
    """An event from a matrix.to or Element link, a `matrix:` URI, or a bare `$event_id`."""
    raw = text.strip()
    if raw.startswith("matrix:"):
        path = raw[len("matrix:") :].split("?", 1)[0].split("/")
        parts = dict(zip(path[::2], path[1::2], strict=False))
        sigils = {"roomid": "!", "r": "#", "e": "$"}
        found = {k: sigils[k] + unquote(v) for k, v in parts.items() if k in sigils}
        if "e" in found:
            return EventRef(found["e"], found.get("roomid") or found.get("r"))
        raise ModerationError(f"'{text}' names no event (expected matrix:roomid/…/e/…)")
    decoded = unquote(raw.split("?", 1)[0])
    event = _EVENT_ID.search(decoded)
    if event is None:
        raise ModerationError(
            f"'{text}' is not an event link or id: copy the message's link in Element "
            "(… → Share → copy link) or give its $event_id"
        )
    room = _ROOM.search(decoded[: event.start()])
    return EventRef(event.group(0), room.group(0) if room else None)


def lock_power_levels(current: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The read-only power levels for a channel, and what to restore on unlock.

    Raises `events_default` and every lower event-specific level to LOCKED_LEVEL; `users`,
    state levels already above it, and everything else stay as they are."""
    new = dict(current)
    old_events: dict[str, Any] = dict(current.get("events") or {})
    raised = {t: lvl for t, lvl in old_events.items() if level(lvl, 0) < LOCKED_LEVEL}
    previous: dict[str, Any] = {
        "events_default": current.get("events_default"),
        "events": raised,
    }
    new["events_default"] = max(level(current.get("events_default"), 0), LOCKED_LEVEL)
    new["events"] = {**old_events, **dict.fromkeys(raised, LOCKED_LEVEL)}
    return new, previous


def unlock_power_levels(current: Mapping[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """`current` with exactly the levels the lock raised put back as they were."""
    new = dict(current)
    if previous.get("events_default") is None:
        new.pop("events_default", None)
    else:
        new["events_default"] = previous["events_default"]
    restored = dict(new.get("events") or {})
    restored.update(previous.get("events") or {})
    new["events"] = restored
    return new


def full_user_id(user: str, server_name: str) -> str:
    """`@ann:server` as given, or a bare username on this server."""
    user = user.strip()
    if user.startswith("@") and ":" in user:
        return user
    if not user or ":" in user or user.startswith("@"):
        raise ModerationError(f"'{user}' is not a user: give @name:{server_name} or a username")
    return f"@{user}:{server_name}"


# --- actions against Synapse and the app database --------------------------------------------


@dataclass(frozen=True)
class RemovedPost:
    event_id: str
    room_id: str
    was_indexed: bool
    reposts_removed: int = 0


@dataclass(frozen=True)
class Suspension:
    user_id: str
    method: str  # "suspended" | "unsuspended" | "deactivated"


@dataclass(frozen=True)
class LockResult:
    room_id: str
    channel: str
    changed: bool
    detail: str


class Moderator:
    def __init__(
        self,
        client: MatrixClient,
        sessions: async_sessionmaker[AsyncSession],
        server_name: str,
        operator: Operator,
    ) -> None:
        self.client, self.sessions = client, sessions
        self.server_name, self.operator = server_name, operator

    async def _audit(
        self,
        session: AsyncSession,
        action: str,
        targets: list[str],
        reason: str | None,
        details: Mapping[str, Any],
    ) -> None:
        await audit.record(
            session,
            actor=self.operator.actor,
            action=action,
            target_ids=targets,
            reason=reason,
            details={"via": self.operator.via, **details},
        )

    # -- posts --

    async def remove_post(self, reference: str, reason: str) -> RemovedPost:
        ref = parse_event_ref(reference)
        event = await self._fetch_event(ref.event_id)
        room_id = str(event["room_id"])
        if ref.room is not None:
            named = await self._room_id(ref.room)
            if named != room_id:
                raise ModerationError(f"event {ref.event_id} is not in room {ref.room}")
        # Looked up before the redaction: the bot drops the row itself once it syncs it.
        async with self.sessions() as session:
            indexed_as = await indexed_kind(session, ref.event_id)
            # Boosts quote the post, so they go with it.
            reposts = await session.execute(
                select(Repost.event_id, Repost.target_room_id).where(
                    Repost.source_event_id == ref.event_id
                )
            )
            # A boost Synapse has not accepted yet has no event to redact.
            boosts = [(boost_id, room) for boost_id, room in reposts if boost_id is not None]
        await self._redact(room_id, ref.event_id, reason)
        for boost_id, boost_room in boosts:
            await self._redact(boost_room, boost_id, f"{reason} (a repost of a removed post)")
        async with self.sessions.begin() as session:
            await drop_from_index(session, ref.event_id)
            for boost_id, _ in boosts:
                await drop_from_index(session, boost_id)
            await session.execute(delete(Repost).where(Repost.source_event_id == ref.event_id))
            await self._audit(
                session,
                "moderate.remove_post",
                [ref.event_id, room_id, str(event.get("sender", ""))],
                reason,
                {
                    "event_type": event.get("type"),
                    "indexed_as": indexed_as,
                    "reposts": [boost_id for boost_id, _ in boosts],
                },
            )
        return RemovedPost(ref.event_id, room_id, indexed_as is not None, len(boosts))

    async def _redact(self, room_id: str, event_id: str, reason: str) -> None:
        await self.client.request(
            "PUT",
            f"/_matrix/client/v3/rooms/{q(room_id)}/redact/{q(event_id)}/{secrets.token_hex(8)}",
            json={"reason": reason},
        )

    async def _fetch_event(self, event_id: str) -> dict[str, Any]:
        try:
            answer = await self.client.request(
                "GET", f"/_synapse/admin/v1/fetch_event/{q(event_id)}"
            )
        except MatrixError as exc:
            if exc.status in (400, 404):
                raise ModerationError(f"no event {event_id} on this homeserver") from None
            raise
        return dict(answer["event"])

    async def _room_id(self, room: str) -> str:
        if room.startswith("!"):
            return room
        try:
            answer = await self.client.request(
                "GET", f"/_matrix/client/v3/directory/room/{q(room)}"
            )
        except MatrixError as exc:
            if exc.status == 404:
                raise ModerationError(f"no room {room} on this homeserver") from None
            raise
        return str(answer["room_id"])

    # -- people --

    async def _user(self, user: str) -> dict[str, Any]:
        user_id = full_user_id(user, self.server_name)
        try:
            return await self.client.request("GET", f"/_synapse/admin/v2/users/{q(user_id)}")
        except MatrixError as exc:
            if exc.status in (400, 404):
                raise ModerationError(f"no user {user_id} on this homeserver") from None
            raise

    async def suspend(self, user: str, reason: str, deactivate: bool) -> Suspension:
        account = await self._user(user)
        user_id = str(account["name"])
        if user_id == self.operator.via:
            raise ModerationError("Borough's service account cannot suspend itself")
        if account.get("deactivated"):
            raise ModerationError(f"{user_id} is already deactivated")
        if deactivate:
            await self.client.request(
                "POST", f"/_synapse/admin/v1/deactivate/{q(user_id)}", json={"erase": False}
            )
            method = "deactivated"
        else:
            await self._set_suspended(user_id, True)
            method = "suspended"
        async with self.sessions.begin() as session:
            await self._audit(
                session,
                f"moderate.{'deactivate' if deactivate else 'suspend'}",
                [user_id],
                reason,
                {"method": method},
            )
        return Suspension(user_id, method)

    async def unsuspend(self, user: str, reason: str | None) -> Suspension:
        account = await self._user(user)
        user_id = str(account["name"])
        if account.get("deactivated"):
            raise ModerationError(
                f"{user_id} was deactivated, not suspended; unsuspend cannot undo a "
                "deactivation (reactivate them with Synapse's admin API and a new password)"
            )
        if not account.get("suspended"):
            raise ModerationError(f"{user_id} is not suspended")
        await self._set_suspended(user_id, False)
        async with self.sessions.begin() as session:
            await self._audit(
                session, "moderate.unsuspend", [user_id], reason, {"method": "unsuspended"}
            )
        return Suspension(user_id, "unsuspended")

    async def _set_suspended(self, user_id: str, suspend: bool) -> None:
        await self.client.request(
            "PUT", f"/_synapse/admin/v1/suspend/{q(user_id)}", json={"suspend": suspend}
        )

    # -- channels --

    async def channel(self, name: str) -> tuple[str, str, dict[tuple[str, str], dict[str, Any]]]:
        """A channel's room id, display label and current state, by key, alias or room id."""
        name = name.strip()
        if name.startswith(("!", "#")):
            room = name
        elif name and ":" not in name:
            room = f"#{name}:{self.server_name}"
        else:
            raise ModerationError(f"'{name}' is not a channel key, #alias or !room_id")
        try:
            room_id = await self._room_id(room)
            answer = await self.client.request(
                "GET", f"/_synapse/admin/v1/rooms/{q(room_id)}/state"
            )
        except ModerationError:
            raise ModerationError(f"no channel '{name}' (no room {room})") from None
        except MatrixError as exc:
            if exc.status in (400, 404):
                raise ModerationError(f"no channel '{name}' (no room {room})") from None
            raise
        state = {
            (str(ev["type"]), str(ev.get("state_key", ""))): dict(ev.get("content") or {})
            for ev in answer.get("state", [])
        }
        if not state.get((events.CHANNEL, "")):
            raise ModerationError(f"'{name}' is a room but not a Borough channel")
        return room_id, name, state

    async def lock(self, name: str, reason: str) -> LockResult:
        room_id, label, state = await self.channel(name)
        lock = state.get((events.LOCK, "")) or {}
        if lock.get("locked"):
            return LockResult(
                room_id, label, False, f"already locked by {lock.get('by')} at {lock.get('at')}"
            )
        current = state.get(("m.room.power_levels", "")) or {}
        new_levels, previous = lock_power_levels(current)
        now = datetime.now(UTC).isoformat(timespec="seconds")
        # The lock (with what to restore) is written before the levels change, so a crash
        # between the two leaves a lock that unlock can still undo.
        await self._put_state(
            room_id,
            events.LOCK,
            {
                "locked": True,
                "by": self.operator.actor,
                "reason": reason,
                "at": now,
                "previous": previous,
            },
        )
        await self._put_state(room_id, "m.room.power_levels", new_levels)
        async with self.sessions.begin() as session:
            await self._audit(
                session,
                "moderate.lock",
                [room_id],
                reason,
                {"channel": label, "previous": previous},
            )
        return LockResult(room_id, label, True, f"members now need power {LOCKED_LEVEL} to post")

    async def unlock(self, name: str, reason: str | None) -> LockResult:
        room_id, label, state = await self.channel(name)
        lock = state.get((events.LOCK, "")) or {}
        if not lock.get("locked"):
            raise ModerationError(f"channel '{label}' is not locked")
        current = state.get(("m.room.power_levels", "")) or {}
        restored = unlock_power_levels(current, lock.get("previous") or {})
        await self._put_state(room_id, "m.room.power_levels", restored)
        await self._put_state(room_id, events.LOCK, {})
        async with self.sessions.begin() as session:
            await self._audit(
                session,
                "moderate.unlock",
                [room_id],
                reason,
                {"channel": label, "restored": lock.get("previous") or {}},
            )
        return LockResult(room_id, label, True, "the previous power levels are restored")

    async def _put_state(self, room_id: str, event_type: str, content: dict[str, Any]) -> None:
        await self.client.request(
            "PUT", f"/_matrix/client/v3/rooms/{q(room_id)}/state/{q(event_type)}/", json=content
        )

    # -- reports --

    async def reports(self, since: datetime | None) -> list[dict[str, Any]]:
        """Reported events, newest first, received at or after `since`."""
        cutoff = int(since.timestamp() * 1000) if since else 0
        found: list[dict[str, Any]] = []
        start: int | None = 0
        while start is not None:
            page = await self.client.request(
                "GET",
                "/_synapse/admin/v1/event_reports",
                params={"from": str(start), "limit": "100", "dir": "b"},
            )
            for report in page.get("event_reports", []):
                if int(report.get("received_ts", 0)) < cutoff:
                    return found
                found.append(report)
            token = page.get("next_token")
            start = int(token) if token is not None else None
        return found


async def indexed_kind(session: AsyncSession, event_id: str) -> str | None:
    """What the index holds for an event: "post", "reaction", "blog post", or None."""
    for model, kind in ((Post, "post"), (Reaction, "reaction"), (BlogPost, "blog post")):
        if await session.get(model, event_id) is not None:
            return kind
    return None


async def drop_from_index(session: AsyncSession, event_id: str) -> bool:
    """Remove a post (with its tags, mentions and reactions), a reaction or a blog post from
    the index, as the bot does when it sees a redaction. True if anything was indexed."""
    post = await session.get(Post, event_id)
    if post is not None:
        if post.thread_root:
            await session.execute(
                update(Post)
                .where(Post.event_id == post.thread_root, Post.reply_count > 0)
                .values(reply_count=Post.reply_count - 1)
            )
        await session.execute(delete(PostTag).where(PostTag.event_id == event_id))
        await session.execute(delete(PostMention).where(PostMention.event_id == event_id))
        await session.execute(delete(Reaction).where(Reaction.post_id == event_id))
        # A statement, not session.delete: the bot may drop the row first when it sees the
        # redaction, and then nothing is left to delete.
        await session.execute(delete(Post).where(Post.event_id == event_id))
        return True
    reaction = await session.get(Reaction, event_id)
    if reaction is not None:
        await session.execute(
            update(Post)
            .where(Post.event_id == reaction.post_id, Post.reaction_count > 0)
            .values(reaction_count=Post.reaction_count - 1)
        )
        await session.execute(delete(Reaction).where(Reaction.event_id == event_id))
        return True
    blog = await session.get(BlogPost, event_id)
    if blog is not None:
        await session.execute(delete(BlogPost).where(BlogPost.event_id == event_id))
        return True
    return False
