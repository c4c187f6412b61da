"""The org chart as Synapse holds it: the only facts Borough's modules decide from.

`borough apply` writes the chart into Synapse, and the modules read it back here, never from
a copy loaded at start-up:

- who belongs to an organisation: who is joined to its space;
- who is inside a sealed room's owner (a unit or a partnership): its space is listed in their
  entry in Borough's registry room (below), as the chart has it, whoever has joined the space;
- who administers it: power level 100 in its space;
- where onboarding places a chart person or an email domain: state in Borough's registry room
  (`#borough-registry`, created by the service account, only it a member).

Every read is a targeted current-state lookup (`ModuleApi.get_room_state` with a concrete
filter). Synapse caches those per (room, type, state key) and invalidates the cache in every
process, main and workers, from its own replication stream when the state changes. So each
process sees a change as soon as it is persisted, and no Borough cache can go stale.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from synapse.module_api import ModuleApi, UserID
from synapse.module_api.errors import SynapseError

from borough import events

logger = logging.getLogger(__name__)


class SynapseChart:
    def __init__(self, api: ModuleApi, service_user: str) -> None:
        self._api = api
        self._service = service_user
        #: The registry room once found and checked; a room id never changes, so it is kept.
        self._registry: str | None = None

    async def is_joined(self, room_id: str, user_id: str) -> bool:
        state = await self._api.get_room_state(room_id, [("m.room.member", user_id)])
        member = state.get(("m.room.member", user_id))
        return member is not None and member.membership == "join"

    async def belongs(self, user_id: str, organisation_spaces: Iterable[str]) -> bool:
        """Is `user_id` a member of one of these organisations (joined to its space)?"""
        for space in organisation_spaces:
            if await self.is_joined(space, user_id):
                return True
        return False

    async def administers(self, user_id: str, organisation_spaces: Iterable[str]) -> bool:
        """Is `user_id` an admin (power 100 in the space) of one of these organisations?"""
        for space in organisation_spaces:
            state = await self._api.get_room_state(space, [("m.room.power_levels", "")])
            levels = state.get(("m.room.power_levels", ""))
            users = levels.content.get("users") if levels else None
            level = users.get(user_id) if isinstance(users, dict) else None
            if isinstance(level, int) and level >= events.ADMIN:
                return True
        return False

    async def person(self, user_id: str) -> Mapping[str, Any] | None:
        """The registry's entry for a chart person; None if the chart does not name them."""
        return await self._entry(events.REGISTRY_PERSON, UserID.from_string(user_id).localpart)

    async def owns_sealed_rooms_with(self, user_id: str, owner_space: str) -> bool:
        """Does the chart make `user_id` a member of `owner_space`, a space that owns a sealed
        room? The registry's entry for them lists it; joining the space proves nothing."""
        person = await self.person(user_id)
        owners = person.get(events.REGISTRY_SEALED_OWNERS) if person is not None else None
        return isinstance(owners, list) and owner_space in owners

    async def email_domain(self, domain: str) -> Mapping[str, Any] | None:
        """The registry's entry for an organisation's email domain (lower case)."""
        return await self._entry(events.REGISTRY_EMAIL_DOMAIN, domain.lower())

    async def _entry(self, event_type: str, state_key: str) -> Mapping[str, Any] | None:
        registry = await self._registry_room()
        if registry is None:
            return None
        state = await self._api.get_room_state(registry, [(event_type, state_key)])
        event = state.get((event_type, state_key))
        if event is None or event.sender != self._service:
            return None
        content = event.content
        if not isinstance(content.get("organisation"), str) or not isinstance(
            content.get("space"), str
        ):
            return None  # `{}`: an entry apply has withdrawn
        return content

    async def _registry_room(self) -> str | None:
        """The registry room, trusted only if Borough's service account created it: anyone
        could claim the alias before the first apply, and their room must decide nothing."""
        if self._registry is not None:
            return self._registry
        alias = f"#{events.REGISTRY_ALIAS}:{self._api.server_name}"
        try:
            room_id, _ = await self._api.lookup_room_alias(alias)
        except SynapseError:
            return None  # not applied yet
        state = await self._api.get_room_state(room_id, [("m.room.create", "")])
        create = state.get(("m.room.create", ""))
        if create is None or create.sender != self._service:
            logger.error(
                "Borough: %s (%s) was not created by %s; onboarding ignores it. Remove the "
                "alias and run borough apply.",
                alias,
                room_id,
                self._service,
            )
            return None
        self._registry = room_id
        return room_id
