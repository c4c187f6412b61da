"""Benchmark: `borough apply` from scratch against a floor, and a no-op `plan`.

Two Synapses run at the same time, pinned to the same core (see
../shared/reference/measuring.md). One is provisioned by Borough (read the live state, plan,
apply with progress and the app DB). The other gets the same Synapse requests from a plain
loop with the same concurrency and no planning, retries or bookkeeping: the floor.
Prints the ratio apply/floor (target <= 1.25) and the no-op plan time (target <= 5 s).

With `--workers N` it compares topologies instead: the same `borough apply` against the worker
topology on PostgreSQL (main, N generic workers, an event persister, Redis, nginx:
borough.testing.topology) and against one Synapse process on the same PostgreSQL, both started
first and then applied one after the other (order alternating by round), so each apply has the
whole machine, as a deployment would; nothing is pinned unless `--cpu` is given. Prints the
ratio workers/single. Workers cannot speed `apply` up much, least of all on 2 cores: about
four in five of its requests are admin API calls (PUT /_synapse/admin/v2/users, POST
/_synapse/admin/v1/join) that workers.md leaves to main, so main stays the one busy process;
every event is written by the one event persister, a replication hop away; and main, the
generic workers, the persister, PostgreSQL, Redis, nginx and the apply itself share two cores,
so a second generic worker has no idle core to use.

    .venv/bin/python bench/provision.py --people 2000 --units 200
    .venv/bin/python bench/provision.py --workers 2 --people 300 --units 30
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from borough.db import create_engine, migrate, session_factory
from borough.live import LiveNetwork, read_live
from borough.matrix import MatrixClient, q
from borough.network import desired_network
from borough.org import OrgChart
from borough.testing.localsynapse import LocalSynapse
from borough.testing.topology import local_synapse
from provisioning.apply import Applier
from provisioning.plan import (
    CreateRoom,
    CreateUser,
    Join,
    Plan,
    PlanOptions,
    RoomRef,
    SetState,
    make_plan,
)

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
NAMES = ["Ali", "Bea", "Cal", "Dee", "Eve", "Fin", "Gus", "Hana", "Ivo", "Jo"]


def generate_org(people: int, units: int, sealed: bool = False) -> OrgChart:
    """One council: directorates of ten teams each, people spread over the teams. `sealed`
    gives each directorate a sealed channel, so everyone is inside one seal (and their
    registry entry names its owner)."""
    directorates = max(1, units // 10)
    unit_rows: list[dict[str, Any]] = []
    for d in range(directorates):
        unit_rows.append(
            {
                "key": f"d{d}",
                "name": f"Directorate {d}",
                "organisation": "council",
                "rooms": ["general"],
            }
        )
    for t in range(units - directorates):
        unit_rows.append(
            {
                "key": f"t{t}",
                "name": f"Team {t}",
                "parent": f"d{t % directorates}",
                "rooms": ["general", "announcements"],
            }
        )
    teams = [u["key"] for u in unit_rows if u["key"].startswith("t")] or ["d0"]
    person_rows = []
    for i in range(people):
        person_rows.append(
            {
                "username": f"p{i}",
                "display_name": f"{NAMES[i % 10]} Person{i}",
                "organisation": "council",
                "units": [teams[i % len(teams)]],
                "role": "manager" if i < len(teams) else "staff",
                "email": f"p{i}@bench.gov.uk",
            }
        )
    return OrgChart.model_validate(
        {
            "organisations": [
                {
                    "key": "council",
                    "name": "Bench Council",
                    "kind": "council",
                    "email_domains": ["bench.gov.uk"],
                    "admins": ["p0"],
                }
            ],
            "units": unit_rows,
            "people": person_rows,
            "channels": [
                {
                    "key": f"d{d}-leads",
                    "name": f"Directorate {d} leads",
                    "owner": {"unit": f"d{d}"},
                    "sealed": True,
                    "posters": {"roles": ["manager"]},
                }
                for d in range(directorates if sealed else 0)
            ],
        }
    )


async def borough_apply(
    hs: LocalSynapse, token: str, user: str, chart: OrgChart, db_url: str, concurrency: int
) -> tuple[float, Plan, float]:
    await migrate(db_url)
    engine = create_engine(db_url)
    sessions = session_factory(engine)
    async with MatrixClient(hs.base_url, token, concurrency=concurrency) as client:
        started = time.perf_counter()
        live = await read_live(client, sessions)
        plan = make_plan(desired_network(chart, hs.server_name, user), live, PlanOptions())
        await Applier(client, sessions, hs.server_name, {}, actor=user).apply(plan, lambda _: None)
        elapsed = time.perf_counter() - started
        started = time.perf_counter()
        again = make_plan(
            desired_network(chart, hs.server_name, user),
            await read_live(client, sessions),
            PlanOptions(),
        )
        noop = time.perf_counter() - started
        assert not again.changes, f"no-op plan found {len(again.changes)} changes"
    await engine.dispose()
    return elapsed, plan, noop


async def floor_apply(hs: LocalSynapse, token: str, plan: Plan, concurrency: int) -> float:
    """The same Synapse requests, sent by a plain loop: no plan reading, retries or DB."""
    ids: dict[str, str] = {}
    limit = asyncio.Semaphore(concurrency)

    def resolve(value: Any) -> Any:
        if isinstance(value, RoomRef):
            return ids[value.key]
        if isinstance(value, dict):
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [resolve(v) for v in value]
        return value

    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as http:

        async def send(method: str, path: str, body: Any) -> dict[str, Any]:
            async with limit, http.request(method, hs.base_url + path, json=body) as response:
                data: dict[str, Any] = await response.json()
                if response.status >= 300:
                    raise RuntimeError(f"{path}: {data}")
                return data

        async def run(op: Any) -> None:
            if isinstance(op, CreateUser):
                await send(
                    "PUT",
                    f"/_synapse/admin/v2/users/{q(op.user.user_id)}",
                    {
                        "displayname": op.user.display_name,
                        "threepids": [{"medium": "email", "address": op.user.email}],
                    },
                )
            elif isinstance(op, CreateRoom):
                room = op.room
                creation: dict[str, Any] = {"m.federate": room.federate}
                if room.is_space:
                    creation["type"] = "m.space"
                body = {
                    "name": room.name,
                    "room_alias_name": room.alias,
                    "preset": "private_chat",
                    "creation_content": creation,
                    "power_level_content_override": op.power_levels,
                    "initial_state": [
                        {"type": t, "state_key": resolve(k), "content": resolve(c)}
                        for t, k, c in op.initial_state
                    ],
                }
                if room.topic:
                    body["topic"] = room.topic
                ids[room.key] = (await send("POST", "/_matrix/client/v3/createRoom", body))[
                    "room_id"
                ]
            elif isinstance(op, SetState):
                await send(
                    "PUT",
                    f"/_matrix/client/v3/rooms/{q(ids[op.room_key])}/state/"
                    f"{q(op.event_type)}/{q(resolve(op.state_key))}",
                    resolve(op.content),
                )
            elif isinstance(op, Join):
                await send(
                    "POST",
                    f"/_synapse/admin/v1/join/{q(ids[op.room_key])}",
                    {"user_id": op.user_id},
                )

        started = time.perf_counter()
        for phase in plan.phases():
            await asyncio.gather(*(run(change.op) for change in phase))
        return time.perf_counter() - started


def start(
    base: Path, name: str, cpu: int | None, workers: int = 0, postgres: str | None = None
) -> tuple[LocalSynapse, str, str]:
    hs = local_synapse(base / name, workers=workers, cpu=cpu, postgres_dsn=postgres)
    hs.start(timeout=300)
    user, token = hs.register_user("borough", "bench-password-1", admin=True)
    return hs, user, token


async def one_round(
    people: int, units: int, concurrency: int, cpu: int, sealed: bool = False
) -> tuple[float, float, float, Plan]:
    chart = generate_org(people, units, sealed)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        a, a_user, a_token = start(base, "borough", cpu)
        b, _, b_token = start(base, "floor", cpu)
        try:
            # The floor replays Borough's plan, so compute it first against B's empty server.
            desired = desired_network(chart, b.server_name, a_user)
            floor_plan = make_plan(desired, LiveNetwork(), PlanOptions())
            (borough_s, plan, noop_s), floor_s = await asyncio.gather(
                borough_apply(
                    a, a_token, a_user, chart, f"sqlite+aiosqlite:///{base / 'app.db'}", concurrency
                ),
                floor_apply(b, b_token, floor_plan, concurrency),
            )
        finally:
            a.stop()
            b.stop()
    return borough_s, floor_s, noop_s, plan


async def topology_round(
    people: int, units: int, concurrency: int, cpu: int | None, workers: int, postgres: str, n: int
) -> tuple[float, float, Plan]:
    """`borough apply` of one chart on the worker topology and on one process; their times."""
    chart = generate_org(people, units)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        servers = {
            "workers": start(base, "workers", cpu, workers, postgres),
            "single": start(base, "single", cpu, 0, postgres),
        }
        try:
            times: dict[str, float] = {}
            order = ["workers", "single"] if n % 2 == 0 else ["single", "workers"]
            for name in order:
                hs, user, token = servers[name]
                db_url = f"sqlite+aiosqlite:///{base / f'app-{name}.db'}"
                times[name], plan, _ = await borough_apply(
                    hs, token, user, chart, db_url, concurrency
                )
        finally:
            for hs, _, _ in servers.values():
                hs.stop()
    return times["workers"], times["single"], plan


def compare_topologies(args: argparse.Namespace) -> None:
    postgres = args.postgres or DEFAULT_POSTGRES
    pinned = f"Synapse pinned to core {args.cpu}" if args.cpu is not None else "nothing pinned"
    ratios = []
    for n in range(args.rounds):
        workers_s, single_s, plan = asyncio.run(
            topology_round(
                args.people, args.units, args.concurrency, args.cpu, args.workers, postgres, n
            )
        )
        ratio = workers_s / single_s
        ratios.append(ratio)
        print(
            f"round {n + 1}: {len(plan.changes)} changes; borough apply on {args.workers} "
            f"workers {workers_s:.1f}s, on one process {single_s:.1f}s, ratio {ratio:.3f}",
            flush=True,
        )
    print(
        f"median apply time ratio workers/single {statistics.median(ratios):.3f} "
        f"(< 1 means the worker topology is faster); both on PostgreSQL, {pinned}, "
        f"{os.cpu_count()} cores; {args.people} people, {args.units} units, "
        f"concurrency {args.concurrency}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--sealed", action="store_true", help="give each directorate a sealed channel"
    )
    parser.add_argument(
        "--cpu",
        type=int,
        help="the core every Synapse process is pinned to (default 0; with --workers, none)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="compare the worker topology with this many generic workers against one process",
    )
    parser.add_argument(
        "--postgres",
        help=f"PostgreSQL DSN for --workers (default {DEFAULT_POSTGRES})",
    )
    args = parser.parse_args()
    if args.workers < 0:
        parser.error("--workers must be 0 or more")
    if args.workers:
        compare_topologies(args)
        return
    if args.cpu is None:
        args.cpu = 0
    ratios, noops = [], []
    for n in range(args.rounds):
        borough_s, floor_s, noop_s, plan = asyncio.run(
            one_round(args.people, args.units, args.concurrency, args.cpu, args.sealed)
        )
        counts: dict[str, int] = {}
        for change in plan.changes:
            counts[change.group] = counts.get(change.group, 0) + 1
        ratio = borough_s / floor_s
        ratios.append(ratio)
        noops.append(noop_s)
        print(f"round {n + 1}: {len(plan.changes)} changes {counts}")
        print(
            f"  borough apply {borough_s:.1f}s  floor {floor_s:.1f}s  ratio {ratio:.3f}  "
            f"no-op plan {noop_s:.2f}s",
            flush=True,
        )
    print(
        f"median apply/floor ratio {statistics.median(ratios):.3f} (target <= 1.25); "
        f"median no-op plan {statistics.median(noops):.2f}s (target <= 5 s); "
        f"{args.people} people, {args.units} units, concurrency {args.concurrency}"
    )


if __name__ == "__main__":
    main()
