"""Benchmark: how fast the real bot indexes channel posts while 10 people post at once.

One Synapse and `borough bots run`. A channel room (marked with `org.borough.channel`) holds
the bot and USERS posters; each poster sends POSTS messages (hashtags, mentions, links) one
after another, all posters at once. The floor is the rate Synapse accepts the posts; the bot
is measured by when the last post is in the app database's index. Prints both rates, their
ratio (1.0: the index keeps up with Synapse) and the lag after the last accepted post.

    .venv/bin/python bench/indexing.py --users 10 --posts 100 --catch-up
    .venv/bin/python bench/indexing.py --users 10 --posts 5          # CI size
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bot_process import BotProcess, until  # noqa: E402
from bench.plain_client import PlainClient as Client  # noqa: E402
from borough import events  # noqa: E402
from borough.db import migrate_sync  # noqa: E402
from borough.testing.localsynapse import LocalSynapse  # noqa: E402


def indexed(database: Path, room_id: str) -> int:
    db = sqlite3.connect(database, timeout=30)
    try:
        return int(
            db.execute("SELECT count(*) FROM posts WHERE room_id = ?", (room_id,)).fetchone()[0]
        )
    finally:
        db.close()


async def run(
    args: argparse.Namespace,
    homeserver: str,
    service_token: str,
    bot_id: str,
    posters: list[tuple[str, str]],
    database: Path,
    bot: BotProcess,
    catch_up: bool,
) -> None:
    async with aiohttp.ClientSession() as http:
        service = Client(http, homeserver, service_token)
        await until(
            lambda: _count(database, "SELECT count(*) FROM bot_state"), 120, "the bot's first sync"
        )
        room_id = (
            await service.call(
                "POST",
                "/_matrix/client/v3/createRoom",
                {
                    "preset": "public_chat",
                    "name": "Benchmark channel",
                    "invite": [bot_id],
                    "initial_state": [
                        {
                            "type": events.CHANNEL,
                            "state_key": "",
                            "content": {"posters": [u for u, _ in posters], "max_length": 500},
                        }
                    ],
                },
            )
        )["room_id"]
        for _, token in posters:
            await Client(http, homeserver, token).call(
                "POST", f"/_matrix/client/v3/join/{quote(room_id)}"
            )
        await until(
            lambda: (
                _count(
                    database,
                    "SELECT count(*) FROM channel_members WHERE room_id = ?",
                    room_id,
                )
                >= len(posters) + 1
            ),
            120,
            "the bot joining and learning the channel's members",
        )

        async def post_all(user_id: str, token: str) -> None:
            client = Client(http, homeserver, token)
            for n in range(args.posts):
                await client.send(
                    room_id,
                    f"Update {n} from {user_id} about #housing and #budget-{n % 7}, "
                    f"cc {posters[n % len(posters)][0]} https://example.org/{n}",
                )

        total = args.posts * len(posters)
        began = time.perf_counter()
        await asyncio.gather(*(post_all(u, t) for u, t in posters))
        accepted = time.perf_counter() - began
        await until(lambda: indexed(database, room_id) >= total, 600, "indexing every post")
        done = time.perf_counter() - began
        floor_rate, bot_rate = total / accepted, total / done
        print(f"{len(posters)} posters x {args.posts} posts = {total} posts into one channel")
        print(f"Synapse accepted: {accepted:6.2f} s  {floor_rate:7.1f} posts/s (the floor)")
        print(f"bot indexed:      {done:6.2f} s  {bot_rate:7.1f} posts/s")
        print(f"lag after the last accepted post: {(done - accepted) * 1000:.0f} ms")
        print(f"ratio indexed / accepted rate: {bot_rate / floor_rate:.3f} (1.0 = keeps up)")
        if not catch_up:
            return
        # Capacity: the same posts again while the bot is down, then its catch-up from the gap.
        bot.stop()
        await asyncio.gather(*(post_all(u, t) for u, t in posters))
        began = time.perf_counter()
        bot.start()
        await until(lambda: indexed(database, room_id) >= 2 * total, 600, "the catch-up")
        caught_up = time.perf_counter() - began
        print(
            f"catch-up after {total} posts while down: {caught_up:6.2f} s  "
            f"{total / caught_up:7.1f} posts/s (bot start included); "
            f"{total / caught_up / floor_rate:.1f}x the accept rate"
        )


def _count(database: Path, sql: str, *params: str) -> int:
    db = sqlite3.connect(database, timeout=30)
    try:
        return int(db.execute(sql, params).fetchone()[0])
    finally:
        db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--posts", type=int, default=100, help="posts per user")
    parser.add_argument(
        "--catch-up",
        action="store_true",
        help="then post as much again with the bot stopped, and time its catch-up",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="borough-indexing-") as name:
        tmp = Path(name)
        synapse = LocalSynapse(tmp / "synapse")
        bot: BotProcess | None = None
        synapse.start()
        try:
            service_id, service_token = synapse.register_user("borough", admin=True)
            bot_id, bot_token = synapse.register_user("boroughbot")
            posters = [synapse.register_user(f"poster{n}") for n in range(args.users)]
            database = tmp / "app.db"
            url = f"sqlite+aiosqlite:///{database}"
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
            bot = BotProcess(settings, tmp / "bot.log")
            bot.start()
            asyncio.run(
                run(
                    args,
                    synapse.base_url,
                    service_token,
                    bot_id,
                    posters,
                    database,
                    bot,
                    args.catch_up,
                )
            )
        finally:
            if bot is not None:
                bot.stop()
            synapse.stop()


if __name__ == "__main__":
    main()
