"""The token service's pure decisions: token shapes, subjects, room state, replies, the cache."""

from __future__ import annotations

import aiohttp
import pytest

from borough.jitsi import room_conference_id
from borough.matrix import HomeserverUnreachable
from borough.openid import OpenIdRejected, check_subject, check_token_shape, resolve_openid
from borough.room_power import RoomPower
from borough.testing.localsynapse import free_port
from widgets.admission import RoomSnapshot, is_room_id, verification_body
from widgets.room_state import PowerCache

ROOM = "!room:x.org"


@pytest.mark.parametrize("token", ["", "a b", "a" * 600, "tök", "abc/def", "abc?x=1"])
def test_tokens_that_cannot_be_openid_tokens_are_refused_unasked(token: str) -> None:
    with pytest.raises(OpenIdRejected) as refused:
        check_token_shape(token)
    assert token not in refused.value.message or token == ""


def test_subjects_must_be_users_of_our_server() -> None:
    assert check_subject("@alice:x.org", "x.org") == "@alice:x.org"
    for sub in ("@alice:evil.org", "alice", "@:x.org", None, 5):
        with pytest.raises(OpenIdRejected):
            check_subject(sub, "x.org")


async def test_an_unreachable_homeserver_is_not_a_refusal() -> None:
    async with aiohttp.ClientSession() as http:
        with pytest.raises(HomeserverUnreachable) as error:
            await resolve_openid(http, f"http://127.0.0.1:{free_port()}", "x.org", "abcdef")
    assert "abcdef" not in str(error.value)


STATE = [
    {"type": "m.room.create", "state_key": "", "sender": "@owner:x.org",
     "content": {"room_version": "12"}},
    {"type": "m.room.power_levels", "state_key": "", "sender": "@owner:x.org",
     "content": {"users": {"@mod:x.org": 50}, "state_default": 50, "users_default": 0}},
    {"type": "m.room.member", "state_key": "@mod:x.org", "content": {"membership": "join",
     "displayname": "Mo"}},
    {"type": "m.room.member", "state_key": "@left:x.org", "content": {"membership": "leave"}},
    {"type": "m.room.member", "state_key": "@owner:x.org", "content": {"membership": "join"}},
    {"type": "im.vector.modular.widgets", "state_key": "old", "sender": "@mod:x.org",
     "content": {}},
    {"type": "im.vector.modular.widgets", "state_key": "w1", "sender": "@mod:x.org",
     "content": {"type": "jitsi", "url": "https://e/jitsi.html", "name": "Stand-up",
                 "data": {"conferenceId": "JitsiAbc"}}},
]  # fmt: skip


def test_room_state_is_read_into_a_snapshot() -> None:
    snapshot = RoomSnapshot.from_state(STATE)
    assert snapshot.joined == {"@mod:x.org": "Mo", "@owner:x.org": "@owner:x.org"}
    assert snapshot.power.creators == frozenset({"@owner:x.org"})
    assert snapshot.power.of("@owner:x.org") == 100
    assert snapshot.is_moderator("@mod:x.org")
    assert [w[0] for w in snapshot.jitsi_widgets] == ["w1"]  # the removed widget is gone
    assert snapshot.conference(False, ROOM) == ("JitsiAbc", "Stand-up")
    assert snapshot.conference(True, ROOM) == (room_conference_id(ROOM), "Stand-up")
    assert RoomSnapshot.from_state([]).conference(False, ROOM) is None


def test_replies_follow_the_user_verification_service() -> None:
    snapshot = RoomSnapshot.from_state(STATE)
    assert verification_body("@mod:x.org", snapshot, is_member=True) == {
        "results": {"user": True, "room_membership": True},
        "user_id": "@mod:x.org",
        "power_levels": {"room": {"state_default": 50, "users_default": 0}, "user": 50},
    }
    assert verification_body("@x:x.org", None, is_member=False) == {
        "results": {"user": True, "room_membership": False},
        "user_id": "@x:x.org",
        "power_levels": None,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [("!abc:x.org", True), ("!AbC-_9", True), ("abc", False), ("!", False),
     ("!a b", False), ("!a/b", False), ("!" + "a" * 300, False)],
)  # fmt: skip
def test_room_ids(value: str, expected: bool) -> None:
    assert is_room_id(value) is expected


async def test_the_power_cache_keeps_a_room_for_its_ttl_only() -> None:
    loads = 0

    async def load() -> RoomPower:
        nonlocal loads
        loads += 1
        return RoomPower({"state_default": loads})

    cache = PowerCache(ttl=60)
    assert (await cache.get(ROOM, load)).levels == {"state_default": 1}
    assert (await cache.get(ROOM, load)).levels == {"state_default": 1}
    assert (await cache.get("!other:x.org", load)).levels == {"state_default": 2}
    expired = PowerCache(ttl=0)
    await expired.get(ROOM, load)
    await expired.get(ROOM, load)
    assert loads == 4
