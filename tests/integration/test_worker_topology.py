"""The worker topology itself, in the worker pass (BOROUGH_TEST_WORKERS=N): nginx sends the
documented endpoints to the generic workers, events are persisted by the event persister,
every process loads Borough's modules, and every process's log is kept."""

from __future__ import annotations

import json
import secrets
import urllib.request
from urllib.parse import quote

import psycopg2
import pytest

from borough.process_status import STATUS_PATH
from borough.testing.topology import SynapseWorkers
from borough.testing.worker_layout import EVENT_PERSISTER, MAIN
from synapse_modules import homeserver_modules
from tests.conftest import POSTGRES_DSN, Homeserver

pytestmark = [pytest.mark.integration, pytest.mark.workers]


@pytest.fixture(scope="module")
def topology(homeserver: Homeserver) -> SynapseWorkers:
    synapse = homeserver.synapse
    assert isinstance(synapse, SynapseWorkers), "the worker pass must run on the worker topology"
    return synapse


@pytest.fixture(scope="module")
def room(homeserver: Homeserver) -> tuple[str, str]:
    """A person's token and a room of theirs with a message and a state change in it."""
    _, token = homeserver.synapse.register_user(f"w{secrets.token_hex(4)}")
    room_id = homeserver.call("POST", "/_matrix/client/v3/createRoom", token, {})["room_id"]
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}"
    homeserver.call(
        "PUT", f"{path}/send/m.room.message/t1", token, {"msgtype": "m.text", "body": "hi"}
    )
    homeserver.call("PUT", f"{path}/state/m.room.topic/", token, {"topic": "Workers"})
    homeserver.call("GET", f"{path}/messages?dir=b", token)
    homeserver.call("GET", "/_matrix/client/v3/sync?timeout=0", token)
    return token, room_id


def served_by(topology: SynapseWorkers, method: str, fragment: str) -> set[str]:
    return {
        served.process
        for served in topology.requests_served()
        if served.method == method and fragment in served.uri and served.status == 200
    }


@pytest.mark.parametrize(
    ("method", "fragment"),
    [
        ("POST", "/createRoom"),
        ("PUT", "/send/m.room.message/"),
        ("PUT", "/state/m.room.topic/"),
        ("GET", "/messages?dir=b"),
        ("GET", "/sync?timeout=0"),
    ],
)
def test_client_requests_are_served_by_generic_workers(
    topology: SynapseWorkers, room: tuple[str, str], method: str, fragment: str
) -> None:
    generic = {worker.name for worker in topology.layout.generic}
    processes = served_by(topology, method, fragment)
    assert processes, f"nginx passed on no {method} {fragment}"
    assert processes <= generic, processes


def test_the_admin_api_is_served_by_main(topology: SynapseWorkers, homeserver: Homeserver) -> None:
    homeserver.admin("GET", f"/_synapse/admin/v2/users/{quote(homeserver.service_user)}")
    homeserver.admin("GET", "/_synapse/admin/v1/server_version")
    assert served_by(topology, "GET", "/_synapse/admin/v1/server_version") == {MAIN}
    # A documented worker read (workers.md: GET ^/_synapse/admin/v2/users/[^/]+$).
    assert served_by(topology, "GET", "/_synapse/admin/v2/users/") <= {
        w.name for w in topology.layout.generic
    }


def test_events_are_persisted_by_the_event_persister(
    topology: SynapseWorkers, room: tuple[str, str]
) -> None:
    _, room_id = room
    conn = psycopg2.connect(POSTGRES_DSN, dbname=topology.database_name)
    try:
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT DISTINCT instance_name FROM events WHERE room_id = %s", (room_id,)
            )
            writers = {row[0] for row in cursor.fetchall()}
    finally:
        conn.close()
    assert writers == {EVENT_PERSISTER}


def test_every_process_loads_borough_modules(topology: SynapseWorkers) -> None:
    modules = [entry["module"] for entry in homeserver_modules()]
    logs = [topology.log_path, *(topology.worker_log_path(w) for w in topology.layout.workers)]
    for log in logs:
        text = log.read_text(encoding="utf8")
        missing = [m for m in modules if f"Loaded module <{m} object" not in text]
        assert not missing, f"{log.name} did not load {missing}"


def test_every_process_keeps_its_log(topology: SynapseWorkers) -> None:
    empty = [str(path) for path in topology.log_paths if not path.exists()]
    assert not empty, empty
    for log in [topology.log_path, *(topology.worker_log_path(w) for w in topology.layout.workers)]:
        assert log.stat().st_size > 0, log


def test_each_process_says_on_its_own_listener_that_it_loaded_borough(
    topology: SynapseWorkers, homeserver: Homeserver
) -> None:
    """What `borough doctor` asks each process directly (homeserver.processes)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    answered = set()
    for url in topology.process_urls:
        request = urllib.request.Request(f"{url}{STATUS_PATH}")
        request.add_header("Authorization", f"Bearer {homeserver.service_token}")
        with opener.open(request, timeout=10) as response:
            answered.add(json.loads(response.read())["process"])
    assert answered == {MAIN, *(worker.name for worker in topology.layout.workers)}
