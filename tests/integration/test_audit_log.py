"""The audit log on both database backends: entries are recorded, filtered, scrubbed of
secrets, and the table refuses UPDATE, DELETE (and on PostgreSQL, TRUNCATE)."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from borough import audit
from borough.db import alembic_config, create_engine, migrate, session_factory

# Needs a real PostgreSQL (BOROUGH_TEST_POSTGRES, or 127.0.0.1:5432) as well as SQLite.
pytestmark = pytest.mark.integration

POSTGRES = os.environ.get("BOROUGH_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


def _postgres_url() -> tuple[str, str]:
    import psycopg2

    name = f"borough_audit_{secrets.token_hex(4)}"
    conn = psycopg2.connect(POSTGRES)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    base = POSTGRES.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", name


def _drop_postgres(name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(POSTGRES)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'audit.db'}"
        return
    url, name = _postgres_url()
    try:
        yield url
    finally:
        _drop_postgres(name)


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    await migrate(database_url)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def test_record_and_filter(session: AsyncSession) -> None:
    await audit.record(session, actor="@ann:x", action="moderate.suspend", target_ids=["@bob:x"])
    await audit.record(
        session, actor="@cat:x", action="moderate.lock", target_ids=["!r:x"], reason="spam"
    )
    await audit.record(session, actor="@ann:x", action="org.apply", target_ids=[])
    await session.commit()

    assert [e.action for e in await audit.entries(session)] == [
        "moderate.suspend",
        "moderate.lock",
        "org.apply",
    ]
    assert [e.action for e in await audit.entries(session, actor="@ann:x")] == [
        "moderate.suspend",
        "org.apply",
    ]
    assert [e.reason for e in await audit.entries(session, action="moderate.*")] == [None, "spam"]
    assert [e.action for e in await audit.entries(session, limit=2)] == [
        "moderate.lock",
        "org.apply",
    ]
    future = datetime.now(UTC) + timedelta(hours=1)
    assert await audit.entries(session, since=future) == []


async def test_secrets_never_stored(session: AsyncSession) -> None:
    await audit.record(
        session,
        actor="@ann:x",
        action="test.secret",
        target_ids=["@bob:x"],
        details={
            "access_token": "syt_abc_def",
            "nested": {"admin_password": "hunter2", "kept": "visible"},
            "header": "syt_YWJj_xyz_123",
            "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
            "count": 3,
        },
    )
    await session.commit()
    stored = (await session.execute(text("SELECT details FROM audit_log"))).scalar_one()
    stored_text = str(stored)
    for secret in ("syt_abc_def", "hunter2", "syt_YWJj", "eyJhbGci"):
        assert secret not in stored_text
    assert "visible" in stored_text and "3" in stored_text


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
    ],
)
async def test_log_is_append_only(session: AsyncSession, statement: str) -> None:
    await audit.record(session, actor="@ann:x", action="moderate.suspend", target_ids=["@bob:x"])
    await session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(text(statement))
    await session.rollback()
    [entry] = await audit.entries(session)
    assert entry.actor == "@ann:x"


# SQLite has no TRUNCATE; its DELETE trigger covers the same ground (tested above).
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_truncate_refused_on_postgresql(session: AsyncSession) -> None:
    await audit.record(session, actor="@ann:x", action="org.apply", target_ids=[])
    await session.commit()
    with pytest.raises(DBAPIError, match="append-only"):
        await session.execute(text("TRUNCATE audit_log"))
    await session.rollback()
    assert len(await audit.entries(session)) == 1


async def test_migration_0009_goes_down_and_up_again(database_url: str) -> None:
    await migrate(database_url)
    await asyncio.to_thread(command.downgrade, alembic_config(database_url), "0008")
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            await audit.record(session, actor="@ann:x", action="org.apply", target_ids=[])
            await session.commit()
            await session.execute(text("DELETE FROM audit_log"))  # no trigger below 0009
            await session.commit()
    finally:
        await engine.dispose()
    await migrate(database_url)
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            await audit.record(session, actor="@ann:x", action="org.apply", target_ids=[])
            await session.commit()
            with pytest.raises(DBAPIError, match="append-only"):
                await session.execute(text("DELETE FROM audit_log"))
    finally:
        await engine.dispose()
