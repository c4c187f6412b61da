"""An apply killed half-way and run again converges, with no duplicate rooms or spaces;
prune and leaver flags gate what is removed."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import select

from borough import events
from borough.db import LiveSnapshot, create_engine, migrate, session_factory
from borough.live import LiveNetwork, read_live
from borough.matrix import MatrixClient
from borough.network import desired_network
from borough.org import load_org_chart
from provisioning.apply import Applier
from provisioning.plan import PlanOptions, make_plan
from tests.conftest import Homeserver, borough, start_homeserver, write_settings

pytestmark = pytest.mark.integration

SMALL = Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml"
ORG_FILE = SMALL


class Killed(Exception):
    pass


async def _apply_until_killed(hs: Homeserver, database_url: str, stop_after: int) -> int:
    chart = load_org_chart(SMALL)
    await migrate(database_url)
    engine = create_engine(database_url)
    try:
        async with MatrixClient(hs.synapse.base_url, hs.service_token, concurrency=4) as client:
            desired = desired_network(chart, hs.server_name, hs.service_user)
            live = await read_live(client, session_factory(engine))
            plan = make_plan(desired, live, PlanOptions())
            applier = Applier(
                client,
                session_factory(engine),
                hs.server_name,
                {k: r.room_id for k, r in live.rooms.items()},
                actor=hs.service_user,
            )
            done = 0

            def tick(_: object) -> None:
                nonlocal done
                done += 1
                if done >= stop_after:
                    raise Killed

            with pytest.raises(Killed):
                await applier.apply(plan, tick)
            return len(plan.changes)
    finally:
        await engine.dispose()


def _managed_keys(hs: Homeserver) -> Counter[str]:
    keys: Counter[str] = Counter()
    for room_id in hs.admin("GET", "/_matrix/client/v3/joined_rooms")["joined_rooms"]:
        try:
            keys[hs.state(room_id, events.MANAGED)["key"]] += 1
        except Exception:
            continue
    return keys


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[Homeserver, Path, str]]:
    """A Synapse and app database of this test's own, since it needs a from-scratch apply."""
    hs, synapse = start_homeserver(tmp_path / "synapse")
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    try:
        yield hs, write_settings(tmp_path / "borough.yaml", hs, database_url), database_url
    finally:
        synapse.stop()


@pytest.mark.parametrize("stop_after", [7, 40])
def test_a_killed_apply_converges_without_duplicates(
    fresh: tuple[Homeserver, Path, str], stop_after: int
) -> None:
    homeserver, settings_file, app_database_url = fresh
    planned = asyncio.run(_apply_until_killed(homeserver, app_database_url, stop_after))
    assert planned > stop_after
    partial = _managed_keys(homeserver)
    result = borough("apply", "-q", str(SMALL), settings=settings_file)
    assert result.exit_code == 0, result.output
    again = borough("plan", str(SMALL), settings=settings_file)
    assert "No changes." in again.output, again.output
    keys = _managed_keys(homeserver)
    desired = desired_network(
        load_org_chart(SMALL), homeserver.server_name, homeserver.service_user
    )
    assert set(keys) == set(desired.rooms)
    assert max(keys.values()) == 1, keys
    assert set(partial) <= set(keys)


def test_removals_need_prune_and_leavers_need_the_flag(
    homeserver: Homeserver, settings_file: Path, tmp_path: Path
) -> None:
    assert borough("apply", "-q", str(SMALL), settings=settings_file).exit_code == 0
    text = SMALL.read_text()
    smaller = tmp_path / "smaller.yaml"
    # Theo leaves; Tara leaves the sub-team; the sub-team loses its general room's template.
    text = text.replace(
        "  - {username: tnew, display_name: Theo New, organisation: tcouncil, units: [tsub], manager: tmgr}\n",
        "",
    )
    text = text.replace("units: [tteam, tsub], manager: tmgr", "units: [tteam], manager: tmgr")
    smaller.write_text(text)

    plan = borough("plan", str(smaller), settings=settings_file)
    assert plan.exit_code == 0
    assert "held back" in plan.output
    assert "[needs --prune]" in plan.output and "[needs --deactivate-leavers]" in plan.output
    to_do = plan.output.split("held back")[0]
    # Without the flags only what keeps a seal shut is removed: Theo, a leaver, leaves the
    # sealed channel, its owner's space and his organisation's space at once, and the
    # registry stops naming him.
    removals = [ln.strip() for ln in to_do.splitlines() if ln.startswith("  - ")]
    assert removals == [
        "- @tnew:borough.test  remove from channel/tsealed",
        "- @tnew:borough.test  remove from org/tcouncil",
        "- @tnew:borough.test  remove from unit/tdir",
        "- tnew  unregistered",
    ], removals
    assert "remove from unit/tsub" in plan.output.split("held back")[1]

    applied = borough("apply", "-q", "--prune", "--force", str(smaller), settings=settings_file)
    assert applied.exit_code == 0, applied.output
    tara = homeserver.login_as("tstaff")
    joined = set(homeserver.call("GET", "/_matrix/client/v3/joined_rooms", tara)["joined_rooms"])
    assert homeserver.room_id("tsub-general") not in joined
    assert homeserver.room_id("tteam-general") in joined

    left = borough("apply", "-q", "--deactivate-leavers", str(smaller), settings=settings_file)
    assert left.exit_code == 0, left.output
    theo = homeserver.admin("GET", f"/_synapse/admin/v2/users/{homeserver.user_id('tnew')}")
    assert theo["deactivated"] is True
    assert (
        "No changes."
        in borough(
            "plan", "--prune", "--deactivate-leavers", str(smaller), settings=settings_file
        ).output
    )


def test_a_big_destructive_plan_needs_force(
    homeserver: Homeserver, settings_file: Path, app_database_url: str, tmp_path: Path
) -> None:
    assert borough("apply", "-q", str(SMALL), settings=settings_file).exit_code == 0
    strict = write_settings(
        tmp_path / "strict.yaml",
        homeserver,
        app_database_url,
        provisioning={"destructive_threshold": 1},
    )
    emptier = tmp_path / "emptier.yaml"
    emptier.write_text(
        SMALL.read_text().replace("units: [tteam, tsub], manager: tmgr", "units: [], manager: tmgr")
    )
    refused = borough("apply", "--prune", str(emptier), settings=strict)
    assert refused.exit_code == 3
    assert "--force" in refused.output
    assert "remove from" in refused.output  # the plan is shown before the refusal
    forced = borough("apply", "-q", "--prune", "--force", str(emptier), settings=strict)
    assert forced.exit_code == 0, forced.output


def _snapshot_of(live: LiveNetwork) -> dict[str, tuple[str, dict[Any, Any], set[str]]]:
    return {key: (room.room_id, room.state, room.members) for key, room in live.rooms.items()}


def test_an_incremental_read_sees_the_same_drift_as_a_full_read(
    homeserver: Homeserver, settings_file: Path, app_database_url: str
) -> None:
    """A plan reads only what changed since the last read; it must see exactly what a full
    read sees, whatever was changed by hand in between."""
    assert borough("apply", "-q", str(SMALL), settings=settings_file).exit_code == 0

    async def read(refresh: bool) -> LiveNetwork:
        engine = create_engine(app_database_url)
        try:
            async with MatrixClient(homeserver.synapse.base_url, homeserver.service_token) as c:
                return await read_live(c, session_factory(engine), refresh=refresh)
        finally:
            await engine.dispose()

    asyncio.run(read(refresh=True))  # the snapshot the next read continues from
    general = homeserver.room_id("tteam-general")
    token = homeserver.service_token
    homeserver.call(
        "PUT",
        f"/_matrix/client/v3/rooms/{quote(general)}/state/m.room.name/",
        token,
        {"name": "Renamed by hand"},
    )
    tara = homeserver.login_as("tstaff")
    homeserver.call("POST", f"/_matrix/client/v3/rooms/{quote(general)}/leave", tara, {})
    # More changes than the read's timeline holds: the earlier ones come as the state block.
    for n in range(120):
        homeserver.call(
            "PUT",
            f"/_matrix/client/v3/rooms/{quote(general)}/state/m.room.topic/",
            token,
            {"topic": f"topic {n}"},
        )
    stray = homeserver.call(
        "POST",
        "/_matrix/client/v3/createRoom",
        token,
        {"initial_state": [{"type": events.MANAGED, "state_key": "", "content": {"key": "stray"}}]},
    )["room_id"]

    incremental, full = asyncio.run(read(refresh=False)), asyncio.run(read(refresh=True))
    assert _snapshot_of(incremental) == _snapshot_of(full)
    assert incremental.rooms["unit/tteam/general"].content("m.room.name") == {
        "name": "Renamed by hand"
    }
    assert homeserver.user_id("tstaff") not in incremental.rooms["unit/tteam/general"].members
    assert incremental.rooms["unit/tteam/general"].content("m.room.topic") == {"topic": "topic 119"}
    assert incremental.rooms["stray"].room_id == stray

    plan = borough("plan", str(SMALL), settings=settings_file)
    assert "Renamed by hand" in plan.output and homeserver.user_id("tstaff") in plan.output
    homeserver.call("POST", f"/_matrix/client/v3/rooms/{quote(stray)}/leave", token, {})
    assert borough("apply", "-q", str(SMALL), settings=settings_file).exit_code == 0
    after = asyncio.run(read(refresh=False))
    assert "stray" not in after.rooms
    assert _snapshot_of(after) == _snapshot_of(asyncio.run(read(refresh=True)))

    async def forget_a_room() -> None:
        """As if the snapshot came from another server: it names rooms Synapse doesn't."""
        engine = create_engine(app_database_url)
        try:
            async with session_factory(engine)() as session:
                row = (await session.scalars(select(LiveSnapshot))).one()
                row.rooms = dict(sorted(row.rooms.items())[1:])
                await session.commit()
        finally:
            await engine.dispose()

    asyncio.run(forget_a_room())
    assert _snapshot_of(asyncio.run(read(refresh=False))) == _snapshot_of(after)
    refreshed = borough("plan", "--refresh", str(SMALL), settings=settings_file)
    assert "No changes." in refreshed.output, refreshed.output
