"""How apply puts people in rooms, as a real Synapse records it: into a restricted room by
their own join (no "invited by Borough" for each person placed), into an invite-only room by
invitation, with no token of theirs left behind, and unhindered by Synapse's join limits."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from borough.org import load_org_chart
from provisioning.plan import Join
from tests.conftest import POSTGRES_DSN, Homeserver, borough, start_homeserver, write_settings

pytestmark = pytest.mark.integration

SMALL = Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml"
CHART = load_org_chart(SMALL)

#: Synapse's join limits, tighter than its defaults (ten joins to a room, then one a second):
#: joins sent as people would wait minutes here were Borough's service account limited.
TIGHT_JOIN_LIMITS = {
    "rc_joins": {"local": {"per_second": 0.01, "burst_count": 1}},
    "rc_joins_per_room": {"per_second": 0.01, "burst_count": 1},
}


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Homeserver, Any, Path]]:
    base = tmp_path_factory.mktemp("joining")
    hs, synapse = start_homeserver(base / "synapse", extra_config=TIGHT_JOIN_LIMITS)
    settings = write_settings(base / "borough.yaml", hs, f"sqlite+aiosqlite:///{base / 'app.db'}")
    try:
        yield hs, synapse, settings
    finally:
        synapse.stop()


def test_apply_is_not_held_up_by_join_limits(
    applied: tuple[Homeserver, Any, Path], caplog: pytest.LogCaptureFixture
) -> None:
    hs, _, settings = applied
    with caplog.at_level(logging.INFO, logger="borough.matrix"):
        result = borough("apply", "-q", str(SMALL), settings=settings)
    assert result.exit_code == 0, result.output
    assert "Applied" in result.output and "failed" not in result.output.lower(), result.output
    assert not [r for r in caplog.records if "rate limited" in r.getMessage()]
    service = quote(hs.service_user)
    assert hs.admin("GET", f"/_synapse/admin/v1/users/{service}/override_ratelimit") == {
        "messages_per_second": 0,
        "burst_count": 0,
    }
    again = borough("plan", str(SMALL), settings=settings)
    assert "No changes." in again.output, again.output


def test_people_join_restricted_rooms_themselves(applied: tuple[Homeserver, Any, Path]) -> None:
    hs, _, _ = applied
    restricted = [
        room_id
        for room_id in _managed_rooms(hs)
        if hs.state(room_id, "m.room.join_rules")["join_rule"] == "restricted"
    ]
    assert restricted
    joined_themselves = 0
    for room_id in restricted:
        for event in _memberships(hs, room_id):
            if event["state_key"] == hs.service_user:
                continue
            assert event["content"]["membership"] == "join", (room_id, event)
            assert event["sender"] == event["state_key"], (room_id, event)
            assert "join_authorised_via_users_server" in event["content"], event
            joined_themselves += 1
    assert joined_themselves >= len(CHART.people)


def test_invite_only_rooms_still_invite(applied: tuple[Homeserver, Any, Path]) -> None:
    hs, _, _ = applied
    invite_only = [
        room_id
        for room_id in _managed_rooms(hs)
        if hs.state(room_id, "m.room.join_rules")["join_rule"] == "invite"
    ]
    people = 0
    for room_id in invite_only:
        by_person: dict[str, list[tuple[str, str]]] = {}
        for event in _memberships(hs, room_id):
            if event["state_key"] != hs.service_user:
                by_person.setdefault(event["state_key"], []).append(
                    (event["content"]["membership"], event["sender"])
                )
        for person, events in by_person.items():
            assert events == [("invite", hs.service_user), ("join", person)], (room_id, events)
            people += 1
    assert people, "the chart has no invite-only room with people in it"


def test_no_token_made_for_a_join_outlives_it(applied: tuple[Homeserver, Any, Path]) -> None:
    _, synapse, _ = applied
    rows = _synapse_rows(
        synapse,
        "SELECT user_id FROM access_tokens WHERE puppets_user_id IS NOT NULL "
        "AND valid_until_ms IS NOT NULL",
    )
    assert rows == []


def test_someone_outside_the_space_is_invited_instead(
    applied: tuple[Homeserver, Any, Path],
) -> None:
    """A join planned as their own that Synapse refuses (not in the space) falls back to the
    admin join: the invitation and the join."""
    import asyncio

    from borough.connection import connect
    from provisioning.apply import Applier

    hs, _, settings = applied
    unit = next(u for u in CHART.units if u.parent)
    outsider = next(p for p in CHART.people if unit.key not in p.units)
    user_id = hs.user_id(outsider.username)
    room_id = hs.room_id(f"{unit.key}-general")

    async def join() -> None:
        async with connect(str(settings)) as conn:
            applier = Applier(
                client=conn.client,
                sessions=conn.sessions,
                server_name=hs.server_name,
                room_ids={"there": room_id},
                actor=hs.service_user,
            )
            await applier.execute(Join(user_id, "there", by_themselves=True))

    asyncio.run(join())
    mine = [e for e in _memberships(hs, room_id) if e["state_key"] == user_id]
    assert [(e["content"]["membership"], e["sender"]) for e in mine] == [
        ("invite", hs.service_user),
        ("join", user_id),
    ]
    hs.admin("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/kick", {"user_id": user_id})


def _managed_rooms(hs: Homeserver) -> list[str]:
    return [
        room_id
        for room_id in hs.admin("GET", "/_matrix/client/v3/joined_rooms")["joined_rooms"]
        if _is_managed(hs, room_id)
    ]


def _is_managed(hs: Homeserver, room_id: str) -> bool:
    try:
        return bool(hs.state(room_id, "org.borough.managed"))
    except Exception:
        return False


def _memberships(hs: Homeserver, room_id: str) -> list[dict[str, Any]]:
    """The room's membership events, oldest first."""
    types = quote(json.dumps({"types": ["m.room.member"]}))
    path = f"/_synapse/admin/v1/rooms/{quote(room_id)}/messages?dir=f&limit=1000&filter={types}"
    return list(hs.admin("GET", path)["chunk"])


def _synapse_rows(synapse: Any, sql: str) -> list[tuple[Any, ...]]:
    """Rows of Synapse's own database, SQLite or PostgreSQL, whichever this run uses."""
    if synapse.database_name is None:
        with sqlite3.connect(synapse.base_dir / "homeserver.db") as db:
            return list(db.execute(sql).fetchall())
    import psycopg2
    from psycopg2.extensions import parse_dsn

    assert POSTGRES_DSN is not None
    conn = psycopg2.connect(**{**parse_dsn(POSTGRES_DSN), "dbname": synapse.database_name})
    try:
        with conn.cursor() as cursor:
            cursor.execute(sql)
            return list(cursor.fetchall())
    finally:
        conn.close()
