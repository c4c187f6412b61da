"""Benchmark: the profile page and the unit page, server-side, at council scale (targets:
profile p95 < 50 ms, unit page p95 < 100 ms), and the browser's render of a 300-person chart.

Loads the data `bench/queries.py` builds (PEOPLE profiles, POSTS posts; its `load`, not a
copy), then gives the units a shape: 5 directorates, one an organisation, each with 7
services of 4 or 5 teams (the 200 units people already sit in), and a unit of exactly 300
people (its head and 13 teams of 23, taken from people already there). Then asks the widget
server's own JSON views in-process (aiohttp's test client, a signed session as a widget
would hold), as staff and partner viewers, interleaved:

- profile: `/widgets/api/profiles/{user}`, someone else's page (records the view, as it does);
- unit: `/widgets/api/units/{key}/chart` for a team (~100 people, sent whole), a service
  (~500, collapsed to counts) and a directorate (~4,000, collapsed), and the 300-person unit;
- organisation: `/widgets/api/organisations/{key}` (no target set);
- floors: the directory search `/widgets/api/people?q=housing` through the same server (the
  directory query floor: what a page of names costs now), and `SELECT 1` through the same
  session (queries.py's floor).

Prints p50/p95 per kind, each p95 against its target and against the directory floor. Then
opens the 300-person chart in headless Chromium (/usr/bin/chromium, or BOROUGH_CHROMIUM) and
times, over --renders loads, navigation start to the chart drawn (every face in the list),
and how much of that was the API answer.

    .venv/bin/python bench/pages.py                      # 20,000 people, 1,000,000 posts
    .venv/bin/python bench/pages.py --people 500 --posts 20000 --requests 10 --renders 2  # CI
    .venv/bin/python bench/pages.py --keep /tmp/pages.db  # build once, measure again later
    .venv/bin/python bench/pages.py --postgres postgresql://postgres@127.0.0.1:5432/postgres
        # the same data copied into PostgreSQL and measured there (the copy is dropped after)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import text

from bench.queries import (
    PostgresSink,
    SqliteSink,
    _drop_database,
    _libpq,
    load,
    percentile,
    postgres_database,
)
from borough.db import create_engine, migrate_sync
from borough.directory import refresh
from borough.settings import Settings
from widgets.app import SESSIONS, create_app
from widgets.viewer import SESSION_KEY, issue_session

TARGETS_MS = {"profile": 50.0, "unit": 100.0}
SERVER = "borough.test"
DIRECTORATES = ("council", "police", "nhs", "fire", "charity-a")
UNITS = 200  # queries.load puts people in u0 … u199
CHART = "chart300"


def shape_units(db: Any, mark: str = "?") -> dict[str, str]:
    """The units table over queries.load's units, and the 300-person unit, through a DB-API
    connection `db` (SQLite's `?` or psycopg2's `%s` as `mark`); returns a unit of each size,
    by what it is."""
    cursor = db.cursor()
    rows: list[tuple[str, str, str, str | None]] = []
    services = list(range(len(DIRECTORATES), len(DIRECTORATES) * 8))  # 7 per directorate
    for n, org in enumerate(DIRECTORATES):
        rows.append((f"u{n}", f"Directorate {n}", org, None))
    for s in services:
        org_index = (s - len(DIRECTORATES)) // 7
        rows.append((f"u{s}", f"Service {s}", DIRECTORATES[org_index], f"u{org_index}"))
    for t in range(services[-1] + 1, UNITS):
        service = services[t % len(services)]
        org = DIRECTORATES[(service - len(DIRECTORATES)) // 7]
        rows.append((f"u{t}", f"Team {t}", org, f"u{service}"))
    # The 300: a head and 13 teams of a manager and 22 staff, under the first directorate.
    rows.append((CHART, "Customer Services", "council", "u0"))
    teams = [f"{CHART}-{t:02d}" for t in range(13)]
    rows += [(team, f"Contact Team {n + 1:02d}", "council", CHART) for n, team in enumerate(teams)]
    m = mark
    cursor.executemany(
        f"INSERT INTO units (key, name, organisation, parent) VALUES ({m},{m},{m},{m})", rows
    )
    cursor.executemany(
        f"INSERT INTO organisations (key, name) VALUES ({m},{m})",
        [(org, org.replace("-", " ").title()) for org in DIRECTORATES],
    )
    cursor.execute(
        "SELECT user_id FROM profiles WHERE organisation IS NOT NULL ORDER BY user_id LIMIT 300"
    )
    staff = [user for (user,) in cursor.fetchall()]
    moves = [(json.dumps([CHART]), "senior_manager", staff[0])]
    for n, user in enumerate(staff[1:]):
        role = "manager" if n % 23 == 0 else "staff"
        moves.append((json.dumps([teams[(n // 23) % len(teams)]]), role, user))
    cursor.executemany(f"UPDATE profiles SET units = {m}, role = {m} WHERE user_id = {m}", moves)
    db.commit()
    db.close()
    return {
        "team": f"u{UNITS - 1}",
        "service": f"u{services[0]}",
        "directorate": "u0",
        "300": CHART,
    }


def settings_for(url: str, homeserver: str = "http://127.0.0.1:9") -> Settings:
    """The JSON views read only the app database; faces ask `homeserver` for profiles."""
    return Settings.model_validate(
        {
            "homeserver": {"url": homeserver, "server_name": SERVER},
            "service_account": {"user_id": f"@borough:{SERVER}", "access_token": "bench"},
            "database": {"url": url},
        }
    )


async def measure(
    url: str, viewers: dict[str, list[str]], units: dict[str, str], args: Any
) -> None:
    engine = create_engine(url)
    started = time.perf_counter()
    rebuilt = await refresh(engine)
    print(f"directory entries built: {rebuilt} in {time.perf_counter() - started:.1f} s (once)")
    await engine.dispose()
    app = create_app(settings_for(url), run_migrations=False)
    async with TestClient(TestServer(app)) as client:
        rng = random.Random(args.seed)
        kinds = {k: who for k, who in viewers.items() if who and k != "community"}
        people = [u for who in kinds.values() for u in who]
        timings: dict[str, list[float]] = {}

        def headers(user: str) -> dict[str, str]:
            token = issue_session(app[SESSION_KEY], user, time.time())
            return {"Authorization": f"Bearer {token}"}

        async def get(path: str, user: str) -> None:
            answer = await client.get(path, headers=headers(user))
            if answer.status != 200:
                raise SystemExit(f"{path} answered {answer.status}: {await answer.text()}")
            await answer.read()

        async def select_one() -> None:
            async with app[SESSIONS]() as session:
                await session.execute(text("SELECT 1"))

        for _ in range(args.requests):
            asks: list[tuple[str, Callable[[], Awaitable[None]]]] = []
            for kind, who in kinds.items():
                user = rng.choice(who)
                owner = rng.choice(people)
                asks.append(
                    (
                        f"profile/{kind}",
                        lambda u=user, o=owner: get(f"/widgets/api/profiles/{quote(o)}", u),
                    )
                )
                for size, key in units.items():
                    asks.append(
                        (
                            f"unit {size}/{kind}",
                            lambda u=user, k=key: get(f"/widgets/api/units/{k}/chart", u),
                        )
                    )
                asks.append(
                    (
                        f"organisation/{kind}",
                        lambda u=user: get("/widgets/api/organisations/council", u),
                    )
                )
                asks.append(
                    (
                        f"floor: directory/{kind}",
                        lambda u=user: get("/widgets/api/people?q=housing", u),
                    )
                )
            asks.append(("floor: SELECT 1", select_one))
            rng.shuffle(asks)
            for label, call in asks:
                began = time.perf_counter()
                await call()
                timings.setdefault(label, []).append((time.perf_counter() - began) * 1000)

        print(f"\n{'request':<28}{'n':>6}{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}")
        for label in sorted(timings):
            values = timings[label]
            print(
                f"{label:<28}{len(values):>6}{statistics.median(values):>10.2f}"
                f"{percentile(values, 0.95):>10.2f}{max(values):>10.2f}"
            )
        floor = [
            v for label, vs in timings.items() if label.startswith("floor: directory") for v in vs
        ]
        floor_p50, floor_p95 = statistics.median(floor), percentile(floor, 0.95)
        print(
            f"\nfloor: directory search p50 {floor_p50:.2f} ms, p95 {floor_p95:.2f} ms; "
            f"SELECT 1 p50 {statistics.median(timings['floor: SELECT 1']):.2f} ms"
        )
        for family in ("profile", "unit", "organisation"):
            values = [v for label, vs in timings.items() if label.startswith(family) for v in vs]
            p95 = percentile(values, 0.95)
            target = TARGETS_MS.get(family)
            verdict = (
                f"; p95 / {target:.0f} ms target = {p95 / target:.2f} (≤ 1 meets it)"
                if target
                else " (no target)"
            )
            print(
                f"{family}: all kinds p50 {statistics.median(values):.2f} ms, p95 {p95:.2f} ms, "
                f"p95 / directory floor p95 = {p95 / floor_p95:.1f}×" + verdict
            )
    if args.renders:
        await time_render(url, viewers["staff"][0], args.renders)


#: After a load: when the page had the chart's answer, had built the chart (orgchart.js's
#: performance marks), and the next frame after it (layout and paint done), since navigation
#: start; and whether every person is in the list.
DRAWN = """n => new Promise((resolve) => {
  const at = (name) => performance.getEntriesByName(name)[0].startTime;
  const done = () => requestAnimationFrame(() => setTimeout(() => resolve({
    answered: at("orgchart:answered"), drawn: at("orgchart:drawn"), painted: performance.now(),
    complete: document.querySelectorAll("#chart li.person").length === n,
  })));
  if (performance.getEntriesByName("orgchart:drawn").length) return done();
  new PerformanceObserver((list, observer) => {
    if (list.getEntriesByName("orgchart:drawn").length) { observer.disconnect(); done(); }
  }).observe({ type: "mark", buffered: true });
})"""


@asynccontextmanager
async def profiles_without_avatars() -> AsyncIterator[str]:
    """A stand-in for the homeserver's profile API that answers at once with no avatar, so
    every face is the widget server's initials: the faces' own route is timed, Synapse's
    media repository is not (and an unreachable homeserver would hold each face for its
    retries, queueing the page's requests behind them)."""

    async def profile(request: web.Request) -> web.Response:
        return web.json_response({"displayname": request.match_info["user_id"]})

    stand_in = web.Application()
    stand_in.router.add_get("/_matrix/client/v3/profile/{user_id}", profile)
    server = TestServer(stand_in, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


def chromium_path() -> str:
    found = os.environ.get("BOROUGH_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(found).exists():
        raise SystemExit("headless Chromium is not installed: apt-get install -y chromium")
    return found


async def time_render(url: str, user: str, renders: int) -> None:
    """Navigation start to the 300-person chart drawn, in headless Chromium, `renders` times,
    on a widget server of its own whose faces come from `profiles_without_avatars`. The page
    finds its session where a widget's first page stores it (sessionStorage), so no Element
    is needed: the time is the page's own (HTML, script, the API answer, the DOM, faces)."""
    from playwright.async_api import async_playwright

    chromium = chromium_path()
    found: dict[str, list[float]] = {"answered": [], "drawn": [], "painted": []}
    async with profiles_without_avatars() as homeserver:
        app = create_app(settings_for(url, homeserver), run_migrations=False)
        async with TestClient(TestServer(app)) as client, async_playwright() as playwright:
            base = str(client.make_url("")).rstrip("/")
            token = issue_session(app[SESSION_KEY], user, time.time())
            stored = json.dumps(
                {
                    "token": token,
                    "user_id": user,
                    "expires_in": 900,
                    "expiresAt": time.time() * 1000 + 900_000,
                }
            )
            browser = await playwright.chromium.launch(
                executable_path=chromium, args=["--no-sandbox", "--disable-dev-shm-usage"]
            )
            try:
                page = await browser.new_page(viewport={"width": 1100, "height": 900})
                await page.goto(f"{base}/healthz")
                await page.evaluate("s => sessionStorage.setItem('borough.session', s)", stored)
                chart = f"{base}/widgets/units/{CHART}?user={quote(user)}"
                for n in range(renders + 1):  # the first load warms the caches: left out
                    await page.goto(chart, wait_until="commit")
                    times = await asyncio.wait_for(page.evaluate(DRAWN, 300), timeout=60)
                    if not times["complete"]:
                        raise SystemExit("the chart was drawn without its 300 people")
                    for name in found if n else ():
                        found[name].append(times[name])
                    # Its faces load before the next page: a navigation that cancels them
                    # would time the server's cancelled requests too.
                    await page.wait_for_load_state("networkidle")
            finally:
                await browser.close()

    def line(name: str) -> str:
        values = found[name]
        return f"p50 {statistics.median(values):.0f} ms, p95 {percentile(values, 0.95):.0f} ms"

    print(
        f"\nbrowser: the 300-person chart, {renders} loads, from navigation start: "
        f"its API answer in hand {line('answered')}; built {line('drawn')}; "
        f"painted (the next frame) {line('painted')}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=20_000)
    parser.add_argument("--posts", type=int, default=1_000_000)
    parser.add_argument("--channels", type=int, default=200)
    parser.add_argument("--requests", type=int, default=100, help="rounds of requests")
    parser.add_argument("--renders", type=int, default=10, help="browser loads (0: none)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DB",
        help="build the database at DB, or reuse it if it is there (same sizes and seed)",
    )
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="copy the data into a new database on this PostgreSQL server "
        "(e.g. postgresql://postgres@127.0.0.1:5432/postgres), measure there, then drop it",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="borough-pages-") as tmp:
        path = args.keep or Path(tmp) / "borough.db"
        saved = path.with_suffix(".pages.json")
        if args.postgres:
            # Written straight into a new PostgreSQL database with COPY (queries.py's sink),
            # dropped after.
            name = f"borough_pages_{int(time.time())}"
            url = postgres_database(args.postgres, name, keep=False)
        else:
            url = f"sqlite+aiosqlite:///{path}"
        try:
            if not args.postgres and args.keep and saved.exists():
                migrate_sync(url)
                viewers, units = json.loads(saved.read_text())
                print(f"reusing {path}")
            else:
                migrate_sync(url)
                started = time.perf_counter()
                sink = PostgresSink(_libpq(url)) if args.postgres else SqliteSink(path)
                viewers = load(sink, args.people, args.posts, args.channels, args.seed)
                if args.postgres:
                    import psycopg2

                    units = shape_units(psycopg2.connect(_libpq(url)), "%s")
                else:
                    units = shape_units(sqlite3.connect(path))
                    saved.write_text(json.dumps([viewers, units]))
                print(
                    f"loaded {args.people} people and {args.posts} posts in {args.channels} "
                    f"channels, {UNITS + 14} units, in {time.perf_counter() - started:.1f} s"
                    + (f" (COPY into PostgreSQL {name})" if args.postgres else "")
                )
            asyncio.run(measure(url, viewers, units, args))
        finally:
            if args.postgres:
                _drop_database(args.postgres, name)


if __name__ == "__main__":
    main()
