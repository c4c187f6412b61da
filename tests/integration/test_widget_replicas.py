"""The widget server, replicated: two `borough widgets serve` processes on one PostgreSQL app
database serve the same people. A widget session or a meeting link minted by one is honoured
by the other, and when one is killed with `kill -9` during a run of token checks the other
keeps answering every check, including the ones a client retries there.

Each replica is a real process on its own port, started as a person would start it. The test
needs PostgreSQL: without BOROUGH_TEST_POSTGRES it is deselected and the summary says so
(tests/conftest.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import pytest
from sqlalchemy import select

from bench.bot_process import stop_process
from bench.crash import BOROUGH
from borough.db import Meeting, MeetingParticipant, create_engine, session_factory
from borough.jitsi import room_conference_id
from tests.conftest import Homeserver, write_settings
from tests.integration.test_doctor import free_port
from tests.integration.test_token_service import APP_SECRET, People, openid_token, people

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

__all__ = ["people"]  # the module-scoped fixture, shared with the token service's tests

#: How long a replica may take to migrate (serialised by an advisory lock) and listen.
START_SECONDS = 30.0
#: Rounds of token checks, and the round before which replica A is killed.
ROUNDS, KILL_AT = 30, 10


@dataclass
class Replica:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-3000:]


@contextmanager
def replicas(
    homeserver: Homeserver, database_url: str, workdir: Path, names: tuple[str, ...]
) -> Iterator[dict[str, Replica]]:
    """One `borough widgets serve` per name, each with its own settings file and port, all
    on `database_url` and started at once (their migrations race, as a deployment's do)."""
    started: dict[str, Replica] = {}
    try:
        for name in names:
            port = free_port()
            settings = write_settings(
                workdir / f"widgets-{name}.yaml",
                homeserver,
                database_url,
                widgets={"host": "127.0.0.1", "port": port, "public_url": "https://w.test"},
                jitsi={
                    "domain": "meet.test",
                    "auth": "openidtoken-jwt",
                    "app_id": "borough",
                    "app_secret": APP_SECRET,
                },
            )
            log = workdir / f"widgets-{name}.log"
            with log.open("wb") as sink:
                process = subprocess.Popen(
                    [str(BOROUGH), "--settings", str(settings), "widgets", "serve"],
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                )
            started[name] = Replica(name, f"http://127.0.0.1:{port}", process, log)
        for replica in started.values():
            _wait_until_healthy(replica)
        yield started
    finally:
        for replica in started.values():
            if replica.process.poll() is None:
                stop_process(replica.process, 10)


def _wait_until_healthy(replica: Replica) -> None:
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if replica.process.poll() is not None:
            raise AssertionError(f"replica {replica.name} exited at start:\n{replica.tail()}")
        try:
            with urllib.request.urlopen(f"{replica.url}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"replica {replica.name} did not answer /healthz:\n{replica.tail()}")


async def _json(
    http: aiohttp.ClientSession, method: str, url: str, **options: Any
) -> tuple[int, Any]:
    async with http.request(method, url, **options) as response:
        return response.status, await response.json()


async def _verify(
    http: aiohttp.ClientSession, replica: Replica, token: str, room_id: str
) -> tuple[int, Any]:
    return await _json(
        http,
        "POST",
        f"{replica.url}/verify/user_in_room",
        json={"token": token, "room_id": room_id},
    )


async def _participants(database_url: str, room_id: str) -> tuple[int, list[str]]:
    """(meetings in the room, user ids recorded in them) as the shared database has them."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            meetings = (
                await session.scalars(select(Meeting.id).where(Meeting.room_id == room_id))
            ).all()
            users = (
                await session.scalars(
                    select(MeetingParticipant.user_id).where(
                        MeetingParticipant.meeting_id.in_(meetings)
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    return len(meetings), sorted(users)


async def _until_recorded(
    database_url: str, room_id: str, users: list[str]
) -> tuple[int, list[str]]:
    deadline = time.monotonic() + 10
    while True:
        found = await _participants(database_url, room_id)
        if found[1] == sorted(users) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.1)


def test_a_session_and_a_meeting_link_from_one_replica_are_honoured_by_the_other(
    homeserver: Homeserver, people: People, app_database_url: str, tmp_path: Path
) -> None:
    assert app_database_url.startswith("postgresql"), app_database_url
    hs = homeserver

    async def run(a: Replica, b: Replica) -> None:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:
            # A widget session opened on A reads on B; a forged one is refused on both.
            user_id, _ = people.carol
            credentials = {
                "access_token": openid_token(hs, people.carol),
                "matrix_server_name": hs.server_name,
            }
            status, opened = await _json(
                http, "POST", f"{a.url}/widgets/api/session", json=credentials
            )
            assert status == 200, opened
            assert opened["user_id"] == user_id
            for replica in (a, b):
                status, body = await _json(
                    http,
                    "GET",
                    f"{replica.url}/widgets/api/timeline/sources",
                    headers={"Authorization": f"Bearer {opened['token']}"},
                )
                assert status == 200, (replica.name, body)
                forged = opened["token"][:-4] + (
                    "AAAA" if opened["token"][-4:] != "AAAA" else "BBBB"
                )
                status, body = await _json(
                    http,
                    "GET",
                    f"{replica.url}/widgets/api/timeline/sources",
                    headers={"Authorization": f"Bearer {forged}"},
                )
                assert status == 401 and body["errcode"] == "M_UNKNOWN_TOKEN", (replica.name, body)

            # Meeting links asked of A and B at once, for a room with no meeting yet, name the
            # same conference, signed with the one secret.
            conference = room_conference_id(people.room_id)
            asked = ((a, people.alice), (b, people.bob))
            answers = await asyncio.gather(
                *(
                    _json(
                        http,
                        "POST",
                        f"{replica.url}/meet/{people.room_id}/token",
                        json={"openid_token": openid_token(hs, person)},
                    )
                    for replica, person in asked
                )
            )
            for (replica, person), (status, minted) in zip(asked, answers, strict=True):
                assert status == 200, (replica.name, minted)
                claims = jwt.decode(
                    minted["url"].split("jwt=", 1)[1],
                    APP_SECRET,
                    algorithms=["HS256"],
                    audience="borough",
                )
                assert claims["room"] == conference.lower(), (replica.name, claims)
                assert claims["context"]["user"]["id"] == person[0]

            # Both replicas recorded their admission in one meeting: racing to open the room's
            # meeting, they opened it once in the shared database.
            found = await _until_recorded(
                app_database_url, people.room_id, [people.alice[0], people.bob[0]]
            )
            assert found == (1, sorted([people.alice[0], people.bob[0]])), found

    with replicas(hs, app_database_url, tmp_path, ("a", "b")) as started:
        try:
            asyncio.run(run(started["a"], started["b"]))
        except AssertionError:
            print(
                "replica A log:\n", started["a"].tail(), "\nreplica B log:\n", started["b"].tail()
            )
            raise


def test_when_one_replica_is_killed_the_other_answers_every_check(
    homeserver: Homeserver, people: People, app_database_url: str, tmp_path: Path
) -> None:
    hs = homeserver
    members = {
        people.alice[0]: openid_token(hs, people.alice),
        people.carol[0]: openid_token(hs, people.carol),
    }
    outsider = openid_token(hs, people.dave)
    tally = {"a_answered": 0, "a_refused_connection": 0, "b_answered": 0, "retried_on_b": 0}

    async def check(http: aiohttp.ClientSession, replica: Replica, user: str, token: str) -> None:
        status, body = await _verify(http, replica, token, people.room_id)
        assert status == 200, (replica.name, body)
        assert body["user_id"] == user and body["results"]["room_membership"] is True, body

    async def run(a: Replica, b: Replica) -> None:
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for round_ in range(ROUNDS):
                if round_ == KILL_AT:
                    os.kill(a.process.pid, signal.SIGKILL)
                    a.process.wait(10)
                for user, token in members.items():
                    try:
                        await check(http, a, user, token)
                        tally["a_answered"] += 1
                    except aiohttp.ClientConnectionError:
                        assert round_ >= KILL_AT, (
                            f"A refused a connection before its kill ({round_})"
                        )
                        tally["a_refused_connection"] += 1
                        await check(http, b, user, token)  # the client's retry, on B
                        tally["retried_on_b"] += 1
                    await check(http, b, user, token)
                    tally["b_answered"] += 1
                # Checks on B still refuse whoever is not in the room.
                status, body = await _verify(http, b, outsider, people.room_id)
                assert status == 403 and body["results"]["room_membership"] is False, body

    with replicas(hs, app_database_url, tmp_path, ("a", "b")) as started:
        try:
            asyncio.run(run(started["a"], started["b"]))
        except AssertionError:
            print("replica B log:\n", started["b"].tail())
            raise
        assert started["b"].process.poll() is None, "replica B died"
    print("token checks:", tally)
    assert tally["a_answered"] == KILL_AT * len(members), tally
    assert tally["b_answered"] == ROUNDS * len(members), tally
    assert (
        tally["retried_on_b"] == tally["a_refused_connection"] == (ROUNDS - KILL_AT) * len(members)
    )
