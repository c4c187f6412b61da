"""Telling a person, in a direct message from Borough, that a channel refused their post.

The refused request is never delayed or failed by this: `tell` only queues the notice, and a
background process sends it. Who sends: Borough's service account, not the bot. It exists
wherever the modules run (the bot is optional), it is the identity the modules already act
as, and the bot answers what people write to it, where a reply to this notice would meet a
command parser.

The direct chat is found or created once per person and remembered in the service account's
`m.direct` account data (and the person's, so that Element lists it under People). How many
notices a person got this window is kept in the service account's account data too, so that
every Synapse process sees the same count; within a process one person's notices go one at a
time, so a burst of refusals cannot all read the count before any writes it. Two processes
may still both read the same count at the same moment: then a person gets at most one extra
notice per process, which stays bounded.
"""

from __future__ import annotations

import logging
from typing import Any

from synapse.module_api import ModuleApi

from borough import events
from synapse_modules.membership import is_joined
from synapse_modules.refusal_notice import (
    NOTICES_PER_WINDOW,
    NoticeAllowance,
    RefusedPost,
    next_allowance,
    notice_content,
)

logger = logging.getLogger(__name__)

DIRECT = "m.direct"
DIRECT_TOPIC = "Borough tells you here when a channel does not accept one of your messages."


class RefusalTeller:
    def __init__(self, api: ModuleApi, service_user: str) -> None:
        self._api = api
        self._service = service_user
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
        allowance = await self._take_allowance(person)
        if allowance is None:
            logger.info("Not telling %s about another refusal: their notices are used up", person)
            return
        room_id = await self._direct_room(person)
        await self._api.create_and_send_event_into_room(
            {
                "type": "m.room.message",
                "room_id": room_id,
                "sender": self._service,
                "content": notice_content(post, allowance.sent == NOTICES_PER_WINDOW),
            }
        )

    async def _take_allowance(self, person: str) -> NoticeAllowance | None:
        kind = f"{events.REFUSAL_NOTICES}.{person}"
        stored = await self._api.account_data_manager.get_global(self._service, kind)
        allowance = next_allowance(
            NoticeAllowance.from_content(stored), self._api.get_current_time_msec()
        )
        if allowance is not None:
            await self._api.account_data_manager.put_global(
                self._service, kind, allowance.content()
            )
        return allowance

    async def _direct_room(self, person: str) -> str:
        known = await self._direct(self._service)
        for room_id in known.get(person, []):
            if await is_joined(self._api, room_id, self._service):
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
        await self._remember(self._service, person, room_id)
        await self._remember(person, self._service, room_id)
        return room_id

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
