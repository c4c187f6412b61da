"""Benchmark: the engagement report's facts, grouped in SQL, against a floor that only reads
every post and reaction row, and against grouping those rows in Python instead.

Bulk-loads a throwaway app database (SQLite, or PostgreSQL with --postgres; migrated by
Alembic: the real schema and indexes) with PEOPLE people in 6 organisations, POSTS channel
posts over 60 days in CHANNELS channels (each person in three; a third of the channels in
partnerships), a third of them replies, two reactions each, and MEETINGS meetings. Then, in
each round, times:
  - report: `load_activities` + `load_meetings` + `engagement` + `virtuous_circle`;
  - floor:  reading every post and reaction row (no grouping), nothing else;
  - SQL facts: `load_activities` and `load_interactions` alone;
  - Python facts: the same rows and profiles read, grouped into the same facts in Python.
Prints medians, report / floor, and SQL / Python grouping (below 1.0: grouping in SQL pays).

    .venv/bin/python bench/report.py --people 2000 --posts 100000
    .venv/bin/python bench/report.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
    .venv/bin/python bench/report.py --people 100 --posts 2000 --meetings 100 --rounds 1  # CI
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import text

from borough.db import create_engine, migrate_sync, session_factory
from management.engagement import Network, engagement, virtuous_circle
from management.report_data import load_activities, load_interactions, load_meetings

ORGS = ("council", "police", "nhs", "fire", "charity-a", "charity-b")
DAYS = 60


def build(url: str, people: int, posts: int, channels: int, meetings: int) -> Network:
    """Fill the database at `url` (migrated first) and return the network it belongs to."""
    rng = random.Random(7)
    migrate_sync(url)
    now = datetime.now(UTC)
    users = [f"@p{i}:bench" for i in range(people)]
    person_org = {u: ORGS[i % len(ORGS)] for i, u in enumerate(users)}
    units = {f"unit{i}": ORGS[i % len(ORGS)] for i in range(60)}
    person_units = {u: (f"unit{i % 60}",) for i, u in enumerate(users)}
    rooms = [f"!c{i}:bench" for i in range(channels)]
    partnership_rooms = {r: f"p{i % 5}" for i, r in enumerate(rooms) if i % 3 == 0}
    # Like a council: each person works in three rooms, on weekdays.
    home = {u: rng.sample(rooms, 3) for u in users}
    by_room: dict[str, list[str]] = {r: [] for r in rooms}
    for user, theirs in home.items():
        for room in theirs:
            by_room[room].append(user)
    weekdays = [d for d in range(DAYS) if (now - timedelta(days=d)).weekday() < 5]
    tables: dict[str, list[tuple[Any, ...]]] = {
        "profiles": [
            (u, u[1:].split(":")[0], u, person_org[u], "[]", "staff", True, now) for u in users
        ],
        "posts": [],
        "reactions": [],
        "meetings": [],
        "meeting_participants": [],
    }
    for n in range(posts):
        author = rng.choice(users)
        room = rng.choice(home[author])
        at = now - timedelta(days=rng.choice(weekdays), seconds=rng.randrange(8 * 3600))
        root = f"$p{rng.randrange(n)}" if n and n % 3 == 0 else None
        tables["posts"].append((f"$p{n}", room, author, at, "x", "[]", root, 0, 0))
        for r in range(2):
            reactor = rng.choice(by_room[room] or users)
            reacted = at + timedelta(minutes=rng.randrange(1, 600))
            tables["reactions"].append((f"$r{n}-{r}", f"$p{n}", reactor, "👍", reacted))
    for m in range(meetings):
        started = now - timedelta(seconds=rng.randrange(DAYS * 86400))
        ended = started + timedelta(minutes=rng.randrange(10, 90))
        tables["meetings"].append(
            (
                m + 1,
                rng.choice(rooms),
                f"w{m}",
                f"c{m}",
                "t",
                False,
                rng.choice(users),
                "UTC",
                started,
                ended,
                started,
            )
        )
        tables["meeting_participants"] += [(m + 1, u, started) for u in rng.sample(users, 4)]
    columns = {
        "profiles": "user_id, username, display_name, organisation, units, role, is_managed,"
        " updated_at",
        "posts": "event_id, room_id, author, sent_at, body, links, thread_root, reply_count,"
        " reaction_count",
        "reactions": "event_id, post_id, sender, key, sent_at",
        "meetings": "id, room_id, widget_id, conference_id, title, is_audio_only, created_by,"
        " timezone, started_at, ended_at, created_at",
        "meeting_participants": "meeting_id, user_id, first_seen_at",
    }
    if url.startswith("postgresql"):
        import psycopg2
        from psycopg2.extras import execute_values

        conn = psycopg2.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        with conn, conn.cursor() as cursor:
            for table, rows in tables.items():
                execute_values(
                    cursor,
                    f"INSERT INTO {table} ({columns[table]}) VALUES %s",
                    rows,
                    page_size=5000,
                )
            cursor.execute("ANALYZE")
        conn.close()
    else:
        db = sqlite3.connect(url.split("///", 1)[1])
        for table, rows in tables.items():
            marks = ",".join("?" * len(rows[0])) if rows else ""
            db.executemany(
                f"INSERT INTO {table} ({columns[table]}) VALUES ({marks})",
                [tuple(_sqlite(v) for v in row) for row in rows],
            )
        db.commit()
        db.close()
    return Network(
        person_org=person_org,
        person_units=person_units,
        unit_parent={u: None for u in units},
        unit_org=units,
        room_partnership=partnership_rooms,
        room_channel={r: r.strip("!").split(":")[0] for r in rooms},
        partnership_orgs={p: frozenset(ORGS) for p in set(partnership_rooms.values())},
    )


def _sqlite(value: Any) -> Any:
    # As SQLAlchemy stores a DateTime on SQLite.
    return value.strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(value, datetime) else value


async def measure(url: str, network: Network, rounds: int) -> tuple[dict[str, list[float]], int]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    until = datetime.now(UTC) + timedelta(minutes=1)
    since = until - timedelta(days=DAYS + 1)
    times: dict[str, list[float]] = {"report": [], "facts": [], "floor": [], "python": []}
    facts = 0
    try:
        for _ in range(rounds):
            start = time.perf_counter()
            async with sessions() as session:
                activities = await load_activities(session, since, until)
                interactions = await load_interactions(session, since, until)
            times["facts"].append(time.perf_counter() - start)
            async with sessions() as session:
                meetings = await load_meetings(session, since, until)
            engagement(network, activities, meetings)
            virtuous_circle(network, interactions, meetings, since.date(), until.date())
            times["report"].append(time.perf_counter() - start)
            facts = len(activities) + len(interactions)

            start = time.perf_counter()
            async with sessions() as session:
                (
                    await session.execute(
                        text("SELECT room_id, author, thread_root, sent_at FROM posts")
                    )
                ).all()
                (await session.execute(text("SELECT post_id, sender FROM reactions"))).all()
            times["floor"].append(time.perf_counter() - start)

            start = time.perf_counter()
            async with sessions() as session:
                await python_grouping(session)
            times["python"].append(time.perf_counter() - start)
    finally:
        await engine.dispose()
    return times, facts


async def python_grouping(session: Any) -> int:
    """The alternative to SQL grouping: every row into Python, grouped there."""
    org = dict((await session.execute(text("SELECT user_id, organisation FROM profiles"))).all())
    posts = (
        await session.execute(
            text("SELECT event_id, room_id, author, thread_root, sent_at FROM posts")
        )
    ).all()
    by_id = {p[0]: p for p in posts}
    per_person: Counter[tuple[Any, ...]] = Counter()
    per_week: Counter[tuple[Any, ...]] = Counter()
    for _, room, author, root, sent in posts:
        day = date.fromisoformat(str(sent)[:10])
        week = day - timedelta(days=day.weekday())
        target = by_id.get(root)
        kind = "reply" if root else "post"
        per_person[(room, author, kind)] += 1
        per_week[(room, week, kind, org.get(author), org.get(target[2]) if target else None)] += 1
    for post_id, sender in (
        await session.execute(text("SELECT post_id, sender FROM reactions"))
    ).all():
        target = by_id.get(post_id)
        if target is None:
            continue
        day = date.fromisoformat(str(target[4])[:10])
        week = day - timedelta(days=day.weekday())
        per_person[(target[1], sender, "reaction")] += 1
        per_week[(target[1], week, "reaction", org.get(sender), org.get(target[2]))] += 1
    facts = len(per_person) + len(per_week)
    return facts


@contextmanager
def database(postgres: str | None, folder: Path) -> Iterator[str]:
    if postgres is None:
        yield f"sqlite+aiosqlite:///{folder / 'report.db'}"
        return
    import psycopg2

    name = f"borough_bench_report_{os.getpid()}"
    admin = psycopg2.connect(postgres)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        base = postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        yield f"{base}/{name}"
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--posts", type=int, default=300_000)
    parser.add_argument("--channels", type=int, default=120)
    parser.add_argument("--meetings", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--postgres",
        metavar="DSN",
        help="measure on a throwaway database on this PostgreSQL server instead of SQLite, "
        "e.g. postgresql://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, database(args.postgres, Path(tmp)) as url:
        started = time.perf_counter()
        network = build(url, args.people, args.posts, args.channels, args.meetings)
        print(
            f"{url.split(':', 1)[0]}: built {args.posts:,} posts, {2 * args.posts:,} reactions, "
            f"{args.meetings:,} meetings in {time.perf_counter() - started:.1f}s"
        )
        times, facts = asyncio.run(measure(url, network, args.rounds))
    median = {k: statistics.median(v) * 1000 for k, v in times.items()}
    print(f"grouped facts: {facts:,} rows from {3 * args.posts:,} post and reaction rows")
    print(f"medians over {args.rounds} rounds:")
    print(f"  whole report (facts, meetings, arithmetic): {median['report']:.0f} ms")
    print(f"  floor, reading every post and reaction row: {median['floor']:.0f} ms")
    print(f"  facts grouped in SQL:                       {median['facts']:.0f} ms")
    print(f"  the same facts grouped in Python:           {median['python']:.0f} ms")
    print(f"ratio whole report / floor: {median['report'] / median['floor']:.2f}")
    print(f"ratio SQL grouping / Python grouping: {median['facts'] / median['python']:.2f}")


if __name__ == "__main__":
    main()
