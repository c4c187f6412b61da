"""Borough's Synapse modules: the rules every client is held to, enforced inside Synapse.

- `sealed_rooms.SealedRooms`: only members of a sealed room's owner get in, by any door.
- `channel_rules.ChannelRules`: posters post, readers reply in threads and react, length limits.
- `onboarding.Onboarding`: newcomers land in their organisation, units and rooms.

Decisions are pure functions in `policy` and `placement`; the classes adapt Synapse's
callbacks to them, with the facts read from Synapse itself by `chart.SynapseChart`: the org
chart lives in Synapse as `borough apply` wrote it, never in a copy the modules load.
`homeserver_modules()` gives the `modules:` list for homeserver.yaml.
"""

from __future__ import annotations

from typing import Any


def homeserver_modules(
    service_localpart: str = "borough", bot_localpart: str | None = "boroughbot"
) -> list[dict[str, Any]]:
    """The `modules:` entries that load Borough into every Synapse process (main and each
    worker alike: none of them holds state of its own)."""
    accounts: dict[str, Any] = {"service_account": service_localpart}
    if bot_localpart:
        accounts["trusted_accounts"] = [bot_localpart]
    return [
        {"module": f"synapse_modules.{name}", "config": accounts}
        for name in (
            "sealed_rooms.SealedRooms",
            "channel_rules.ChannelRules",
            "onboarding.Onboarding",
        )
    ]
