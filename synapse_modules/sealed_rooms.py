"""Sealed rooms: only members of the owning unit or partnership get in, by any door.

A member is someone the chart puts in the owner: Borough's registry room lists the owner's
space in their entry (`SynapseChart.owns_sealed_rooms_with`), and they are joined to it and to
one of the policy's organisations. Joining a unit's space by oneself (it is restricted to the
space above) lets nobody in.

Joins and invites are refused early (`user_may_join_room`, `user_may_invite`) with a human
message, or, to an outsider, with a missing room's answer (`unseen.py`); `check_event_allowed`
then refuses any membership, seal change or upgrade that slipped past, including those by
server admins, who skip the early checks (an outsider's upgrade meets a missing room too).
New addresses (`user_may_create_room_alias`) are refused as well, so that outsiders cannot
look a sealed room up.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from synapse.module_api import (
    NOT_SPAM,
    EventBase,
    LoggingTransaction,
    ModuleApi,
    Requester,
    RoomAlias,
    StateMap,
)
from synapse.module_api.errors import Codes, ConfigError, SynapseError

from borough import events
from borough.process_status import STATUS_PATH
from synapse_modules.chart import SynapseChart
from synapse_modules.config import BoroughModuleConfig, ModuleConfigError, parse_module_config
from synapse_modules.policy import (
    SEAL_STATE,
    AddressMaker,
    Entrant,
    Refusal,
    SealedRoomPolicy,
    may_add_address,
    may_change_seal,
    may_enter,
    upgrade_refusal,
)
from synapse_modules.status import ModuleStatus
from synapse_modules.unseen import Door, UnseenRooms

logger = logging.getLogger(__name__)

#: How long the address named in a createRoom request counts as that new room's own.
NEW_ROOM_ADDRESS_SECONDS = 30.0

#: The rooms a local user is joined to that carry a policy (perhaps a cleared one).
_SEALED_ROOMS_OF = """
    SELECT m.room_id FROM local_current_membership AS m
    JOIN current_state_events AS s ON s.room_id = m.room_id
    WHERE m.user_id = ? AND m.membership = 'join' AND s.type = ? AND s.state_key = ''
"""


class SealedRooms:
    def __init__(self, config: BoroughModuleConfig, api: ModuleApi) -> None:
        self._api = api
        self._service = config.service_user(api.server_name)
        self._trusted = config.trusted_users(api.server_name)
        self._chart = SynapseChart(api, self._service)
        self._unseen = UnseenRooms(api, self._chart, self._trusted)
        #: (creator, address) -> when: addresses named in createRoom requests, in flight.
        self._new_room_addresses: dict[tuple[str, str], float] = {}
        api.register_spam_checker_callbacks(
            user_may_join_room=self.user_may_join_room,
            user_may_invite=self.user_may_invite,
            user_may_create_room_alias=self.user_may_create_room_alias,
        )
        api.register_third_party_rules_callbacks(
            check_event_allowed=self.check_event_allowed, on_create_room=self.on_create_room
        )
        # Once per process, from this module only: `borough doctor` asks each process.
        api.register_web_resource(STATUS_PATH, ModuleStatus(api))

    @staticmethod
    def parse_config(config: dict[str, Any]) -> BoroughModuleConfig:
        try:
            return parse_module_config(config)
        except ModuleConfigError as exc:
            raise ConfigError(f"Borough sealed rooms: {exc}", exc.path) from None

    # --- adapters ------------------------------------------------------------------------

    async def user_may_join_room(self, user_id: str, room_id: str, is_invited: bool) -> Any:
        return await self._answer_entry(room_id, user_id, user_id, "join")

    async def user_may_invite(self, inviter: str, invitee: str, room_id: str) -> Any:
        return await self._answer_entry(room_id, invitee, inviter, "invite")

    async def user_may_create_room_alias(self, user_id: str, room_alias: RoomAlias) -> Any:
        return _as_spam_result(may_add_address(await self._address_maker(user_id, room_alias)))

    async def on_create_room(
        self, requester: Requester, request_content: dict[str, Any], is_requester_admin: bool
    ) -> None:
        name = request_content.get("room_alias_name")
        if isinstance(name, str):
            now = time.monotonic()
            self._new_room_addresses = {
                k: t
                for k, t in self._new_room_addresses.items()
                if now - t < NEW_ROOM_ADDRESS_SECONDS
            }
            alias = f"#{name}:{self._api.server_name}"
            self._new_room_addresses[(requester.user.to_string(), alias)] = now

    async def check_event_allowed(
        self, event: EventBase, state_events: StateMap[EventBase]
    ) -> tuple[bool, dict[str, Any] | None]:
        refusal = await self._event_refusal(event, state_events)
        if refusal is not None:
            raise SynapseError(403, refusal.message, Codes.FORBIDDEN)
        return True, None

    # --- gathering the facts ---------------------------------------------------------------

    async def _policy(self, room_id: str) -> SealedRoomPolicy | None:
        state = await self._api.get_room_state(room_id, [(events.POLICY, "")])
        event = state.get((events.POLICY, ""))
        return SealedRoomPolicy.from_content(event.content if event else None)

    async def _entrant(self, policy: SealedRoomPolicy, user_id: str) -> Entrant:
        is_local = self._api.is_mine(user_id)
        is_service = user_id in self._trusted
        in_space = in_organisation = by_chart = False
        if is_local and not is_service and policy.owner_space:
            in_space = await self._chart.is_joined(policy.owner_space, user_id)
            in_organisation = in_space and (
                policy.organisation_spaces is None
                or await self._chart.belongs(user_id, policy.organisation_spaces)
            )
            by_chart = in_organisation and await self._chart.owns_sealed_rooms_with(
                user_id, policy.owner_space
            )
        return Entrant(
            user_id=user_id,
            is_local=is_local,
            is_service=is_service,
            is_in_organisation=in_organisation,
            is_in_owner_space=in_space,
            is_owner_member_by_chart=by_chart,
        )

    async def _answer_entry(self, room_id: str, entrant: str, asker: str, door: Door) -> Any:
        """Refused, or any invitation by an outsider: a missing room's answer to an outsider,
        the reason to anyone else."""
        policy = await self._policy(room_id)
        if policy is None:
            return NOT_SPAM
        refusal = may_enter(policy, await self._entrant(policy, entrant))
        if refusal is not None or door == "invite":
            await self._unseen.answer_outsider(room_id, policy.owner_space, asker, door)
        return _as_spam_result(refusal)

    async def _address_maker(self, user_id: str, room_alias: RoomAlias) -> AddressMaker:
        made_at = self._new_room_addresses.pop((user_id, room_alias.to_string()), None)
        is_new_room = made_at is not None and time.monotonic() - made_at < NEW_ROOM_ADDRESS_SECONDS
        if user_id in self._trusted or is_new_room:
            return AddressMaker(user_id in self._trusted, is_new_room, ())
        room_ids = await self._api.run_db_interaction(
            "borough_sealed_rooms_of", _sealed_rooms_of, user_id
        )
        seals = []
        for room_id in room_ids:
            policy = await self._policy(room_id)
            if policy is not None and not await self._is_privileged(policy, user_id):
                seals.append(policy)
        return AddressMaker(False, False, tuple(seals))

    async def _is_privileged(self, policy: SealedRoomPolicy, sender: str) -> bool:
        """Borough, or an admin of one of the sealed room's organisations, as of now."""
        return sender == self._service or await self._chart.administers(
            sender, policy.organisation_spaces or ()
        )

    async def _event_refusal(
        self, event: EventBase, state_events: StateMap[EventBase]
    ) -> Refusal | None:
        if event.type == "m.room.create":
            predecessor = event.content.get("predecessor")
            if isinstance(predecessor, dict) and isinstance(predecessor.get("room_id"), str):
                old_room = predecessor["room_id"]
                inherited = await self._policy(old_room)
                if inherited is not None and event.sender != self._service:
                    await self._unseen.answer_outsider(
                        old_room, inherited.owner_space, event.sender, "upgrade"
                    )
                    return upgrade_refusal(inherited)
            return None
        policy_event = state_events.get((events.POLICY, ""))
        policy = SealedRoomPolicy.from_content(policy_event.content if policy_event else None)
        if policy is None or not event.is_state():
            return None
        if event.type == "m.room.member":
            membership = event.content.get("membership")
            previous = state_events.get(("m.room.member", event.state_key))
            if membership not in ("invite", "join", "knock"):
                return None
            if membership == "join" and previous is not None and previous.membership == "join":
                return None  # a profile change, not an entry
            refusal = may_enter(policy, await self._entrant(policy, event.state_key))
            if refusal is not None:
                door: Door = membership
                await self._unseen.answer_outsider(
                    event.room_id, policy.owner_space, event.sender, door
                )
            return refusal
        if event.type == "m.room.tombstone" and event.sender != self._service:
            # Only an upgrade brings a non-member's event here (Synapse refuses a state event
            # from outside the room before asking modules), and it must not name the room.
            await self._unseen.answer_outsider(
                event.room_id, policy.owner_space, event.sender, "upgrade"
            )
            return upgrade_refusal(policy)
        old = state_events.get((event.type, event.state_key))
        guarded = event.type in (*SEAL_STATE, "m.room.canonical_alias", "m.room.power_levels")
        return may_change_seal(
            policy,
            event.type,
            guarded and await self._is_privileged(policy, event.sender),
            old.content if old else None,
            event.content,
        )


def _sealed_rooms_of(txn: LoggingTransaction, user_id: str) -> list[str]:
    # Synapse's own tables, read-only: the module API cannot list a user's rooms.
    txn.execute(_SEALED_ROOMS_OF, (user_id, events.POLICY))
    return [str(row[0]) for row in txn.fetchall()]


def _as_spam_result(refusal: Refusal | None) -> Any:
    if refusal is None:
        return NOT_SPAM
    # Synapse merges these fields into the error body, so the person sees our sentence.
    return Codes.FORBIDDEN, {"error": refusal.message}
