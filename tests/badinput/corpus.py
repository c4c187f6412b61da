"""The bad-input corpus's one verdict: every case is answered cleanly.

Each surface (chart YAML, includes, HR import, settings, CLI arguments, widget HTTP, bot
commands) keeps its cases in a table beside its test, and every case ends in `answered`:
no traceback in the answer or in any log record, no 5xx, within `CASE_SECONDS`, and a
message that matches the case's `expect` pattern, which names what is wrong.
"""

from __future__ import annotations

import logging
import re
import resource
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

#: A case must be answered within this; a generous bound that still catches hangs and
#: super-linear checks. The pytest-timeout below is the hard stop for a real hang (the case
#: only: starting Synapse and the bot for a module is not a case).
CASE_SECONDS = 10.0
HANG_GUARD_SECONDS = 20
#: Extra address space a case may take over what the process holds when it starts: enough for
#: any honest answer, and it turns a runaway (reading /dev/zero, an alias bomb) into a
#: MemoryError instead of the machine's OOM killer.
MEMORY_HEADROOM = 1536 * 1024**2

TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*File \".*\", line \d+", re.M)


@dataclass(frozen=True)
class Case:
    """One bad input. `expect` is a regex (case-insensitive) the answer must match."""

    id: str
    expect: str


class LogTap(logging.Handler):
    """Every log record of every logger and thread, so a traceback in a log is seen too."""

    def __init__(self) -> None:
        super().__init__(level=logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def tracebacks(self, since: int = 0) -> list[str]:
        """Records from `since` on that carry a traceback, formatted with it."""
        formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
        return [
            formatter.format(record)
            for record in self.records[since:]
            if record.exc_info or record.stack_info or TRACEBACK.search(record.getMessage())
        ]


@contextmanager
def tapped_logs() -> Iterator[LogTap]:
    tap = LogTap()
    root = logging.getLogger()
    root.addHandler(tap)
    try:
        yield tap
    finally:
        root.removeHandler(tap)


@contextmanager
def memory_cap() -> Iterator[None]:
    """Cap the address space for the duration of one offline case; the soft limit is raised
    back afterwards (an unprivileged process may do that up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/status", encoding="ascii") as status:
        vm_kib = next(int(line.split()[1]) for line in status if line.startswith("VmSize:"))
    cap = vm_kib * 1024 + MEMORY_HEADROOM
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def answered(
    case: Case,
    answer: str,
    elapsed: float,
    logs: list[str] = (),  # type: ignore[assignment]
    status: int | None = None,
) -> None:
    """The corpus's verdict on one case; the failure message shows the answer."""
    shown = answer if len(answer) < 3000 else answer[:1500] + " … " + answer[-1500:]
    assert not TRACEBACK.search(answer), f"{case.id}: a traceback in the answer:\n{shown}"
    assert not logs, f"{case.id}: a traceback in the log:\n" + "\n".join(logs)[:3000]
    if status is not None:
        assert status < 500, f"{case.id}: HTTP {status}:\n{shown}"
    assert elapsed < CASE_SECONDS, f"{case.id}: took {elapsed:.1f} s"
    assert re.search(case.expect, answer, re.I | re.S), (
        f"{case.id}: the answer does not say what is wrong (expected /{case.expect}/):\n{shown}"
    )


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.started = time.monotonic()
        self.elapsed = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.monotonic() - self.started


@dataclass(frozen=True)
class Answer:
    text: str
    exit_code: int
    elapsed: float
    logs: list[str]


def run_borough(*argv: str) -> Answer:
    """`borough ARGV` in-process, as a person would type it, under the memory cap. An
    exception that escapes the command is part of the answer (as the person would see it)."""
    from click.testing import CliRunner

    from borough.cli import main as borough_main

    with tapped_logs() as tap, Stopwatch() as watch, memory_cap():
        result = CliRunner().invoke(borough_main, list(argv), catch_exceptions=True)
    text = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        assert result.exc_info is not None
        text += "".join(traceback.format_exception(*result.exc_info))
    return Answer(text, result.exit_code, watch.elapsed, tap.tracebacks())
