"""Onboarding: place a person in their organisation when they first sign in.

The people list decides first, then email domains, else the public community space, all read
from Borough's registry room as the last `borough apply` wrote it (`synapse_modules.chart`).
The service account invites and the person joins. `on_user_registration` runs before emails
are stored, so registration and new emails place the person from a background process (the
community only after a grace period), and the first login places them inline. An
account-data marker makes it happen once, and a claim in Synapse's database
(`onboarding_claims`) makes it happen in one process when sign-ins reach several at once.
"""

from __future__ import annotations

import logging
from typing import Any

from synapse.module_api import ModuleApi
from synapse.module_api.errors import ConfigError, SynapseError

from synapse_modules.chart import SynapseChart
from synapse_modules.config import BoroughModuleConfig, ModuleConfigError, parse_module_config
from synapse_modules.onboarding_claims import OnboardingClaims
from synapse_modules.placement import Placement, email_domains, place

logger = logging.getLogger(__name__)

ONBOARDED = "org.borough.onboarded"

#: How long after registration an email may still arrive and decide the organisation. A
#: person who registered with a token and has no email lands in the community after this.
REGISTRATION_GRACE_SECONDS = 10.0
#: How often a sign-in waiting for another process to place the person looks again (the
#: other's claim lapses after onboarding_claims.CLAIM_MS, and then this one takes over).
CLAIM_POLL_SECONDS = 0.2


class Onboarding:
    def __init__(self, config: BoroughModuleConfig, api: ModuleApi) -> None:
        self._api = api
        self._service = config.service_user(api.server_name)
        self._borough_accounts = config.trusted_users(api.server_name)
        self._chart = SynapseChart(api, self._service)
        self._claims = OnboardingClaims(api)
        api.register_account_validity_callbacks(
            on_user_login=self.on_user_login, on_user_registration=self.on_user_registration
        )
        api.register_third_party_rules_callbacks(
            on_add_user_third_party_identifier=self.on_add_user_third_party_identifier
        )

    @staticmethod
    def parse_config(config: dict[str, Any]) -> BoroughModuleConfig:
        try:
            return parse_module_config(config)
        except ModuleConfigError as exc:
            raise ConfigError(f"Borough onboarding: {exc}", exc.path) from None

    # --- adapters ------------------------------------------------------------------------

    async def on_user_login(
        self, user_id: str, auth_provider_type: str | None, auth_provider_id: str | None
    ) -> None:
        await self.onboard(user_id, is_final=True)

    async def on_user_registration(self, user_id: str) -> None:
        self._api.run_as_background_process(
            "borough_onboarding", self._onboard_after_registration, user_id
        )

    async def on_add_user_third_party_identifier(
        self, user_id: str, medium: str, address: str
    ) -> None:
        if medium == "email":
            self._api.run_as_background_process("borough_onboarding", self.onboard, user_id)

    # --- the work --------------------------------------------------------------------------

    async def _onboard_after_registration(self, user_id: str) -> None:
        await self.onboard(user_id)
        await self._api.sleep(REGISTRATION_GRACE_SECONDS)
        await self.onboard(user_id, is_final=True)

    async def onboard(self, user_id: str, is_final: bool = False) -> None:
        if user_id in self._borough_accounts or not self._api.is_mine(user_id):
            return
        if await self._api.account_data_manager.get_global(user_id, ONBOARDED):
            return
        threepids = await self._api.get_threepids_for_user(user_id)
        emails = [t["address"] for t in threepids if t.get("medium") == "email"]
        placement = await self._placement(user_id, emails)
        if placement.reason == "community" and not is_final:
            # Registration stores emails after this callback, and an email added next may
            # still place the person in an organisation: wait before sending them to the
            # community.
            return
        while not await self._claims.claim(user_id):
            # Another process is placing them. A sign-in returns once they are placed, as
            # when it places them itself; nothing tells this process when, so it looks.
            if not is_final or await self._api.account_data_manager.get_global(user_id, ONBOARDED):
                return
            await self._api.sleep(CLAIM_POLL_SECONDS)
        if await self._api.account_data_manager.get_global(user_id, ONBOARDED):
            return  # placed while this process waited for its claim
        placed = await self._place(user_id, placement)
        await self._api.account_data_manager.put_global(
            user_id,
            ONBOARDED,
            {"reason": placement.reason, "organisation": placement.organisation, "rooms": placed},
        )
        logger.info("Onboarded %s by %s into %d rooms", user_id, placement.reason, len(placed))

    async def _placement(self, user_id: str, emails: list[str]) -> Placement:
        person = await self._chart.person(user_id)
        domains = {}
        if person is None:
            for domain in email_domains(emails):
                if (entry := await self._chart.email_domain(domain)) is not None:
                    domains[domain] = entry
        return place(person, domains, self._api.server_name)

    async def _place(self, user_id: str, placement: Placement) -> list[str]:
        placed = []
        for room in placement.rooms:
            room_id = room.room
            if room_id.startswith("#"):
                try:
                    room_id, _ = await self._api.lookup_room_alias(room.room)
                except SynapseError:
                    logger.warning(
                        "Cannot place %s in %s: it does not exist yet (run borough apply)",
                        user_id,
                        room.room,
                    )
                    continue
            state = await self._api.get_room_state(room_id, [("m.room.member", user_id)])
            member = state.get(("m.room.member", user_id))
            if member is not None and member.membership == "join":
                placed.append(room_id)
                continue
            try:
                if not room.is_public and (member is None or member.membership != "invite"):
                    await self._api.update_room_membership(
                        self._service, user_id, room_id, "invite"
                    )
                await self._api.update_room_membership(user_id, user_id, room_id, "join")
                placed.append(room_id)
            except SynapseError as exc:
                logger.warning("Cannot place %s in %s: %s", user_id, room.room, exc.msg)
        return placed
