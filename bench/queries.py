"""Benchmark: `!find` and `!feed` query time at council scale (target p95 < 20 ms).

`!tag` and `!trending` are timed beside them (no target is set for those).

Bulk-loads a temporary app database (migrated by Alembic, so the real schema, triggers and
indexes) with PEOPLE profiles and POSTS channel posts over CHANNELS channels, then asks the
bot's own services (`ProfileDirectory.search`, `Microblog.feed`) a mix of questions as staff,
partner and community viewers, interleaved. Prints p50/p95 per kind and p95 / 20 ms.

    .venv/bin/python bench/queries.py                       # 20,000 people, 1,000,000 posts
    .venv/bin/python bench/queries.py --people 500 --posts 20000 --queries 40   # CI size
    .venv/bin/python bench/queries.py --keep /tmp/queries.db   # build once, measure again later
    .venv/bin/python bench/queries.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
        # the same data written straight into a new PostgreSQL database with COPY, and
        # measured there; with --keep DB it (borough_queries_<DB's file name>) stays, and a
        # later run migrates and reuses it
    .venv/bin/python bench/queries.py --postgres … --people 100000 --posts 10000000
        # the large size (COPY makes it minutes, not the best part of an hour)
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import random
import shlex
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import create_engine, migrate_sync, session_factory
from borough.directory import refresh
from bots.index import Indexer
from bots.microblog import Microblog
from bots.profiles import ProfileDirectory, parse_query

TARGET_MS = 20.0
#: The end of the generated year of posts: `!trending` looks back from here.
NOW = datetime(2026, 11, 1, tzinfo=UTC)
ORGS = ("council", "police", "nhs", "fire", "charity-a", "charity-b")
FIRST = ("Ana", "Ben", "Chloe", "Dev", "Émile", "Farah", "Gus", "Hana", "Ivo", "Jo", "Kai", "Lee")
LAST = ("Adams", "Begum", "Clarke", "Dube", "Evans", "Fox", "Green", "Hughes", "Iqbal", "Jones")
SKILLS = (
    "family support",
    "safeguarding",
    "budgets",
    "youth work",
    "housing law",
    "data analysis",
    "mediation",
    "first aid",
    "procurement",
    "community outreach",
)
TITLES = ("Housing officer", "Social worker", "Analyst", "Team manager", "Youth lead", None)
WORDS = ("housing", "families", "budget", "safeguarding", "youth", "park", "bins", "council")
FIND_QUERIES = (
    "housing",
    "ana",
    "safeguarding org:police",
    'skill:"family support"',
    "youth lead",
    "emile",
    "data analysis unit:u12",
    "role:manager housing",
    "zzzz",
    "lee page:3",
)


def load(db: Sink, people: int, posts: int, channels: int, seed: int) -> dict[str, list[str]]:
    """Fill the database through `db` in bulk; returns viewers by kind."""
    rng = random.Random(seed)
    users = [f"@u{n:05d}:borough.test" for n in range(people)]
    orgs = [rng.choice(ORGS) if n % 20 else None for n in range(people)]
    roles = [
        "community" if org is None else rng.choice(("staff",) * 8 + ("manager", "senior_manager"))
        for org in orgs
    ]
    db.insert(
        "profiles",
        "user_id username display_name email organisation units role job_title manager "
        "is_managed left_at updated_at",
        [
            (
                user,
                user[1:].split(":")[0],
                f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                None,
                orgs[n],
                json.dumps([f"u{rng.randrange(200)}"] if orgs[n] else []),
                roles[n],
                rng.choice(TITLES) if orgs[n] else None,
                None,
                1,
                None,
                "2026-01-01 00:00:00.000000",
            )
            for n, user in enumerate(users)
        ],
    )
    fields = []
    for user in users:
        if rng.random() < 0.7:
            vis = rng.choice(("public", "partners", "staff"))
            fields.append((user, "skills", json.dumps(rng.sample(SKILLS, 3)), vis, "self"))
        if rng.random() < 0.5:
            vis = rng.choice(("public", "partners", "staff"))
            bio = " ".join(rng.sample(WORDS, 4))
            fields.append((user, "bio", json.dumps(bio), vis, "self"))
    db.insert("profile_fields", "user_id name value visibility source", fields)
    rooms = [f"!c{n:04d}:borough.test" for n in range(channels)]
    db.insert(
        "channels",
        "room_id key alias name is_sealed posters max_length is_public",
        [
            (r, f"c{n}", f"#c{n}:borough.test", f"Channel {n}", n % 3 == 0, "[]", 500, n % 5 == 1)
            for n, r in enumerate(rooms)
        ],
    )
    members = {(r, u) for u in users for r in rng.sample(rooms, min(10, channels))}
    db.insert("channel_members", "room_id user_id", sorted(members))
    # People mostly follow channels they can read, and sometimes one they cannot (left, sealed).
    by_user: dict[str, list[str]] = {}
    for room, user in members:
        by_user.setdefault(user, []).append(room)
    public = [r for n, r in enumerate(rooms) if n % 5 == 1 and n % 3 != 0]
    follows = set()
    for user in users:
        readable = sorted(set(by_user.get(user, [])) | set(public))
        chosen = rng.sample(readable, min(len(readable), rng.randint(3, 15)))
        chosen += rng.sample(rooms, min(2, channels))
        follows |= {(user, r) for r in chosen}
    since = "2026-01-01 00:00:00.000000"
    db.insert("follows", "user_id room_id since", [(u, r, since) for u, r in sorted(follows)])
    start = datetime(2025, 11, 1, tzinfo=UTC)
    # Channels are uneven, as in life: a few busy ones carry most posts.
    weights = [1 / (n + 1) for n in range(channels)]
    batch: list[tuple[object, ...]] = []
    roots: list[str] = []
    tags: list[tuple[str, str, str, str]] = []
    for n in range(posts):
        event_id = f"$p{n:07d}"
        when = start + timedelta(seconds=n * 31_536_000 // max(posts, 1))
        is_reply = roots and rng.random() < 0.15
        # A long tail of tags, as in life: a few common ones and many rarely used.
        tag = rng.choice(WORDS) if rng.random() < 0.7 else f"topic{rng.randrange(5000)}"
        stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")
        room = rng.choices(rooms, weights)[0]
        tags.append((event_id, tag, stamp, room))
        batch.append(
            (
                event_id,
                room,
                rng.choice(users),
                stamp,
                f"Post {n} about #{tag}",
                "[]",
                rng.choice(roots[-50:]) if is_reply else None,
                0,
                0,
                None,
            )
        )
        if not is_reply:
            roots.append(event_id)
        if len(batch) == 50_000:
            _posts(db, batch, tags)
    _posts(db, batch, tags)
    db.finish()
    return {
        "staff": [u for u, o, r in zip(users, orgs, roles, strict=True) if o and r != "community"][
            :50
        ],
        "partner": [u for u, o in zip(users, orgs, strict=True) if o and o != "council"][:50],
        "community": [u for u, o in zip(users, orgs, strict=True) if o is None][:50],
    }


def _posts(
    db: Sink, batch: list[tuple[object, ...]], tags: list[tuple[str, str, str, str]]
) -> None:
    db.insert(
        "posts",
        "event_id room_id author sent_at body links thread_root reply_count reaction_count "
        "edited_at",
        batch,
    )
    db.insert("post_tags", "event_id tag sent_at room_id", tags)
    batch.clear()
    tags.clear()


class Sink(Protocol):
    """Where `load` writes: rows of a table, given its column names (space-separated)."""

    def insert(self, table: str, columns: str, rows: Sequence[Sequence[object]]) -> None: ...

    def finish(self) -> None: ...


class SqliteSink:
    """One connection and executemany."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path)
        self.db.execute("PRAGMA synchronous=OFF")

    def insert(self, table: str, columns: str, rows: Sequence[Sequence[object]]) -> None:
        names = columns.split()
        marks = ",".join("?" * len(names))
        self.db.executemany(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({marks})", rows)

    def finish(self) -> None:
        self.db.commit()
        self.db.execute("ANALYZE")
        self.db.close()


class PostgresSink:
    """One connection and COPY, a batch at a time, in one transaction."""

    def __init__(self, dsn: str) -> None:
        import psycopg2

        self.db = psycopg2.connect(dsn)
        self.cursor = self.db.cursor()
        # The profiles' triggers mark everyone dirty; the directory is built before measuring.
        self.cursor.execute("DELETE FROM directory_dirty")
        self.types: dict[str, dict[str, str]] = {}

    def insert(self, table: str, columns: str, rows: Sequence[Sequence[object]]) -> None:
        names = columns.split()
        if table not in self.types:
            self.types[table] = _pg_types(self.cursor, table)
        types = [self.types[table][name] for name in names]
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        for row in rows:
            writer.writerow(_pg_value(v, t) for v, t in zip(row, types, strict=True))
        buffer.seek(0)
        self.cursor.copy_expert(
            f"COPY {table} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')",
            buffer,
        )

    def finish(self) -> None:
        self.db.commit()
        self.db.autocommit = True
        self.cursor.execute("ANALYZE")
        self.db.close()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def measure(url: str, viewers: dict[str, list[str]], queries: int, seed: int) -> None:
    engine = create_engine(url)
    sessions = session_factory(engine)
    started = time.perf_counter()
    rebuilt = await refresh(engine)
    print(f"directory entries built: {rebuilt} in {time.perf_counter() - started:.1f} s (once)")
    if engine.dialect.name == "postgresql":
        # What autovacuum does soon after in a deployment: the planner needs the new
        # entries' statistics to choose the word indexes.
        async with engine.begin() as connection:
            await connection.exec_driver_sql("ANALYZE directory_entries")
    profiles = ProfileDirectory(sessions, "borough.test")
    indexer = Indexer()
    async with sessions() as session:
        await indexer.load(session)
    microblog = Microblog(sessions, indexer, "borough.test")
    rng = random.Random(seed)
    timings: dict[str, list[float]] = {}
    by_text: dict[str, list[float]] = {}
    matches: dict[str, str] = {}
    kinds = [(k, who) for k, who in viewers.items() if who]
    for n in range(queries):
        # Interleave: every round asks each kind of question once, in a shuffled order.
        asks = []
        for kind, who in kinds:
            viewer = rng.choice(who)
            text = FIND_QUERIES[n % len(FIND_QUERIES)]
            asks.append((f"find/{kind}", profiles.search(viewer, parse_query(shlex.split(text)))))
            asks.append((f"feed p1/{kind}", microblog.feed(viewer, 1)))
            asks.append((f"feed p4/{kind}", microblog.feed(viewer, 4)))
            tag = f"#{rng.choice(WORDS)}" if n % 2 else f"#topic{rng.randrange(5000)}"
            asks.append((f"tag/{kind}", microblog.tag(viewer, tag, 1)))
            if n % 5 == 0:  # the slowest question: a fifth as often keeps the run short
                asks.append((f"trending/{kind}", microblog.trending(viewer, now=NOW)))
        asks.append(("floor: SELECT 1", _select_one(sessions)))
        rng.shuffle(asks)
        for label, call in asks:
            began = time.perf_counter()
            answer = await call
            took = (time.perf_counter() - began) * 1000
            timings.setdefault(label, []).append(took)
            if label.startswith("find/"):
                by_text.setdefault(FIND_QUERIES[n % len(FIND_QUERIES)], []).append(took)
                matches.setdefault(FIND_QUERIES[n % len(FIND_QUERIES)], str(answer).split("\n")[0])
    await engine.dispose()
    print(f"{'query':<22}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
    for label in sorted(timings):
        values = timings[label]
        print(
            f"{label:<22}{len(values):>6}{statistics.median(values):>10.2f}"
            f"{percentile(values, 0.95):>10.2f}{max(values):>10.2f}"
        )
    print(f"\n{'!find query (all viewers)':<30}{'p50 ms':>10}{'p95 ms':>10}   first answer line")
    for query, values in by_text.items():
        print(
            f"{query:<30}{statistics.median(values):>10.2f}{percentile(values, 0.95):>10.2f}"
            f"   {matches[query][:50]}"
        )
    print()
    floor = statistics.median(timings["floor: SELECT 1"])
    print(f"floor (SELECT 1 round trip on this machine now): p50 {floor:.2f} ms")
    for family in ("find", "feed", "tag", "trending"):
        values = [v for label, vs in timings.items() if label.startswith(family) for v in vs]
        p95 = percentile(values, 0.95)
        target = (
            f"; p95 / {TARGET_MS:.0f} ms target = {p95 / TARGET_MS:.2f} (≤ 1 meets it)"
            if family in ("find", "feed")
            else " (no target)"
        )
        print(
            f"{family}: all kinds p50 {statistics.median(values):.2f} ms, p95 {p95:.2f} ms" + target
        )


async def _select_one(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The floor: one trivial round trip through the same session and driver."""
    async with sessions() as session:
        await session.execute(text("SELECT 1"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--queries", type=int, default=200, help="rounds of questions")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="load the data into a new database on this PostgreSQL server "
        "(e.g. postgresql://postgres@127.0.0.1:5432/postgres) with COPY and measure there",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DB",
        help="build the database at DB, or reuse it if it is there (same sizes and seed)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="borough-queries-") as tmp:
        path = args.keep or Path(tmp) / "borough.db"
        viewers_file = path.with_suffix(".viewers.json")
        if args.postgres:
            # With --keep the database is named after the file and reused (migrated to the
            # newest schema first, so a new index is measured on the same data).
            name = (
                f"borough_queries_{path.stem}"
                if args.keep
                else f"borough_queries_{int(time.time())}"
            )
            url = postgres_database(args.postgres, name, keep=bool(args.keep))
        else:
            url = f"sqlite+aiosqlite:///{path}"
        try:
            if args.keep and viewers_file.exists():
                migrate_sync(url)
                viewers = json.loads(viewers_file.read_text())
                print(f"reusing {path if not args.postgres else name}")
            else:
                migrate_sync(url)
                started = time.perf_counter()
                sink: Sink = PostgresSink(_libpq(url)) if args.postgres else SqliteSink(path)
                viewers = load(sink, args.people, args.posts, args.channels, args.seed)
                viewers_file.write_text(json.dumps(viewers))
                print(
                    f"loaded {args.people} people and {args.posts} posts in {args.channels} "
                    f"channels in {time.perf_counter() - started:.1f} s"
                    + (" (COPY into PostgreSQL)" if args.postgres else "")
                )
            asyncio.run(measure(url, viewers, args.queries, args.seed))
        finally:
            if args.postgres and not args.keep:
                _drop_database(args.postgres, name)


def postgres_database(server: str, name: str, keep: bool) -> str:
    """The app URL of database `name` on `server` (a libpq URL), created unless `keep`
    finds it there already."""
    import psycopg2

    admin = psycopg2.connect(server)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cursor.fetchone() is None:
            cursor.execute(f'CREATE DATABASE "{name}"')
        elif not keep:
            raise SystemExit(f"{name} is already on {server}: drop it, or use --keep")
    admin.close()
    base = server.rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+asyncpg://', 1)}/{name}"


def _libpq(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def _drop_database(server: str, name: str) -> None:
    import psycopg2

    admin = psycopg2.connect(server)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _pg_types(cursor: Any, table: str) -> dict[str, str]:
    cursor.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = %s",
        (table,),
    )
    return dict(cursor.fetchall())


def _pg_value(value: object, pg_type: str) -> object:
    if value is None:
        return "\\N"
    if pg_type == "boolean":
        return "t" if value else "f"
    return value


if __name__ == "__main__":
    main()
