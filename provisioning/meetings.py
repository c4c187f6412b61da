"""Standing meetings: rooms whose template says `standing_meeting: true` carry a Jitsi widget.

The widget is desired state like the room's name: `apply` writes it, a second `plan` finds it
in place. Its conference id comes from the room id (Prosody's openidtoken-jwt ties the two),
so for a room that does not exist yet the content is bound after creation: the plan holds a
`StandingMeeting` and the applier calls `content(room_id)` once the id is known.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from borough.jitsi import OPENID_AUTH, STANDING_WIDGET_ID, standing_meeting_widget
from borough.network import DesiredNetwork, DesiredRoom


@dataclass(frozen=True)
class StandingMeeting:
    """The standing meeting widget of room `key`, waiting for the room's id."""

    key: str
    room_name: str
    domain: str
    is_authenticated: bool
    wrapper_url: str

    state_key = STANDING_WIDGET_ID

    def content(self, room_id: str) -> dict[str, Any]:
        widget = standing_meeting_widget(
            room_id, self.room_name, self.domain, self.is_authenticated, self.wrapper_url
        )
        return widget.content()


def standing_meeting(room: DesiredRoom, desired: DesiredNetwork) -> StandingMeeting | None:
    """The room's standing meeting, if its template asks for one and Jitsi is configured."""
    if not room.standing_meeting or room.is_space or desired.jitsi is None:
        return None
    return StandingMeeting(
        key=room.key,
        room_name=room.name,
        domain=desired.jitsi.domain,
        is_authenticated=desired.jitsi.auth == OPENID_AUTH,
        wrapper_url=desired.jitsi.wrapper_url,
    )
