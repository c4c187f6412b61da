"""What a command that works on the live network does first: connect to the homeserver and
the app database, check that they are what the settings say, and plan against what is live.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import create_engine, migrate, session_factory
from borough.matrix import MatrixClient
from borough.network import desired_network
from borough.org import OrgChart
from borough.settings import Settings, load_settings
from provisioning.live import LiveNetwork, read_live, read_suspended
from provisioning.mirror import plan_mirror, read_avatars, read_mirrored
from provisioning.plan import (
    Plan,
    PlanOptions,
    hold_back_suspended,
    joining,
    leave_out_erased,
    make_plan,
)


@dataclass
class Connection:
    settings: Settings
    client: MatrixClient
    sessions: async_sessionmaker[AsyncSession]
    actor: str


@asynccontextmanager
async def connect(settings_path: str) -> AsyncIterator[Connection]:
    settings = load_settings(settings_path)
    client = MatrixClient(
        settings.homeserver.url,
        settings.access_token,
        concurrency=settings.provisioning.concurrency,
        max_retries=settings.provisioning.max_retries,
    )
    async with client:
        actor = await client.ensure_homeserver(settings.homeserver.server_name)
        if actor != settings.service_account.user_id:
            raise click.ClickException(
                f"the access token belongs to {actor}, but service_account.user_id is "
                f"{settings.service_account.user_id}"
            )
        await migrate(settings.database.url)
        engine = create_engine(settings.database.url)
        try:
            yield Connection(settings, client, session_factory(engine), actor)
        finally:
            await engine.dispose()


async def plan_against_live(
    conn: Connection,
    chart: OrgChart,
    options: PlanOptions,
    org_dir: Path | None = None,
    *,
    refresh: bool = False,
) -> tuple[Plan, LiveNetwork]:
    """`org_dir` is where the org file is: avatar paths in it are relative to it. `refresh`
    reads the whole live state instead of what changed since the last read."""
    bot = conn.settings.bot.user_id if conn.settings.bot else None
    desired = desired_network(
        chart,
        conn.settings.homeserver.server_name,
        conn.actor,
        bot,
        widget_url=conn.settings.widgets.public_url,
        jitsi=conn.settings.jitsi,
    )
    avatars = read_avatars(desired, org_dir or Path())
    live = await read_live(conn.client, conn.sessions, refresh=refresh)
    the_plan = make_plan(desired, live, options)
    hold_back_suspended(the_plan, await read_suspended(conn.client, joining(the_plan, live)))
    kept, _ = leave_out_erased(desired, live)
    plan_mirror(the_plan, kept, avatars, await read_mirrored(conn.sessions))
    return the_plan, live
