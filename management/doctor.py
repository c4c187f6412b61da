"""`borough doctor`: check a deployment from the outside and say in plain words what is wrong.

Each check looks at one part as its users would meet it: the homeserver answers, the
service account is a server admin, every Synapse process has loaded this version of
Borough's modules, the bot beats, the widget server answers at its public URL, the app
database is at the newest migration, the Jitsi settings agree with each other. A check that
needs a part found broken is skipped, so one fault gives one line. Nothing is changed:
the database is neither created nor migrated.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from sqlalchemy import select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

import borough
from borough.bot_lease import LeaseHolder, current_holder
from borough.cli import explain_matrix_error
from borough.db import BotHeartbeat, alembic_config, create_engine, session_factory
from borough.errors import DatabaseUrlError, HomeserverUnreachable, MatrixError
from borough.jitsi import OPENID_AUTH
from borough.matrix import MatrixClient
from borough.process_status import STATUS_PATH
from borough.settings import ELEMENT_JITSI, JitsiSettings, Settings, SettingsError

#: A bot silent this long is not running: it beats every 10 s (bots.heartbeat).
BOT_SILENCE = timedelta(seconds=60)
#: Every request doctor makes gives up after this, so a hung part is named, not waited on.
TIMEOUT_SECONDS = 10.0
#: PyJWT's own floor for an HS256 key.
SHORTEST_APP_SECRET = 32


@dataclass(frozen=True)
class Finding:
    """One check's answer about one part: `said` is what was found, in words a person acts
    on; `problem` when it is wrong, `skipped` when it needs a part found broken."""

    part: str
    said: str
    problem: bool = False
    skipped: bool = False


def healthy(part: str, said: str) -> Finding:
    return Finding(part, said)


def problem(part: str, said: str) -> Finding:
    return Finding(part, said, problem=True)


def skipped(part: str, said: str) -> Finding:
    return Finding(part, said, skipped=True)


async def diagnose(settings: Settings) -> list[Finding]:
    """Every check, in the order a person would look."""
    findings: list[Finding] = []
    async with MatrixClient(
        settings.homeserver.url, None, max_retries=0, timeout=TIMEOUT_SECONDS
    ) as hs:
        findings.append(await homeserver_answers(hs))
    if findings[-1].problem:
        findings.append(skipped("service account", "not checked: the homeserver does not answer"))
    else:
        findings.append(await service_account(settings))
    if findings[-1].problem or findings[-1].skipped:
        findings.append(skipped("synapse modules", "not checked: needs the service account"))
    else:
        findings += await synapse_processes(settings)
    database = await database_revision(settings)
    findings.append(database)
    if settings.bot is None:
        findings.append(skipped("bot", "not checked: the settings have no bot section"))
    elif database.problem:
        findings.append(
            skipped("bot", "not checked: needs the app database at the newest migration")
        )
    else:
        findings.append(await bot_heartbeat(settings, settings.bot.user_id))
    findings.append(await widget_server(settings.widgets.public_url))
    findings += [problem("jitsi", said) for said in jitsi_problems(settings.jitsi)] or [
        healthy(
            "jitsi", f"settings are consistent ({settings.jitsi.auth} on {settings.jitsi.domain})"
        )
    ]
    return findings


# --- Synapse ---


async def homeserver_answers(hs: MatrixClient) -> Finding:
    try:
        versions = await hs.request("GET", "/_matrix/client/versions", authenticated=False)
    except HomeserverUnreachable as exc:
        return problem("homeserver", f"does not answer: {exc}")
    except MatrixError as exc:
        return problem(
            "homeserver", f"{hs.base_url} is not a Matrix homeserver (HTTP {exc.status})"
        )
    if not isinstance(versions.get("versions"), list):
        return problem("homeserver", f"{hs.base_url} is not a Matrix homeserver (no 'versions')")
    return healthy("homeserver", f"answers at {hs.base_url}")


async def service_account(settings: Settings) -> Finding:
    try:
        token = settings.access_token
    except SettingsError:
        return problem(
            "service account",
            "has no access token: set service_account.access_token or BOROUGH_ACCESS_TOKEN",
        )
    async with _client(settings.homeserver.url, token) as hs:
        try:
            user_id = await hs.ensure_admin()
        except MatrixError as exc:
            return problem("service account", explain_matrix_error(exc))
        except HomeserverUnreachable as exc:
            return problem("service account", f"could not be checked: {exc}")
    if user_id != settings.service_account.user_id:
        return problem(
            "service account",
            f"the access token belongs to {user_id}, not to service_account.user_id "
            f"{settings.service_account.user_id}",
        )
    return healthy("service account", f"{user_id} is a server admin")


async def synapse_processes(settings: Settings) -> list[Finding]:
    """Each process's own status: this Borough's version, or what is wrong with it."""
    token = settings.access_token
    findings = []
    for url in settings.homeserver.process_urls:
        async with _client(url, token) as process:
            findings.append(await modules_of(process, borough.__version__))
    return findings


async def modules_of(process: MatrixClient, version: str) -> Finding:
    url = process.base_url
    try:
        status = await process.request("GET", STATUS_PATH)
    except HomeserverUnreachable as exc:
        return problem("synapse modules", f"the Synapse process at {url} does not answer: {exc}")
    except MatrixError as exc:
        if exc.status == 404:
            return problem(
                "synapse modules",
                f"the Synapse process at {url} has not loaded Borough's modules (nothing "
                f"answers at {STATUS_PATH}): add them to its homeserver.yaml `modules:` and "
                "restart it",
            )
        return problem("synapse modules", f"the Synapse process at {url} refused: {exc}")
    name = status.get("process", "?")
    loaded = status.get("borough_version")
    if loaded != version:
        return problem(
            "synapse modules",
            f"Synapse process {name} at {url} runs Borough {loaded}, but this is Borough "
            f"{version}: install the same Borough in Synapse's environment and restart it",
        )
    return healthy("synapse modules", f"Synapse process {name} at {url} runs Borough {version}")


def _client(url: str, token: str) -> MatrixClient:
    return MatrixClient(url, token, max_retries=0, timeout=TIMEOUT_SECONDS)


# --- The app database and the bot ---


async def database_revision(settings: Settings) -> Finding:
    url = settings.database.url
    shown = make_url(url).render_as_string(hide_password=True)
    database = make_url(url).database
    if url.startswith("sqlite") and database and not await asyncio.to_thread(Path(database).exists):
        return problem("database", f"cannot be read: there is no SQLite file at {database}")
    try:
        engine = create_engine(url)
    except DatabaseUrlError as exc:
        return problem("database", f"cannot be read: {exc}")
    try:
        async with engine.connect() as connection:
            current = await connection.run_sync(_current_revision)
    except (DBAPIError, OSError) as exc:
        return problem("database", f"cannot be read at {shown}: {_first_line(exc)}")
    finally:
        await engine.dispose()
    newest = _newest_revision(url)
    if current == newest:
        return healthy("database", f"is at the newest migration, {newest}")
    if current is None:
        return problem(
            "database",
            f"has no Borough schema at {shown}: start the bot or the widget server once "
            "(they migrate at start), or check database.url",
        )
    if current in _older_revisions(url, newest):
        return problem(
            "database",
            f"is at migration {current}, behind the newest, {newest}: restart the bot or the "
            "widget server with this Borough (they migrate at start)",
        )
    return problem(
        "database",
        f"is at migration {current}, which this Borough does not know (its newest is "
        f"{newest}): a newer Borough migrated it; upgrade Borough here",
    )


def _first_line(exc: BaseException) -> str:
    """The driver's own reason, without SQLAlchemy's statement and links."""
    reason = str(getattr(exc, "orig", None) or exc).strip()
    return reason.splitlines()[0] if reason else type(exc).__name__


def _current_revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _newest_revision(url: str) -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config(url)).get_current_head()


def _older_revisions(url: str, newest: str | None) -> set[str]:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config(url))
    return {script.revision for script in scripts.walk_revisions()} - {newest or ""}


async def bot_heartbeat(settings: Settings, bot: str, now: datetime | None = None) -> Finding:
    engine = create_engine(settings.database.url)
    try:
        async with session_factory(engine)() as session:
            beat = await session.scalar(select(BotHeartbeat).where(BotHeartbeat.bot == bot))
        lease = await current_holder(engine, bot)
    except SQLAlchemyError as exc:
        return problem("bot", f"its heartbeat cannot be read: {_first_line(exc)}")
    finally:
        await engine.dispose()
    return bot_state(bot, beat, lease, now or datetime.now(UTC))


def bot_state(
    bot: str, beat: BotHeartbeat | None, lease: LeaseHolder | None, now: datetime
) -> Finding:
    """Running, stopped or silent, from the bot's heartbeat row (None: it never ran here),
    and which process acts, from its lease (borough.bot_lease)."""
    if beat is None:
        return problem(
            "bot",
            f"{bot} has never run against this database: start it with `borough bots run`",
        )
    if beat.stopped_at is not None:
        return problem(
            "bot",
            f"{bot} is stopped: {beat.holder} stopped it at {_when(beat.stopped_at)}; start "
            "it with `borough bots run`",
        )
    silence = now - _utc(beat.beat_at)
    if silence > BOT_SILENCE:
        return problem(
            "bot",
            f"{bot} is not running: its last heartbeat, from {beat.holder}, was "
            f"{int(silence.total_seconds())} s ago; start it with `borough bots run`",
        )
    acting = (
        f"; the lease is {lease.host} pid {lease.pid}'s since {_when(lease.since)} "
        f"(term {lease.term})"
        if lease is not None and not lease.expired(now)
        else ""
    )
    return healthy(
        "bot",
        f"{bot} is running in {beat.holder} (last heartbeat {int(silence.total_seconds())} s "
        f"ago{acting})",
    )


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite keeps no zone


def _when(moment: datetime) -> str:
    return _utc(moment).strftime("%Y-%m-%d %H:%M:%S UTC")


# --- The widget server and Jitsi ---


async def widget_server(public_url: str) -> Finding:
    url = f"{public_url}/healthz"
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, session.get(url) as response:
            body = await response.json(content_type=None) if response.status == 200 else None
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        return problem("widget server", f"does not answer at {url}: {reason}")
    if not isinstance(body, dict) or body.get("status") != "ok":
        return problem(
            "widget server",
            f"{url} did not answer as Borough's widget server does: check widgets.public_url "
            "and the reverse proxy",
        )
    return healthy("widget server", f"answers at {public_url}")


def jitsi_problems(jitsi: JitsiSettings) -> list[str]:
    """What in the Jitsi settings contradicts itself or cannot work, one sentence each."""
    found = []
    if "/" in jitsi.domain:  # a URL, not a host
        found.append(
            f"jitsi.domain is {jitsi.domain!r}: give the host name only, e.g. meet.example.gov.uk"
        )
    if jitsi.auth == OPENID_AUTH and jitsi.domain == ELEMENT_JITSI:
        found.append(
            f"jitsi.auth is {OPENID_AUTH} but jitsi.domain is {ELEMENT_JITSI}, Element's "
            "public Jitsi, which never asks Borough: name your own Jitsi, or set auth: none"
        )
    if (jitsi.app_id is None) != (jitsi.app_secret is None):
        found.append(
            "jitsi.app_id and jitsi.app_secret go together: set both for signed meeting links, "
            "or neither"
        )
    if jitsi.auth == OPENID_AUTH and jitsi.app_secret is None:
        found.append(
            f"jitsi.auth is {OPENID_AUTH} but jitsi.app_id and jitsi.app_secret are not set: "
            "the links Borough gives the meeting page and Element X would be unsigned, and a "
            "secured Jitsi refuses them"
        )
    if jitsi.auth == OPENID_AUTH and jitsi.verify_token is None:
        found.append(
            f"jitsi.auth is {OPENID_AUTH} but jitsi.verify_token is not set: anyone could "
            "call the token service; set Prosody's uvs_auth_token here too"
        )
    secret = jitsi.app_secret.get_secret_value() if jitsi.app_secret else None
    if secret is not None and len(secret) < SHORTEST_APP_SECRET:
        found.append(
            f"jitsi.app_secret is shorter than {SHORTEST_APP_SECRET} characters, too short "
            "for HS256"
        )
    if not jitsi.wrapper_url.startswith("https://"):
        found.append("jitsi.wrapper_url must be https: Element loads it in the page")
    return found


# --- Running it ---


def run(settings: Settings) -> list[Finding]:
    return asyncio.run(diagnose(settings))
