"""Borough's settings: one YAML file (see config/borough.example.yaml), validated once, frozen.

Secrets may come from the environment instead of the file: BOROUGH_ACCESS_TOKEN and
BOROUGH_JITSI_APP_SECRET override the file, so the file itself can be committed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from borough.yamlsource import Problem, SourceError, holds_any, read_yaml

DEFAULT_SETTINGS_PATH = Path("config/borough.yaml")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HomeserverSettings(_Section):
    url: str = Field(description="client-server API base URL, e.g. https://matrix.example.gov.uk")
    server_name: str = Field(min_length=1, description="the part after ':' in user ids")
    processes: tuple[str, ...] = Field(
        default=(),
        description="each Synapse process's own HTTP listener (main and workers), for "
        "`borough doctor` to ask each one; empty means just `url`",
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value)

    @field_validator("processes")
    @classmethod
    def _http_urls(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_http_url(value) for value in values)

    @property
    def process_urls(self) -> tuple[str, ...]:
        return self.processes or (self.url,)


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must start with http:// or https://")
    return value.rstrip("/")


class ServiceAccountSettings(_Section):
    user_id: str = Field(
        pattern=r"^@[^:]+:.+$", description="Borough's service account, a server admin"
    )
    access_token: SecretStr | None = Field(default=None, description="or BOROUGH_ACCESS_TOKEN")


class DatabaseSettings(_Section):
    url: str = Field(
        default="sqlite+aiosqlite:///var/borough.db",
        description="SQLAlchemy async URL: sqlite+aiosqlite:///path or postgresql+asyncpg://…",
    )

    @field_validator("url")
    @classmethod
    def _usable_url(cls, value: str) -> str:
        # Here rather than at the top: borough.db loads SQLAlchemy, which only the commands
        # that read settings need.
        from borough.db import database_url

        return database_url(value)


class ProvisioningSettings(_Section):
    concurrency: int = Field(default=4, ge=1, le=64, description="requests in flight to Synapse")
    max_retries: int = Field(default=6, ge=0, le=20)
    destructive_threshold: int = Field(
        default=10, ge=0, description="destructive changes above this need --force"
    )
    password_length: int = Field(default=16, ge=12, le=64)


#: Element's own default Jitsi (element-web SdkConfig.ts, `jitsi.preferred_domain`): a server
#: that exists, so meetings work before an organisation names its own.
ELEMENT_JITSI = "meet.element.io"


class JitsiSettings(_Section):
    domain: str = Field(
        default=ELEMENT_JITSI, description="the Jitsi server meetings run on; Element's by default"
    )
    auth: Literal["none", "openidtoken-jwt"] = "none"
    app_id: str | None = None
    app_secret: SecretStr | None = Field(default=None, description="or BOROUGH_JITSI_APP_SECRET")
    wrapper_url: str = Field(
        default="https://app.element.io/jitsi.html",
        description="Element's jitsi.html; mobile clients read the widget URL's fragment",
    )
    token_lifetime_seconds: int = Field(
        default=300,
        ge=30,
        le=86400,
        description="lifetime of the HS256 meeting links Borough mints",
    )
    verify_token: SecretStr | None = Field(
        default=None,
        description="Prosody's uvs_auth_token: callers of /verify/* must send it as a Bearer "
        "token (or BOROUGH_JITSI_VERIFY_TOKEN)",
    )


class BotSettings(_Section):
    user_id: str = Field(pattern=r"^@[^:]+:.+$", description="the bot's own account")
    access_token: SecretStr | None = Field(default=None, description="or BOROUGH_BOT_TOKEN")
    password: SecretStr | None = Field(default=None, description="or BOROUGH_BOT_PASSWORD")
    device_id: str = Field(default="BOROUGHBOT", description="kept stable across restarts")
    display_name: str = "Borough"
    timezone: str = Field(
        default="Europe/London", description="the council's timezone, for `!meet at` times"
    )

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown timezone {value!r}; use an IANA name like Europe/London"
            ) from None
        return value


class WidgetSettings(_Section):
    host: str = Field(default="127.0.0.1", description="address `borough widgets serve` binds")
    port: int = Field(default=8090, ge=1, le=65535)
    public_url: str = Field(
        default="http://localhost:8090",
        description="the widget server as Element reaches it (behind the reverse proxy)",
    )

    @field_validator("public_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _http_url(value)


class ScimOrganisation(_Section):
    mapping: Path = Field(
        description="which SCIM attributes and groups fill which person fields and units "
        "(config/scim-mapping.example.yaml)"
    )
    apply: Literal["auto", "review"] = Field(
        default="review",
        description="auto: a scoped apply runs after each write; review: the change waits "
        "for `borough partner apply`",
    )
    deactivate_leavers: bool = Field(
        default=False,
        description="auto applies deactivate leavers (as `--deactivate-leavers`); otherwise "
        "they are held back and listed",
    )
    prune: bool = Field(
        default=False,
        description="auto applies also take a mover out of the rooms of units they left (as "
        "`--prune`); otherwise that waits for an admin",
    )


class ScimSettings(_Section):
    chart: Path = Field(
        default=Path("config/org.yaml"),
        description="the main org file, which includes each organisation's fragment",
    )
    organisations: dict[str, ScimOrganisation] = Field(
        default_factory=dict, description="organisation key: its identity provider's sync"
    )


class Settings(_Section):
    homeserver: HomeserverSettings
    service_account: ServiceAccountSettings
    database: DatabaseSettings = DatabaseSettings()
    provisioning: ProvisioningSettings = ProvisioningSettings()
    jitsi: JitsiSettings = JitsiSettings()
    bot: BotSettings | None = None
    widgets: WidgetSettings = WidgetSettings()
    scim: ScimSettings = ScimSettings()

    @property
    def access_token(self) -> str:
        token = self.service_account.access_token
        if token is None:
            raise SettingsError(
                "<settings>",
                [
                    Problem(
                        ("service_account", "access_token"),
                        "no access token: set it here or "
                        "in the BOROUGH_ACCESS_TOKEN environment variable",
                    )
                ],
            )
        return token.get_secret_value()


class SettingsError(SourceError):
    """The settings file is missing or wrong; every problem is listed with its place."""


def load_settings(path: Path | str | None = None) -> Settings:
    path = Path(path or os.environ.get("BOROUGH_SETTINGS") or DEFAULT_SETTINGS_PATH)
    try:
        source = read_yaml(path)
    except SourceError as exc:
        hint = " (pass --settings FILE or set BOROUGH_SETTINGS)" if not path.exists() else ""
        problems = [Problem(p.path, p.message + hint, p.line, p.column) for p in exc.problems]
        raise SettingsError(exc.filename, problems) from None
    data = source.data if isinstance(source.data, dict) else {}
    if not holds_any(source.data, Settings.model_fields):
        message = "expected a mapping of sections (homeserver, service_account, …)"
        raise SettingsError(str(path), [source.problem((), message)])
    overrides = {
        ("service_account", "access_token"): os.environ.get("BOROUGH_ACCESS_TOKEN"),
        ("jitsi", "app_secret"): os.environ.get("BOROUGH_JITSI_APP_SECRET"),
        ("jitsi", "verify_token"): os.environ.get("BOROUGH_JITSI_VERIFY_TOKEN"),
        ("bot", "access_token"): os.environ.get("BOROUGH_BOT_TOKEN"),
        ("bot", "password"): os.environ.get("BOROUGH_BOT_PASSWORD"),
    }
    for (section, key), value in overrides.items():
        # The bot's secrets only fill in a bot section that the file declares.
        if value and (section != "bot" or isinstance(data.get("bot"), dict)):
            existing = data.get(section)
            data[section] = {**(existing if isinstance(existing, dict) else {}), key: value}
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        from borough.org.loader import pydantic_problems

        raise SettingsError(str(path), pydantic_problems(exc, source, Settings)) from None
