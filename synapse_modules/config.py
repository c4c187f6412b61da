"""Configuration shared by Borough's Synapse modules: only who Borough's own accounts are.

The org chart is not configuration: the modules read it from what `borough apply` wrote into
Synapse (see `synapse_modules.chart`), so a chart change needs no restart. A bad config stops
Synapse with one line saying what is wrong and where.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)

#: Keys older homeserver.yaml files still carry; accepted, and ignored with a warning.
_RETIRED_KEYS = {
    "org_file": "Borough's modules no longer read the org file: they read what `borough apply` "
    "wrote into Synapse, so chart changes apply without a restart. Remove 'org_file'.",
}


class ModuleConfigError(ValueError):
    """Raised by the pure parser; the module turns it into Synapse's ConfigError."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        self.path = path
        super().__init__(message)


@dataclass(frozen=True)
class BoroughModuleConfig:
    service_localpart: str = "borough"
    #: Borough's other accounts (the bot) that may enter sealed rooms and post, like the service.
    trusted_localparts: tuple[str, ...] = ()

    def service_user(self, server_name: str) -> str:
        return f"@{self.service_localpart}:{server_name}"

    def trusted_users(self, server_name: str) -> frozenset[str]:
        return frozenset(
            f"@{lp}:{server_name}" for lp in (self.service_localpart, *self.trusted_localparts)
        )


def parse_module_config(raw: Any) -> BoroughModuleConfig:
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise ModuleConfigError("expected a mapping with 'service_account' and 'trusted_accounts'")
    known = {"service_account", "trusted_accounts", *_RETIRED_KEYS}
    for key in raw:
        if key not in known:
            raise ModuleConfigError(
                f"unknown key '{key}' (known: service_account, trusted_accounts)", (str(key),)
            )
        if key in _RETIRED_KEYS:
            logger.warning("Borough: %s", _RETIRED_KEYS[key])
    service = raw.get("service_account", "borough")
    if not isinstance(service, str) or not service or ":" in service or service.startswith("@"):
        raise ModuleConfigError(
            "'service_account' must be the localpart of Borough's service account, e.g. borough",
            ("service_account",),
        )
    trusted = raw.get("trusted_accounts", [])
    if not isinstance(trusted, list) or not all(
        isinstance(t, str) and t and ":" not in t and not t.startswith("@") for t in trusted
    ):
        raise ModuleConfigError(
            "'trusted_accounts' must be a list of localparts, e.g. [boroughbot]",
            ("trusted_accounts",),
        )
    return BoroughModuleConfig(service, tuple(trusted))
