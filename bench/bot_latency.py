"""Benchmark: `!whois` round trip through the real bot, against a bare matrix-nio echo bot.

One Synapse; the real bot runs as `borough bots run` and the echo bot (below, `--echo`) in its
own process, both on the same Synapse. A person DMs each and, in turns, sends `!whois NAME`
and waits (by sync) for the reply event. Prints medians, p95 and the ratio of medians,
target <= 1.2. With `--control` the second bot is a second echo bot (an A/A noise floor).

    .venv/bin/python bench/bot_latency.py --rounds 100 --people 2000
    .venv/bin/python bench/bot_latency.py --rounds 5 --people 50         # CI size
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.plain_client import PlainClient  # noqa: E402

TARGET = 1.2


# --- The bare echo bot (the floor) ---


async def echo_bot(homeserver: str, user_id: str, token: str) -> None:
    """Join on invite; answer every text message from someone else with an m.notice reply."""
    from nio import AsyncClient, InviteMemberEvent, MatrixRoom, RoomMessageText

    client = AsyncClient(homeserver, user_id)
    client.restore_login(user_id, "ECHO", token)

    async def on_invite(room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key == user_id and event.membership == "invite":
            await client.join(room.room_id)

    async def on_text(room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == user_id:
            return
        await client.room_send(
            room.room_id,
            "m.room.message",
            {
                "msgtype": "m.notice",
                "body": event.body,
                "m.relates_to": {"m.in_reply_to": {"event_id": event.event_id}},
            },
            tx_id=f"echo-{event.event_id}",
        )

    first = await client.sync(timeout=0)  # the backlog is not commands
    client.add_event_callback(on_invite, InviteMemberEvent)  # type: ignore[arg-type]
    client.add_event_callback(on_text, RoomMessageText)  # type: ignore[arg-type]
    for room_id in getattr(getattr(first, "rooms", None), "invite", {}):
        await client.join(room_id)
    try:
        await client.sync_forever(timeout=30_000, since=client.next_batch)
    finally:
        await client.close()


# --- The person asking ---


class Asker(PlainClient):
    def __init__(self, http: aiohttp.ClientSession, homeserver: str, token: str) -> None:
        super().__init__(http, homeserver, token)
        self.since = ""

    async def sync(self, timeout_ms: int) -> dict[str, Any]:
        since = f"&since={self.since}" if self.since else ""
        data = await self.call("GET", f"/_matrix/client/v3/sync?timeout={timeout_ms}{since}")
        self.since = data["next_batch"]
        return data

    async def dm(self, bot_id: str) -> str:
        room = await self.call(
            "POST",
            "/_matrix/client/v3/createRoom",
            {"preset": "trusted_private_chat", "is_direct": True, "invite": [bot_id]},
        )
        room_id = room["room_id"]
        await self.wait(room_id, lambda e: e.get("state_key") == bot_id and _joined(e), 60)
        return str(room_id)

    async def wait(self, room_id: str, matches: Any, seconds: float) -> dict[str, Any]:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            data = await self.sync(10_000)
            room = data.get("rooms", {}).get("join", {}).get(room_id, {})
            for event in [
                *room.get("state", {}).get("events", []),
                *room.get("timeline", {}).get("events", []),
            ]:
                if matches(event):
                    return event
        raise TimeoutError(f"no awaited event in {room_id} within {seconds:.0f} s")

    async def round_trip(self, room_id: str, body: str) -> float:
        """Send, then wait by sync for the reply to that event; seconds from send to reply."""
        began = time.perf_counter()
        path = (
            f"/_matrix/client/v3/rooms/{quote(room_id)}/send/m.room.message/{secrets.token_hex(8)}"
        )
        sent = await self.call("PUT", path, {"msgtype": "m.text", "body": body})
        await self.wait(room_id, lambda e: _replies_to(e, sent["event_id"]), 60)
        return time.perf_counter() - began


def _joined(event: dict[str, Any]) -> bool:
    return event.get("type") == "m.room.member" and event["content"].get("membership") == "join"


def _replies_to(event: dict[str, Any], event_id: str) -> bool:
    relation = event.get("content", {}).get("m.relates_to", {})
    return relation.get("m.in_reply_to", {}).get("event_id") == event_id


def seed_profiles(database: Path, people: int) -> list[str]:
    """Profiles straight into the migrated app DB; returns the names to ask about."""
    rng = random.Random(3)
    first = ("Tara", "Omar", "Priya", "Sean", "Grace", "Yusuf", "Lena", "Marek", "Ada", "Ravi")
    last = ("Staff", "Okafor", "Nowak", "Patel", "Murphy", "Kowalski", "Ahmed", "Evans")
    db = sqlite3.connect(database)
    rows, names = [], []
    for n in range(people):
        name = f"{rng.choice(first)} {rng.choice(last)} {n}"
        names.append(name)
        rows.append(
            (
                f"@person{n}:borough.test",
                f"person{n}",
                name,
                "council",
                json.dumps(["housing"]),
                "staff",
                "Officer",
            )
        )
    db.executemany(
        "INSERT INTO profiles (user_id, username, display_name, organisation, units, role,"
        " job_title, is_managed, updated_at) VALUES (?,?,?,?,?,?,?,1,'2026-01-01 00:00:00')",
        rows,
    )
    db.commit()
    db.close()
    return names


async def _bot_ready(database: Path, seconds: float = 120) -> None:
    """The bot has stored its first sync position, so the invites that follow are new to it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        db = sqlite3.connect(database)
        try:
            if db.execute("SELECT count(*) FROM bot_state").fetchone()[0]:
                return
        finally:
            db.close()
        await asyncio.sleep(0.2)
    raise TimeoutError("the bot did not start; see bots.log")


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(args: argparse.Namespace, tmp: Path) -> None:
    from borough.db import migrate_sync
    from borough.testing.localsynapse import LocalSynapse

    synapse = LocalSynapse(tmp / "synapse")
    processes: list[subprocess.Popen[bytes]] = []
    synapse.start()
    try:
        _, service_token = synapse.register_user("borough", admin=True)
        service_id = f"@borough:{synapse.server_name}"
        bot_id, bot_token = synapse.register_user("boroughbot")
        echo_id, echo_token = synapse.register_user("echobot")
        _, asker_token = synapse.register_user("asker")
        database = tmp / "app.db"
        url = f"sqlite+aiosqlite:///{database}"
        migrate_sync(url)
        names = seed_profiles(database, args.people)
        settings = tmp / "borough.yaml"
        settings.write_text(
            yaml.safe_dump(
                {
                    "homeserver": {"url": synapse.base_url, "server_name": synapse.server_name},
                    "service_account": {"user_id": service_id, "access_token": service_token},
                    "database": {"url": url},
                    "bot": {"user_id": bot_id, "access_token": bot_token},
                }
            ),
            encoding="utf-8",
        )
        log = (tmp / "bots.log").open("wb")
        if args.control:
            other_id, other_token = synapse.register_user("echobot2")
            under_test = [sys.executable, __file__, "--echo", synapse.base_url, other_id]
            env = {**os.environ, "ECHO_TOKEN": other_token}
            label = "echo bot B"
        else:
            other_id = bot_id
            under_test = [str(REPO / ".venv" / "bin" / "borough"), "--settings", str(settings)]
            under_test += ["bots", "run"]
            env = dict(os.environ)
            label = "Borough bot"
        processes.append(subprocess.Popen(under_test, stdout=log, stderr=log, env=env))
        processes.append(
            subprocess.Popen(
                [sys.executable, __file__, "--echo", synapse.base_url, echo_id],
                stdout=log,
                stderr=log,
                env={**os.environ, "ECHO_TOKEN": echo_token},
            )
        )
        ready = None if args.control else database
        bots = {label: other_id, "echo bot": echo_id}
        times = asyncio.run(take_turns(args, synapse.base_url, asker_token, bots, names, ready))
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        synapse.stop()
    print(f"!whois over {args.people} profiles, {args.rounds} rounds taken in turns")
    for name, values in times.items():
        print(
            f"{name:<12} p50 {statistics.median(values):7.1f} ms   "
            f"p95 {percentile(values, 0.95):7.1f} ms"
        )
    ratio = statistics.median(times[label]) / statistics.median(times["echo bot"])
    print(f"ratio of medians ({label} / echo bot): {ratio:.3f} (target <= {TARGET})")


async def take_turns(
    args: argparse.Namespace,
    homeserver: str,
    token: str,
    bots: dict[str, str],
    names: list[str],
    ready: Path | None,
) -> dict[str, list[float]]:
    if ready is not None:
        await _bot_ready(ready)
    async with aiohttp.ClientSession() as http:
        asker = Asker(http, homeserver, token)
        await asker.sync(0)
        rooms = {name: await asker.dm(bot_id) for name, bot_id in bots.items()}
        rng = random.Random(5)
        times: dict[str, list[float]] = {name: [] for name in rooms}
        for n in range(args.warmup + args.rounds):
            # Take turns, starting with a different bot each round.
            order = list(rooms.items()) if n % 2 else list(reversed(rooms.items()))
            who = rng.choice(names)
            for name, room_id in order:
                took = await asker.round_trip(room_id, f"!whois {who}")
                if n >= args.warmup:
                    times[name].append(took * 1000)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--control", action="store_true", help="A/A: two echo bots")
    parser.add_argument(
        "--echo", nargs=2, metavar=("HOMESERVER", "USER_ID"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.echo:
        asyncio.run(echo_bot(args.echo[0], args.echo[1], os.environ["ECHO_TOKEN"]))
        return
    with tempfile.TemporaryDirectory(prefix="borough-latency-") as tmp:
        measure(args, Path(tmp))


if __name__ == "__main__":
    main()
