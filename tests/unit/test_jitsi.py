"""Jitsi widget and token shapes compared with Element's and Prosody's formats."""

from __future__ import annotations

import base64
import re

import jwt
import pytest

from borough.jitsi import (
    MeetingTokenRequest,
    MeetingWidget,
    mint_meeting_token,
    new_widget_id,
    random_conference_id,
    room_conference_id,
    room_id_of_conference,
)

ROOM = "!abcDEF123:northbridge.gov.uk"

#: The URL Element Web writes (reference §1.1), for conference id CONF and auth on.
ELEMENT_URL = (
    "https://app.element.io/jitsi.html?confId=CONF#conferenceDomain=$domain"
    "&conferenceId=$conferenceId&isAudioOnly=$isAudioOnly"
    "&startWithAudioMuted=$startWithAudioMuted&startWithVideoMuted=$startWithVideoMuted"
    "&isVideoChannel=$isVideoChannel&displayName=$matrix_display_name"
    "&avatarUrl=$matrix_avatar_url&userId=$matrix_user_id&roomId=$matrix_room_id"
    "&theme=$theme&roomName=$roomName&supportsScreensharing=true"
    "&language=$org.matrix.msc2873.client_language&auth=openidtoken-jwt"
)


def test_conference_id_is_unpadded_base32_of_the_room_id() -> None:
    conf = room_conference_id(ROOM)
    assert "=" not in conf
    assert conf == base64.b32encode(ROOM.encode()).decode().rstrip("=")
    assert room_id_of_conference(conf) == ROOM
    assert room_id_of_conference(conf.lower()) == ROOM
    assert room_id_of_conference("not base32!") is None
    assert room_id_of_conference(room_conference_id("hello")) is None


def test_random_conference_ids_follow_element_web() -> None:
    conf = random_conference_id()
    assert conf.startswith("Jitsi") and len(conf) == 29 and conf.isalpha()
    assert conf != random_conference_id()


def test_widget_content_matches_elements_format_with_auth() -> None:
    widget = MeetingWidget(
        widget_id="w1",
        conference_id="CONF",
        domain="meet.example.org",
        title="Council meeting",
        room_name="Housing team",
        is_authenticated=True,
    )
    assert widget.content() == {
        "type": "jitsi",
        "url": ELEMENT_URL,
        "name": "Council meeting",
        "data": {
            "conferenceId": "CONF",
            "roomName": "Housing team",
            "isAudioOnly": False,
            "isVideoChannel": False,
            "domain": "meet.example.org",
            "auth": "openidtoken-jwt",
        },
    }


def test_widget_without_auth_has_no_auth_anywhere() -> None:
    widget = MeetingWidget("w1", "JitsiAbc", "meet.example.org", "Call", "Room", True)
    content = widget.content()
    assert "auth" not in content["data"]
    assert "auth=" not in content["url"]
    assert content["data"]["isAudioOnly"] is True
    # Classic Element Android parses this fragment; it must survive unchanged.
    assert "#conferenceDomain=$domain&conferenceId=$conferenceId" in content["url"]


@pytest.mark.parametrize("is_moderator", [True, False])
def test_token_claims_name_one_room_and_expire_soon(is_moderator: bool) -> None:
    request = MeetingTokenRequest(
        user_id="@alice:northbridge.gov.uk",
        display_name="Alice",
        conference_id=room_conference_id(ROOM),
        is_moderator=is_moderator,
        issued_at=1_700_000_000,
        lifetime_seconds=300,
    )
    secret = "s" * 32
    token = mint_meeting_token(request, app_id="borough", app_secret=secret, domain="meet.x")
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience="borough",
        issuer="borough",
        options={"verify_exp": False, "verify_nbf": False, "verify_iat": False},
    )
    assert claims["room"] == room_conference_id(ROOM).lower()
    assert claims["room"] != "*"
    assert claims["sub"] == "meet.x"
    assert claims["exp"] - claims["iat"] == 300
    user = claims["context"]["user"]
    assert all(isinstance(v, str) for v in user.values())
    assert user["id"] == "@alice:northbridge.gov.uk"
    assert user["affiliation"] == ("owner" if is_moderator else "member")
    assert user["moderator"] == ("true" if is_moderator else "false")
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(token, "x" * 32, algorithms=["HS256"], audience="borough")
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, secret, algorithms=["HS256"], audience="borough")


def test_a_commands_widget_id_is_the_same_each_time_and_looks_like_elements() -> None:
    """A command replayed after a crash must find the meeting it made (bots/meet.py)."""
    made = new_widget_id("$command:example.org")
    assert made == new_widget_id("$command:example.org")
    assert made != new_widget_id("$another:example.org")
    assert re.fullmatch(r"borough_[A-Za-z0-9]{24}", made)
    assert new_widget_id() != new_widget_id()
