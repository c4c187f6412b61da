"""Which Synapse process serves which request behind the worker topology's nginx, and the
copyable files in config/deploy/ being exactly what the worker pass runs."""

from __future__ import annotations

import pytest

from borough.testing.deploy_files import LAYOUT, stale_files
from borough.testing.worker_routes import ROUTES, Pool, pool_for

ROOM = "/_matrix/client/v3/rooms/!abc:borough.test"


@pytest.mark.parametrize(
    ("path", "pool"),
    [
        ("/_matrix/client/v3/sync", Pool.SYNC),
        ("/_matrix/client/r0/sync", Pool.SYNC),
        (f"{ROOM}/messages", Pool.ROOM),
        (f"{ROOM}/send/m.room.message/t1", Pool.CLIENT),
        (f"{ROOM}/state/m.room.topic/", Pool.CLIENT),
        (f"{ROOM}/state", Pool.CLIENT),
        (f"{ROOM}/join", Pool.CLIENT),
        ("/_matrix/client/v3/join/#lobby:borough.test", Pool.CLIENT),
        ("/_matrix/client/v3/createRoom", Pool.CLIENT),
        ("/_matrix/client/v3/login", Pool.CLIENT),
        ("/_matrix/client/v3/directory/room/#lobby:borough.test", Pool.CLIENT),
        ("/_matrix/client/v3/pushrules/", Pool.READS),
        ("/_matrix/client/v3/user/@a:borough.test/account_data/m.direct", Pool.READS),
        ("/_matrix/federation/v1/send/123", Pool.FEDERATION_IN),
        # Streams main writes, the admin API and media stay on main.
        (f"{ROOM}/typing/@a:borough.test", Pool.MAIN),
        (f"{ROOM}/receipt/m.read/$e", Pool.MAIN),
        ("/_matrix/client/v3/sendToDevice/m.x/1", Pool.MAIN),
        ("/_synapse/admin/v1/users/@a:borough.test/login", Pool.MAIN),
        ("/_synapse/admin/v1/register", Pool.MAIN),
        ("/_matrix/media/v3/upload", Pool.MAIN),
        ("/_matrix/federation/v1/openid/userinfo", Pool.MAIN),
    ],
)
def test_a_request_goes_to_the_pool_workers_md_names(path: str, pool: Pool) -> None:
    assert pool_for(path) is pool


def test_every_route_is_anchored_at_the_path_start() -> None:
    assert all(route.pattern.startswith("^/") for route in ROUTES)


def test_the_deploy_layout_has_two_generic_workers_and_an_event_persister() -> None:
    assert [w.name for w in LAYOUT.generic] == ["generic_worker1", "generic_worker2"]
    assert [w.name for w in LAYOUT.persisters] == ["event_persister1"]


def test_config_deploy_is_what_the_worker_pass_runs() -> None:
    stale = stale_files()
    assert not stale, f"regenerate with python -m borough.testing.deploy_files: {stale}"
