"""The planner is pure: desired network + live network + flags in, ordered changes out."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from borough import events
from borough.db import PartnershipRow, Profile
from borough.live import LiveNetwork, LiveRoom, LiveUser
from borough.network import (
    REGISTRY_TYPES,
    SERVICE_DISPLAY_NAME,
    DesiredNetwork,
    desired_network,
)
from borough.org import load_org_chart, parse_org_chart
from provisioning.plan import (
    CreateRoom,
    Join,
    Kick,
    NameAccount,
    PlanOptions,
    RoomRef,
    SavePartnership,
    SetState,
    describe_state_change,
    make_plan,
)
from provisioning.render import plan_lines
from tests.conftest import EXAMPLE_ORG

SMALL = Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml"
SERVICE = "@borough:hs"
DESIRED = desired_network(load_org_chart(SMALL), "hs", SERVICE)


def test_from_nothing_the_registry_comes_before_accounts_and_parents_before_children() -> None:
    """Onboarding runs when Synapse makes an account, and reads the registry: so the registry
    names each person before apply makes their account."""
    plan = make_plan(DESIRED, LiveNetwork(), PlanOptions())
    phase_of = {id(c): i for i, phase in enumerate(plan.phases()) for c in phase}
    registered = [c for c in plan.changes if c.group == "registry" and c.action == "+"]
    accounts = [c for c in plan.changes if c.group == "users"]
    assert registered and accounts
    assert max(phase_of[id(c)] for c in registered) < min(phase_of[id(c)] for c in accounts)
    assert {c.target for c in registered} >= {c.target[1:].split(":")[0] for c in accounts}
    created = [c.op.room.key for c in plan.changes if isinstance(c.op, CreateRoom)]
    assert created.index("org/tcouncil") < created.index("unit/tdir") < created.index("unit/tteam")
    assert (
        created.index("unit/tteam")
        < created.index("unit/tsub")
        < created.index("unit/tsub/general")
    )
    sealed = next(
        c.op
        for c in plan.changes
        if isinstance(c.op, CreateRoom) and c.op.room.key == "channel/tsealed"
    )
    state = {t: c for t, _, c in sealed.initial_state}
    assert state["m.room.join_rules"] == {"join_rule": "invite"}
    assert state[events.POLICY]["owner_space"] == RoomRef("unit/tdir")
    assert SERVICE not in sealed.power_levels["users"]
    assert not plan.destructive and not plan.held_back


def test_the_plan_prints_in_a_stable_grouped_order() -> None:
    first = plan_lines(make_plan(DESIRED, LiveNetwork(), PlanOptions()))
    again = plan_lines(
        make_plan(
            desired_network(load_org_chart(SMALL), "hs", SERVICE), LiveNetwork(), PlanOptions()
        )
    )
    assert first == again
    headers = [line.split(" (")[0] for line in first if not line.startswith(" ")][:-1]
    assert headers == [
        "users",
        "spaces",
        "rooms",
        "channels",
        "links",
        "members",
        "registry",
        "units",
        "organisations",
        "partnerships",
        "profiles",
    ]


def test_organisation_names_are_planned_into_the_app_database() -> None:
    """Cards and the welcome message name an organisation, not its key; the bot reads the
    name from the app database, where apply keeps it."""
    saved = [
        c
        for c in make_plan(DESIRED, LiveNetwork(), PlanOptions()).changes
        if c.group == "organisations"
    ]
    assert [(c.target, c.detail) for c in saved] == [
        ("tcouncil", "Test Council"),
        ("tpolice", "Test Police"),
    ]


def test_what_a_partnership_joins_is_planned_into_the_app_database() -> None:
    """The org chart's partnership page shows the organisations and units a partnership
    joins; apply keeps them in the app database, and a second plan leaves them be."""
    (saved,) = [
        c
        for c in make_plan(DESIRED, LiveNetwork(), PlanOptions()).changes
        if c.group == "partnerships"
    ]
    assert (saved.action, saved.target, saved.detail) == ("+", "tpartners", "Test Partnership")
    assert isinstance(saved.op, SavePartnership)
    shape = saved.op.partnership
    assert (shape.organisations, shape.units, shape.people) == (("tpolice",), ("tteam",), ())
    row = PartnershipRow(
        key="tpartners",
        name=shape.name,
        description=shape.description,
        organisations=list(shape.organisations),
        units=list(shape.units),
        people=[],
        leads=[],
    )
    gone = PartnershipRow(
        key="ended", name="Ended", description=None, organisations=[], units=[], people=[], leads=[]
    )
    live = LiveNetwork(partnerships={"tpartners": row, "ended": gone})
    plan = make_plan(DESIRED, live, PlanOptions())
    assert [c for c in plan.changes if c.group == "partnerships"] == []
    assert [(c.target, needs) for c, needs in plan.held_back if c.group == "partnerships"] == [
        ("ended", "--prune")
    ]
    pruned = make_plan(DESIRED, live, PlanOptions(prune=True)).changes
    assert [(c.action, c.target) for c in pruned if c.group == "partnerships"] == [("-", "ended")]


def test_the_service_account_gets_a_name_before_it_creates_any_room() -> None:
    """Element says "borough created this room" with a bare id unless the account that made
    the room has a display name; it is set in the users phase, before any room is made."""
    unnamed = LiveNetwork(users={SERVICE: LiveUser(SERVICE, None, is_deactivated=False)})
    plan = make_plan(DESIRED, unnamed, PlanOptions())
    (naming,) = [c for c in plan.changes if isinstance(c.op, NameAccount)]
    assert naming.op.display_name == SERVICE_DISPLAY_NAME and naming.phase < min(
        c.phase for c in plan.changes if isinstance(c.op, CreateRoom)
    )
    assert naming.op.avatar is not None and naming.op.avatar.path.endswith("network.png")
    assert naming.detail == f"display name 'None' → '{SERVICE_DISPLAY_NAME}'; avatar network.png"
    pictured = LiveUser(SERVICE, SERVICE_DISPLAY_NAME, False, avatar_url=None)
    (picture,) = [
        c
        for c in make_plan(DESIRED, LiveNetwork(users={SERVICE: pictured}), PlanOptions()).changes
        if isinstance(c.op, NameAccount)
    ]
    assert picture.detail == "avatar network.png"
    named = LiveNetwork(
        users={SERVICE: LiveUser(SERVICE, SERVICE_DISPLAY_NAME, False, avatar_url="mxc://hs/a")}
    )
    assert not [
        c for c in make_plan(DESIRED, named, PlanOptions()).changes if isinstance(c.op, NameAccount)
    ]


def test_the_bot_is_in_every_room_where_people_type_and_in_no_space() -> None:
    bot = "@bot:hs"
    rooms = desired_network(load_org_chart(SMALL), "hs", SERVICE, bot).rooms
    with_bot = {key for key, room in rooms.items() if bot in room.members}
    assert "unit/tteam/team" in with_bot and "unit/tsub/general" in with_bot
    assert "channel/tsealed" in with_bot and "partnership/tpartners/general" in with_bot
    assert not [key for key in with_bot if rooms[key].is_space]
    assert "community/welcome" not in with_bot  # an open room: nobody is joined to it
    assert all(dict(rooms[key].power_users)[bot] == events.MODERATOR for key in with_bot)


def _live_room(key: str, members: set[str], users: dict[str, int]) -> LiveRoom:
    room = DESIRED.rooms[key]
    return LiveRoom(
        "!r:hs",
        key,
        {
            (events.MANAGED, ""): room.managed_content(),
            ("m.room.power_levels", ""): {"users": users},
        },
        members=members,
    )


def test_removals_and_demotions_wait_for_prune() -> None:
    # Managed, but in a team below the directorate, and a team room reaches only its own.
    intruder = "@tstaff:hs"
    users = {**dict(DESIRED.rooms["unit/tdir/team"].power_users), intruder: 100}
    members = set(DESIRED.rooms["unit/tdir/team"].members) | {intruder, "@resident:hs"}
    live = LiveNetwork(rooms={"unit/tdir/team": _live_room("unit/tdir/team", members, users)})
    held = make_plan(DESIRED, live, PlanOptions())
    needs = {(c.target, n) for c, n in held.held_back}
    assert (intruder, "--prune") in needs
    assert not any(isinstance(c.op, Kick) for c in held.changes)
    pruned = make_plan(DESIRED, live, PlanOptions(prune=True))
    kicks = [c.op for c in pruned.changes if isinstance(c.op, Kick)]
    assert [k.user_id for k in kicks] == [intruder]  # the unmanaged resident stays
    demotion = next(c.op for c in pruned.changes if c.group == "power" and c.action == "-")
    assert isinstance(demotion, SetState) and intruder not in demotion.content["users"]


def test_removals_that_keep_a_seal_shut_are_not_held_back() -> None:
    """Out of a sealed room, its owner's space or an organisation's space, and out of an
    organisation's admins: in the same apply, no --prune (still counted as destructive)."""
    outsider = "@tcop:hs"  # police: outside the council, its directorate and its seal
    for key in ("channel/tsealed", "unit/tdir", "org/tcouncil"):
        room = DESIRED.rooms[key]
        assert room.guards_seal, key
        users = {**dict(room.power_users), outsider: 100}
        live = LiveNetwork(rooms={key: _live_room(key, set(room.members) | {outsider}, users)})
        plan = make_plan(DESIRED, live, PlanOptions())
        kicks = [c for c in plan.changes if isinstance(c.op, Kick)]
        assert [c.op.user_id for c in kicks] == [outsider], key
        demotion = [c for c in plan.changes if c.group == "power" and c.action == "-"]
        assert demotion and all(c.is_destructive for c in kicks + demotion), key
        assert not plan.held_back, key
    assert not DESIRED.rooms["unit/tdir/team"].guards_seal


def test_only_the_service_account_is_in_the_registry_room() -> None:
    with_bot = desired_network(load_org_chart(SMALL), "hs", SERVICE, bot_user="@bot:hs")
    registry = with_bot.rooms["borough/registry"]
    assert registry.members == frozenset() and not registry.power_users
    assert registry.join_rule == "invite" and not registry.federate


def test_registry_entries_gone_from_the_chart_are_emptied_at_once() -> None:
    registry = DESIRED.rooms["borough/registry"]
    state: dict[tuple[str, str], dict] = {(events.MANAGED, ""): registry.managed_content()}
    for entry in registry.registry:
        state[(entry.event_type, entry.state_key)] = entry.content(lambda key: f"!{key}:hs")
    state[(events.REGISTRY_PERSON, "gone")] = {"organisation": "tcouncil", "space": "!x:hs"}
    state[(events.REGISTRY_EMAIL_DOMAIN, "old.example")] = {"organisation": "t", "space": "!x"}
    rooms = {"borough/registry": LiveRoom("!reg:hs", "borough/registry", state)}
    rooms |= {
        key: LiveRoom(f"!{key}:hs", key, {}) for key in DESIRED.rooms if key.startswith("org/")
    }
    plan = make_plan(DESIRED, LiveNetwork(rooms=rooms), PlanOptions())
    emptied = {c.target: c.op for c in plan.changes if c.group == "registry" and c.action == "-"}
    assert set(emptied) == {"gone", "old.example"}
    assert all(isinstance(op, SetState) and op.content == {} for op in emptied.values())
    assert not plan.held_back


def test_a_change_to_borough_state_prints_the_fields_that_differ() -> None:
    before = {"posters": ["@a:hs", "@b:hs"], "max_length": 500, "sealed": True}
    after = {"posters": ["@a:hs", "@c:hs"], "max_length": 280, "sealed": True}
    line = describe_state_change(events.CHANNEL, before, after)
    assert line == "org.borough.channel: max_length 500 → 280; posters +'@c:hs' -'@b:hs'"
    assert describe_state_change("m.room.name", {"name": "A"}, {"name": "B"}) == (
        "m.room.name: 'A' → 'B'"
    )
    policy = describe_state_change(events.POLICY, None, {"owner_space": RoomRef("unit/x")})
    assert policy == "org.borough.policy: (none) → owner_space (id of unit/x)"
    assert "(set)" not in describe_state_change(events.POLICY, {"v": 1}, {"v": 2})
    allow = [{"type": "m.room_membership", "room_id": "!org:hs"}]
    rule = describe_state_change(
        "m.room.join_rules",
        {"join_rule": "restricted", "allow": []},
        {"join_rule": "restricted", "allow": allow},
    )
    assert rule == "m.room.join_rules: allow +{room_id: '!org:hs', type: 'm.room_membership'}"


def test_leavers_are_deactivated_only_with_the_flag() -> None:
    leaver = Profile(
        user_id="@gone:hs",
        username="gone",
        display_name="Gone",
        is_managed=True,
        left_at=None,
        units=[],
        role="staff",
        fields=[],
    )
    live = LiveNetwork(
        users={"@gone:hs": LiveUser("@gone:hs", "Gone", False)}, profiles={"@gone:hs": leaver}
    )
    assert any(
        n == "--deactivate-leavers" for _, n in make_plan(DESIRED, live, PlanOptions()).held_back
    )
    plan = make_plan(DESIRED, live, PlanOptions(deactivate_leavers=True))
    assert any(c.target == "@gone:hs" and c.detail.endswith("deactivate") for c in plan.changes)


def test_missing_members_are_joined() -> None:
    room = DESIRED.rooms["unit/tteam/general"]
    live = LiveNetwork(rooms={room.key: _live_room(room.key, set(), dict(room.power_users))})
    joins = {
        c.op.user_id
        for c in make_plan(DESIRED, live, PlanOptions()).changes
        if isinstance(c.op, Join) and c.op.room_key == room.key
    }
    assert joins == set(room.members)


def test_a_room_gone_from_the_chart_is_retired_and_unlinked_only_with_prune() -> None:
    parent = _live_room("unit/tdir", set(), {})
    parent.state[(events.SPACE_CHILD, "!old:hs")] = {"via": ["hs"]}
    old = LiveRoom(
        "!old:hs",
        "unit/tdir/old",
        {
            (events.MANAGED, ""): {"key": "unit/tdir/old", "kind": "room"},
            (events.SPACE_PARENT, parent.room_id): {"via": ["hs"]},
        },
    )
    live = LiveNetwork(rooms={"unit/tdir": parent, "unit/tdir/old": old})
    held = make_plan(DESIRED, live, PlanOptions())
    assert {(c.target, c.detail) for c, _ in held.held_back} >= {
        ("unit/tdir/old", "no longer in the org chart: retire"),
        ("unit/tdir", "child unit/tdir/old"),
    }
    pruned = make_plan(DESIRED, live, PlanOptions(prune=True))
    unlink = next(c.op for c in pruned.changes if c.detail == "child unit/tdir/old")
    assert isinstance(unlink, SetState) and unlink.state_key == "!old:hs" and unlink.content == {}


def test_borough_state_is_made_admin_only_again_where_it_was_lowered() -> None:
    room = DESIRED.rooms["unit/tteam/general"]
    full = events.power_levels(dict(room.power_users))
    as_created = _live_room(room.key, set(room.members), dict(room.power_users))
    as_created.state[("m.room.power_levels", "")] = full
    plan = make_plan(DESIRED, LiveNetwork(rooms={room.key: as_created}), PlanOptions())
    assert not [c for c in plan.changes if c.group == "power"]
    # Before this rule, rooms were made without the lock's level; a moderator lowered policy.
    lowered = {**full, "events": {**full["events"], events.POLICY: 50}}  # type: ignore[dict-item]
    del lowered["events"][events.LOCK]  # type: ignore[attr-defined]
    as_created.state[("m.room.power_levels", "")] = lowered
    plan = make_plan(DESIRED, LiveNetwork(rooms={room.key: as_created}), PlanOptions())
    (change,) = [c for c in plan.changes if c.group == "power"]
    assert change.detail == f"admin-only {events.LOCK}, {events.POLICY}"
    assert isinstance(change.op, SetState)
    assert change.op.content["events"][events.LOCK] == events.ADMIN
    assert change.op.content["events"][events.POLICY] == events.ADMIN
    assert change.op.content["users"] == full["users"]


def test_an_erased_person_still_in_the_chart_is_left_out_with_a_warning() -> None:
    erased = "@tstaff:hs"
    assert erased in DESIRED.users
    room = DESIRED.rooms["unit/tteam/general"]
    assert erased in room.members
    live = LiveNetwork(
        users={erased: LiveUser(erased, None, is_deactivated=True, is_erased=True)},
        rooms={room.key: _live_room(room.key, set(), dict(room.power_users))},
    )
    plan = make_plan(DESIRED, live, PlanOptions())
    assert not [c for c in plan.changes if c.target == erased]  # no reactivation, no profile
    assert not [c for c in plan.changes if isinstance(c.op, Join) and c.op.user_id == erased]
    assert plan.warnings == (
        f"{erased} was erased (borough person erase) and is left out: remove them from the "
        "org chart, or give the person a new username",
    )
    # Merely deactivated (a leaver who came back) is still planned for reactivation.
    live.users[erased] = LiveUser(erased, None, is_deactivated=True)
    again = make_plan(DESIRED, live, PlanOptions())
    assert any(c.target == erased and "reactivate" in c.detail for c in again.changes)


def test_a_suspended_persons_joins_are_held_back_until_unsuspended() -> None:
    from provisioning.plan import joining

    room = DESIRED.rooms["unit/tteam/general"]
    live = LiveNetwork(
        rooms={room.key: _live_room(room.key, set(), dict(room.power_users))},
        users={u: LiveUser(u, None, False) for u in room.members},
    )
    assert joining(DESIRED, live) == sorted(room.members)
    assert joining(DESIRED, LiveNetwork()) == []  # accounts still to be made are not asked about
    suspended = "@tstaff:hs"
    plan = make_plan(DESIRED, live, PlanOptions(), suspended={suspended})
    joins = {c.op.user_id for c in plan.changes if isinstance(c.op, Join)} & set(live.users)
    assert suspended not in joins and joins  # the others still join
    held = [(c.op, needs) for c, needs in plan.held_back]
    assert (Join(suspended, room.key, by_themselves=True), "borough moderate unsuspend") in held
    with pytest.raises(dataclasses.FrozenInstanceError):  # a value: nothing changes it later
        plan.changes = ()  # type: ignore[misc]


def test_joins_to_restricted_rooms_are_sent_by_the_people_in_their_spaces() -> None:
    """A room restricted to a space is joined by the person (one event) when the chart puts
    them in the space; invite-only rooms, and anyone the chart does not put in the space,
    get the admin join's invitation."""
    plan = make_plan(DESIRED, LiveNetwork(), PlanOptions())
    joins = [c.op for c in plan.changes if isinstance(c.op, Join)]
    assert joins
    for join in joins:
        room = DESIRED.rooms[join.room_key]
        spaces = [room.parent_key, *room.open_to] if room.join_rule == "restricted" else []
        in_space = any(
            k in DESIRED.rooms
            and DESIRED.rooms[k].manages_members
            and join.user_id in DESIRED.rooms[k].members
            for k in spaces
            if k
        )
        assert join.by_themselves == in_space, join
    assert {j.by_themselves for j in joins} == {True, False}


# --- who a room reaches, and who holds power in it --------------------------------------------

MODULES = Path(__file__).parents[1] / "fixtures" / "org" / "modules.yaml"


def test_a_sub_unit_person_is_planned_into_the_ancestors_general_and_announcements_only() -> None:
    tnew = "@tnew:hs"  # in tsub, below tteam, below tdir
    joined = {
        c.op.room_key
        for c in make_plan(DESIRED, LiveNetwork(), PlanOptions()).changes
        if isinstance(c.op, Join) and c.op.user_id == tnew
    }
    for unit in ("tdir", "tteam"):
        assert {f"unit/{unit}/general", f"unit/{unit}/announcements"} <= joined, unit
        assert f"unit/{unit}/team" not in joined, unit
    # The team room still reaches its unit's own people.
    assert "@tmgr:hs" in DESIRED.rooms["unit/tteam/team"].members


def test_a_template_says_who_its_room_reaches() -> None:
    chart = parse_org_chart(
        SMALL.read_text().replace(
            "units:\n  - key: tdir",
            "room_templates:\n  general: {name: '{name}', reach: direct}\n"
            "  team: {name: '{name} team room', reach: subtree}\nunits:\n  - key: tdir",
        )
    )
    rooms = desired_network(chart, "hs", SERVICE).rooms
    assert "@tnew:hs" not in rooms["unit/tdir/general"].members
    assert "@tnew:hs" in rooms["unit/tdir/team"].members


def test_partnership_leads_moderate_its_rooms_and_channels() -> None:
    rooms = desired_network(load_org_chart(MODULES), "hs", SERVICE).rooms
    for key in ("partnership/tpartners", "partnership/tpartners/general", "channel/tbulletin"):
        assert dict(rooms[key].power_users).get("@tstaff:hs") == events.MODERATOR, key
        assert "@tstaff:hs" in rooms[key].members, key


def test_a_sealed_channels_power_goes_only_to_people_inside_it() -> None:
    rooms = desired_network(load_org_chart(MODULES), "hs", SERVICE).rooms
    # The council's admin is outside the partnership; the police admin and the lead are in it.
    assert dict(rooms["channel/tbulletin"].power_users) == {
        "@tcop:hs": events.ADMIN,
        "@tstaff:hs": events.MODERATOR,
    }
    example = desired_network(load_org_chart(EXAMPLE_ORG), "hs", SERVICE)
    sealed = [r for r in example.rooms.values() if r.policy is not None]
    assert sealed
    for room in sealed:
        assert room.power_users, room.key  # somebody inside can moderate it
        outside = {user for user, _ in room.power_users} - room.members
        assert not outside, f"{room.key}: {sorted(outside)}"
    # Outside a seal, an ancestor's moderators and the organisation's admins keep their power.
    assert dict(example.rooms["unit/smt/general"].power_users).get("@akelly:hs") == events.ADMIN


def test_every_room_is_created_and_kept_without_guest_access() -> None:
    forbidden = {"guest_access": "forbidden"}
    plan = make_plan(DESIRED, LiveNetwork(), PlanOptions())
    for op in (c.op for c in plan.changes if isinstance(c.op, CreateRoom)):
        assert dict((t, c) for t, _, c in op.initial_state)["m.room.guest_access"] == forbidden
    room = DESIRED.rooms["channel/tsealed"]
    live = _live_room(room.key, set(room.members), dict(room.power_users))
    live.state[("m.room.guest_access", "")] = {"guest_access": "can_join"}
    fixes = [
        c.op
        for c in make_plan(DESIRED, LiveNetwork(rooms={room.key: live}), PlanOptions()).changes
        if isinstance(c.op, SetState) and c.op.event_type == "m.room.guest_access"
    ]
    assert [(f.room_key, f.content) for f in fixes] == [(room.key, forbidden)]


def sealed_owners_of(network: DesiredNetwork) -> dict[str, list[str]]:
    """username -> the owner keys their registry entry lists."""
    registry = network.rooms["borough/registry"].registry
    return {
        e.state_key: e.content(str).get(events.REGISTRY_SEALED_OWNERS, [])
        for e in registry
        if e.event_type == events.REGISTRY_PERSON
    }


def test_a_persons_registry_entry_lists_the_sealed_owners_the_chart_puts_them_in() -> None:
    """The sealed-room module lets in only those whose entry lists the owner's space: the
    owner's members as apply joins them (a unit's whole subtree), and nobody else."""
    owners = sealed_owners_of(desired_network(load_org_chart(MODULES), "hs", SERVICE))
    # tnew is in Test Sub-team, two units below Test Directorate and one below Test Team, the
    # partnership's unit; Tess is in Test Directorate itself, above the partnership.
    assert owners["tadmin"] == ["unit/tdir"]
    assert owners["tnew"] == ["partnership/tpartners", "unit/tdir"]
    assert owners["tcop"] == ["partnership/tpartners"]
    assert owners["tparks"] == []  # same council, another unit: outside every seal
    for chart in (MODULES, EXAMPLE_ORG):
        network = desired_network(load_org_chart(chart), "hs", SERVICE, bot_user="@bot:hs")
        listed = sealed_owners_of(network)
        for room in (r for r in network.rooms.values() if r.policy is not None):
            owner = room.policy.owner_key
            by_entry = {network.user_id(u) for u, keys in listed.items() if owner in keys}
            assert by_entry == network.rooms[owner].members, room.key
            assert room.members - {"@bot:hs"} <= by_entry, room.key


def test_a_registry_entry_without_sealed_owners_carries_no_such_field() -> None:
    registry = DESIRED.rooms["borough/registry"].registry
    tcop = next(e for e in registry if e.state_key == "tcop")
    assert tcop.content(str) == {"organisation": "tpolice", "space": "org/tpolice"}


def test_a_change_of_sealed_owners_is_planned_by_the_owners_keys() -> None:
    """A mover's entry changes with their sealed owners, and the plan names the spaces by key;
    once the entry is as wanted, nothing is planned for it."""
    registry = DESIRED.rooms["borough/registry"]
    ids = {key: f"!{key.replace('/', '_')}:hs" for key in DESIRED.rooms}
    state: dict[tuple[str, str], dict] = {(events.MANAGED, ""): registry.managed_content()}
    for entry in registry.registry:
        state[(entry.event_type, entry.state_key)] = entry.content(ids.__getitem__)
    state[(events.REGISTRY_PERSON, "tnew")] = {
        "organisation": "tcouncil",
        "space": ids["org/tcouncil"],
    }
    rooms = {key: LiveRoom(ids[key], key, {}) for key in DESIRED.rooms if key != "borough/registry"}
    rooms["borough/registry"] = LiveRoom(ids["borough/registry"], "borough/registry", state)
    plan = make_plan(DESIRED, LiveNetwork(rooms=rooms), PlanOptions())
    registry_changes = [
        c for c in plan.changes if isinstance(c.op, SetState) and c.op.event_type in REGISTRY_TYPES
    ]
    assert [(c.action, c.target, c.detail) for c in registry_changes] == [
        ("~", "tnew", "org.borough.person: sealed_owners +'unit/tdir'")
    ]
    op = registry_changes[0].op
    assert isinstance(op, SetState)
    assert op.content[events.REGISTRY_SEALED_OWNERS] == [ids["unit/tdir"]]
