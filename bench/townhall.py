"""Benchmark: a town hall's pinned list under a stream of votes, against a bare reaction.

One Synapse (no modules: a room carrying `org.borough.channel` is a channel to the bot) and the
real bot as `borough bots run`. A poster starts a town hall; `--questions` people ask in its
thread; then `--voters` people each react 👍 to one question, at moments spread evenly over
`--seconds`. An observer follows the room by sync, as Element does, and sees the list's edits.

It prints, from the observer's side:
- the lag from each vote (its send answered) to the first edit whose count includes it, p50/p95;
- the lag from the last vote to the list being exactly right;
- how many edits the bot sent while votes came;
and, on the same server, a bare reaction's round trip (sent by one client, seen by another's
sync), p50/p95, with the ratio of medians.

    .venv/bin/python bench/townhall.py --voters 200 --seconds 60
    .venv/bin/python bench/townhall.py --voters 20 --seconds 5 --questions 3   # CI size
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bot_process import BotProcess, until  # noqa: E402
from bench.plain_client import PlainClient  # noqa: E402

LISTED = re.compile(r"^\d+\. #(\d+) · (\d+) 👍", re.M)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


class Person(PlainClient):
    async def put(self, room_id: str, event_type: str, content: dict[str, Any]) -> str:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/{event_type}/{secrets.token_hex(8)}"
        return str((await self.call("PUT", path, content))["event_id"])

    async def react(self, room_id: str, target: str) -> str:
        relation = {"rel_type": "m.annotation", "event_id": target, "key": "👍"}
        return await self.put(room_id, "m.reaction", {"m.relates_to": relation})


class Observer(Person):
    """Follows one room by long-polling sync and notes when each event arrived."""

    def __init__(self, http: aiohttp.ClientSession, homeserver: str, token: str) -> None:
        super().__init__(http, homeserver, token)
        self.since = ""
        self.seen: list[tuple[float, dict[str, Any]]] = []
        self.arrived = asyncio.Event()

    async def follow(self, room_id: str) -> None:
        while True:
            since = f"&since={self.since}" if self.since else ""
            data = await self.call("GET", f"/_matrix/client/v3/sync?timeout=30000{since}")
            now = time.perf_counter()
            self.since = data["next_batch"]
            room = data.get("rooms", {}).get("join", {}).get(room_id, {})
            for event in room.get("timeline", {}).get("events", []):
                self.seen.append((now, event))
            self.arrived.set()

    async def first(self, matches: Any, seconds: float = 120) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + seconds
        checked = 0
        while time.monotonic() < deadline:
            for at, event in self.seen[checked:]:
                if matches(event):
                    return at, event
            checked = len(self.seen)
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), max(0.1, deadline - time.monotonic()))
            except TimeoutError:
                break
        raise TimeoutError("the awaited event never came")

    def edits(self, root: str) -> list[tuple[float, dict[int, int]]]:
        """Each edit of the list as it arrived: (when, question number -> votes shown)."""
        return [
            (at, {int(n): int(v) for n, v in LISTED.findall(e["content"]["m.new_content"]["body"])})
            for at, e in self.seen
            if e.get("type") == "m.room.message"
            and (e["content"].get("m.relates_to") or {}).get("rel_type") == "m.replace"
            and e["content"]["m.relates_to"].get("event_id") == root
        ]


async def run(
    args: argparse.Namespace,
    homeserver: str,
    tokens: dict[str, str],
    room_id: str,
    bot_id: str,
    database: Path,
) -> None:
    rng = random.Random(7)
    async with aiohttp.ClientSession() as http:
        poster = Person(http, homeserver, tokens["poster"])
        observer = Observer(http, homeserver, tokens["observer"])
        voters = [Person(http, homeserver, tokens[f"voter{n}"]) for n in range(args.voters)]
        await observer.call("GET", "/_matrix/client/v3/sync?timeout=0")
        following = asyncio.create_task(observer.follow(room_id))
        try:
            # The bot takes what comes before its first sync as backlog: invite it after.
            await until(lambda: _has_synced(database), 120, "the bot's first sync")
            invite = {"user_id": bot_id}
            await poster.call("POST", f"/_matrix/client/v3/rooms/{quote(room_id)}/invite", invite)
            await observer.first(
                lambda e: (
                    e.get("state_key") == bot_id
                    and e.get("content", {}).get("membership") == "join"
                )
            )
            await poster.put(
                room_id, "m.room.message", {"msgtype": "m.text", "body": "!townhall Bench"}
            )
            _, root_event = await observer.first(
                lambda e: str(e.get("content", {}).get("body", "")).startswith(
                    "🎤 Town hall: Bench"
                )
            )
            root = root_event["event_id"]
            questions: dict[int, str] = {}
            for n in range(1, args.questions + 1):
                relation = {"rel_type": "m.thread", "event_id": root}
                content = {"msgtype": "m.text", "body": f"Question {n}?", "m.relates_to": relation}
                questions[n] = await voters[n - 1].put(room_id, "m.room.message", content)
                await observer.first(
                    lambda e, k=n: any(k in shown for _, shown in observer.edits(root))
                )
            before = len(observer.edits(root))

            # The votes: one per voter, spread evenly over the window.
            choices = [rng.randint(1, args.questions) for _ in voters]
            answered: dict[int, list[float]] = {n: [] for n in questions}
            began = time.perf_counter()

            async def vote(index: int) -> None:
                await asyncio.sleep(args.seconds * index / max(1, len(voters) - 1))
                await voters[index].react(room_id, questions[choices[index]])
                answered[choices[index]].append(time.perf_counter())

            await asyncio.gather(*(vote(i) for i in range(len(voters))))
            last_vote = time.perf_counter()
            expected = Counter(choices)
            final_at, _ = await observer.first(
                lambda e: (
                    bool(observer.edits(root))
                    and all(observer.edits(root)[-1][1].get(n, 0) == expected[n] for n in questions)
                )
            )
            # Each vote: the first edit at or after it whose count for its question covers it.
            lags: list[float] = []
            edits = observer.edits(root)
            for number, times in answered.items():
                for k, sent in enumerate(sorted(times), 1):
                    shown = next(
                        at for at, counts in edits if at >= sent and counts.get(number, 0) >= k
                    )
                    lags.append(shown - sent)
            sent_edits = len([1 for at, _ in edits[before:] if at <= final_at])

            # The floor: one client reacts, another sees the reaction by sync, in turns.
            target = questions[1]
            floor: list[float] = []
            for n in range(args.floor_rounds):
                start = time.perf_counter()
                event_id = await voters[n % len(voters)].put(
                    room_id,
                    "m.reaction",
                    {
                        "m.relates_to": {
                            "rel_type": "m.annotation",
                            "event_id": target,
                            "key": f"🔁{n}",
                        }
                    },
                )
                at, _ = await observer.first(lambda e, i=event_id: e.get("event_id") == i)
                floor.append(at - start)
        finally:
            following.cancel()
    window = last_vote - began
    print(
        f"{args.voters} voters on {args.questions} questions over {window:.1f} s "
        f"(edit interval: the bot's default)"
    )
    print(
        f"vote -> list shows it     p50 {statistics.median(lags) * 1000:7.0f} ms   "
        f"p95 {percentile(lags, 0.95) * 1000:7.0f} ms"
    )
    print(f"last vote -> list exact       {(final_at - last_vote) * 1000:7.0f} ms")
    print(f"edits sent while voting       {sent_edits} for {args.voters} votes")
    print(
        f"bare reaction round trip  p50 {statistics.median(floor) * 1000:7.0f} ms   "
        f"p95 {percentile(floor, 0.95) * 1000:7.0f} ms"
    )
    print(
        f"ratio of medians (vote -> list / bare reaction): {statistics.median(lags) / statistics.median(floor):.2f}"
    )


def _has_synced(database: Path) -> bool:
    with sqlite3.connect(database) as db:
        return bool(db.execute("SELECT count(*) FROM bot_state").fetchone()[0])


def measure(args: argparse.Namespace, tmp: Path) -> None:
    from borough.db import migrate_sync
    from borough.testing.localsynapse import LocalSynapse

    synapse = LocalSynapse(tmp / "synapse")
    synapse.start()
    bot = BotProcess(tmp / "borough.yaml", tmp / "bots.log")
    try:
        service_id, service_token = synapse.register_user("borough", admin=True)
        bot_id, bot_token = synapse.register_user("boroughbot")
        tokens: dict[str, str] = {}
        for name in ("poster", "observer", *(f"voter{n}" for n in range(args.voters))):
            tokens[name] = synapse.register_user(name)[1]
        poster_id = f"@poster:{synapse.server_name}"
        url = f"sqlite+aiosqlite:///{tmp / 'app.db'}"
        migrate_sync(url)
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
        room_id = asyncio.run(
            make_channel(synapse.base_url, service_token, poster_id, bot_id, tokens)
        )
        bot.start()
        asyncio.run(run(args, synapse.base_url, tokens, room_id, bot_id, tmp / "app.db"))
    finally:
        bot.stop()
        synapse.stop()


async def make_channel(
    homeserver: str, service_token: str, poster_id: str, bot_id: str, tokens: dict[str, str]
) -> str:
    """A public room the bot indexes as a channel (its `org.borough.channel` state), with the
    bot in it at moderator level and everyone joined."""
    async with aiohttp.ClientSession() as http:
        service = PlainClient(http, homeserver, service_token)
        room = await service.call(
            "POST",
            "/_matrix/client/v3/createRoom",
            {
                "preset": "public_chat",
                "name": "Bench hall",
                "power_level_content_override": {"users": {bot_id: 50, poster_id: 50}},
                "initial_state": [
                    {
                        "type": "org.borough.channel",
                        "state_key": "",
                        "content": {"posters": [poster_id], "max_length": 500},
                    }
                ],
            },
        )
        room_id = str(room["room_id"])
        semaphore = asyncio.Semaphore(16)

        async def join(token: str) -> None:
            async with semaphore:
                await PlainClient(http, homeserver, token).call(
                    "POST", f"/_matrix/client/v3/join/{quote(room_id)}", {}
                )

        await asyncio.gather(*(join(t) for t in tokens.values()))
        return room_id


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voters", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--questions", type=int, default=5)
    parser.add_argument("--floor-rounds", type=int, default=30)
    args = parser.parse_args()
    if not 1 <= args.questions <= args.voters:
        parser.error("--questions must be between 1 and --voters")
    with tempfile.TemporaryDirectory(prefix="borough-townhall-") as tmp:
        measure(args, Path(tmp))


if __name__ == "__main__":
    main()
