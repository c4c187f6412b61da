"""Jitsi meetings in Matrix rooms, as plain data: Element's widget and meeting tokens.

Element draws a `jitsi` widget with its own wrapper from the widget's `data`; classic mobile
clients read the fragment of the widget URL, so the URL keeps Element's template. With
`openidtoken-jwt` the conference id is the room id in unpadded base32, which is how Prosody
ties a Matrix room to a conference. Borough's own HS256 tokens (links for Element X and for
the meeting page) name one conference only and expire quickly.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import string
from dataclasses import dataclass
from typing import Any, Literal

import jwt

OPENID_AUTH = "openidtoken-jwt"

#: Element's own fragment (WidgetUtils.addJitsiWidget); clients fill in the `$` variables.
URL_FRAGMENT = (
    "conferenceDomain=$domain&conferenceId=$conferenceId&isAudioOnly=$isAudioOnly"
    "&startWithAudioMuted=$startWithAudioMuted&startWithVideoMuted=$startWithVideoMuted"
    "&isVideoChannel=$isVideoChannel&displayName=$matrix_display_name"
    "&avatarUrl=$matrix_avatar_url&userId=$matrix_user_id&roomId=$matrix_room_id"
    "&theme=$theme&roomName=$roomName&supportsScreensharing=true"
    "&language=$org.matrix.msc2873.client_language"
)


def room_conference_id(room_id: str) -> str:
    """The conference id Element and Prosody derive from a room id under openidtoken-jwt."""
    return base64.b32encode(room_id.encode("utf-8")).decode("ascii").rstrip("=")


def room_id_of_conference(conference_id: str) -> str | None:
    """The room id a base32 conference id stands for, or None if it is not one."""
    padded = conference_id.upper() + "=" * (-len(conference_id) % 8)
    try:
        room_id = base64.b32decode(padded).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    return room_id if room_id.startswith("!") else None


def random_conference_id() -> str:
    """Element Web's id for conferences without auth: 'Jitsi' and 24 random letters."""
    return "Jitsi" + "".join(secrets.choice(string.ascii_letters) for _ in range(24))


def new_widget_id(command_id: str | None = None) -> str:
    """A widget id; Element wants them globally unique (it uses 24 random characters).

    Given the event id of the command that makes the meeting, the id is drawn from it, so
    the command replayed after a crash finds the meeting it made the first time."""
    alphabet = string.ascii_letters + string.digits
    if command_id is None:
        return "borough_" + "".join(secrets.choice(alphabet) for _ in range(24))
    digest = hashlib.sha256(command_id.encode()).digest()
    return "borough_" + "".join(alphabet[byte % len(alphabet)] for byte in digest[:24])


@dataclass(frozen=True)
class MeetingWidget:
    """One Jitsi widget in one room, as Element writes it."""

    widget_id: str
    conference_id: str
    domain: str
    title: str
    room_name: str
    is_audio_only: bool = False
    is_authenticated: bool = False
    wrapper_url: str = "https://app.element.io/jitsi.html"

    @property
    def url(self) -> str:
        fragment = URL_FRAGMENT + (f"&auth={OPENID_AUTH}" if self.is_authenticated else "")
        return f"{self.wrapper_url}?confId={self.conference_id}#{fragment}"

    def content(self) -> dict[str, Any]:
        """The `im.vector.modular.widgets` content; its state key is `widget_id`."""
        data: dict[str, Any] = {
            "conferenceId": self.conference_id,
            "roomName": self.room_name,
            "isAudioOnly": self.is_audio_only,
            "isVideoChannel": False,
            "domain": self.domain,
        }
        if self.is_authenticated:
            data["auth"] = OPENID_AUTH
        return {"type": "jitsi", "url": self.url, "name": self.title, "data": data}

    def meeting_url(self) -> str:
        """The conference on the Jitsi server itself, for a browser (no token)."""
        return f"https://{self.domain}/{self.conference_id}"


def is_jitsi_widget(content: dict[str, Any]) -> bool:
    """Whether a widget state content is a live Jitsi widget (empty content means removed)."""
    return content.get("type") in ("jitsi", "m.jitsi") and bool(content.get("url"))


# --- HS256 meeting tokens -------------------------------------------------------------------


@dataclass(frozen=True)
class MeetingTokenRequest:
    """Who gets a token for which conference, and for how long."""

    user_id: str
    display_name: str
    conference_id: str
    is_moderator: bool
    issued_at: int
    lifetime_seconds: int
    avatar_url: str = ""


def meeting_token_claims(request: MeetingTokenRequest, app_id: str, domain: str) -> dict[str, Any]:
    """Claims Prosody's token auth checks: issuer, audience, one room, a short lifetime.

    `affiliation` is read by jitsi-contrib's token_affiliation, `moderator` by JaaS-style
    setups; every `context.user` value is a string, as Prosody requires.
    """
    affiliation: Literal["owner", "member"] = "owner" if request.is_moderator else "member"
    return {
        "iss": app_id,
        "aud": app_id,
        "sub": domain,
        "room": request.conference_id.lower(),
        "iat": request.issued_at,
        "nbf": request.issued_at - 10,
        "exp": request.issued_at + request.lifetime_seconds,
        "context": {
            "user": {
                "id": request.user_id,
                "name": request.display_name,
                "email": "",
                "avatar": request.avatar_url,
                "affiliation": affiliation,
                "moderator": "true" if request.is_moderator else "false",
            },
            "features": {"recording": "false", "livestreaming": "false"},
        },
    }


def mint_meeting_token(
    request: MeetingTokenRequest, *, app_id: str, app_secret: str, domain: str
) -> str:
    """An HS256 JWT for one conference."""
    claims = meeting_token_claims(request, app_id, domain)
    return jwt.encode(claims, app_secret, algorithm="HS256")


def token_meeting_url(domain: str, conference_id: str, token: str) -> str:
    return f"https://{domain}/{conference_id}?jwt={token}"


# --- standing meetings (org YAML `standing_meeting: true`) ----------------------------------

#: One standing meeting per room, so its widget id is fixed: `apply` finds and keeps it.
STANDING_WIDGET_ID = "borough_standing_meeting"


def standing_conference_id(room_id: str, is_authenticated: bool) -> str:
    """The room's base32 id under openidtoken-jwt; otherwise a stable name derived from it, so
    that a second apply computes the same widget."""
    if is_authenticated:
        return room_conference_id(room_id)
    digest = hashlib.sha256(room_id.encode("utf-8")).digest()
    return "Borough" + "".join(string.ascii_letters[b % 52] for b in digest[:24])


def standing_meeting_widget(
    room_id: str, room_name: str, domain: str, is_authenticated: bool, wrapper_url: str
) -> MeetingWidget:
    return MeetingWidget(
        widget_id=STANDING_WIDGET_ID,
        conference_id=standing_conference_id(room_id, is_authenticated),
        domain=domain,
        title=f"{room_name} standing meeting",
        room_name=room_name,
        is_authenticated=is_authenticated,
        wrapper_url=wrapper_url,
    )
