"""Crash suite: `kill -9` of the bot and of `borough apply` at random moments, then count what
was lost, duplicated or answered twice. Every count but the kills must be 0.

bot    People post into an open and a sealed channel (top-level posts by posters, thread
       replies, reactions, edits, redactions) and send commands to the bot by direct message,
       while `borough bots run`, a child process, is killed with SIGKILL and restarted. Then
       the index in the app database is compared with the rooms' history read through the
       client API, and the bot's answers are counted per command (`m.in_reply_to`).
apply  `borough apply` of a generated chart, a child process, is killed with SIGKILL at
       random points of its progress, then run to completion. A following `plan` must say
       No changes; rooms are counted by Borough key and by canonical alias through the admin
       API, and members and power levels are compared with the chart.

The seed is printed: the same seed replays the same workload and kill points (the moments
are as near as two processes' timing allows). Synapse and the app database are SQLite, or
PostgreSQL with BOROUGH_TEST_POSTGRES set, as in the tests.

    .venv/bin/python bench/crash.py bot --kills 10 --posts 300 --people 12 --seed 1
    .venv/bin/python bench/crash.py apply --kills 10 --people 300 --seed 1
    .venv/bin/python bench/crash.py bot --kills 2 --posts 30 --people 4      # CI size
    BOROUGH_TEST_POSTGRES=postgresql://postgres@127.0.0.1:5432/postgres \
      .venv/bin/python bench/crash.py bot --standby --kills 5 --posts 300 --people 10

--standby runs two bots on the app database (PostgreSQL, for a real race) and kills the one
holding the lease; the other must take over by itself. It prints the seconds from each kill
to the standby holding the lease (takeovers) and to its first committed batch, with all that
came in meanwhile indexed and answered (caught_up), and their medians.

tests/integration/test_crash.py and test_bot_failover.py run the same drivers at small sizes
and assert the zeros.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import yaml
from sqlalchemy import select

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.bot_process import BotPair, BotProcess, until  # noqa: E402
from bench.provision import generate_org  # noqa: E402
from borough import events  # noqa: E402
from borough.bot_lease import current_holder  # noqa: E402
from borough.db import (  # noqa: E402
    BotState,
    Meeting,
    Post,
    Reaction,
    create_engine,
    session_factory,
)
from borough.matrix import MatrixClient, q  # noqa: E402
from borough.network import DesiredNetwork, desired_network  # noqa: E402
from borough.org import load_org_chart  # noqa: E402
from tests.conftest import (  # noqa: E402
    POSTGRES_DSN,
    Homeserver,
    postgres_database,
    start_homeserver,
    write_settings,
)

BOROUGH = REPO / ".venv" / "bin" / "borough"
CHANNELS = ("crash-news", "crash-sealed")
REACTION_KEYS = ("👍", "🎉", "👀", "❤️")
COMMANDS = (
    "!whois {name}",
    "!follow #crash-news",
    "!follow #crash-sealed",
    "!unfollow #crash-news",
    "!feed",
    "!tag #crash{n}",
    "!trending",
    "!digest daily 07:30",
    "!profile",
    "!help feed",
    "!find {name}",
    "!meet in 3h Crash meeting {i}",
)
#: Rich's progress bar, "applying ━━━╸━━━ 12/80 0:00:01", when stderr is told it is a terminal.
PROGRESS = re.compile(r"applying\D*(\d+)/(\d+)")
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
#: Each kill waits this long at most for the restarted bot to handle a batch,
LIVE_SECONDS = 120.0
#: then up to this long more, so that it lands anywhere in the bot's work.
MAX_PAUSE = 0.5


def write_chart(path: Path, people: int) -> Path:
    """bench/provision.py's generated council, with an open and a sealed channel under its
    first directorate, whose teams read them and whose managers post."""
    chart = generate_org(people, max(4, people // 8)).model_dump(mode="json", exclude_defaults=True)
    chart["channels"] = [
        {
            "key": key,
            "name": key.replace("-", " ").capitalize(),
            "owner": {"unit": "d0"},
            "sealed": key.endswith("sealed"),
            "posters": {"roles": ["manager"]},
        }
        for key in CHANNELS
    ]
    path.write_text(yaml.safe_dump(chart, sort_keys=False), encoding="utf-8")
    return path


def run_borough(settings: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`borough` as a person would type it, in a process of its own."""
    return subprocess.run(
        [str(BOROUGH), "--settings", str(settings), *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def applied(settings: Path, chart: Path) -> None:
    result = run_borough(settings, "apply", "-q", str(chart))
    if result.returncode != 0:
        raise RuntimeError(f"borough apply failed ({result.returncode}):\n{result.stderr[-2000:]}")


def _report(counts: Any) -> str:
    """One line of `name=value` pairs, as the benchmarks print their figures, then what
    went wrong, one line each."""
    shown = []
    for item in fields(counts):
        value = getattr(counts, item.name)
        if item.name == "problems":
            continue
        if isinstance(value, float):
            value = f"{value:.1f}"
        elif isinstance(value, list):
            value = ",".join(value) or "-"
        shown.append(f"{item.name}={value}")
    return "\n".join(["  ".join(shown), *counts.problems])


# --- the bot ----------------------------------------------------------------------------------

Kind = Literal["post", "reply", "react", "edit", "redact", "command"]


@dataclass(frozen=True)
class Action:
    """One thing a person does. `target` is the index of the action whose event it refers to."""

    kind: Kind
    actor: str
    channel: str | None = None
    target: int | None = None
    text: str = ""


@dataclass(frozen=True)
class Crowd:
    """Who reads and who posts in each channel, and everyone's display name."""

    readers: dict[str, list[str]]
    posters: dict[str, list[str]]
    names: dict[str, str]


def crowd_of(desired: DesiredNetwork) -> Crowd:
    people = {u.user_id: u.display_name for u in desired.users.values()}
    readers, posters = {}, {}
    for key in CHANNELS:
        room = desired.rooms[f"channel/{key}"]
        assert room.channel is not None
        readers[key] = sorted(room.members & set(people))
        posters[key] = sorted(set(room.channel.posters) & set(readers[key]))
    return Crowd(readers, posters, people)


def workload(rng: random.Random, crowd: Crowd, posts: int, commands: int) -> list[Action]:
    """`posts` channel events and `commands` commands, in a random order that only ever
    refers back to events still there (nothing is replied to after it was redacted)."""
    kinds: list[str] = ["event"] * posts + ["command"] * commands
    rng.shuffle(kinds)
    actions: list[Action] = []
    live: list[int] = []  # posts and replies not redacted
    roots: list[int] = []  # top-level posts not redacted
    reacted: set[tuple[str, int, str]] = set()
    people = sorted(crowd.names)
    for n, what in enumerate(kinds):
        if what == "command":
            template = rng.choice(COMMANDS)
            text = template.format(name=crowd.names[rng.choice(people)], n=rng.randrange(5), i=n)
            actions.append(Action("command", rng.choice(people), text=text))
            continue
        kind = rng.choices(("post", "reply", "react", "edit", "redact"), (40, 25, 20, 8, 7))[0]
        if kind == "post" or not roots:
            channel = rng.choice(CHANNELS)
            actor = rng.choice(crowd.posters[channel])
            actions.append(Action("post", actor, channel, text=f"Crash post {n} #crash{n % 5}"))
            live.append(n)
            roots.append(n)
        elif kind == "reply":
            root = rng.choice(roots)
            channel = actions[root].channel or ""
            actor = rng.choice(crowd.readers[channel])
            actions.append(Action("reply", actor, channel, root, f"Crash reply {n}"))
            live.append(n)
        elif kind == "react":
            target = rng.choice(live)
            channel = actions[target].channel or ""
            actor, key = rng.choice(crowd.readers[channel]), rng.choice(REACTION_KEYS)
            if (actor, target, key) in reacted:  # Synapse refuses the same reaction twice
                key = f"{key}{n}"
            reacted.add((actor, target, key))
            actions.append(Action("react", actor, channel, target, key))
        elif kind == "edit":
            target = rng.choice(roots)
            original = actions[target]
            text = f"Crash post {target} edited at {n} #edited"
            actions.append(Action("edit", original.actor, original.channel, target, text))
        else:
            target = rng.choice(live)
            actions.append(Action("redact", actions[target].actor, actions[target].channel, target))
            live.remove(target)
            if target in roots:
                roots.remove(target)
    return actions


@dataclass
class BotCrashCounts:
    seed: int
    kills: int = 0
    channel_events: int = 0
    commands: int = 0
    #: posts or reactions in the history that the index lacks, or a reply/reaction count short
    lost: int = 0
    #: index rows for events that are not there, or a reply/reaction count counted twice
    duplicated: int = 0
    #: an edit or a redaction the index does not reflect
    stale: int = 0
    answered_twice: int = 0
    unanswered: int = 0
    #: a command whose effect was made twice (a meeting planned twice by one `!meet in`)
    done_twice: int = 0
    #: with a standby (--standby): seconds from each kill to the standby holding the lease,
    takeovers: list[str] = field(default_factory=list)
    #: and to its first committed batch (all that came in meanwhile indexed and answered)
    caught_up: list[str] = field(default_factory=list)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return (
            self.lost
            + self.duplicated
            + self.stale
            + self.answered_twice
            + self.unanswered
            + self.done_twice
        )

    def report(self) -> str:
        return _report(self)


class Progress:
    """How many actions are done; waiters wake when a count is reached."""

    def __init__(self) -> None:
        self.done = 0
        self._changed = asyncio.Condition()

    async def advance(self) -> None:
        async with self._changed:
            self.done += 1
            self._changed.notify_all()

    async def reached(self, count: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.done >= count)


@dataclass
class KillSchedule:
    """Where each kill lands (actions done), how long after the restarted bot is seen at
    work, and how many actions later the bot restarts. No action past `kill + slack` starts
    before that kill, so every kill meets traffic."""

    kills: list[int]
    pauses: list[float]
    gaps: list[int]
    slack: int

    @classmethod
    def draw(cls, rng: random.Random, kills: int, total: int, workers: int) -> KillSchedule:
        segment = total // (kills + 1)
        if segment < 2:
            raise ValueError(f"{total} actions are too few for {kills} kills")
        points, pauses, gaps = [], [], []
        for k in range(1, kills + 1):
            points.append(rng.randint(k * segment - segment // 2, k * segment))
            pauses.append(rng.uniform(0, MAX_PAUSE))
            gaps.append(rng.randint(1, max(1, segment // 2)))
        return cls(points, pauses, gaps, max(workers, segment // 2))


class BotCrash:
    """One run of the bot crash scenario against a running, provisioned homeserver."""

    def __init__(
        self,
        hs: Homeserver,
        database_url: str,
        bot: BotProcess | BotPair,
        bot_user: str,
        crowd: Crowd,
        seed: int,
    ) -> None:
        self.hs, self.bot, self.bot_user = hs, bot, bot_user
        self.crowd, self.seed = crowd, seed
        self.engine = create_engine(database_url)
        self.sessions = session_factory(self.engine)
        self.clients: dict[str, MatrixClient] = {}
        self.open = AsyncExitStack()
        self.rooms: dict[str, str] = {}  # channel key -> room id
        self.dms: dict[str, str] = {}  # person -> their DM with the bot
        self.events: dict[int, asyncio.Future[str]] = {}
        self.killed: dict[int, asyncio.Event] = {}

    async def position(self) -> str | None:
        async with self.sessions() as session:
            state = await session.get(BotState, self.bot_user)
            return state.next_batch if state else None

    async def setup(self) -> None:
        service = MatrixClient(self.hs.synapse.base_url, self.hs.service_token)
        async with service:
            for key in CHANNELS:
                # By address, or by Borough key for the sealed one, which has no address.
                self.rooms[key] = await asyncio.to_thread(self.hs.room_id, key)
            for user_id in sorted(self.crowd.names):
                login = f"/_synapse/admin/v1/users/{q(user_id)}/login"
                token = (await service.request("POST", login, {}))["access_token"]
                self.clients[user_id] = await self.open.enter_async_context(
                    MatrixClient(self.hs.synapse.base_url, token)
                )
        self.bot.start()

        async def first_sync() -> bool:
            return await self.position() is not None

        await until(first_sync, LIVE_SECONDS, "the bot's first sync")
        # Each person opens a DM with the bot, as Element's "Start chat" does.
        for user_id, client in self.clients.items():
            self.dms[user_id] = (
                await client.request(
                    "POST",
                    "/_matrix/client/v3/createRoom",
                    {
                        "preset": "trusted_private_chat",
                        "is_direct": True,
                        "invite": [self.bot_user],
                    },
                )
            )["room_id"]

        async def bot_in_every_dm() -> bool:
            for user_id, room_id in self.dms.items():
                path = f"/_matrix/client/v3/rooms/{q(room_id)}/joined_members"
                joined = await self.clients[user_id].request("GET", path)
                if self.bot_user not in joined["joined"]:
                    return False
            return True

        await until(bot_in_every_dm, LIVE_SECONDS, "the bot joining every direct chat")

    async def close(self) -> None:
        await self.open.aclose()
        await self.engine.dispose()

    async def perform(self, index: int, action: Action) -> None:
        client = self.clients[action.actor]
        txn = f"crash{self.seed}-{index}"
        room = (
            self.dms[action.actor] if action.kind == "command" else self.rooms[action.channel or ""]
        )
        target = await self.events[action.target] if action.target is not None else None
        if action.kind == "redact":
            path = f"/_matrix/client/v3/rooms/{q(room)}/redact/{q(target or '')}/{txn}"
            response = await client.request("PUT", path, {})
        else:
            event_type, content = _content(action, target)
            path = f"/_matrix/client/v3/rooms/{q(room)}/send/{event_type}/{txn}"
            response = await client.request("PUT", path, content)
        self.events[index].set_result(str(response["event_id"]))

    async def run(self, actions: list[Action], schedule: KillSchedule, workers: int) -> int:
        """Send every action, `workers` at a time, while the bot is killed and restarted on
        schedule; the number of kills."""
        loop = asyncio.get_running_loop()
        self.events = {n: loop.create_future() for n in range(len(actions))}
        self.killed = {point: asyncio.Event() for point in schedule.kills}
        progress, queue = Progress(), iter(enumerate(actions))

        async def worker() -> None:
            for index, action in queue:
                for point, done in self.killed.items():
                    if index >= point + schedule.slack:
                        await done.wait()
                await self.perform(index, action)
                await progress.advance()

        async def killer() -> int:
            kills = 0
            last = await self.position()
            for point, pause, gap in zip(
                schedule.kills, schedule.pauses, schedule.gaps, strict=True
            ):
                await progress.reached(point)

                async def handled_a_batch(since: str | None = last) -> bool:
                    if reason := self.bot.died():
                        raise RuntimeError(reason)
                    return await self.position() != since

                # The restarted bot has handled a batch: the kill meets a bot at work.
                await until(handled_a_batch, LIVE_SECONDS, "the restarted bot syncing")
                await asyncio.sleep(pause)  # anywhere in its next batch, not at its edge
                await self.kill_bot()
                kills += 1
                last = await self.position()
                self.killed[point].set()
                await progress.reached(point + gap)
                self.bot.start()
            return kills

        results = await asyncio.gather(killer(), *(worker() for _ in range(workers)))
        return int(results[0])

    async def kill_bot(self) -> None:
        """`kill -9` of the bot; it is started again by `run` some actions later."""
        self.bot.kill()

    async def settle(self) -> None:
        """Wait until the bot has handled everything sent. Everyone sends a last command: the
        bot indexes a batch before it answers any command in it, and answers the commands of
        one room in order, but may answer one room's last command before another room's
        earlier ones. So every room's last command must be answered."""
        if not self.bot.is_running:
            self.bot.start()
        last: dict[str, str] = {}
        for person, room in self.dms.items():
            path = f"/_matrix/client/v3/rooms/{q(room)}/send/m.room.message/crash{self.seed}-last"
            content = {"msgtype": "m.text", "body": "!help"}
            last[person] = (await self.clients[person].request("PUT", path, content))["event_id"]

        async def answered() -> bool:
            if reason := self.bot.died():
                raise RuntimeError(reason)
            for person, marker in last.items():
                history = await _history(self.clients[person], self.dms[person])
                if not any(_replied_to(event) == marker for event in history):
                    return False
            return True

        await until(answered, LIVE_SECONDS, "the bot's answers to everyone's last command")

    async def count(self, counts: BotCrashCounts) -> None:
        """Compare the index and the answers with the rooms' history (see the module doc)."""
        service = MatrixClient(self.hs.synapse.base_url, self.hs.service_token)
        async with service:
            for room_id in self.rooms.values():
                expected = expected_index(await _history(service, room_id))
                await self._compare(room_id, expected, counts)
        for user_id, room_id in self.dms.items():
            history = await _history(self.clients[user_id], room_id)
            for kind, what in answer_problems(history, user_id, self.bot_user):
                setattr(counts, kind, getattr(counts, kind) + 1)
                counts.problems.append(f"{kind}: {what} in {room_id}")
        async with self.sessions() as session:
            planned = Counter(
                await session.scalars(
                    select(Meeting.title).where(Meeting.room_id.in_(list(self.dms.values())))
                )
            )
        for title, times in sorted(planned.items()):
            if times > 1:
                counts.done_twice += 1
                counts.problems.append(f"done_twice: meeting {title!r} planned {times} times")

    async def _compare(self, room_id: str, expected: ExpectedIndex, counts: BotCrashCounts) -> None:
        async with self.sessions() as session:
            posts = {
                p.event_id: p
                for p in await session.scalars(select(Post).where(Post.room_id == room_id))
            }
            reactions = set(
                await session.scalars(
                    select(Reaction.event_id).where(Reaction.post_id.in_(list(posts)))
                )
            )
        for kind, what in index_problems(expected, posts, reactions):
            setattr(counts, kind, getattr(counts, kind) + 1)
            counts.problems.append(f"{kind}: {what} in {room_id}")


class FailoverCrash(BotCrash):
    """The scenario with two bots on one database: each kill hits the one holding the lease,
    and the standby must take over by itself, before the killed one is started again (as
    the new standby). The seconds from each kill to the standby holding the lease are kept in
    `takeovers`, and to its first committed batch in `caught_up`."""

    bot: BotPair

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.takeovers: list[float] = []
        self.caught_up: list[float] = []
        self._watching: list[asyncio.Task[None]] = []

    async def kill_bot(self) -> None:
        holder = await current_holder(self.engine, self.bot_user)
        assert holder is not None, "no bot holds the lease"
        pid, term = holder.pid, holder.term

        def standby_ready() -> bool:
            if reason := self.bot.died():
                raise RuntimeError(reason)
            return self.bot.standing_by(pid)

        await until(standby_ready, LIVE_SECONDS, "the standby bot starting")
        last = await self.position()
        self.bot.kill_pid(pid)
        killed = time.perf_counter()
        self._watching.append(asyncio.create_task(self._takeover(term, last, killed)))

    async def _takeover(self, term: int, last: str | None, killed: float) -> None:
        async def leased() -> bool:
            now = await current_holder(self.engine, self.bot_user)
            return now is not None and now.term > term

        async def moved() -> bool:
            return await self.position() != last

        await until(leased, LIVE_SECONDS, "the standby taking the lease")
        self.takeovers.append(time.perf_counter() - killed)
        await until(moved, LIVE_SECONDS, "the standby's first batch")
        self.caught_up.append(time.perf_counter() - killed)

    async def taken_over(self) -> tuple[list[float], list[float]]:
        """Seconds to each takeover and to each catching up, once all are done."""
        await asyncio.gather(*self._watching)
        return self.takeovers, self.caught_up


def _content(action: Action, target: str | None) -> tuple[str, dict[str, Any]]:
    if action.kind == "react":
        relation = {"rel_type": "m.annotation", "event_id": target, "key": action.text}
        return "m.reaction", {"m.relates_to": relation}
    content: dict[str, Any] = {"msgtype": "m.text", "body": action.text}
    if action.kind == "reply":
        content["m.relates_to"] = {"rel_type": "m.thread", "event_id": target}
    elif action.kind == "edit":
        content = {
            "msgtype": "m.text",
            "body": f"* {action.text}",
            "m.new_content": {"msgtype": "m.text", "body": action.text},
            "m.relates_to": {"rel_type": "m.replace", "event_id": target},
        }
    return "m.room.message", content


def _replied_to(event: dict[str, Any]) -> str | None:
    relation = event.get("content", {}).get("m.relates_to") or {}
    replied = relation.get("m.in_reply_to") or {}
    return replied.get("event_id") if isinstance(replied, dict) else None


async def _history(client: MatrixClient, room_id: str) -> list[dict[str, Any]]:
    """Every event of the room, oldest first, as a client reads it (redacted ones stripped)."""
    chunks: list[dict[str, Any]] = []
    params = {"dir": "b", "limit": "500"}
    while True:
        page = await client.request(
            "GET", f"/_matrix/client/v3/rooms/{q(room_id)}/messages", params=params
        )
        chunks += page.get("chunk", [])
        if not page.get("chunk") or not page.get("end"):
            return chunks[::-1]
        params = {**params, "from": page["end"]}


@dataclass
class ExpectedPost:
    author: str
    body: str
    replies: int = 0
    reactions: int = 0


@dataclass
class ExpectedIndex:
    """What the index should hold for one channel, worked out from its history alone."""

    posts: dict[str, ExpectedPost] = field(default_factory=dict)
    reactions: dict[str, str] = field(default_factory=dict)  # reaction -> post
    redacted: set[str] = field(default_factory=set)


def expected_index(history: list[dict[str, Any]]) -> ExpectedIndex:
    expected = ExpectedIndex()
    for event in history:
        event_type, content = event["type"], event.get("content", {})
        relation = content.get("m.relates_to") or {}
        if "redacted_because" in event.get("unsigned", {}):
            expected.redacted.add(event["event_id"])
        elif event_type == "m.reaction" and relation.get("rel_type") == "m.annotation":
            if relation.get("event_id") in expected.posts:
                expected.reactions[event["event_id"]] = relation["event_id"]
        elif event_type != "m.room.message" or "state_key" in event:
            continue
        elif relation.get("rel_type") == "m.replace":
            post = expected.posts.get(relation.get("event_id", ""))
            if post is not None and post.author == event["sender"]:
                post.body = content["m.new_content"]["body"]
        else:
            expected.posts[event["event_id"]] = ExpectedPost(event["sender"], content["body"])
            if (
                relation.get("rel_type") == "m.thread"
                and relation.get("event_id") in expected.posts
            ):
                expected.posts[relation["event_id"]].replies += 1
    for post in expected.reactions.values():
        expected.posts[post].reactions += 1
    return expected


def index_problems(
    expected: ExpectedIndex, posts: dict[str, Post], reactions: set[str]
) -> list[tuple[Literal["lost", "duplicated", "stale"], str]]:
    """Every way one channel's index differs from what its history says, one entry per
    post, reaction or count: (what it counts as, which event)."""
    problems: list[tuple[Literal["lost", "duplicated", "stale"], str]] = []
    problems += [("lost", f"post {e}") for e in sorted(expected.posts.keys() - posts.keys())]
    problems += [("lost", f"reaction {e}") for e in sorted(expected.reactions.keys() - reactions)]
    for event_id in sorted(
        (posts.keys() | reactions) - expected.posts.keys() - expected.reactions.keys()
    ):
        if event_id in expected.redacted:
            problems.append(("stale", f"redacted {event_id} still indexed"))
        else:
            problems.append(("duplicated", f"{event_id} indexed but not in the history"))
    for event_id, post in sorted(expected.posts.items()):
        row = posts.get(event_id)
        if row is None:
            continue
        if row.body != post.body:
            problems.append(("stale", f"post {event_id} reads {row.body!r}, not {post.body!r}"))
        for what, indexed, wanted in (
            ("replies", row.reply_count, post.replies),
            ("reactions", row.reaction_count, post.reactions),
        ):
            if indexed != wanted:
                kind: Literal["lost", "duplicated"] = "duplicated" if indexed > wanted else "lost"
                problems.append((kind, f"post {event_id} counts {indexed} {what}, not {wanted}"))
    return problems


def answer_problems(
    history: list[dict[str, Any]], person: str, bot: str
) -> list[tuple[Literal["answered_twice", "unanswered"], str]]:
    """Each of `person`'s commands in a DM must have exactly one answer from the bot, linked
    to it by `m.in_reply_to`."""
    answers = Counter(_replied_to(e) for e in history if e["sender"] == bot)
    problems: list[tuple[Literal["answered_twice", "unanswered"], str]] = []
    for event in history:
        body = event.get("content", {}).get("body")
        if event["sender"] != person or not isinstance(body, str) or not body.startswith("!"):
            continue
        if answers[event["event_id"]] == 0:
            problems.append(("unanswered", f"{body!r} ({event['event_id']})"))
        elif answers[event["event_id"]] > 1:
            count = answers[event["event_id"]]
            problems.append(("answered_twice", f"{body!r} ({event['event_id']}) {count} times"))
    return problems


async def crash_bot(
    hs: Homeserver,
    chart: Path,
    database_url: str,
    workdir: Path,
    *,
    kills: int,
    posts: int,
    commands: int,
    seed: int,
    workers: int = 4,
    standby: bool = False,
) -> BotCrashCounts:
    """Provision `chart` with a bot, then run the scenario and count (see the module doc).
    With `standby`, two bots run on the database and each kill hits the acting one."""
    began = time.perf_counter()
    rng = random.Random(seed)
    bot_user, bot_token = hs.synapse.register_user("boroughbot", secrets.token_hex(8))
    settings = write_settings(
        workdir / "borough.yaml",
        hs,
        database_url,
        bot={"user_id": bot_user, "access_token": bot_token},
    )
    await asyncio.to_thread(applied, settings, chart)
    desired = desired_network(load_org_chart(chart), hs.server_name, hs.service_user, bot_user)
    crowd = crowd_of(desired)
    actions = workload(rng, crowd, posts, commands)
    schedule = KillSchedule.draw(rng, kills, len(actions), workers)
    bot: BotProcess | BotPair
    if standby:
        bot = BotPair(settings, workdir)
        crash: BotCrash = FailoverCrash(hs, database_url, bot, bot_user, crowd, seed)
    else:
        bot = BotProcess(settings, workdir / "bot.log")
        crash = BotCrash(hs, database_url, bot, bot_user, crowd, seed)
    counts = BotCrashCounts(seed, channel_events=posts, commands=commands)
    try:
        await crash.setup()
        counts.kills = await crash.run(actions, schedule, workers)
        if isinstance(crash, FailoverCrash):
            takeovers, caught_up = await crash.taken_over()
            counts.takeovers = [f"{t:.1f}" for t in takeovers]
            counts.caught_up = [f"{t:.1f}" for t in caught_up]
        await crash.settle()
        await crash.count(counts)
    finally:
        bot.stop()
        await crash.close()
    counts.seconds = time.perf_counter() - began
    return counts


# --- apply ------------------------------------------------------------------------------------


@dataclass
class ApplyCrashCounts:
    seed: int
    kills: int = 0
    #: changes done / planned by each killed apply, as its progress bar showed them
    killed_at: list[str] = field(default_factory=list)
    #: applies that finished before their kill point came (nothing left to kill)
    finished_early: int = 0
    converged: bool = False
    duplicate_rooms_by_key: int = 0
    duplicate_rooms_by_alias: int = 0
    missing_rooms: int = 0
    wrong_members: int = 0
    wrong_power: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def failures(self) -> int:
        return (
            (not self.converged)
            + self.duplicate_rooms_by_key
            + self.duplicate_rooms_by_alias
            + self.missing_rooms
            + self.wrong_members
            + self.wrong_power
        )

    def report(self) -> str:
        return _report(self)


async def apply_killed_at(
    settings: Path, chart: Path, leaving: Callable[[int], int]
) -> tuple[int, int] | None:
    """Run `borough apply` and SIGKILL it once no more than `leaving(planned)` of its
    changes are left, read from its own progress bar: (changes done, changes planned) when
    killed, None if it finished first."""
    process = await asyncio.create_subprocess_exec(
        str(BOROUGH),
        "--settings",
        str(settings),
        "apply",
        "-q",
        str(chart),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        # Rich draws the bar only on a terminal; these make it draw on the pipe too.
        env={**os.environ, "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1", "NO_COLOR": "1"},
    )
    assert process.stderr is not None
    seen, total = "", 0
    while chunk := await process.stderr.read(4096):
        seen = (seen + chunk.decode(errors="replace"))[-4000:]
        if progress := PROGRESS.findall(ESCAPE.sub("", seen)):
            done, total = (int(n) for n in progress[-1])
            if total - done <= leaving(total):
                process.kill()
                await process.wait()
                return done, total
    if await process.wait() != 0:
        raise RuntimeError(f"borough apply failed before its kill:\n{seen[-2000:]}")
    return None


async def crash_apply(
    hs: Homeserver, chart: Path, database_url: str, workdir: Path, *, kills: int, seed: int
) -> ApplyCrashCounts:
    """Kill `borough apply` of `chart` `kills` times, apply to completion, then count.

    The kill points are spread over the whole work of the first apply: each one is a share
    of it, and a later apply, which plans only what is left, dies when that much is left."""
    began = time.perf_counter()
    rng = random.Random(seed)
    settings = write_settings(workdir / "borough.yaml", hs, database_url)
    counts = ApplyCrashCounts(seed)
    work: list[int] = []  # what the first apply planned, once its bar shows it
    for share in sorted(rng.random() for _ in range(kills)):

        def leaving(planned: int, share: float = share) -> int:
            if not work:
                work.append(planned)
            return int((1 - share) * work[0])

        killed = await apply_killed_at(settings, chart, leaving)
        if killed is None:
            counts.finished_early += 1
            break
        counts.kills += 1
        counts.killed_at.append("{}/{}".format(*killed))
    await asyncio.to_thread(applied, settings, chart)
    plan = await asyncio.to_thread(run_borough, settings, "plan", str(chart))
    counts.converged = plan.returncode == 0 and "No changes." in plan.stdout
    desired = desired_network(load_org_chart(chart), hs.server_name, hs.service_user)
    await count_rooms(hs, desired, counts)
    counts.seconds = time.perf_counter() - began
    return counts


async def count_rooms(hs: Homeserver, desired: DesiredNetwork, counts: ApplyCrashCounts) -> None:
    """Rooms by Borough key and by canonical alias, their members and power levels, through
    the admin API, against the chart."""
    keys: dict[str, list[str]] = {}
    aliases: Counter[str] = Counter()
    async with MatrixClient(hs.synapse.base_url, hs.service_token) as admin:
        listed: list[dict[str, Any]] = []
        params = {"limit": "500"}
        while True:
            page = await admin.request("GET", "/_synapse/admin/v1/rooms", params=params)
            listed += page["rooms"]
            if page.get("next_batch") is None:
                break
            params = {**params, "from": str(page["next_batch"])}
        states: dict[str, dict[tuple[str, str], Any]] = {}
        for room in listed:
            room_id = room["room_id"]
            if room.get("canonical_alias"):
                aliases[room["canonical_alias"]] += 1
            state = (await admin.request("GET", f"/_synapse/admin/v1/rooms/{q(room_id)}/state"))[
                "state"
            ]
            states[room_id] = {(e["type"], e["state_key"]): e["content"] for e in state}
            key = states[room_id].get((events.MANAGED, ""), {}).get("key")
            if isinstance(key, str):
                keys.setdefault(key, []).append(room_id)
        counts.duplicate_rooms_by_key = sum(len(ids) - 1 for ids in keys.values())
        counts.duplicate_rooms_by_alias = sum(n - 1 for n in aliases.values())
        people = set(desired.users)
        for key, room in desired.rooms.items():
            if key not in keys:
                counts.missing_rooms += 1
                continue
            room_id = keys[key][0]
            path = f"/_synapse/admin/v1/rooms/{q(room_id)}/members"
            members = set((await admin.request("GET", path))["members"])
            if room.manages_members:
                counts.wrong_members += len(room.members - members)
                counts.wrong_members += len((members & people) - room.members)
            levels = states[room_id].get(("m.room.power_levels", ""), {}).get("users", {})
            wanted = dict(room.power_users)
            counts.wrong_power += sum(1 for u, lvl in wanted.items() if levels.get(u, 0) != lvl)
            counts.wrong_power += sum(1 for u in people - wanted.keys() if levels.get(u, 0) > 0)


# --- the command ------------------------------------------------------------------------------


@contextmanager
def homeserver_for(chart: Path, workdir: Path) -> Iterator[tuple[Homeserver, str]]:
    """A Synapse of its own with Borough's modules for `chart`, and an app database URL."""
    hs, synapse = start_homeserver(workdir / "synapse")
    drop = None
    try:
        if POSTGRES_DSN:
            database_url, drop = postgres_database("borough_crash")
        else:
            database_url = f"sqlite+aiosqlite:///{workdir / 'app.db'}"
        yield hs, database_url
    finally:
        if drop is not None:
            drop()
        synapse.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scenario", choices=("bot", "apply"))
    parser.add_argument("--kills", type=int, default=10)
    parser.add_argument("--posts", type=int, default=300, help="channel events (bot)")
    parser.add_argument("--commands", type=int, help="commands sent (bot; default posts / 4)")
    parser.add_argument("--people", type=int, default=12)
    parser.add_argument("--seed", type=int, default=random.SystemRandom().randrange(10**6))
    parser.add_argument("--standby", action="store_true", help="two bots, kill the acting one")
    parser.add_argument("--keep", type=Path, help="work here and keep the logs and databases")
    args = parser.parse_args()
    print(f"seed {args.seed} (replay with --seed {args.seed})", flush=True)
    with tempfile.TemporaryDirectory(prefix="borough-crash-") as name:
        workdir = args.keep or Path(name)
        workdir.mkdir(parents=True, exist_ok=True)
        chart = write_chart(workdir / "org.yaml", args.people)
        with homeserver_for(chart, workdir) as (hs, database_url):
            counts: BotCrashCounts | ApplyCrashCounts
            if args.scenario == "bot":
                commands = args.posts // 4 if args.commands is None else args.commands
                counts = asyncio.run(
                    crash_bot(
                        hs,
                        chart,
                        database_url,
                        workdir,
                        kills=args.kills,
                        posts=args.posts,
                        commands=commands,
                        seed=args.seed,
                        standby=args.standby,
                    )
                )
            else:
                counts = asyncio.run(
                    crash_apply(hs, chart, database_url, workdir, kills=args.kills, seed=args.seed)
                )
    print(counts.report())
    if isinstance(counts, BotCrashCounts) and counts.takeovers:
        takeover = statistics.median(float(t) for t in counts.takeovers)
        caught_up = statistics.median(float(t) for t in counts.caught_up)
        print(f"takeover_p50={takeover:.1f}s  caught_up_p50={caught_up:.1f}s")
    sys.exit(1 if counts.failures else 0)


if __name__ == "__main__":
    main()
