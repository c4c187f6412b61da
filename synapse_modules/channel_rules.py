"""Channel rules: in a microblog channel only posters start posts; readers reply in threads
and react; posts over the channel's length limit are refused. Power levels cannot say this,
so `check_event_allowed` does, from the room's `org.borough.channel` state. Element does not
show the refusal's reason, so the person is also told in a direct message (`telling.py`).
"""

from __future__ import annotations

import logging
from typing import Any

from synapse.module_api import EventBase, ModuleApi, StateMap
from synapse.module_api.errors import Codes, ConfigError, SynapseError

from borough import events
from synapse_modules.config import ModuleConfigError
from synapse_modules.policy import ChannelPolicy, judge_post, post_text
from synapse_modules.refusal_notice import RefusedPost
from synapse_modules.telling import RefusalTeller

logger = logging.getLogger(__name__)


class ChannelRules:
    def __init__(self, config: tuple[str, ...], api: ModuleApi) -> None:
        self._api = api
        self._trusted = frozenset(f"@{localpart}:{api.server_name}" for localpart in config)
        self._teller = RefusalTeller(api, f"@{config[0]}:{api.server_name}")
        api.register_third_party_rules_callbacks(check_event_allowed=self.check_event_allowed)

    @staticmethod
    def parse_config(config: dict[str, Any] | None) -> tuple[str, ...]:
        """Borough's own accounts (the service account first, then the bot), which may always
        post; the service account tells people why a post was refused."""
        config = config or {}
        try:
            unknown = sorted(set(config) - {"service_account", "trusted_accounts"})
            if unknown:
                raise ModuleConfigError(
                    f"unknown key '{unknown[0]}' (known: service_account, trusted_accounts)",
                    (unknown[0],),
                )
            service = config.get("service_account", "borough")
            if not isinstance(service, str) or not service or service.startswith("@"):
                raise ModuleConfigError(
                    "'service_account' must be a localpart, e.g. borough", ("service_account",)
                )
            trusted = config.get("trusted_accounts", [])
            if not isinstance(trusted, list) or not all(isinstance(t, str) for t in trusted):
                raise ModuleConfigError(
                    "'trusted_accounts' must be a list of localparts", ("trusted_accounts",)
                )
        except ModuleConfigError as exc:
            raise ConfigError(f"Borough channel rules: {exc}", exc.path) from None
        return (service, *trusted)

    async def check_event_allowed(
        self, event: EventBase, state_events: StateMap[EventBase]
    ) -> tuple[bool, dict[str, Any] | None]:
        if event.is_state():
            return True, None
        rules = state_events.get((events.CHANNEL, ""))
        if rules is None:
            return True, None
        name_event = state_events.get(("m.room.name", ""))
        name = str(name_event.content.get("name")) if name_event else "this channel"
        channel = ChannelPolicy.from_content(name, rules.content)
        if channel is None:
            return True, None
        refusal = judge_post(
            channel, event.sender, event.sender in self._trusted, event.type, event.content
        )
        if refusal is not None:
            if self._api.is_mine(event.sender):
                post = RefusedPost(event.room_id, refusal.message, post_text(event.content))
                self._teller.tell(event.sender, post)
            raise SynapseError(403, refusal.message, Codes.FORBIDDEN)
        return True, None
