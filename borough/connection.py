"""What a command that works on the live network does first: connect to the homeserver and
the app database, and check that they are what the settings say.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import click
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import create_engine, migrate, session_factory
from borough.matrix import MatrixClient
from borough.settings import Settings, load_settings


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
