"""`GET /_synapse/client/borough/status`: which Borough this Synapse process has loaded.

`borough doctor` asks every Synapse process (the main one and each worker, at its own
listener) for this, so a process started without Borough's modules, or with another
version of them, is named rather than discovered when a rule fails to hold. Only server
admins may ask: the answer says which software a server runs.
"""

from __future__ import annotations

from typing import Any

import synapse
from synapse.module_api import DirectServeJsonResource, ModuleApi, SynapseRequest
from synapse.module_api.errors import Codes, SynapseError

import borough
from borough.process_status import status_body


class ModuleStatus(DirectServeJsonResource):
    def __init__(self, api: ModuleApi) -> None:
        super().__init__()
        self._api = api

    async def _async_render_GET(self, request: SynapseRequest) -> tuple[int, dict[str, Any]]:
        requester = await self._api.get_user_by_req(request)
        if not await self._api.is_user_admin(requester.user.to_string()):
            raise SynapseError(
                403, "Only server admins may ask for Borough's status", Codes.FORBIDDEN
            )
        return 200, status_body(borough.__version__, self._api.worker_name, synapse.__version__)
