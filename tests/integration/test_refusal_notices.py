"""A post a channel refuses is explained in a direct message from Borough, with its text kept.

Element shows a refused send only as "Some of your messages have not been sent · Delete all ·
Retry all" (element-hq/element-web, `src/components/structures/RoomStatusBar.tsx`,
`getUnsentMessageContent`: the error body's words are never drawn, only consent and
resource-limit errcodes get their own title). So these tests read what the person's client
receives: the direct chat Borough opens with them, and the notices in it.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from borough.testing.waiting import wait_until
from synapse_modules.refusal_notice import NOTICES_PER_WINDOW
from tests.conftest import Homeserver, HttpError, borough

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "modules.yaml"
CHANNEL_NAME = "Directorate leadership"


@pytest.fixture(scope="module")
def channel(homeserver: Homeserver, settings_file: Path) -> str:
    result = borough("apply", "-q", str(ORG_FILE), settings=settings_file)
    assert result.exit_code == 0, result.output
    return homeserver.room_id("tsealed")


def send(hs: Homeserver, room_id: str, token: str, body: str) -> HttpError:
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/{secrets.token_hex(8)}"
    try:
        answer = hs.call("PUT", path, token, {"msgtype": "m.text", "body": body})
    except HttpError as exc:
        return exc
    raise AssertionError(f"the post was accepted: {answer}")


def direct_rooms(hs: Homeserver, user: str, token: str) -> list[str]:
    path = f"/_matrix/client/v3/user/{quote(user)}/account_data/m.direct"
    try:
        return list(hs.call("GET", path, token).get(hs.service_user, []))
    except HttpError as exc:
        if exc.status == 404:
            return []
        raise


def notices(hs: Homeserver, room_id: str, token: str) -> list[dict[str, Any]]:
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=f&limit=100"
    chunk = hs.call("GET", path, token)["chunk"]
    return [
        e["content"]
        for e in chunk
        if e["type"] == "m.room.message" and e["sender"] == hs.service_user
    ]


def joined(hs: Homeserver, token: str) -> set[str]:
    return set(hs.call("GET", "/_matrix/client/v3/joined_rooms", token)["joined_rooms"])


def test_the_topic_states_the_channel_rule(homeserver: Homeserver, channel: str) -> None:
    topic = homeserver.state(channel, "m.room.topic")["topic"]
    assert "Only the posters start posts; reply in threads; 500 characters at most." in topic


def test_a_refused_long_post_arrives_as_a_direct_message_with_the_text_kept(
    homeserver: Homeserver, channel: str
) -> None:
    person = homeserver.user_id("tadmin")
    token = homeserver.login_as("tadmin")
    text = "Budget update. " + "The figures follow in full. " * 21
    assert len(text) == 603

    refusal = send(homeserver, channel, token, text)

    reason = f"Posts in {CHANNEL_NAME} are limited to 500 characters; this one has 603."
    assert (refusal.status, refusal.body["errcode"]) == (403, "M_FORBIDDEN")
    assert reason in refusal.body["error"]
    wait_until(lambda: direct_rooms(homeserver, person, token), 20, "Borough's direct chat")
    [room_id] = direct_rooms(homeserver, person, token)
    assert room_id in joined(homeserver, token), "the person is in the chat, not just invited"
    wait_until(lambda: notices(homeserver, room_id, token), 20, "the notice")
    [notice] = notices(homeserver, room_id, token)
    assert notice["msgtype"] == "m.notice"
    assert reason in notice["body"]
    assert text in notice["body"], "the whole refused text is kept"
    assert channel in notice["formatted_body"], "the notice links to the channel"


def test_a_flood_of_refusals_yields_a_bounded_number_of_notices(
    homeserver: Homeserver, channel: str
) -> None:
    person = homeserver.user_id("tstaff")
    token = homeserver.login_as("tstaff")
    flood = [f"Top-level post number {n} <script>alert({n})</script>" for n in range(20)]

    for body in flood:
        refusal = send(homeserver, channel, token, body)
        assert (
            "Only the posters of Directorate leadership can start a post" in refusal.body["error"]
        )

    wait_until(lambda: direct_rooms(homeserver, person, token), 20, "Borough's direct chat")
    [room_id] = direct_rooms(homeserver, person, token)
    wait_until(
        lambda: len(notices(homeserver, room_id, token)) >= NOTICES_PER_WINDOW,
        20,
        f"{NOTICES_PER_WINDOW} notices",
    )
    # Nothing more arrives: a long-poll from the last notice stays empty.
    since = homeserver.call("GET", "/_matrix/client/v3/sync?timeout=0", token)["next_batch"]
    room_filter = json.dumps(
        {"room": {"rooms": [room_id], "timeline": {"types": ["m.room.message"]}}}
    )
    later = homeserver.call(
        "GET",
        f"/_matrix/client/v3/sync?since={since}&timeout=3000&filter={quote(room_filter)}",
        token,
    )
    assert room_id not in later.get("rooms", {}).get("join", {}), later["rooms"]
    sent = notices(homeserver, room_id, token)
    assert len(sent) == NOTICES_PER_WINDOW
    assert flood[0] in sent[0]["body"], "the first refusal is told"
    assert "not repeated here" in sent[-1]["body"]
    assert all("<script>" not in n["formatted_body"] for n in sent)
