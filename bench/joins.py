"""Benchmark: a person joining a restricted room by themselves against the admin join API.

One local Synapse, a space and two rooms restricted to it, `--people` accounts already in the
space. Apply's own join (`Applier.execute(Join(...))`) puts each person in one room by the
admin join (an invitation, then the join: what apply did before) and in the other by their own
join (a token for the one join, the join, the logout: what apply does for a restricted room
now), in alternating blocks of 20, one join at a time, as Synapse takes a room's joins. Prints
the median time per join of each and the ratio admin/own (above 1: their own is faster).

    .venv/bin/python bench/joins.py --people 300 [--synapse-postgres postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from borough.db import create_engine, migrate, session_factory
from borough.matrix import MatrixClient, q
from borough.testing.localsynapse import LocalSynapse
from provisioning.apply import Applier
from provisioning.plan import Join

BLOCK = 20


async def bench(args: argparse.Namespace, workdir: Path, hs: LocalSynapse) -> None:
    admin, token = hs.register_user("borough", secrets.token_hex(8), admin=True)
    url = f"sqlite+aiosqlite:///{workdir / 'app.db'}"
    await migrate(url)
    async with MatrixClient(hs.base_url, token, concurrency=4) as client:
        space = await create(client, {"creation_content": {"type": "m.space"}})
        allow = [{"type": "m.room_membership", "room_id": space}]
        rule = {"join_rule": "restricted", "allow": allow}
        rooms = {
            name: await create(
                client, {"initial_state": [{"type": "m.room.join_rules", "content": rule}]}
            )
            for name in ("admin", "own")
        }
        people = [f"@person{i}:{hs.server_name}" for i in range(args.people)]
        for person in people:
            await client.request("PUT", f"/_synapse/admin/v2/users/{q(person)}", {})
            await client.request("POST", f"/_synapse/admin/v1/join/{q(space)}", {"user_id": person})
        applier = Applier(
            client=client,
            sessions=session_factory(create_engine(url)),
            server_name=hs.server_name,
            room_ids=rooms,
            actor=admin,
        )
        timings: dict[str, list[float]] = {"admin": [], "own": []}
        for start in range(0, len(people), BLOCK):
            block = people[start : start + BLOCK]
            for name, by_themselves in (("admin", False), ("own", True)):
                began = time.perf_counter()
                for person in block:
                    await applier.execute(Join(person, name, by_themselves))
                timings[name].append((time.perf_counter() - began) * 1000 / len(block))
        assert not applier.result.failures
    admin_ms, own_ms = statistics.median(timings["admin"]), statistics.median(timings["own"])
    print(
        f"joins to a restricted room, {args.people} people, one at a time: admin join "
        f"(invitation + join) median {admin_ms:.1f} ms, their own join (token, join, logout) "
        f"median {own_ms:.1f} ms; admin/own {admin_ms / own_ms:.2f}x",
        flush=True,
    )


async def create(client: MatrixClient, body: dict[str, object]) -> str:
    answer = await client.request(
        "POST", "/_matrix/client/v3/createRoom", {"preset": "private_chat", **body}
    )
    return str(answer["room_id"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--people", type=int, default=300)
    parser.add_argument("--synapse-postgres", metavar="DSN")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="borough-bench-joins-"))
    hs = LocalSynapse(
        workdir / "synapse", server_name="bench.test", postgres_dsn=args.synapse_postgres
    )
    hs.start()
    try:
        asyncio.run(bench(args, workdir, hs))
    finally:
        hs.stop()
        load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
        print(f"load average {load}", flush=True)


if __name__ == "__main__":
    main()
