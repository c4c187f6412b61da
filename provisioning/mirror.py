"""Profile mirroring: each person's avatar and public profile fields, pushed to their Matrix
profile by `borough apply`, so that other clients can read them.

Public fields become MSC4133 custom profile fields (`borough.profile_mirror`), set through
the stable `PUT /_matrix/client/v3/profile/{userId}/{keyName}` that Synapse 1.163 serves
without any experimental flag. An avatar is a local image file named in the org YAML (relative to it); it is
uploaded once per content hash (`mirrored_avatars`). What was last pushed is kept in
`mirrored_profiles`, so a re-apply with no change sends nothing and reads nothing from Synapse;
a person's own change in Element stands until the YAML changes that value.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import profile_mirror
from borough.db import MirroredAvatar, MirroredProfile
from borough.matrix import MatrixClient, q
from borough.network import DesiredNetwork
from borough.org import Person
from borough.org.images import image_path
from provisioning.plan import PHASE_MIRROR, AvatarFile, Change, MirrorProfile

#: The Matrix profile's own avatar key.
AVATAR_URL = "avatar_url"


class AvatarMissing(click.ClickException):
    """An avatar file named in the org YAML cannot be read."""

    exit_code = 2


def public_fields(person: Person) -> dict[str, Any]:
    """The custom profile fields the org chart gives a person's Matrix profile: public ones."""
    return profile_mirror.public_fields(
        person.job_title,
        ((name, field.value, field.visibility) for name, field in person.profile.fields().items()),
    )


def read_avatars(network: DesiredNetwork, org_dir: Path) -> dict[str, AvatarFile]:
    """The avatar file, hashed, of each person (by user id) and space (by room key) that
    names one. Every unreadable file is listed (the loader reports them first, at their
    place in the chart; this is for a file gone since)."""
    named = [(uid, f"people[{p.username}]", p.avatar) for uid, p in network.people.items()]
    named += [(key, key, room.avatar) for key, room in network.rooms.items()]
    avatars: dict[str, AvatarFile] = {}
    problems: list[str] = []
    for key, where, avatar in sorted(named):
        if avatar is None:
            continue
        path = image_path(org_dir, avatar)
        try:
            data = path.read_bytes()
        except OSError as exc:
            problems.append(f"{where}.avatar: cannot read {path} ({exc.strerror})")
            continue
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        avatars[key] = AvatarFile(str(path), hashlib.sha256(data).hexdigest(), content_type)
    if problems:
        raise AvatarMissing("\n".join(problems))
    return avatars


@dataclass(frozen=True)
class Mirrored:
    """What was last pushed, and the public fields people set themselves (kept by apply)."""

    pushed: dict[str, MirroredProfile]
    self_set: dict[str, dict[str, Any]]


async def read_mirrored(sessions: async_sessionmaker[AsyncSession]) -> Mirrored:
    async with sessions() as session:
        pushed = {row.user_id: row for row in await session.scalars(select(MirroredProfile))}
    return Mirrored(pushed, await profile_mirror.self_set_public(sessions))


@dataclass(frozen=True)
class ProfileMirroring:
    """What the planner needs to mirror profiles: the chart's avatar files, and what was
    pushed before."""

    avatars: dict[str, AvatarFile]
    mirrored: Mirrored

    def changes(self, network: DesiredNetwork) -> list[Change]:
        """A change for each person whose public fields or avatar differ from what was
        pushed. Public fields a person set themselves stay, unless the org chart now sets
        that field."""
        changes = []
        for user_id, person in sorted(network.people.items()):
            wanted = self.mirrored.self_set.get(user_id, {}) | public_fields(person)
            last = self.mirrored.pushed.get(user_id)
            pushed: dict[str, Any] = dict(last.fields) if last else {}
            changed, removed = profile_mirror.difference(wanted, pushed)
            avatar = self.avatars.get(user_id)
            if avatar is not None and last is not None and last.avatar_sha256 == avatar.sha256:
                avatar = None
            if not changed and not removed and avatar is None:
                continue
            detail = [
                f"set {', '.join(changed)}" if changed else "",
                f"remove {', '.join(removed)}" if removed else "",
            ]
            if avatar is not None:
                detail.append("avatar")
            changes.append(
                Change(
                    PHASE_MIRROR,
                    "matrix profiles",
                    "~",
                    user_id,
                    "; ".join(d for d in detail if d),
                    MirrorProfile(
                        user_id,
                        tuple(changed.items()),
                        tuple(removed),
                        avatar,
                        tuple(wanted.items()),
                    ),
                )
            )
        return changes


async def push(
    client: MatrixClient,
    sessions: async_sessionmaker[AsyncSession],
    op: MirrorProfile,
    writing: asyncio.Lock,
) -> None:
    """Apply one person's mirror change, then record it. `writing` serialises the records."""
    if op.avatar is not None:
        mxc = await uploaded(client, sessions, op.avatar, writing)
        await client.request(
            "PUT", f"/_matrix/client/v3/profile/{q(op.user_id)}/{AVATAR_URL}", {AVATAR_URL: mxc}
        )
    await profile_mirror.send_fields(client, op.user_id, op.fields, op.removed)
    async with writing, sessions.begin() as session:
        await profile_mirror.record(
            session, op.user_id, dict(op.wanted), op.avatar.sha256 if op.avatar else None
        )


async def read_uploads(
    sessions: async_sessionmaker[AsyncSession], avatars: Iterable[AvatarFile]
) -> dict[str, str]:
    """The media id of each of these files uploaded before, by content hash."""
    hashes = {avatar.sha256 for avatar in avatars}
    if not hashes:
        return {}
    async with sessions() as session:
        rows = await session.scalars(
            select(MirroredAvatar).where(MirroredAvatar.sha256.in_(hashes))
        )
        return {row.sha256: row.mxc for row in rows}


async def uploaded(
    client: MatrixClient,
    sessions: async_sessionmaker[AsyncSession],
    avatar: AvatarFile,
    writing: asyncio.Lock,
) -> str:
    """The media id of `avatar`, uploaded now unless it was before. `writing` serialises the
    record."""
    async with sessions() as session:
        known = await session.get(MirroredAvatar, avatar.sha256)
    if known is not None:
        return known.mxc
    data = await asyncio.to_thread(Path(avatar.path).read_bytes)
    if hashlib.sha256(data).hexdigest() != avatar.sha256:
        raise AvatarMissing(f"{avatar.path} changed while apply ran; run apply again")
    mxc = await client.upload(data, avatar.content_type, Path(avatar.path).name)
    async with writing, sessions.begin() as session:
        await session.merge(MirroredAvatar(sha256=avatar.sha256, mxc=mxc))
    return mxc
