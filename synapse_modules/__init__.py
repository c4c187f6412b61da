"""Borough's Synapse modules: the rules every client is held to, enforced inside Synapse.

- `sealed_rooms.SealedRooms`: only members of a sealed room's owner get in, by any door.
- `channel_rules.ChannelRules`: posters post, readers reply in threads and react, length limits.
- `onboarding.Onboarding`: newcomers land in their organisation, units and rooms.

Decisions are pure functions in `policy` and `placement`; the classes adapt Synapse's
callbacks to them. `homeserver_modules()` gives the `modules:` list for homeserver.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def homeserver_modules(
    org_file: Path | str,
    service_localpart: str = "borough",
    bot_localpart: str | None = "boroughbot",
) -> list[dict[str, Any]]:
    """The `modules:` entries that load Borough into every Synapse process."""
    accounts: dict[str, Any] = {"service_account": service_localpart}
    if bot_localpart:
        accounts["trusted_accounts"] = [bot_localpart]
    shared = {"org_file": str(Path(org_file).resolve()), **accounts}
    return [
        {"module": "synapse_modules.sealed_rooms.SealedRooms", "config": shared},
        {"module": "synapse_modules.channel_rules.ChannelRules", "config": accounts},
        {"module": "synapse_modules.onboarding.Onboarding", "config": shared},
    ]
