"""A person's public profile fields on their Matrix profile, so other clients can read them.

Public fields become MSC4133 custom profile fields under Borough's namespace
(`org.borough.job_title`, `org.borough.bio`, …) through the stable
`PUT /_matrix/client/v3/profile/{userId}/{keyName}`; what was last pushed is kept in
`mirrored_profiles`, so nothing is sent twice. `borough apply` pushes what the org chart sets
(`provisioning.mirror`); the bot pushes a person's own `!profile set` through `sync_person`.
Both send with the service account, a server admin.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import events
from borough.db import MirroredProfile, Profile, ProfileFieldRow
from borough.matrix import HomeserverUnreachable, MatrixClient, MatrixError, q

logger = logging.getLogger(__name__)

#: Card fields every viewer sees, so always public.
ALWAYS_PUBLIC = ("job_title",)


def public_fields(job_title: str | None, fields: Iterable[tuple[str, Any, str]]) -> dict[str, Any]:
    """The custom profile fields for a job title and (name, value, visibility) fields: the
    public ones only."""
    wanted: dict[str, Any] = {}
    if job_title is not None:
        wanted[events.PROFILE_FIELD_PREFIX + "job_title"] = job_title
    for name, value, visibility in fields:
        if visibility == "public":
            shown = list(value) if isinstance(value, tuple) else value
            wanted[events.PROFILE_FIELD_PREFIX + name] = shown
    return wanted


def difference(wanted: dict[str, Any], pushed: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What to send so the profile goes from `pushed` to `wanted`: (fields to set, in key
    order; keys to remove)."""
    changed = {k: v for k, v in sorted(wanted.items()) if pushed.get(k) != v}
    return changed, sorted(set(pushed) - set(wanted))


async def self_set_public(
    sessions: async_sessionmaker[AsyncSession],
) -> dict[str, dict[str, Any]]:
    """The public fields people set themselves, by person: apply keeps them on the profile."""
    found: dict[str, dict[str, Any]] = {}
    async with sessions() as session:
        rows = await session.execute(
            select(ProfileFieldRow.user_id, ProfileFieldRow.name, ProfileFieldRow.value).where(
                ProfileFieldRow.source == "self", ProfileFieldRow.visibility == "public"
            )
        )
        for user_id, name, value in rows:
            found.setdefault(user_id, {}).update(public_fields(None, [(name, value, "public")]))
    return found


async def send_fields(
    client: MatrixClient, user_id: str, changed: Iterable[tuple[str, Any]], removed: Iterable[str]
) -> None:
    base = f"/_matrix/client/v3/profile/{q(user_id)}"
    for name, value in changed:
        await client.request("PUT", f"{base}/{q(name)}", {name: value})
    for name in removed:
        await client.request("DELETE", f"{base}/{q(name)}")


async def record(
    session: AsyncSession, user_id: str, wanted: dict[str, Any], avatar_sha256: str | None = None
) -> None:
    row = await session.get(MirroredProfile, user_id)
    if row is None:
        row = MirroredProfile(user_id=user_id, fields={})
        session.add(row)
    row.fields = dict(wanted)
    if avatar_sha256 is not None:
        row.avatar_sha256 = avatar_sha256


@dataclass
class ProfileMirror:
    """Pushes one person's public fields, as the database now has them, after their own edit."""

    sessions: async_sessionmaker[AsyncSession]
    homeserver_url: str
    service_token: str

    async def sync_person(self, user_id: str) -> bool:
        """Push what changed since the last push; False (and logged) when Synapse refused or
        could not be reached: the edit itself stands, and the next edit or apply retries."""
        async with self.sessions() as session:
            row = await session.get(Profile, user_id)
            if row is None:
                return True
            wanted = public_fields(
                row.job_title, ((f.name, f.value, f.visibility) for f in row.fields)
            )
            last = await session.get(MirroredProfile, user_id)
            pushed: dict[str, Any] = dict(last.fields) if last else {}
        changed, removed = difference(wanted, pushed)
        if not changed and not removed:
            return True
        try:
            async with MatrixClient(self.homeserver_url, self.service_token, max_retries=2) as c:
                await send_fields(c, user_id, changed.items(), removed)
        except (MatrixError, HomeserverUnreachable) as exc:
            logger.warning("could not mirror %s's profile fields: %s", user_id, exc)
            return False
        async with self.sessions.begin() as session:
            await record(session, user_id, wanted)
        return True
