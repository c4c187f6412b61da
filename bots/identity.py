"""The bot's own profile: the name and avatar people see beside every answer.

Element shows a bare `@boroughbot:server` and a grey letter for an account without them. At
each start the bot sets its display name and the avatar shipped in `bots/assets/`, only where
they differ. The avatar is uploaded once per content (its hash is recorded with the other
uploaded avatars, `MirroredAvatar`), so restarts upload nothing.
"""

from __future__ import annotations

import hashlib
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from nio import (
    AsyncClient,
    ProfileGetResponse,
    ProfileSetAvatarResponse,
    ProfileSetDisplayNameResponse,
    UploadResponse,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import MirroredAvatar
from bots.homeserver import HomeserverRefused, checked

logger = logging.getLogger(__name__)

BOT_DISPLAY_NAME = "Borough"
AVATAR = Path(__file__).parent / "assets" / "avatar.png"


@dataclass
class BotIdentity:
    sessions: async_sessionmaker[AsyncSession]
    client: AsyncClient
    display_name: str = BOT_DISPLAY_NAME
    avatar: Path = AVATAR

    async def ensure(self) -> None:
        """Set what differs; a refusal is logged, and the next start tries again."""
        try:
            profile = checked(
                await self.client.get_profile(self.client.user_id),
                ProfileGetResponse,
                "reading the bot's profile",
            )
            if profile.displayname != self.display_name:
                checked(
                    await self.client.set_displayname(self.display_name),
                    ProfileSetDisplayNameResponse,
                    "setting the bot's display name",
                )
            mxc = await self._uploaded_avatar()
            if profile.avatar_url != mxc:
                checked(
                    await self.client.set_avatar(mxc),
                    ProfileSetAvatarResponse,
                    "setting the bot's avatar",
                )
        except HomeserverRefused as refused:
            logger.warning("%s", refused)

    async def _uploaded_avatar(self) -> str:
        data = self.avatar.read_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        async with self.sessions() as session:
            known = await session.get(MirroredAvatar, sha256)
        if known is not None:
            return known.mxc
        response, _ = await self.client.upload(
            io.BytesIO(data),
            content_type="image/png",
            filename=self.avatar.name,
            filesize=len(data),
        )
        mxc: str = checked(response, UploadResponse, "uploading the bot's avatar").content_uri
        async with self.sessions.begin() as session:
            await session.merge(MirroredAvatar(sha256=sha256, mxc=mxc))
        return mxc
