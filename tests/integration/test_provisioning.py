"""Apply the example org chart to a real Synapse and look at it as its members would."""

from __future__ import annotations

import asyncio
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from borough import events
from borough.db import DirectoryDirty, DirectoryEntry, LiveSnapshot, create_engine, session_factory
from borough.live import expect_writes
from borough.matrix import MatrixClient
from borough.network import desired_network
from borough.org import OrgIndex, load_org_chart
from tests.conftest import EXAMPLE_ORG, Homeserver, borough

pytestmark = pytest.mark.integration

CHART = load_org_chart(EXAMPLE_ORG)
INDEX = OrgIndex(CHART)
DESIRED = desired_network(CHART, "hs", "@borough:hs")


@pytest.fixture(scope="module")
def applied(homeserver: Homeserver, settings_file: Path) -> str:
    result = borough("apply", "--quiet", str(EXAMPLE_ORG), settings=settings_file)
    assert result.exit_code == 0, result.output
    assert "Applied" in result.output
    return result.output


# First in the module: it looks at what the apply above left behind, before any plan reads.
def test_a_large_apply_leaves_the_next_plan_a_full_read(
    homeserver: Homeserver, applied: str, settings_file: Path, app_database_url: str
) -> None:
    # Reading back the thousand-odd changes of the first apply since the read it started
    # from took Synapse several times longer than reading everything afresh.
    assert asyncio.run(_saved_reads(app_database_url)) == 0
    result = borough("plan", str(EXAMPLE_ORG), settings=settings_file)
    assert result.exit_code == 0, result.output
    assert "No changes." in result.output
    assert asyncio.run(_saved_reads(app_database_url)) == 1
    # A small apply keeps the saved read: the changes since are cheap to read.
    asyncio.run(_expect_writes(homeserver, app_database_url, 3))
    assert asyncio.run(_saved_reads(app_database_url)) == 1


async def _saved_reads(url: str) -> int:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return int(await conn.scalar(select(func.count()).select_from(LiveSnapshot)) or 0)
    finally:
        await engine.dispose()


async def _expect_writes(hs: Homeserver, url: str, changes: int) -> None:
    engine = create_engine(url)
    try:
        async with MatrixClient(hs.synapse.base_url, hs.service_token) as client:
            await expect_writes(client, session_factory(engine), changes)
    finally:
        await engine.dispose()


def _hierarchy(hs: Homeserver, space_id: str, token: str) -> list[dict]:
    rooms, path = [], f"/_matrix/client/v1/rooms/{quote(space_id)}/hierarchy?limit=50"
    while True:
        page = hs.call("GET", path, token)
        rooms += page["rooms"]
        if not page.get("next_batch"):
            return rooms
        path = f"/_matrix/client/v1/rooms/{quote(space_id)}/hierarchy?limit=50&from={page['next_batch']}"


def test_each_organisation_space_holds_its_unit_tree(homeserver: Homeserver, applied: str) -> None:
    for org in CHART.organisations:
        space_id = homeserver.room_id(org.key)
        tree = _hierarchy(homeserver, space_id, homeserver.service_token)
        by_id = {room["room_id"]: room for room in tree}
        edges = {
            (
                by_id[room["room_id"]].get("canonical_alias"),
                by_id[c["state_key"]].get("canonical_alias"),
            )
            for room in tree
            for c in room.get("children_state", [])
            if c["state_key"] in by_id
        }
        expected = set()
        for unit in CHART.units:
            if (unit_org := INDEX.organisation_of(unit)) is None or unit_org.key != org.key:
                continue
            parent = INDEX.parent_of(unit)
            parent_alias = parent.key if parent else org.key
            expected.add(
                (
                    f"#{parent_alias}:{homeserver.server_name}",
                    f"#{unit.key}:{homeserver.server_name}",
                )
            )
            for template in INDEX.unit_rooms(unit):
                rules = INDEX.templates[template].channel
                expected.add(
                    (
                        f"#{unit.key}:{homeserver.server_name}",
                        None  # a sealed room has no address
                        if rules and rules.sealed
                        else f"#{unit.key}-{template}:{homeserver.server_name}",
                    )
                )
        for channel in CHART.channels:
            owner = INDEX.units.get(channel.owner.unit or "")
            if owner is not None and (o := INDEX.organisation_of(owner)) and o.key == org.key:
                expected.add(
                    (
                        f"#{owner.key}:{homeserver.server_name}",
                        None if channel.sealed else f"#{channel.key}:{homeserver.server_name}",
                    )
                )
        # An open channel is listed in the spaces of the organisations it is open to; so is
        # the network-wide Ask room, whose parent is one of them, as each one's own is.
        for room in DESIRED.rooms.values():
            is_child = room.parent_key == f"org/{org.key}" and "ask" in room.meta
            if is_child or f"org/{org.key}" in room.open_to:
                expected.add(
                    (
                        f"#{org.key}:{homeserver.server_name}",
                        f"#{room.alias}:{homeserver.server_name}",
                    )
                )
        assert edges == expected, org.key
        spaces = {r.get("canonical_alias") for r in tree if r.get("room_type") == "m.space"}
        assert f"#{org.key}:{homeserver.server_name}" in spaces


def test_a_member_sees_their_own_units_in_the_hierarchy(
    homeserver: Homeserver, applied: str
) -> None:
    person = next(p for p in CHART.people if any(INDEX.units[u].parent for u in p.units))
    token = homeserver.login_as(person.username)
    unit = INDEX.units[person.units[0]]
    tree = _hierarchy(homeserver, homeserver.room_id(person.organisation), token)
    aliases = {r.get("canonical_alias") for r in tree}
    for ancestor in (unit, *INDEX.ancestors(unit)):
        assert f"#{ancestor.key}:{homeserver.server_name}" in aliases


def test_people_are_joined_to_their_units_rooms(homeserver: Homeserver, applied: str) -> None:
    for person in CHART.people[:15]:
        token = homeserver.login_as(person.username)
        joined = set(
            homeserver.call("GET", "/_matrix/client/v3/joined_rooms", token)["joined_rooms"]
        )
        assert homeserver.room_id(person.organisation) in joined
        for ref in person.units:
            unit = INDEX.units[ref]
            assert homeserver.room_id(unit.key) in joined, (person.username, unit.key)
            for template in INDEX.unit_rooms(unit):
                assert homeserver.room_id(f"{unit.key}-{template}") in joined, (
                    person.username,
                    template,
                )


def test_a_sub_unit_person_joins_the_general_rooms_above_but_not_the_team_rooms(
    homeserver: Homeserver, applied: str
) -> None:
    person = next(p for p in CHART.people if "family-hub" in p.units)
    token = homeserver.login_as(person.username)
    joined = set(homeserver.call("GET", "/_matrix/client/v3/joined_rooms", token)["joined_rooms"])
    # Family Support Hub < Early Help < Children's Services.
    for alias in ("early-help-general", "early-help-announcements", "childrens-general"):
        assert homeserver.room_id(alias) in joined, (person.username, alias)
    assert homeserver.room_id("early-help-team") not in joined, person.username


def test_the_sealed_channel_is_invite_only_unfederated_and_carries_its_policy(
    homeserver: Homeserver, applied: str
) -> None:
    sealed = [c for c in CHART.channels if c.sealed]
    assert sealed
    for channel in sealed:
        room_id = homeserver.room_id(channel.key)
        assert homeserver.state(room_id, "m.room.join_rules")["join_rule"] == "invite"
        assert homeserver.state(room_id, "m.room.create")["m.federate"] is False
        policy = homeserver.state(room_id, events.POLICY)
        owner_key = (
            f"unit/{channel.owner.unit}"
            if channel.owner.unit
            else f"partnership/{channel.owner.partnership}"
        )
        assert policy["owner"] == owner_key
        assert policy["owner_space"] == homeserver.room_id(
            channel.owner.unit or channel.owner.partnership
        )
        rules = homeserver.state(room_id, events.CHANNEL)
        assert rules["sealed"] is True and rules["max_length"] == channel.max_length
        audience = {homeserver.user_id(p.username) for p in INDEX.audience_of(channel)}
        members = set(
            homeserver.admin("GET", f"/_synapse/admin/v1/rooms/{quote(room_id)}/members")["members"]
        )
        assert members - {homeserver.service_user} == audience


def test_internal_rooms_are_restricted_to_their_parent_space(
    homeserver: Homeserver, applied: str
) -> None:
    unit = next(u for u in CHART.units if u.parent)
    room_id = homeserver.room_id(f"{unit.key}-general")
    rules = homeserver.state(room_id, "m.room.join_rules")
    assert rules["join_rule"] == "restricted"
    assert rules["allow"] == [
        {"type": "m.room_membership", "room_id": homeserver.room_id(unit.key)}
    ]


def test_power_levels_follow_roles(homeserver: Homeserver, applied: str) -> None:
    manager = next(p for p in CHART.people if p.role == "manager" and p.units)
    staff = next(p for p in CHART.people if p.role == "staff" and p.units)
    for person, level in ((manager, 50), (staff, None)):
        unit = INDEX.units[person.units[0]]
        users = homeserver.state(homeserver.room_id(f"{unit.key}-general"), "m.room.power_levels")[
            "users"
        ]
        assert users.get(homeserver.user_id(person.username)) == level
    org = CHART.organisations[0]
    users = homeserver.state(homeserver.room_id(org.key), "m.room.power_levels")["users"]
    for admin in org.admins:
        assert users[homeserver.user_id(admin)] == 100
    assert homeserver.service_user not in users  # v12: the creator must not be listed
    plevels = homeserver.state(homeserver.room_id(org.key), "m.room.power_levels")
    assert (
        plevels["events"]["m.room.power_levels"] == 100 and plevels["events"][events.POLICY] == 100
    )


def test_people_have_display_names_and_profile_rows(
    homeserver: Homeserver, applied: str, app_database_url: str
) -> None:
    person = CHART.people[3]
    profile = homeserver.call(
        "GET",
        f"/_matrix/client/v3/profile/{quote(homeserver.user_id(person.username))}",
        homeserver.service_token,
    )
    assert profile["displayname"] == person.display_name
    entries, dirty = asyncio.run(_directory_counts(app_database_url))
    # Apply builds the directory itself: the first `!find` finds everyone without a rebuild.
    assert dirty == 0
    assert entries >= len(CHART.people)


async def _directory_counts(url: str) -> tuple[int, int]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            entries = await conn.scalar(select(func.count()).select_from(DirectoryEntry))
            dirty = await conn.scalar(select(func.count()).select_from(DirectoryDirty))
    finally:
        await engine.dispose()
    return int(entries or 0), int(dirty or 0)


def test_spaces_wear_the_charts_avatars(homeserver: Homeserver, applied: str) -> None:
    for alias, image in (("northbridge", "northbridge"), ("ceo", "ceo"), ("csp", "csp")):
        url = homeserver.state(homeserver.room_id(alias), "m.room.avatar")["url"]
        assert url.startswith(f"mxc://{homeserver.server_name}/"), alias
        media = url.removeprefix("mxc://")
        request = urllib.request.Request(
            f"{homeserver.synapse.base_url}/_matrix/client/v1/media/download/{media}",
            headers={"Authorization": f"Bearer {homeserver.service_token}"},
        )
        with urllib.request.urlopen(request) as response:
            data = response.read()
        assert data == (EXAMPLE_ORG.parent / "avatars" / f"{image}.png").read_bytes(), alias


def test_a_second_apply_changes_nothing(
    homeserver: Homeserver, applied: str, settings_file: Path
) -> None:
    result = borough("apply", str(EXAMPLE_ORG), settings=settings_file)
    assert result.exit_code == 0, result.output
    assert "No changes." in result.output


def test_export_round_trips(
    homeserver: Homeserver, applied: str, settings_file: Path, tmp_path: Path
) -> None:
    exported = tmp_path / "exported.yaml"
    result = borough("export", "-o", str(exported), settings=settings_file)
    assert result.exit_code == 0, result.output
    assert borough("validate", str(exported)).exit_code == 0
    chart = load_org_chart(exported)
    assert {p.username for p in chart.people} == {p.username for p in CHART.people}
    assert {u.key for u in chart.units} == {u.key for u in CHART.units}
    assert {p.key: set(p.leads) for p in chart.partnerships} == {
        p.key: set(p.leads) for p in CHART.partnerships
    }
    plan = borough("plan", str(exported), settings=settings_file)
    assert plan.exit_code == 0, plan.output
    assert "No changes." in plan.output, plan.output
