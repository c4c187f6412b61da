"""Configuration shared by Borough's Synapse modules, parsed once at Synapse start-up.

A bad config stops Synapse with one line saying what is wrong and where.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from borough.org import OrgChart, OrgChartError, load_org_chart


class ModuleConfigError(ValueError):
    """Raised by the pure parser; the module turns it into Synapse's ConfigError."""

    def __init__(self, message: str, path: tuple[str, ...] = ()) -> None:
        self.path = path
        super().__init__(message)


@dataclass(frozen=True)
class BoroughModuleConfig:
    org_file: Path
    chart: OrgChart
    service_localpart: str
    #: Borough's other accounts (the bot) that may enter sealed rooms and post, like the service.
    trusted_localparts: tuple[str, ...] = ()

    def service_user(self, server_name: str) -> str:
        return f"@{self.service_localpart}:{server_name}"

    def trusted_users(self, server_name: str) -> frozenset[str]:
        return frozenset(
            f"@{lp}:{server_name}" for lp in (self.service_localpart, *self.trusted_localparts)
        )


def parse_module_config(raw: Any, allowed: frozenset[str] = frozenset()) -> BoroughModuleConfig:
    known = {"org_file", "service_account", "trusted_accounts"} | allowed
    if not isinstance(raw, dict):
        raise ModuleConfigError("expected a mapping with 'org_file' and 'service_account'")
    for key in raw:
        if key not in known:
            raise ModuleConfigError(
                f"unknown key '{key}' (known: {', '.join(sorted(known))})", (str(key),)
            )
    org_file = raw.get("org_file")
    if not isinstance(org_file, str) or not org_file:
        raise ModuleConfigError("'org_file' must be the path of the org chart YAML", ("org_file",))
    service = raw.get("service_account", "borough")
    if not isinstance(service, str) or not service or ":" in service or service.startswith("@"):
        raise ModuleConfigError(
            "'service_account' must be the localpart of Borough's service account, e.g. borough",
            ("service_account",),
        )
    trusted = raw.get("trusted_accounts", [])
    if not isinstance(trusted, list) or not all(
        isinstance(t, str) and t and ":" not in t for t in trusted
    ):
        raise ModuleConfigError(
            "'trusted_accounts' must be a list of localparts, e.g. [boroughbot]",
            ("trusted_accounts",),
        )
    try:
        chart = load_org_chart(org_file)
    except OrgChartError as exc:
        first = exc.problems[0].render(exc.filename)
        more = f" (and {len(exc.problems) - 1} more)" if len(exc.problems) > 1 else ""
        raise ModuleConfigError(
            f"the org chart is not valid: {first}{more}", ("org_file",)
        ) from None
    return BoroughModuleConfig(Path(org_file), chart, service, tuple(trusted))
