"""The app database: everything Borough adds to Matrix (profiles, indexes, audit log).

SQLite by default, PostgreSQL by URL. The schema comes only from Alembic migrations: call
`migrate(url)` at start-up (it runs in a thread, since Alembic drives its own event loop).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from borough.db.models import (
    AuditEntry,
    Base,
    BlogMedia,
    BlogPost,
    BlogRoom,
    BotState,
    ChannelMember,
    ChannelRow,
    DigestSent,
    DigestSubscription,
    DirectoryDirty,
    DirectoryEntry,
    DirectRoom,
    Follow,
    HandledEvent,
    LiveSnapshot,
    Meeting,
    MeetingParticipant,
    MirroredAvatar,
    MirroredProfile,
    Post,
    PostMention,
    PostTag,
    Profile,
    ProfileFieldRow,
    Reaction,
    Repost,
    UnitRow,
)

__all__ = [
    "AuditEntry",
    "Base",
    "BlogMedia",
    "BlogPost",
    "BlogRoom",
    "BotState",
    "ChannelMember",
    "ChannelRow",
    "DigestSent",
    "DigestSubscription",
    "DirectRoom",
    "DirectoryDirty",
    "DirectoryEntry",
    "Follow",
    "HandledEvent",
    "LiveSnapshot",
    "Meeting",
    "MeetingParticipant",
    "MirroredAvatar",
    "MirroredProfile",
    "Post",
    "PostMention",
    "PostTag",
    "Profile",
    "ProfileFieldRow",
    "Reaction",
    "Repost",
    "UnitRow",
    "alembic_config",
    "create_engine",
    "migrate",
    "session_factory",
]

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _ensure_sqlite_dir(url: str) -> None:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)


def migrate_sync(url: str) -> None:
    _ensure_sqlite_dir(url)
    command.upgrade(alembic_config(url), "head")


async def migrate(url: str) -> None:
    """Bring the database at `url` up to the newest schema."""
    await asyncio.to_thread(migrate_sync, url)


def create_engine(url: str) -> AsyncEngine:
    _ensure_sqlite_dir(url)
    # A SQLite file cannot drop a connection; pinging it would cost a round trip per session.
    return create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
