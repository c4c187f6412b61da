"""A sealed room does not exist for outsiders: their attempts get a missing room's answer.

An outsider is someone who cannot know of the room: neither Borough, nor someone the chart
puts in its owner (Borough's registry lists the owner's space for them), nor anyone with a
membership in the room itself (joined, invited, knocked or once there). Having joined the
owner's space is not enough: a unit's space is restricted to the space above, so anyone there
may join it, and a server admin may put anyone in it. Their join, knock, invitation or upgrade is answered with the status, errcode and words
Synapse gives for a room it does not know, which differ between the main process and a
worker (`tests/integration/test_sealed_unseen.py` compares them with a real unknown room, in
both topologies), so the answer names neither the room nor its owner. Anyone
else refused still gets the sentence that says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from synapse.module_api import ModuleApi
from synapse.module_api.errors import Codes, SynapseError

from synapse_modules.chart import SynapseChart

#: Where an outsider's attempt meets the module: a membership, or an upgrade (the only way a
#: non-member's own event reaches `check_event_allowed`; Synapse refuses the rest earlier).
Door = Literal["join", "knock", "invite", "upgrade"]


@dataclass(frozen=True)
class MissingRoomAnswer:
    status: int
    errcode: str
    message: str

    def error(self, room_id: str) -> SynapseError:
        return SynapseError(self.status, self.message.format(room_id=room_id), self.errcode)


#: An upgrade of a room id Synapse does not know, on any process: the room is looked up first.
MISSING_ROOM_UPGRADE = MissingRoomAnswer(404, Codes.NOT_FOUND, "Unknown room id {room_id}")


#: What Synapse 1.163 answers a local user for a room id that it does not know, per door, on
#: the main process: the remote join or knock it then tries has no server to ask.
MISSING_ROOM_ON_MAIN: dict[Door, MissingRoomAnswer] = {
    "join": MissingRoomAnswer(
        404,
        Codes.UNKNOWN,
        "Can't join remote room because no servers that are in the room have been provided.",
    ),
    "knock": MissingRoomAnswer(404, Codes.UNKNOWN, "No known servers"),
    "invite": MissingRoomAnswer(403, Codes.FORBIDDEN, "Unknown room"),
    "upgrade": MISSING_ROOM_UPGRADE,
}
#: The same on a generic worker, which hands the remote join or knock to main and words the
#: failure differently.
MISSING_ROOM_ON_WORKER: dict[Door, MissingRoomAnswer] = {
    "join": MissingRoomAnswer(404, Codes.UNKNOWN, "No known servers"),
    "knock": MissingRoomAnswer(
        502, Codes.UNKNOWN, "Failed to make_knock via any server: No servers specified."
    ),
    "invite": MissingRoomAnswer(403, Codes.FORBIDDEN, "Unknown room"),
    "upgrade": MISSING_ROOM_UPGRADE,
}


@dataclass(frozen=True)
class Asker:
    """Whoever asks to let someone in (the joiner, the knocker, or the inviter), or to upgrade
    the room."""

    is_borough: bool
    has_membership: bool
    #: The chart puts them in the owner: the registry lists the owner's space for them.
    is_owner_member_by_chart: bool


def is_outsider(asker: Asker) -> bool:
    return not (asker.is_borough or asker.has_membership or asker.is_owner_member_by_chart)


class UnseenRooms:
    """Answers an outsider's attempt on a sealed room as a missing room's would be."""

    def __init__(
        self, api: ModuleApi, chart: SynapseChart, borough_accounts: frozenset[str]
    ) -> None:
        self._api = api
        self._chart = chart
        self._borough = borough_accounts
        self._missing = MISSING_ROOM_ON_MAIN if api.worker_name is None else MISSING_ROOM_ON_WORKER

    async def answer_outsider(
        self, room_id: str, owner_space: str | None, asker: str, door: Door
    ) -> None:
        """Raise a missing room's answer if `asker` is an outsider; else return."""
        if is_outsider(await self._asker(room_id, owner_space, asker)):
            raise self._missing[door].error(room_id)

    async def _asker(self, room_id: str, owner_space: str | None, user_id: str) -> Asker:
        if user_id in self._borough:
            return Asker(True, False, False)
        own = await self._api.get_room_state(room_id, [("m.room.member", user_id)])
        by_chart = (
            owner_space is not None
            and self._api.is_mine(user_id)
            and await self._chart.owns_sealed_rooms_with(user_id, owner_space)
        )
        return Asker(False, ("m.room.member", user_id) in own, by_chart)
