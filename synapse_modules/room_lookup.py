"""Finding a managed room from inside Synapse: by its address, or, for a sealed room, which
has none, by its Borough key among its parent space's children."""

from __future__ import annotations

from synapse.module_api import ModuleApi
from synapse.module_api.errors import SynapseError

from borough import events
from borough.network import DesiredNetwork


async def managed_room_id(api: ModuleApi, network: DesiredNetwork, key: str) -> str | None:
    """The id of the room `key` names, or None if apply has not made it yet."""
    room = network.rooms[key]
    if room.publishes_address:
        try:
            room_id, _ = await api.lookup_room_alias(f"#{room.alias}:{api.server_name}")
        except SynapseError:
            return None
        return str(room_id)
    if room.parent_key is None or room.parent_key not in network.rooms:
        return None
    parent_id = await managed_room_id(api, network, room.parent_key)
    if parent_id is None:
        return None
    children = await api.get_room_state(parent_id, [(events.SPACE_CHILD, None)])
    for (_, child_id), link in sorted(children.items()):
        if not link.content.get("via"):
            continue
        try:
            state = await api.get_room_state(child_id, [(events.MANAGED, "")])
        except SynapseError:
            continue
        managed = state.get((events.MANAGED, ""))
        if managed is not None and managed.content.get("key") == key:
            return child_id
    return None
