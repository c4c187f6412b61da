"""`borough bots run` as a real child process, for the benchmarks that stop, kill and restart
it (bench/indexing.py, bench/crash.py), and a bounded wait for what only its database shows."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.05


class BotProcess:
    """The bot in a process of its own, so `kill()` is a real SIGKILL: nothing runs after it."""

    def __init__(self, settings: Path, log: Path, options: tuple[str, ...] = ()) -> None:
        """`options` go before `bots run`, e.g. ("-v",) to log at INFO."""
        self.settings, self.log, self.options = settings, log, options
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def is_running(self) -> bool:
        return self.process is not None

    def died(self) -> str | None:
        """Why the bot stopped by itself (its exit code and its log's last lines), if it did."""
        if self.process is None or (code := self.process.poll()) is None:
            return None
        tail = self.log.read_text(errors="replace").splitlines()[-20:]
        return f"the bot exited by itself with code {code}:\n" + "\n".join(tail)

    def start(self) -> None:
        command = [
            str(REPO / ".venv" / "bin" / "borough"),
            "--settings",
            str(self.settings),
            *self.options,
        ]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "bots", "run"], stdout=log, stderr=log, env=dict(os.environ)
            )

    def stop(self) -> None:
        """Ask it to stop (SIGTERM), as a service manager would; SIGKILL if it hangs."""
        if self.process is None:
            return
        stop_process(self.process, 20)
        self.process = None

    def kill(self) -> None:
        """`kill -9`: no handler, no cleanup, no last commit."""
        if self.process is None:
            return
        self.process.kill()
        self.process.wait()
        self.process = None


class BotPair:
    """Two `borough bots run` processes on one app database, one acting and one standing by
    (borough.bot_lease), with BotProcess's interface: `start()` starts whichever is not
    running, `kill_pid()` is `kill -9` of one of them, chosen by the process id the lease
    names."""

    def __init__(self, settings: Path, workdir: Path) -> None:
        self.bots = [
            BotProcess(settings, workdir / f"bot-{name}.log", ("-v",)) for name in ("a", "b")
        ]
        self._ready_from = [0, 0]  # where each log stood when its process last started

    @property
    def is_running(self) -> bool:
        return all(bot.is_running for bot in self.bots)

    def died(self) -> str | None:
        return next((reason for bot in self.bots if (reason := bot.died())), None)

    def start(self) -> None:
        for n, bot in enumerate(self.bots):
            if not bot.is_running:
                self._ready_from[n] = bot.log.stat().st_size if bot.log.exists() else 0
                bot.start()

    def standing_by(self, holder: int) -> bool:
        """Whether the process other than `holder` (a pid) says, since it last started, that
        it stands by (it logs so at -v)."""
        for n, bot in enumerate(self.bots):
            if bot.pid != holder and bot.is_running and bot.log.exists():
                with bot.log.open("rb") as log:
                    log.seek(self._ready_from[n])
                    return b"standing by" in log.read()
        return False

    def kill_pid(self, pid: int) -> None:
        chosen = next((bot for bot in self.bots if bot.pid == pid), None)
        if chosen is None:
            raise RuntimeError(f"the lease names pid {pid}, which is neither bot of the pair")
        chosen.kill()

    def stop(self) -> None:
        for bot in self.bots:
            bot.stop()


async def until(condition: Callable[[], Any], seconds: float, what: str) -> None:
    """A bounded wait for a condition that has no event to await (the bot's own database).
    A plain function runs in a thread (it may block on a database); a coroutine is awaited."""
    deadline = time.monotonic() + seconds
    while True:
        if inspect.iscoroutinefunction(condition):
            held = await condition()
        else:
            held = await asyncio.to_thread(condition)
        if held:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {seconds:.0f} s")
        await asyncio.sleep(POLL_SECONDS)


def stop_process(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, as a service manager would send, then SIGKILL if it is not gone in `grace` s."""
    process.terminate()
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
