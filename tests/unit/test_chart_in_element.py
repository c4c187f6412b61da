"""What the chart's rooms look like to a person in Element: names that do not repeat their
space, why a room is not encrypted, who finds an open channel, and the spaces' avatars."""

from __future__ import annotations

from pathlib import Path

import pytest

from borough import events
from borough.live import LiveNetwork, LiveRoom
from borough.network import (
    UNENCRYPTED_INDEXED,
    UNENCRYPTED_PUBLIC,
    DesiredNetwork,
    channel_rule_line,
    chart_topic,
    desired_network,
)
from borough.org import OrgChartError, load_org_chart, parse_org_chart
from provisioning.export import export_org_chart
from provisioning.plan import (
    AvatarFile,
    CreateRoom,
    Join,
    PlanOptions,
    RoomRef,
    SetAlias,
    SetState,
    make_plan,
)
from provisioning.render import plan_lines
from provisioning.space_avatars import SpaceAvatars
from tests.conftest import EXAMPLE_ORG

FIXTURES = Path(__file__).parents[1] / "fixtures" / "org"
SERVICE = "@borough:hs"
MODULES = desired_network(load_org_chart(FIXTURES / "modules.yaml"), "hs", SERVICE)
EXAMPLE = desired_network(load_org_chart(EXAMPLE_ORG), "hs", SERVICE)


def live_as_desired(network: DesiredNetwork, *keys: str) -> LiveNetwork:
    """These rooms and the spaces above them live as the plan would leave them, each with
    room id `!KEY:hs`: the state, addresses and members of a network applied before."""
    live = LiveNetwork()
    wanted = set(keys)
    for key in keys:
        parent = network.rooms[key].parent_key
        while parent is not None:
            wanted.add(parent)
            parent = network.rooms[parent].parent_key
    for key in wanted:
        live.rooms[key] = LiveRoom(f"!{key}:hs", key, {})

    def resolved(value: object) -> object:
        return f"!{value.key}:hs" if isinstance(value, RoomRef) else value

    for _ in range(2):  # the second pass sees the parents the first one linked
        for change in make_plan(network, live, PlanOptions()).changes:
            op = change.op
            if isinstance(op, SetState) and op.room_key in live.rooms:
                content = op.content
                if isinstance(content, dict) and "allow" in content:
                    allow = [{**r, "room_id": resolved(r["room_id"])} for r in content["allow"]]
                    content = {**content, "allow": allow}
                state = live.rooms[op.room_key].state
                state[(op.event_type, str(resolved(op.state_key)))] = content
            elif isinstance(op, SetAlias) and op.room_key in live.rooms:
                live.rooms[op.room_key].state[("m.room.canonical_alias", "")] = {"alias": op.alias}
            elif isinstance(op, Join) and op.room_key in live.rooms:
                live.rooms[op.room_key].members.add(op.user_id)
    return live


def changes_to(
    network: DesiredNetwork, live: LiveNetwork, key: str, prune: bool = False
) -> list[str]:
    plan = make_plan(network, live, PlanOptions(prune=prune))
    return [f"{c.action} {c.detail}" for c in plan.changes if c.target == key]


# --- item 5: a unit's general room is not named like its space -----------------------------


def test_a_units_general_room_is_named_apart_from_its_space() -> None:
    comms = EXAMPLE.rooms["unit/comms"]
    assert comms.name == "Communications"
    assert EXAMPLE.rooms["unit/comms/general"].name == "Communications · General"
    for key, room in EXAMPLE.rooms.items():
        if room.parent_key and not room.is_space:
            assert room.name != EXAMPLE.rooms[room.parent_key].name, key


def test_the_next_plan_renames_a_general_room_named_like_its_space() -> None:
    live = live_as_desired(MODULES, "unit/tteam/general")
    live.rooms["unit/tteam/general"].state[("m.room.name", "")] = {"name": "Test Team"}
    assert changes_to(MODULES, live, "unit/tteam/general") == [
        "~ m.room.name: 'Test Team' → 'Test Team · General'"
    ]


# --- item 9: why a room is not end-to-end encrypted ------------------------------------------


def test_rooms_unencrypted_by_design_say_why_on_the_last_line_of_their_topic() -> None:
    rooms = EXAMPLE.rooms
    it_status = rooms["channel/it-status"].topic or ""
    assert it_status.splitlines() == [
        "Outages and planned maintenance. Report problems to the service desk, not here.",
        channel_rule_line(280),
        UNENCRYPTED_INDEXED,
    ]
    for key in ("unit/comms/announcements", "unit/comms/public-blog", "unit/early-help/blog"):
        assert (rooms[key].topic or "").endswith(f"\n{UNENCRYPTED_INDEXED}"), key
    for key in ("community", "community/welcome"):
        assert (rooms[key].topic or "").endswith(f"\n{UNENCRYPTED_PUBLIC}"), key
    # Rooms that are not unencrypted by design keep the topic the chart gives them.
    assert rooms["unit/comms/general"].topic == "Everything about Communications"
    assert rooms["unit/comms/team"].topic == "Day-to-day and the standing meeting"
    # A channel without a topic still says it.
    assert (
        MODULES.rooms["channel/tsealed"].topic == f"{channel_rule_line(500)}\n{UNENCRYPTED_INDEXED}"
    )


def test_the_next_plan_adds_the_note_and_export_gives_the_charts_topic_back() -> None:
    key = "channel/tsealed"
    live = live_as_desired(MODULES, key)
    assert changes_to(MODULES, live, key) == []
    del live.rooms[key].state[("m.room.topic", "")]
    ruled = f"{channel_rule_line(500)}\n{UNENCRYPTED_INDEXED}"
    assert changes_to(MODULES, live, key) == [f"~ m.room.topic: (none) → {ruled!r}"]
    assert chart_topic(EXAMPLE.rooms["channel/it-status"].topic, 280) == (
        "Outages and planned maintenance. Report problems to the service desk, not here."
    )
    assert chart_topic(UNENCRYPTED_INDEXED) is None
    whole = live_as_desired(EXAMPLE, *EXAMPLE.rooms)
    exported = export_org_chart(whole, "hs", SERVICE)
    topics = {c["key"]: c.get("topic") for c in exported["channels"]}
    assert topics["it-status"] == (
        "Outages and planned maintenance. Report problems to the service desk, not here."
    )
    assert exported["community"]["topic"] == (
        "Residents, community groups and everyone else. Say hello!"
    )


# --- item 6: an open channel's audience --------------------------------------------------------


def allowed(join_rules: dict) -> list[object]:
    return [rule["room_id"] for rule in join_rules.get("allow", [])]


def test_an_unsealed_channel_is_open_to_its_owners_organisation_and_listed_there() -> None:
    it_status = EXAMPLE.rooms["channel/it-status"]
    assert it_status.parent_key == "unit/digital"
    assert it_status.open_to == ("org/northbridge",)
    plan = make_plan(EXAMPLE, LiveNetwork(), PlanOptions())
    created = next(
        c.op
        for c in plan.changes
        if isinstance(c.op, CreateRoom) and c.op.room.key == it_status.key
    )
    join_rules = {t: c for t, _, c in created.initial_state}["m.room.join_rules"]
    assert join_rules["join_rule"] == "restricted"
    assert allowed(join_rules) == [RoomRef("unit/digital"), RoomRef("org/northbridge")]
    listings = {c.target for c in plan.changes if c.detail == f"child {it_status.key}"}
    assert listings == {"unit/digital", "org/northbridge"}
    # Its members are still the owner's: the rest of the organisation joins by choice.
    assert "@akelly:hs" in it_status.members and "@lnguyen:hs" not in it_status.members


def test_a_partnerships_open_channel_reaches_every_one_of_its_organisations() -> None:
    csp = EXAMPLE.rooms["channel/csp-alerts"]
    assert csp.join_rule == "restricted"
    assert set(csp.open_to) == {
        "org/northbridge",
        "org/met-police",
        "org/citizens-advice",
        "org/elmfield-tra",
    }


def test_a_channels_rules_record_the_organisations_of_its_readers() -> None:
    """`!repost` compares these (borough.reposts): an open channel's are those it is open to,
    a sealed one's its members' own."""

    def organisations(key: str) -> list[str]:
        rules = EXAMPLE.rooms[key].channel
        assert rules is not None, key
        return sorted(rules.content()["organisations"])

    assert organisations("channel/it-status") == ["northbridge"]
    assert organisations("channel/csp-alerts") == [
        "citizens-advice",
        "elmfield-tra",
        "met-police",
        "northbridge",
    ]
    assert organisations("channel/smt-updates") == ["northbridge"]
    assert organisations("unit/digital/announcements") == ["northbridge"]


def test_a_public_channel_is_joinable_by_anyone_and_listed_in_the_community_too() -> None:
    news = EXAMPLE.rooms["channel/council-news"]
    assert news.join_rule == "public"
    assert news.open_to == ("org/northbridge", "community")


def test_a_sealed_channel_is_open_to_nobody_and_listed_only_by_its_owner() -> None:
    for key in ("channel/smt-updates", "channel/safeguarding-bulletin"):
        assert EXAMPLE.rooms[key].open_to == (), key
        assert EXAMPLE.rooms[key].join_rule == "invite", key
    # Template channels stay inside their unit's space.
    announcements = EXAMPLE.rooms["unit/digital/announcements"]
    assert announcements.open_to == () and announcements.join_rule == "restricted"


def test_an_existing_channel_is_opened_and_listed_and_a_sealed_one_unlisted() -> None:
    key, org = "channel/it-status", "org/northbridge"
    live = live_as_desired(EXAMPLE, key, org, "unit/digital")
    assert changes_to(EXAMPLE, live, key) == []
    # As a network applied before open channels: restricted to its unit, listed there only.
    live.rooms[key].state[("m.room.join_rules", "")] = {
        "join_rule": "restricted",
        "allow": [{"type": "m.room_membership", "room_id": "!unit/digital:hs"}],
    }
    del live.rooms[org].state[(events.SPACE_CHILD, f"!{key}:hs")]
    assert any(line.startswith("~ m.room.join_rules") for line in changes_to(EXAMPLE, live, key))
    assert [line for line in changes_to(EXAMPLE, live, org) if key in line] == [f"+ child {key}"]
    # Once sealed, the organisation's space lists it no more, at once: a listing left behind
    # would name a sealed channel to outsiders, so this removal does not wait for --prune.
    text = EXAMPLE_ORG.read_text(encoding="utf-8")
    sealed = desired_network(
        parse_org_chart(
            text.replace("owner: {unit: digital}", "sealed: true\n    owner: {unit: digital}")
        ),
        "hs",
        SERVICE,
    )
    assert sealed.rooms[key].open_to == ()
    live = live_as_desired(EXAMPLE, key, org, "unit/digital")
    assert f"- child {key}" in changes_to(sealed, live, org)


# --- item 4: the spaces' avatars ---------------------------------------------------------------


def test_organisations_units_and_partnerships_give_their_spaces_an_avatar() -> None:
    assert EXAMPLE.rooms["org/northbridge"].avatar == "avatars/northbridge.png"
    assert EXAMPLE.rooms["unit/ceo"].avatar == "avatars/ceo.png"
    assert EXAMPLE.rooms["partnership/csp"].avatar == "avatars/csp.png"
    assert EXAMPLE.rooms["unit/comms"].avatar is None
    for room in EXAMPLE.rooms.values():
        if room.avatar is not None:
            assert (EXAMPLE_ORG.parent / room.avatar).is_file(), room.avatar


def with_council_avatar(avatar: str) -> str:
    return (
        (FIXTURES / "modules.yaml")
        .read_text(encoding="utf-8")
        .replace("    admins: [tadmin]\n", f"    admins: [tadmin]\n    avatar: {avatar}\n", 1)
    )


def test_an_avatar_that_cannot_be_read_is_reported_at_its_place(tmp_path: Path) -> None:
    org = tmp_path / "org.yaml"
    org.write_text(with_council_avatar("images/council.png"), encoding="utf-8")
    assert load_org_chart(org).organisations[0].avatar == "images/council.png"  # not read
    with pytest.raises(OrgChartError) as missing:
        load_org_chart(org, images=True)
    line = next(i for i, t in enumerate(org.read_text().splitlines(), 1) if "avatar:" in t)
    assert f"{org}:{line}:5 organisations[0].avatar: cannot read " in missing.value.render()
    assert "No such file or directory" in missing.value.render()
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "council.png").write_bytes(b"\x89PNG")
    assert load_org_chart(org, images=True).organisations[0].avatar == "images/council.png"
    org.write_text(with_council_avatar("council.svg"), encoding="utf-8")
    with pytest.raises(OrgChartError) as not_an_image:
        load_org_chart(org, images=True)
    assert (
        f"{org}:{line}:5 organisations[0].avatar: 'council.svg' is not allowed here: give an image file"
        in not_an_image.value.render()
    )


def test_a_space_avatar_is_uploaded_once_and_set_back_when_changed_by_hand() -> None:
    network = desired_network(parse_org_chart(with_council_avatar("council.png")), "hs", SERVICE)
    image = AvatarFile("/charts/council.png", "c0ffee", "image/png")
    files = {"org/tcouncil": image}
    # A new space: apply uploads the file, then sets it.
    fresh = SpaceAvatars(files, {}, LiveNetwork())
    lines = plan_lines(make_plan(network, LiveNetwork(), PlanOptions(), spaces=fresh))
    assert "  + org/tcouncil  avatar council.png" in lines
    [change] = fresh.changes(network)
    assert isinstance(change.op, SetState) and change.op.content == image
    # Uploaded before and worn: nothing to do.
    live = live_as_desired(network, "org/tcouncil")
    live.rooms["org/tcouncil"].state[("m.room.avatar", "")] = {"url": "mxc://hs/council"}
    worn = SpaceAvatars(files, {"c0ffee": "mxc://hs/council"}, live)
    assert worn.changes(network) == []
    # Changed by hand in Element: set back to the chart's image, without a new upload.
    live.rooms["org/tcouncil"].state[("m.room.avatar", "")] = {"url": "mxc://hs/other"}
    [back] = worn.changes(network)
    assert (back.action, back.detail) == ("~", "avatar council.png")
    assert isinstance(back.op, SetState) and back.op.content == {"url": "mxc://hs/council"}
