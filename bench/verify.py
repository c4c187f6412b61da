"""Benchmark: Jitsi token verification (`POST /verify/user_in_room`) under concurrent load.

Each verification asks the homeserver two things at once (the OpenID userinfo and the room's
state), so its floor is one bare `openid/userinfo` call to the same Synapse. The two kinds of
request are sent *interleaved by the same workers at the same time*, so the machine's drift
hits both alike (see reference/measuring.md); the ratio of their percentiles is the figure.
Target: verification p95 under 50 ms. The widget server runs as `borough widgets serve` in its
own process, as in production; Synapse runs on SQLite with a room of --members members.

    .venv/bin/python bench/verify.py --requests 2000 --concurrency 8 --members 50
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from borough.testing.localsynapse import LocalSynapse, free_port

REPO = Path(__file__).resolve().parents[1]


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    token: str | None = None,
    body: object = None,
) -> dict:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with http.request(method, url, json=body, headers=headers) as response:
        data = await response.json(content_type=None)
        if response.status >= 300:
            raise RuntimeError(f"{method} {url.split('?')[0]}: HTTP {response.status} {data}")
        return data


async def prepare(
    hs: LocalSynapse, http: aiohttp.ClientSession, members: int, service_token: str
) -> tuple[str, list[str]]:
    """A room with `members` members and Borough's service account, as provisioned rooms
    have; one OpenID token per member."""
    base = hs.base_url
    people = [hs.register_user(f"p{i}_{secrets.token_hex(2)}") for i in range(members)]
    owner_token = people[0][1]
    room_id = (
        await call(
            http,
            "POST",
            f"{base}/_matrix/client/v3/createRoom",
            owner_token,
            {"preset": "public_chat", "name": "Bench room"},
        )
    )["room_id"]
    await call(http, "POST", f"{base}/_matrix/client/v3/join/{quote(room_id)}", service_token, {})
    semaphore = asyncio.Semaphore(4)

    async def join_and_token(user_id: str, token: str) -> str:
        async with semaphore:
            await call(http, "POST", f"{base}/_matrix/client/v3/join/{quote(room_id)}", token, {})
            reply = await call(
                http,
                "POST",
                f"{base}/_matrix/client/v3/user/{quote(user_id)}/openid/request_token",
                token,
                {},
            )
            return str(reply["access_token"])

    tokens = [await join_and_token(*people[0])]
    tokens += await asyncio.gather(*(join_and_token(u, t) for u, t in people[1:]))
    return room_id, tokens


async def load(
    http: aiohttp.ClientSession,
    hs: LocalSynapse,
    widgets_url: str,
    room_id: str,
    tokens: list[str],
    requests: int,
    concurrency: int,
) -> tuple[list[float], list[float]]:
    verify_ms: list[float] = []
    floor_ms: list[float] = []
    queue = list(range(requests))

    async def worker() -> None:
        while queue:
            i = queue.pop()
            token = tokens[i % len(tokens)]
            # Alternate which goes first so neither always sees a warmer connection.
            pair = [("verify", token), ("floor", token)]
            for kind, tok in pair if i % 2 else reversed(pair):
                began = time.perf_counter()
                if kind == "verify":
                    body = {"token": tok, "room_id": room_id}
                    async with http.post(f"{widgets_url}/verify/user_in_room", json=body) as r:
                        answer = await r.json()
                        assert r.status == 200 and answer["results"]["room_membership"], answer
                    verify_ms.append((time.perf_counter() - began) * 1000)
                else:
                    url = f"{hs.base_url}/_matrix/federation/v1/openid/userinfo"
                    async with http.get(url, params={"access_token": tok}) as r:
                        assert r.status == 200
                        await r.read()
                    floor_ms.append((time.perf_counter() - began) * 1000)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return verify_ms, floor_ms


def start_widgets(
    workdir: Path, hs: LocalSynapse, service_token: str, user: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    settings = {
        "homeserver": {"url": hs.base_url, "server_name": hs.server_name},
        "service_account": {"user_id": user, "access_token": service_token},
        "database": {"url": f"sqlite+aiosqlite:///{workdir / 'app.db'}"},
        "jitsi": {"domain": "meet.bench", "auth": "openidtoken-jwt"},
        "widgets": {"host": "127.0.0.1", "port": port, "public_url": f"http://127.0.0.1:{port}"},
    }
    path = workdir / "borough.yaml"
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    borough = Path(sys.executable).parent / "borough"
    log = (workdir / "widgets.log").open("wb")
    proc = subprocess.Popen(
        [str(borough), "--settings", str(path), "widgets", "serve"],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    return proc, f"http://127.0.0.1:{port}"


async def wait_healthy(
    http: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("the widget server exited; see its log")
        try:
            async with http.get(f"{url}/healthz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientConnectionError:
            pass
        await asyncio.sleep(0.2)
    raise RuntimeError("the widget server did not answer /healthz")


async def main(args: argparse.Namespace) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="borough-bench-verify-"))
    hs = LocalSynapse(workdir / "synapse")
    hs.start()
    proc: subprocess.Popen[bytes] | None = None
    try:
        user, service_token = hs.register_user("borough", secrets.token_hex(8), admin=True)
        connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
        async with aiohttp.ClientSession(connector=connector) as http:
            room_id, tokens = await prepare(hs, http, args.members, service_token)
            proc, widgets_url = start_widgets(workdir, hs, service_token, user)
            await wait_healthy(http, widgets_url, proc)
            await load(
                http, hs, widgets_url, room_id, tokens, min(50, args.requests), args.concurrency
            )
            began = time.perf_counter()
            verify_ms, floor_ms = await load(
                http, hs, widgets_url, room_id, tokens, args.requests, args.concurrency
            )
            elapsed = time.perf_counter() - began
        v50, v95 = statistics.median(verify_ms), percentile(verify_ms, 0.95)
        f50, f95 = statistics.median(floor_ms), percentile(floor_ms, 0.95)
        print(
            f"{args.requests} verifications and {args.requests} bare userinfo calls, "
            f"{args.concurrency} concurrent, interleaved, room of {args.members} members, "
            f"{elapsed:.1f}s"
        )
        print(f"verify/user_in_room  p50 {v50:6.1f} ms  p95 {v95:6.1f} ms")
        print(f"openid/userinfo      p50 {f50:6.1f} ms  p95 {f95:6.1f} ms  (floor)")
        print(f"ratio verify/floor   p50 {v50 / f50:5.2f}x  p95 {v95 / f95:5.2f}x")
        print(f"target p95 < 50 ms: {'met' if v95 < 50 else 'NOT met'}")
    finally:
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        hs.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--members", type=int, default=50)
    asyncio.run(main(parser.parse_args()))
