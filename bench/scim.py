"""Benchmark: an identity provider pushes an organisation's people over SCIM.

A local Synapse and the widget server (in this process, `apply: auto`) with one council
chart whose organisation `nhs` has a fragment and ten units. The bench sends Entra ID's
sequence for each of `--users` users (GET `/Users?filter=userName eq …`, then POST), then
`--changes` department changes (PATCH, capitalised ops), `--concurrency` at a time. Each
write lands in the fragment; scoped applies run behind them, one at a time, coalesced.

Prints the SCIM requests per second of each phase against a bare `GET
/ServiceProviderConfig` floor (the same server, the same concurrency: what aiohttp and
scim2-server cost with no token, storage or chart), and the time from the last write to the
network matching the chart (the last scoped apply done, and a plan of `nhs` with nothing
left to do).

    .venv/bin/python bench/scim.py --users 5000 --changes 500
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from borough.connection import connect
from borough.db import create_engine, migrate, session_factory
from borough.org.loader import load_org_chart
from borough.settings import load_settings
from borough.testing.localsynapse import LocalSynapse, free_port
from provisioning.pipeline import plan_against_live
from provisioning.plan import PlanOptions
from widgets.app import create_app
from widgets.scim import APPLY, SYNC
from widgets.scim_tokens import create_token

UNITS = 10
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


def write_chart(folder: Path) -> Path:
    (folder / "orgs").mkdir(parents=True)
    main = {
        "include": ["orgs/nhs.yaml"],
        "organisations": [
            {"key": "council", "name": "Bench Council", "kind": "council", "admins": []},
            {"key": "nhs", "name": "Bench Health", "kind": "health", "admins": []},
        ],
    }
    (folder / "main.yaml").write_text(yaml.safe_dump(main), encoding="utf-8")
    fragment = {
        "organisation": "nhs",
        "units": [
            {"key": f"u{i}", "name": f"Unit {i}", "rooms": ["general"]} for i in range(UNITS)
        ],
        "people": [],
    }
    (folder / "orgs" / "nhs.yaml").write_text(yaml.safe_dump(fragment), encoding="utf-8")
    mapping = {
        "attributes": {"username": "userName", "display_name": "displayName"},
        "departments": {f"Department {i}": f"u{i}" for i in range(UNITS)},
    }
    (folder / "mapping.yaml").write_text(yaml.safe_dump(mapping), encoding="utf-8")
    return folder / "main.yaml"


def user_body(i: int) -> dict[str, Any]:
    return {
        "schemas": [USER, ENTERPRISE],
        "userName": f"person{i}@nhs.example.org",
        "displayName": f"Person {i}",
        "externalId": f"oid-{i}",
        "active": True,
        ENTERPRISE: {"department": f"Department {i % UNITS}"},
    }


async def run_load(
    concurrency: int, jobs: list[Callable[[], Awaitable[int]]]
) -> tuple[float, list[float]]:
    """Run `jobs` `concurrency` at a time: seconds taken and each request's milliseconds."""
    queue = list(reversed(jobs))
    timings: list[float] = []

    async def worker() -> None:
        while queue:
            job = queue.pop()
            began = time.perf_counter()
            requests = await job()
            timings.extend([(time.perf_counter() - began) * 1000 / requests] * requests)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - began, timings


async def call(
    http: aiohttp.ClientSession, method: str, url: str, token: str, body: Any = None
) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"}
    async with http.request(method, url, json=body, headers=headers) as response:
        data = await response.json(content_type=None) if response.status != 204 else None
        if response.status >= 300:
            raise RuntimeError(f"{method} {url}: {response.status} {data}")
        return data


async def bench(args: argparse.Namespace, workdir: Path, hs: LocalSynapse) -> None:
    user, service_token = hs.register_user("borough", secrets.token_hex(8), admin=True)
    chart = write_chart(workdir / "chart")
    port = free_port()
    settings_path = workdir / "borough.yaml"
    settings_path.write_text(
        yaml.safe_dump(
            {
                "homeserver": {"url": hs.base_url, "server_name": hs.server_name},
                "service_account": {"user_id": user, "access_token": service_token},
                "database": {"url": f"sqlite+aiosqlite:///{workdir / 'app.db'}"},
                "widgets": {"public_url": f"http://127.0.0.1:{port}"},
                # Hundreds of movers leave their old rooms in one apply: a deployment that
                # moves people in bulk raises the threshold (else removals wait for an admin).
                "provisioning": {"destructive_threshold": 1_000_000},
                "scim": {
                    "chart": str(chart),
                    "organisations": {
                        "nhs": {
                            "mapping": str(workdir / "chart" / "mapping.yaml"),
                            "apply": "auto",
                            "prune": True,
                        }
                    },
                },
            }
        ),
        encoding="utf-8",
    )
    settings = load_settings(settings_path)
    process = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).with_name("borough")),
        "--settings",
        str(settings_path),
        "apply",
        "-q",
        str(chart),
    )
    assert await process.wait() == 0, "the first apply failed"
    await migrate(settings.database.url)
    engine = create_engine(settings.database.url)
    async with session_factory(engine).begin() as session:
        _, token = await create_token(session, "nhs", user)
    await engine.dispose()

    app = create_app(settings, settings_path=str(settings_path))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}/scim/v2"
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=args.concurrency * 2)
        ) as http:
            ids: dict[int, str] = {}

            def create(i: int) -> Callable[[], Awaitable[int]]:
                async def job() -> int:
                    body = user_body(i)
                    query = f'?filter=userName eq "{body["userName"]}"'
                    await call(http, "GET", f"{base}/Users{query}", token)
                    ids[i] = (await call(http, "POST", f"{base}/Users", token, body))["id"]
                    return 2

                return job

            def change(i: int) -> Callable[[], Awaitable[int]]:
                async def job() -> int:
                    op = {
                        "op": "Replace",
                        "path": f"{ENTERPRISE}:department",
                        "value": f"Department {(i + 1) % UNITS}",
                    }
                    body = {"schemas": [PATCH], "Operations": [op]}
                    await call(http, "PATCH", f"{base}/Users/{ids[i]}", token, body)
                    return 1

                return job

            def floor_job() -> Callable[[], Awaitable[int]]:
                async def job() -> int:
                    await call(http, "GET", f"{base}/ServiceProviderConfig", token)
                    return 1

                return job

            floor_n = max(200, args.users)
            floor_s, floor_ms = await run_load(
                args.concurrency, [floor_job() for _ in range(floor_n)]
            )
            floor_rps = floor_n / floor_s
            say(
                f"SCIM floor: {floor_n} GET /ServiceProviderConfig, {args.concurrency} "
                f"concurrent: {floor_rps:.0f} requests/s (median {statistics.median(floor_ms):.1f} ms)"
            )
            push_s, push_ms = await run_load(
                args.concurrency, [create(i) for i in range(args.users)]
            )
            phase(
                f"push {args.users} users (GET filter + POST each)",
                2 * args.users,
                push_s,
                push_ms,
                floor_rps,
            )
            changed = range(0, args.users, max(1, args.users // max(1, args.changes)))[
                : args.changes
            ]
            change_s, change_ms = await run_load(args.concurrency, [change(i) for i in changed])
            phase(
                f"{len(changed)} department changes (PATCH)",
                len(changed),
                change_s,
                change_ms,
                floor_rps,
            )
            last_write = time.perf_counter()
            batches = app[SYNC].batches
            say(
                f"SCIM writes carried in {len(batches)} batches (mean "
                f"{statistics.mean(batches):.1f} writes, largest {max(batches)})"
            )
            while True:  # a progress line a minute while the scoped applies run
                try:
                    await asyncio.wait_for(app[APPLY].idle.wait(), 60)
                    break
                except TimeoutError:
                    say(
                        f"  … {time.perf_counter() - last_write:.0f} s after the last write: "
                        f"{len(app[APPLY].finished)} scoped applies done"
                    )
            applied = time.perf_counter()
            failed = [code for _, code in app[APPLY].finished if code]
        async with connect(str(settings_path)) as conn:
            plan, _ = await plan_against_live(
                conn,
                load_org_chart(chart),
                PlanOptions(prune=True, deactivate_leavers=True),
                organisation="nhs",
            )
        matched = time.perf_counter()
    finally:
        await runner.cleanup()
    say(
        f"SCIM last write to network matching: {matched - last_write:.1f} s "
        f"(scoped applies done after {applied - last_write:.1f} s; {len(app[APPLY].finished)} "
        f"applies in all, {len(failed)} failed; the plan after has {len(plan.changes)} changes)"
    )
    if failed or plan.changes:
        raise SystemExit("the network did not match the chart")


def say(line: str) -> None:
    print(line, flush=True)


def phase(name: str, count: int, seconds: float, timings: list[float], floor_rps: float) -> None:
    rps = count / seconds
    say(
        f"SCIM {name}: {seconds:.1f} s, {rps:.1f} requests/s "
        f"(median {statistics.median(timings):.1f} ms), floor/this {floor_rps / rps:.1f}x"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--synapse-postgres",
        metavar="DSN",
        help="run Synapse on a fresh PostgreSQL database of this server (as in production) "
        "instead of SQLite, e.g. postgresql://postgres@127.0.0.1:5432/postgres",
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="borough-bench-scim-"))
    hs = LocalSynapse(
        workdir / "synapse", server_name="bench.test", postgres_dsn=args.synapse_postgres
    )
    began = time.perf_counter()
    hs.start()
    try:
        asyncio.run(bench(args, workdir, hs))
    finally:
        hs.stop()
        load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
        say(f"wall time {time.perf_counter() - began:.0f} s; load average {load}")


if __name__ == "__main__":
    main()
