"""The bot's direct chats with people: the one on record, or one opened when first needed.

Digests, guest links and answers to commands typed in channels go here rather than into
shared rooms, so a room on record is used only while it holds just the person and the bot.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nio import AsyncClient, RoomCreateResponse, RoomPreset, RoomSendResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import DirectRoom
from bots.homeserver import HomeserverRefused, checked
from bots.replies import notice

logger = logging.getLogger(__name__)


@dataclass
class DirectMessages:
    sessions: async_sessionmaker[AsyncSession]
    client: AsyncClient

    async def room(self, user_id: str) -> str | None:
        """The bot's DM with this person: the one on record, or a new one (None if Synapse
        refused to make it)."""
        async with self.sessions() as session:
            known = await session.get(DirectRoom, user_id)
        if known is not None and self._is_private(known.room_id, user_id):
            return known.room_id
        response = await self.client.room_create(
            is_direct=True, invite=[user_id], preset=RoomPreset.trusted_private_chat
        )
        try:
            created = checked(response, RoomCreateResponse, f"opening a DM with {user_id}")
        except HomeserverRefused as refused:
            logger.warning("%s", refused)
            return None
        room_id: str = created.room_id  # nio ships no type hints: its fields are Any
        async with self.sessions.begin() as session:
            await session.merge(DirectRoom(user_id=user_id, room_id=room_id))
        return room_id

    def _is_private(self, room_id: str, user_id: str) -> bool:
        """Whether only this person and the bot are in the room, joined or invited. A room
        the sync has not shown yet is one the bot has just opened."""
        room = self.client.rooms.get(room_id)
        return room is None or set(room.users) == {user_id, self.client.user_id}

    async def send(self, user_id: str, text: str, tx_id: str) -> tuple[str, str] | None:
        """Send a notice to this person privately: (room id, event id), or None on failure.
        The same `tx_id` never posts twice."""
        room_id = await self.room(user_id)
        if room_id is None:
            return None
        response = await self.client.room_send(room_id, "m.room.message", notice(text), tx_id=tx_id)
        try:
            sent = checked(response, RoomSendResponse, f"sending {user_id} a direct message")
        except HomeserverRefused as refused:
            logger.warning("%s", refused)
            return None
        return room_id, sent.event_id
