"""The bot's lease (borough.bot_lease): one holder at a time, takeover only once the holder
stops renewing, and a fence that stops a replaced holder from writing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from borough.bot_lease import BotLease, LeaseLost, current_holder
from borough.db import create_engine, migrate, session_factory
from tests.conftest import APP_BACKENDS, app_database

BOT = "@boroughbot:example.org"


#: Takeovers are row-level races, so they also run on PostgreSQL when the suite has one.
@pytest.fixture(params=APP_BACKENDS)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    with app_database(request.param, tmp_path, "borough_lease") as url:
        await migrate(url)
        made = create_engine(url)
        yield made
        await made.dispose()


def lease(engine: AsyncEngine, pid: int, seconds: float = 10.0) -> BotLease:
    return BotLease(session_factory(engine), BOT, host="bots1", pid=pid, seconds=seconds)


async def test_one_holder_until_it_stops_renewing(engine: AsyncEngine) -> None:
    first, second = lease(engine, 101, seconds=0.5), lease(engine, 202, seconds=0.5)
    assert await current_holder(engine) is None
    assert await first.try_acquire()
    assert not await second.try_acquire()
    holder = await current_holder(engine, BOT)
    assert holder is not None and (holder.pid, holder.term) == (101, 1)
    assert str(holder).startswith("bots1 pid 101 since ")

    await asyncio.sleep(0.6)  # the first stops renewing: killed, or hung
    assert await second.try_acquire()
    holder = await current_holder(engine)
    assert holder is not None and (holder.pid, holder.term) == (202, 2)
    assert not holder.expired()
    # The first wakes up and tries to write: the fence refuses, whatever its clock says.
    with pytest.raises(LeaseLost, match="another process took over"):
        async with session_factory(engine).begin() as session:
            await first.confirm(session)


async def test_a_clean_stop_hands_over_at_once(engine: AsyncEngine) -> None:
    first, second = lease(engine, 101), lease(engine, 202)
    assert await first.try_acquire()
    async with session_factory(engine).begin() as session:
        await first.confirm(session)  # the holder's own writes pass
    assert not await second.try_acquire()
    await first.release()
    assert await second.try_acquire()


async def test_a_standby_waits_then_takes_over(engine: AsyncEngine) -> None:
    first, second = lease(engine, 101, seconds=1.0), lease(engine, 202, seconds=1.0)
    assert await first.try_acquire()
    stopping = asyncio.Event()
    standby = asyncio.create_task(second.acquire(stopping))
    await asyncio.sleep(0.3)
    assert not standby.done()
    assert await asyncio.wait_for(standby, 5)
    assert second.term == 2

    # A stopped standby gives up without the lease.
    third = lease(engine, 303)
    stopping.set()
    assert not await third.acquire(stopping)
