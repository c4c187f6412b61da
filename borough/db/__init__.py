"""The app database: everything Borough adds to Matrix (profiles, indexes, audit log).

SQLite by default, PostgreSQL by URL. The schema comes only from Alembic migrations: call
`migrate(url)` at start-up (it runs in a thread, since Alembic drives its own event loop).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Delete, Update
from sqlalchemy.engine import CursorResult, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from borough.db.models import (
    Answer,
    AuditEntry,
    Base,
    BlogMedia,
    BlogPost,
    BlogRoom,
    BotHeartbeat,
    BotLeaseRow,
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
    OrganisationRow,
    PartnershipRow,
    Post,
    PostMention,
    PostTag,
    Profile,
    ProfileFieldRow,
    ProfileViewRow,
    Question,
    QuestionRoute,
    Reaction,
    Repost,
    ScimResource,
    ScimToken,
    TownHall,
    TownHallQuestion,
    TownHallViewer,
    TownHallVote,
    UnitRow,
    WelcomeSent,
)
from borough.errors import DatabaseUnreachable, DatabaseUrlError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "Answer",
    "AuditEntry",
    "Base",
    "BlogMedia",
    "BlogPost",
    "BlogRoom",
    "BotHeartbeat",
    "BotLeaseRow",
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
    "OrganisationRow",
    "PartnershipRow",
    "Post",
    "PostMention",
    "PostTag",
    "Profile",
    "ProfileFieldRow",
    "ProfileViewRow",
    "Question",
    "QuestionRoute",
    "Reaction",
    "Repost",
    "ScimResource",
    "ScimToken",
    "TownHall",
    "TownHallQuestion",
    "TownHallViewer",
    "TownHallVote",
    "UnitRow",
    "WelcomeSent",
    "alembic_config",
    "create_engine",
    "database_url",
    "migrate",
    "rows_changed",
    "session_factory",
]

MIGRATIONS = Path(__file__).parent / "migrations"


#: The drivers Borough runs on, and the async driver each plain name means.
ASYNC_DRIVERS = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
}
EXAMPLE_URLS = "sqlite+aiosqlite:///path/borough.db or postgresql+asyncpg://user@host/borough"


def database_url(url: str) -> str:
    """`url` with its async driver, or DatabaseUrlError saying what is wrong with it."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise DatabaseUrlError(f"not a database URL; use {EXAMPLE_URLS}") from None
    driver = ASYNC_DRIVERS.get(parsed.drivername)
    if driver is None:
        raise DatabaseUrlError(
            f"Borough cannot use a '{parsed.drivername}' database; use {EXAMPLE_URLS}"
        )
    return parsed.set(drivername=driver).render_as_string(hide_password=False)


def _openable_url(url: str) -> str:
    """`database_url(url)`, once a SQLite file's folder is known to exist. Checked when the
    database is opened, not when settings load: creating folders from a mistyped path would
    hide the mistake behind an empty database."""
    url = database_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        folder = Path(parsed.database).parent
        if not folder.is_dir():
            raise DatabaseUrlError(
                f"the folder {folder} for the SQLite database does not exist; create it first"
            )
    return url


def alembic_config(url: str) -> Config:
    # Alembic takes half a second to import; only commands that migrate need it.
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", _openable_url(url).replace("%", "%%"))
    return config


def migrate_sync(url: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(url), "head")


async def migrate(url: str) -> None:
    """Bring the database at `url` up to the newest schema. Every command opens the database
    here first, so a database that does not open is named here, once."""
    try:
        await asyncio.to_thread(migrate_sync, url)
    except DBAPIError as exc:  # the driver's refusal (a wrong password, no such database)
        raise DatabaseUnreachable(_shown(url), str(exc.orig).strip()) from None
    except OSError as exc:  # refused, unknown host, timed out
        raise DatabaseUnreachable(_shown(url), str(exc)) from None


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def create_engine(url: str) -> AsyncEngine:
    url = _openable_url(url)
    # A SQLite file cannot drop a connection; pinging it would cost a round trip per session.
    return create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"))


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


async def rows_changed(session: AsyncSession, statement: Update | Delete) -> int:
    """Run an UPDATE or DELETE in `session` and say how many rows it changed.

    `AsyncSession.execute` is typed to return a plain `Result`, which has no row count; for
    these statements SQLAlchemy returns a `CursorResult`, which has one."""
    result = await session.execute(statement)
    assert isinstance(result, CursorResult)
    return result.rowcount
