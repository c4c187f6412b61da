"""The Synapse modules' decisions, called with plain data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from synapse_modules import homeserver_modules
from synapse_modules.config import ModuleConfigError, parse_module_config
from synapse_modules.placement import email_domains, place
from synapse_modules.policy import (
    AddressMaker,
    ChannelPolicy,
    Entrant,
    SealedRoomPolicy,
    judge_post,
    may_add_address,
    may_change_seal,
    may_enter,
    opens_room,
)

POLICY = SealedRoomPolicy.from_content(
    {
        "version": 1,
        "room_name": "SMT updates",
        "owner_name": "the SMT",
        "owner_space": "!smt:hs",
        "organisations": ["council"],
        "organisation_spaces": ["!council:hs"],
    }
)
assert POLICY is not None
CHANNEL = ChannelPolicy("News", frozenset({"@poster:hs"}), 20)


def entrant(**kw: object) -> Entrant:
    base = dict(
        user_id="@a:hs",
        is_local=True,
        is_service=False,
        is_in_organisation=True,
        is_in_owner_space=True,
        is_owner_member_by_chart=True,
    )
    return Entrant(**{**base, **kw})  # type: ignore[arg-type]


def test_members_of_the_owner_get_in_and_nobody_else() -> None:
    assert may_enter(POLICY, entrant()) is None
    assert (
        may_enter(
            POLICY,
            entrant(
                is_service=True,
                is_in_owner_space=False,
                is_in_organisation=False,
                is_owner_member_by_chart=False,
            ),
        )
        is None
    )
    for outsider in (
        entrant(is_in_owner_space=False),
        entrant(is_in_organisation=False),
        entrant(is_local=False),
        # Joined to the owner's space by themselves (a unit's space is restricted to the
        # space above), or by a server admin: the chart does not put them in the owner.
        entrant(is_owner_member_by_chart=False),
        # In the chart's owner but not joined to its space (apply has not joined them yet).
        entrant(is_in_owner_space=False, is_owner_member_by_chart=True),
    ):
        refusal = may_enter(POLICY, outsider)
        assert refusal is not None
        assert (
            refusal.message == "SMT updates is a sealed channel; only members of the SMT can join."
        )


def test_a_policy_names_its_organisations_spaces() -> None:
    assert POLICY.organisation_spaces == ("!council:hs",)
    older = SealedRoomPolicy.from_content({"version": 1, "owner_space": "!smt:hs"})
    assert older is not None and older.organisation_spaces is None


def test_unsealed_rooms_have_no_policy() -> None:
    assert SealedRoomPolicy.from_content(None) is None
    assert SealedRoomPolicy.from_content({}) is None  # a cleared policy event


def test_the_seal_is_changed_only_by_the_privileged() -> None:
    assert may_change_seal(POLICY, "m.room.join_rules", True, None, {"join_rule": "public"}) is None
    refusal = may_change_seal(POLICY, "m.room.join_rules", False, None, {"join_rule": "public"})
    assert refusal is not None and "join rule" in refusal.message
    assert may_change_seal(POLICY, "m.room.topic", False, None, {"topic": "x"}) is None


def test_guests_are_never_let_into_a_sealed_room_not_even_by_borough() -> None:
    for privileged in (False, True):
        refusal = may_change_seal(
            POLICY, "m.room.guest_access", privileged, None, {"guest_access": "can_join"}
        )
        assert refusal is not None
        assert refusal.message == "SMT updates is a sealed channel; guests can never join it."
    shut = {"guest_access": "forbidden"}
    assert may_change_seal(POLICY, "m.room.guest_access", False, None, shut) is None


def test_only_the_privileged_give_a_sealed_room_a_new_address() -> None:
    old = {"alias": "#smt:hs"}
    added = {"alias": "#smt:hs", "alt_aliases": ["#x:hs"]}
    refusal = may_change_seal(POLICY, "m.room.canonical_alias", False, old, added)
    assert refusal is not None and "only Borough and organisation admins" in refusal.message
    assert may_change_seal(POLICY, "m.room.canonical_alias", False, None, {"alias": "#x:hs"})
    assert may_change_seal(POLICY, "m.room.canonical_alias", True, old, added) is None
    # Dropping or keeping addresses opens nothing.
    assert may_change_seal(POLICY, "m.room.canonical_alias", False, added, old) is None
    assert may_change_seal(POLICY, "m.room.canonical_alias", False, added, added) is None


def test_someone_in_a_sealed_room_publishes_no_new_address() -> None:
    assert may_add_address(AddressMaker(is_borough=False, is_new_room=False, seals=())) is None
    assert (
        may_add_address(AddressMaker(is_borough=True, is_new_room=False, seals=(POLICY,))) is None
    )
    # The address a room is created with comes with a new room, which no seal covers yet.
    assert (
        may_add_address(AddressMaker(is_borough=False, is_new_room=True, seals=(POLICY,))) is None
    )
    refusal = may_add_address(AddressMaker(is_borough=False, is_new_room=False, seals=(POLICY,)))
    assert refusal is not None
    assert refusal.message.startswith("You are in SMT updates, a sealed channel,")
    assert "ask a Borough admin" in refusal.message


def test_power_levels_that_open_the_room() -> None:
    old = {"invite": 50, "state_default": 50, "events": {"m.room.join_rules": 100}}
    assert opens_room(old, {**old, "invite": 0})
    assert opens_room(old, {**old, "events": {"m.room.join_rules": 50}})
    assert not opens_room(old, {**old, "users": {"@x:hs": 50}})
    assert (
        may_change_seal(POLICY, "m.room.power_levels", False, old, {**old, "users": {"@x:hs": 50}})
        is None
    )


def test_posters_post_and_readers_reply_in_threads_and_react() -> None:
    text = {"msgtype": "m.text", "body": "hello"}
    assert judge_post(CHANNEL, "@poster:hs", False, "m.room.message", text) is None
    refusal = judge_post(CHANNEL, "@reader:hs", False, "m.room.message", text)
    assert refusal is not None and "reply in a thread" in refusal.message
    thread = {**text, "m.relates_to": {"rel_type": "m.thread", "event_id": "$p"}}
    assert judge_post(CHANNEL, "@reader:hs", False, "m.room.message", thread) is None
    reaction = {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$p", "key": "👍"}}
    assert judge_post(CHANNEL, "@reader:hs", False, "m.reaction", reaction) is None
    assert judge_post(CHANNEL, "@borough:hs", True, "m.room.message", text) is None


def test_the_length_limit_covers_posts_replies_and_edits() -> None:
    long = {"msgtype": "m.text", "body": "x" * 21}
    refusal = judge_post(CHANNEL, "@poster:hs", False, "m.room.message", long)
    assert refusal is not None
    assert refusal.message == "Posts in News are limited to 20 characters; this one has 21."
    edit = {
        "body": "* ok",
        "m.new_content": {"body": "y" * 30},
        "m.relates_to": {"rel_type": "m.replace", "event_id": "$p"},
    }
    assert judge_post(CHANNEL, "@poster:hs", False, "m.room.message", edit) is not None
    assert judge_post(CHANNEL, "@poster:hs", False, "m.room.message", {"body": "x" * 20}) is None
    # Borough's own accounts (a town hall's list and summary) are held to their own bounds.
    assert judge_post(CHANNEL, "@boroughbot:hs", True, "m.room.message", long) is None
    assert judge_post(CHANNEL, "@boroughbot:hs", True, "m.room.message", edit) is None


def test_placement_by_people_list_email_domain_or_community() -> None:
    """Placement reads only the registry's entries, never a chart."""
    person = {"organisation": "tcouncil", "space": "!council:hs"}
    listed = place(person, {}, "hs")
    assert listed.reason == "people list" and listed.organisation == "tcouncil"
    assert [r.room for r in listed.rooms] == ["!council:hs"]
    by_domain = place(None, {"test.gov.uk": person}, "hs")
    assert by_domain.reason == "email domain" and [r.room for r in by_domain.rooms] == [
        "!council:hs"
    ]
    nobody = place(None, {}, "hs")
    assert nobody.reason == "community" and all(r.is_public for r in nobody.rooms)
    assert [r.room for r in nobody.rooms] == ["#community:hs", "#community-welcome:hs"]


def test_email_domains_are_distinct_and_lower_case() -> None:
    emails = ["a@Test.Gov.UK", "b@test.gov.uk", "not-an-email", "c@nhs.net"]
    assert email_domains(emails) == ["test.gov.uk", "nhs.net"]


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"service_account": "borough", "colour": 1}, "unknown key 'colour'"),
        ({"service_account": "@borough:hs"}, "must be the localpart"),
        ({"trusted_accounts": "boroughbot"}, "must be a list of localparts"),
        ("just a string", "expected a mapping"),
    ],
)
def test_bad_module_configs(raw: object, message: str) -> None:
    with pytest.raises(ModuleConfigError, match=message):
        parse_module_config(raw)


def test_an_old_org_file_setting_is_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Synapse must not need the org file to decide: an upgraded homeserver.yaml that still
    names one starts, and the log says the path is no longer read."""
    config = parse_module_config({"org_file": "/nope.yaml", "service_account": "borough"})
    assert config.service_localpart == "borough"
    assert "no longer read the org file" in caplog.text


def test_the_example_modules_snippet_matches_what_borough_generates() -> None:
    snippet = yaml.safe_load(
        (Path(__file__).parents[2] / "config" / "homeserver-modules.example.yaml").read_text()
    )
    generated = homeserver_modules()
    assert [m["module"] for m in snippet["modules"]] == [m["module"] for m in generated]
    assert [m["config"] for m in snippet["modules"]] == [m["config"] for m in generated]
