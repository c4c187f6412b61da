"""Reading one person's membership of a room through the ModuleApi."""

from __future__ import annotations

from synapse.module_api import ModuleApi


async def is_joined(api: ModuleApi, room_id: str, user_id: str) -> bool:
    state = await api.get_room_state(room_id, [("m.room.member", user_id)])
    member = state.get(("m.room.member", user_id))
    return member is not None and member.membership == "join"
