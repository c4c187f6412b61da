"""Benchmark: what Borough's Synapse modules cost per message send (throughput with/without).

Two Synapses, pinned to the same core and loaded at the same time, take text messages into the
sealed channel #tsealed (every event is checked); prints the with/without ratio, target >= 0.95.

With `--workers N` each of the two is the worker topology on PostgreSQL (main, N generic
workers, an event persister, its own Redis and nginx: borough.testing.topology). Every Synapse
process of both, main and workers, is pinned to the same core; Redis, nginx and PostgreSQL are
not pinned (they serve both alike) and the load generator keeps off that core as before.

    .venv/bin/python bench/module_overhead.py --seconds 40 --senders 8 --rounds 3 [--control]
    .venv/bin/python bench/module_overhead.py --workers 2 --seconds 30 --rounds 3 [--control]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from borough import events
from borough.testing.localsynapse import LocalSynapse
from borough.testing.topology import SynapseWorkers, local_synapse
from synapse_modules import homeserver_modules

REPO = Path(__file__).resolve().parents[1]
ORG = REPO / "tests" / "fixtures" / "org" / "small.yaml"
DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
POSTER = "tadmin"
CHANNEL = "tsealed"
SERVICE = "borough"


@dataclass
class Server:
    """One Synapse under test, its service account, and what the load needs to post."""

    label: str
    synapse: LocalSynapse
    modules: list[dict[str, Any]]
    service_user: str = ""
    service_token: str = ""
    poster_token: str = ""
    room_id: str = ""


@dataclass
class Sample:
    """The sends one server completed inside one window."""

    latencies: list[float] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.latencies)

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")


def borough_cli() -> str:
    beside = Path(sys.executable).with_name("borough")
    return str(beside if beside.exists() else REPO / ".venv" / "bin" / "borough")


def start_servers(servers: list[Server]) -> None:
    """Start every Synapse at once and register the admin service account on each."""

    def start(server: Server) -> None:
        # Eight Synapse processes starting on one core of a shared machine take their time.
        server.synapse.start(timeout=300)
        server.service_user, server.service_token = server.synapse.register_user(
            SERVICE, secrets.token_hex(12), admin=True
        )

    with ThreadPoolExecutor(len(servers)) as pool:
        for future in [pool.submit(start, s) for s in servers]:
            future.result()


def provision(servers: list[Server], workdir: Path) -> None:
    """Run `borough apply` for the org chart against every server at once; fail loudly."""
    procs: list[tuple[Server, subprocess.Popen[str]]] = []
    for server in servers:
        settings = workdir / f"settings-{server.label}.yaml"
        settings.write_text(
            yaml.safe_dump(
                {
                    "homeserver": {
                        "url": server.synapse.base_url,
                        "server_name": server.synapse.server_name,
                    },
                    "service_account": {
                        "user_id": server.service_user,
                        "access_token": server.service_token,
                    },
                    "database": {
                        "url": f"sqlite+aiosqlite:///{workdir / f'app-{server.label}.db'}"
                    },
                    "provisioning": {"concurrency": 4},
                }
            ),
            encoding="utf-8",
        )
        cmd = [borough_cli(), "--settings", str(settings), "apply", "-q", str(ORG)]
        procs.append(
            (
                server,
                subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
            )
        )
    for server, proc in procs:
        out, err = proc.communicate(timeout=600)
        if proc.returncode != 0:
            raise RuntimeError(
                f"borough apply on {server.label} exited {proc.returncode}\n{out}\n{err}"
            )


async def call(
    http: aiohttp.ClientSession, method: str, url: str, token: str, body: Any = None
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with http.request(method, url, json=body, headers=headers) as response:
        data: dict[str, Any] = await response.json(content_type=None)
        if response.status != 200:
            raise RuntimeError(f"{method} {url} -> {response.status}: {data}")
        return data


async def prepare(http: aiohttp.ClientSession, server: Server) -> None:
    """A token for the poster and the channel's room id, both via the service account."""
    hs = server.synapse
    poster = f"@{POSTER}:{hs.server_name}"
    login = await call(
        http,
        "POST",
        f"{hs.base_url}/_synapse/admin/v1/users/{quote(poster)}/login",
        server.service_token,
        {},
    )
    server.poster_token = login["access_token"]
    # A sealed channel has no address: find it by its Borough key among Borough's rooms.
    joined = await call(
        http, "GET", f"{hs.base_url}/_matrix/client/v3/joined_rooms", server.service_token
    )
    for room_id in joined["joined_rooms"]:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/state/{events.MANAGED}/"
        managed = await call(http, "GET", hs.base_url + path, server.service_token)
        if managed.get("key") == f"channel/{CHANNEL}":
            server.room_id = room_id
            return
    raise RuntimeError(f"apply made no channel/{CHANNEL} on {server.label}")


async def window(
    sessions: list[aiohttp.ClientSession],
    servers: list[Server],
    senders: int,
    seconds: float,
    tag: str,
) -> list[Sample]:
    """Load every server with `senders` concurrent posters for `seconds`, all at once.

    A send counts if it completes inside the window. Senders start no new send after the
    deadline; the ones in flight finish uncounted. Any failed send aborts the benchmark.
    """
    samples = [Sample() for _ in servers]
    deadline = time.monotonic() + seconds
    body = {"msgtype": "m.text", "body": "bench"}

    async def sender(http: aiohttp.ClientSession, server: Server, sample: Sample, i: int) -> None:
        url = f"{server.synapse.base_url}/_matrix/client/v3/rooms/{quote(server.room_id)}/send/m.room.message/"
        headers = {"Authorization": f"Bearer {server.poster_token}"}
        n = 0
        while (began := time.monotonic()) < deadline:
            async with http.put(f"{url}{tag}-{i}-{n}", json=body, headers=headers) as response:
                data = await response.read()
                if response.status != 200:
                    raise RuntimeError(
                        f"send to {server.label} -> {response.status}: {data[:500]!r}"
                    )
            done = time.monotonic()
            if done <= deadline:
                sample.latencies.append(done - began)
            n += 1

    # Interleave the servers' senders so neither gets a head start.
    await asyncio.gather(
        *(
            sender(sessions[s], servers[s], samples[s], i)
            for i in range(senders)
            for s in range(len(servers))
        )
    )
    return samples


async def measure(
    servers: list[Server], senders: int, seconds: float, rounds: int, warmup: float
) -> list[list[Sample]]:
    timeout = aiohttp.ClientTimeout(total=120)
    sessions = [
        aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=senders), timeout=timeout, trust_env=False
        )
        for _ in servers
    ]
    try:
        for http, server in zip(sessions, servers, strict=True):
            await prepare(http, server)
        run = secrets.token_hex(4)
        if warmup > 0:
            await window(sessions, servers, senders, warmup, f"{run}-w")
        results = []
        for n in range(rounds):
            samples = await window(sessions, servers, senders, seconds, f"{run}-{n}")
            a, b = samples
            ratio = a.count / b.count if b.count else float("nan")
            print(
                f"round {n + 1}: A {a.count} sends ({a.count / seconds:.1f} msg/s, "
                f"p50 {a.p50_ms:.0f} ms)  B {b.count} sends ({b.count / seconds:.1f} msg/s, "
                f"p50 {b.p50_ms:.0f} ms)  ratio {ratio:.3f}",
                flush=True,
            )
            results.append(samples)
        return results
    finally:
        for http in sessions:
            await http.close()


def process_logs(synapse: LocalSynapse) -> list[Path]:
    """The log of every Synapse process: main's, and each worker's on the worker topology."""
    if isinstance(synapse, SynapseWorkers):
        return [synapse.log_path, *(synapse.worker_log_path(w) for w in synapse.layout.workers)]
    return [synapse.log_path]


def check_loaded_modules(server: Server) -> list[int]:
    """How many modules each Synapse process says it loaded (its log, not our config);
    raises unless every process loaded exactly the modules it was given."""
    counts = []
    for log in process_logs(server.synapse):
        count = log.read_text(encoding="utf8", errors="replace").count("Loaded module ")
        if count != len(server.modules):
            raise RuntimeError(
                f"{server.label} was given {len(server.modules)} modules but {log} "
                f"shows {count} loaded"
            )
        counts.append(count)
    return counts


def pin_client_away(cpu: int) -> str:
    """Keep this process (the load generator) off the servers' core, if there is another."""
    others = os.sched_getaffinity(0) - {cpu}
    if not others:
        return "shared with the servers"
    os.sched_setaffinity(0, others)
    return ",".join(str(c) for c in sorted(others))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=40, help="length of one window")
    parser.add_argument("--senders", type=int, default=8, help="concurrent senders per server")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=0, help="the core both Synapses are pinned to")
    parser.add_argument(
        "--warmup", type=float, default=3, help="an uncounted load before round 1 (seconds)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="run both servers as the worker topology with this many generic workers",
    )
    parser.add_argument(
        "--postgres",
        help=f"PostgreSQL DSN for both servers (with --workers: default {DEFAULT_POSTGRES})",
    )
    parser.add_argument(
        "--control",
        nargs="?",
        const="modules",
        choices=["modules", "bare"],
        help="A/A control: both servers with the modules (default) or both bare",
    )
    args = parser.parse_args()
    if args.workers < 0:
        parser.error("--workers must be 0 or more")
    postgres = args.postgres or (DEFAULT_POSTGRES if args.workers else None)

    modules = homeserver_modules()
    if args.control == "modules":
        a_modules, b_modules = modules, modules
    elif args.control == "bare":
        a_modules, b_modules = [], []
    else:
        a_modules, b_modules = modules, []
    names = [str(m.get("module", "?")) for m in a_modules]
    print(f"A loads {len(a_modules)} modules {names}; B loads {len(b_modules)}")
    if args.control is None and not a_modules:
        print("(homeserver_modules() returned no modules: this run is in effect an A/A control)")

    with tempfile.TemporaryDirectory(prefix="borough-module-bench-") as tmp:
        workdir = Path(tmp)
        servers = [
            Server(
                label,
                local_synapse(
                    workdir / label.lower(),
                    workers=args.workers,
                    modules=mods,
                    cpu=args.cpu,
                    postgres_dsn=postgres,
                ),
                mods,
            )
            for label, mods in (("A", a_modules), ("B", b_modules))
        ]
        try:
            start_servers(servers)
            loaded = [check_loaded_modules(s) for s in servers]
            print(f"Synapse logs (modules loaded per process): A {loaded[0]}, B {loaded[1]}")
            client_cpus = pin_client_away(args.cpu)
            provision(servers, workdir)
            shape = (
                f"worker topology ({args.workers} generic workers + event persister, "
                f"{len(loaded[0])} Synapse processes each) on PostgreSQL"
                if args.workers
                else f"one Synapse process each on {'PostgreSQL' if postgres else 'SQLite'}"
            )
            print(
                f"{shape}; every Synapse process of both on core {args.cpu}, "
                f"load generator on {client_cpus}; "
                f"{args.rounds} rounds of {args.seconds:g} s, {args.senders} senders each, "
                f"into #{CHANNEL} as @{POSTER}",
                flush=True,
            )
            results = asyncio.run(
                measure(servers, args.senders, args.seconds, args.rounds, args.warmup)
            )
        finally:
            for server in servers:
                server.synapse.stop()

    ratios = [a.count / b.count if b.count else float("nan") for a, b in results]
    a_rate = statistics.median(a.count for a, _ in results) / args.seconds
    b_rate = statistics.median(b.count for _, b in results) / args.seconds
    rounded = [round(r, 3) for r in ratios]
    tail = (
        f"rounds: {rounded}; A {a_rate:.1f} msg/s, B {b_rate:.1f} msg/s (medians); "
        f"senders {args.senders}, window {args.seconds:g} s, core {args.cpu}, "
        f"workers {args.workers}"
    )
    if args.control:
        print(
            f"CONTROL (A/A, both {args.control}, {len(a_modules)} modules each) median "
            f"throughput ratio: {statistics.median(ratios):.3f} (noise floor, expect ~1.00); "
            + tail
        )
    else:
        print(
            f"median throughput ratio with/without modules: {statistics.median(ratios):.3f} "
            f"(target >= 0.95; A loaded {len(a_modules)} modules); " + tail
        )


if __name__ == "__main__":
    main()
