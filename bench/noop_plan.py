"""Benchmark: `borough plan` against a network that is already applied (the no-op plan).

Provisioning 2,000 people takes Synapse most of an hour, so the applied server is kept in
--data and reused: the first run applies the generated chart once, later runs only start that
Synapse and time plans. Each round is split into its parts (the chart's network, the rooms'
state, the users, the app DB, the diff), with the median over rounds. Target: <= 5 s at
2,000 people and 200 units. The floor is one bare full-state /sync of the same rooms: the
least any reader of the live state must wait for.

    .venv/bin/python bench/noop_plan.py --people 2000 --units 200 --data var/bench-noop
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from provision import generate_org  # the same chart as bench/provision.py

from borough import live as live_module
from borough.db import create_engine, migrate, session_factory
from borough.matrix import MatrixClient
from borough.network import desired_network
from borough.testing.localsynapse import LocalSynapse
from provisioning.apply import Applier
from provisioning.plan import PlanOptions, make_plan

#: The kept server's service account; a benchmark-only server on loopback.
PASSWORD = "bench-noop-password"


async def provision(hs: LocalSynapse, token: str, user: str, args: argparse.Namespace) -> None:
    chart = generate_org(args.people, args.units)
    engine = create_engine(args.db_url)
    sessions = session_factory(engine)
    async with MatrixClient(hs.base_url, token, concurrency=args.concurrency) as client:
        started = time.perf_counter()
        live = await live_module.read_live(client, sessions)
        plan = make_plan(desired_network(chart, hs.server_name, user), live, PlanOptions())
        if not plan.changes:
            return
        print(f"applying {len(plan.changes)} changes (kept in {args.data})", flush=True)
        known = {key: room.room_id for key, room in live.rooms.items()}
        await Applier(client, sessions, hs.server_name, known, actor=user).apply(
            plan, lambda _: None
        )
        print(f"applied in {time.perf_counter() - started:.0f}s", flush=True)
    await engine.dispose()


async def one_round(
    hs: LocalSynapse, token: str, user: str, args: argparse.Namespace, refresh: bool
) -> dict[str, float]:
    chart = generate_org(args.people, args.units)
    engine = create_engine(args.db_url)
    sessions = session_factory(engine)
    parts: dict[str, float] = {}
    async with MatrixClient(hs.base_url, token, concurrency=args.concurrency) as client:
        started = time.perf_counter()
        desired = desired_network(chart, hs.server_name, user)
        parts["network"] = time.perf_counter() - started
        live = await live_module.read_live(client, sessions, timings=parts, refresh=refresh)
        mark = time.perf_counter()
        plan = make_plan(desired, live, PlanOptions())
        parts["diff"] = time.perf_counter() - mark
        parts["total"] = time.perf_counter() - started
        if plan.changes:
            raise SystemExit(f"the plan is not a no-op: {len(plan.changes)} changes")

        # The floor: one full-state sync of the same rooms with every state event, bare.
        mark = time.perf_counter()
        await client.request(
            "GET",
            "/_matrix/client/v3/sync",
            params={
                "filter": json.dumps(
                    {"room": {"timeline": {"limit": 0}, "not_rooms": [f"!{mark}:floor"]}}
                ),
                "full_state": "true",
                "timeout": "0",
            },
        )
        parts["floor"] = time.perf_counter() - mark
    await engine.dispose()
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--data", type=Path, default=Path("var/bench-noop"))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    args.data = (args.data / f"{args.people}-{args.units}").resolve()
    args.db_url = f"sqlite+aiosqlite:///{args.data / 'app.db'}"
    marker = args.data / "applied.json"

    hs = LocalSynapse(args.data / "synapse", server_name="bench.test")
    hs.start()
    try:
        if marker.exists():
            user, token = _login(hs, "borough", PASSWORD)
            asyncio.run(migrate(args.db_url))
        else:
            user, token = hs.register_user("borough", PASSWORD, admin=True)
            asyncio.run(migrate(args.db_url))
            asyncio.run(provision(hs, token, user, args))
            marker.write_text(json.dumps({"user": user}))
        # A server applied by an older Borough first takes what this one adds.
        asyncio.run(provision(hs, token, user, args))
        # Each kind interleaved with the other: a full read (the first plan on a new app
        # database, or --refresh), then a plan that reads only what changed since.
        full, rounds = [], []
        for _ in range(args.rounds):
            full.append(asyncio.run(one_round(hs, token, user, args, refresh=True)))
            rounds.append(asyncio.run(one_round(hs, token, user, args, refresh=False)))
    finally:
        hs.stop(keep_database=True)
    print(f"{args.people} people, {args.units} units, {args.rounds} rounds (medians):")
    print(f"  {'part':<8} {'full read':>10} {'changes only':>13}")
    for part in rounds[0]:
        if part == "floor":
            continue
        a = statistics.median(r[part] for r in full)
        b = statistics.median(r[part] for r in rounds)
        print(f"  {part:<8} {a:9.2f}s {b:12.2f}s")
    total = statistics.median(r["total"] for r in rounds)
    first = statistics.median(r["total"] for r in full)
    floor = statistics.median(r["floor"] for r in full + rounds)
    print(
        f"no-op plan {total:.2f}s (target <= 5 s); with a full read (plan --refresh) "
        f"{first:.2f}s; one bare full-state sync {floor:.2f}s; "
        f"ratios to that floor {total / floor:.2f} and {first / floor:.2f}"
    )


def _login(hs: LocalSynapse, localpart: str, password: str) -> tuple[str, str]:
    """Sign the service account in again, on a Synapse kept from an earlier run."""
    import urllib.request

    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": localpart},
        "password": password,
    }
    request = urllib.request.Request(
        f"{hs.base_url}/_matrix/client/v3/login",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = json.loads(response.read())
    return str(answer["user_id"]), str(answer["access_token"])


if __name__ == "__main__":
    main()
