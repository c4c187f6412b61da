"""Telling a person, in a direct message from Borough, that a channel refused their post.

The refused request is never delayed or failed by this: `tell` only queues the notice, and a
background process sends it. Who sends: Borough's service account, not the bot. It exists
wherever the modules run (the bot is optional), it is the identity the modules already act
as, and the bot answers what people write to it, where a reply to this notice would meet a
command parser.

The direct chat is created once per person and remembered in Borough's own table
(`notice_ledger.py`), and in both accounts' `m.direct`, so that Element lists it under People.
The same table counts a person's notices in the current window. Several Synapse processes
may refuse one person's posts at once: a transaction counts each notice and lets one process
create the chat while the others wait for it. Within a process one person's notices go one
at a time, and a burst beyond a window's worth is dropped before it reaches the database.
"""

from __future__ import annotations

import logging
from typing import Any

from synapse.module_api import ModuleApi

from synapse_modules.membership import is_joined
from synapse_modules.notice_ledger import NoticeLedger, NoticeTurn
from synapse_modules.refusal_notice import (
    NOTICES_PER_WINDOW,
    RefusedPost,
    notice_content,
)

logger = logging.getLogger(__name__)

DIRECT = "m.direct"
DIRECT_TOPIC = "Borough tells you here when a channel does not accept one of your messages."
#: How long to wait, in steps, for another process that is creating a person's chat.
ROOM_WAIT_SECONDS = 0.25
ROOM_WAIT_STEPS = 40


class RefusalTeller:
    def __init__(self, api: ModuleApi, service_user: str) -> None:
        self._api = api
        self._service = service_user
        self._ledger = NoticeLedger(api)
        #: person -> their notices waiting in this process, while one is being sent.
        self._waiting: dict[str, list[RefusedPost]] = {}

    def tell(self, person: str, post: RefusedPost) -> None:
        """Queue a notice for `person`; returns at once, without awaiting anything."""
        waiting = self._waiting.get(person)
        if waiting is not None:
            # Beyond a window's worth the notices would be refused by the count anyway.
            if len(waiting) < NOTICES_PER_WINDOW:
                waiting.append(post)
            return
        self._waiting[person] = [post]
        self._api.run_as_background_process("borough_refusal_notice", self._send_all, person)

    async def _send_all(self, person: str) -> None:
        waiting = self._waiting[person]
        try:
            while waiting:
                post = waiting.pop(0)
                try:
                    await self._send(person, post)
                except Exception as exc:  # a background task: say what failed, go on
                    logger.warning("Could not tell %s why a post was refused: %s", person, exc)
        finally:
            del self._waiting[person]

    async def _send(self, person: str, post: RefusedPost) -> None:
        turn = await self._ledger.take_turn(person)
        if turn is None:
            logger.info("Not telling %s about another refusal: their notices are used up", person)
            return
        room_id = await self._direct_room(person, turn)
        await self._api.create_and_send_event_into_room(
            {
                "type": "m.room.message",
                "room_id": room_id,
                "sender": self._service,
                "content": notice_content(post, turn.allowance.sent == NOTICES_PER_WINDOW),
            }
        )

    async def _direct_room(self, person: str, turn: NoticeTurn) -> str:
        room_id = turn.room_id
        if room_id is None and not turn.creates_room:
            room_id = await self._room_made_elsewhere(person)
        if room_id is not None and await is_joined(self._api, room_id, self._service):
            if not await is_joined(self._api, room_id, person):
                # They left it once; a refusal is still worth hearing about.
                await self._api.update_room_membership(self._service, person, room_id, "invite")
                await self._api.update_room_membership(person, person, room_id, "join")
            return room_id
        room_id, _ = await self._api.create_room(
            self._service,
            {
                "preset": "trusted_private_chat",
                "is_direct": True,
                "invite": [person],
                "topic": DIRECT_TOPIC,
            },
            ratelimit=False,
        )
        await self._api.update_room_membership(person, person, room_id, "join")
        await self._ledger.keep_room(person, room_id)
        await self._remember(self._service, person, room_id)
        await self._remember(person, self._service, room_id)
        return room_id

    async def _room_made_elsewhere(self, person: str) -> str | None:
        """Another process is creating the chat: wait for it (None if it never comes)."""
        for _ in range(ROOM_WAIT_STEPS):
            await self._api.sleep(ROOM_WAIT_SECONDS)
            if (room_id := await self._ledger.room_of(person)) is not None:
                return room_id
        return None

    async def _direct(self, user: str) -> dict[str, list[str]]:
        stored = await self._api.account_data_manager.get_global(user, DIRECT) or {}
        return {
            str(other): [str(r) for r in rooms]
            for other, rooms in stored.items()
            if isinstance(rooms, list | tuple)
        }

    async def _remember(self, user: str, other: str, room_id: str) -> None:
        direct: dict[str, Any] = await self._direct(user)
        direct[other] = [room_id, *(r for r in direct.get(other, []) if r != room_id)]
        await self._api.account_data_manager.put_global(user, DIRECT, direct)
