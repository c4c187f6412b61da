"""The crash suite at CI size: `kill -9` of `borough bots run` during posting and commands, and
of `borough apply` half-way, with nothing lost, duplicated or answered twice.

The drivers are bench/crash.py's, which runs the same scenarios at benchmark sizes. The seed
is random unless BOROUGH_CRASH_SEED is set; a failure names it, so it can be replayed with
`bench/crash.py bot|apply --seed SEED` or this test.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.crash import crash_apply, crash_bot, homeserver_for, write_chart

pytestmark = pytest.mark.integration


def test_a_bot_killed_at_random_loses_duplicates_and_answers_twice_nothing(
    tmp_path: Path, seed: int
) -> None:
    chart = write_chart(tmp_path / "org.yaml", people=4)
    with homeserver_for(chart, tmp_path) as (homeserver, database_url):
        counts = asyncio.run(
            crash_bot(
                homeserver,
                chart,
                database_url,
                tmp_path,
                kills=3,
                posts=36,
                commands=12,
                seed=seed,
            )
        )
    print(counts.report())
    assert counts.kills == 3, counts.report()
    assert counts.failures == 0, counts.report()


def test_an_apply_killed_at_random_converges_without_duplicates(tmp_path: Path, seed: int) -> None:
    chart = write_chart(tmp_path / "org.yaml", people=8)
    with homeserver_for(chart, tmp_path) as (homeserver, database_url):
        counts = asyncio.run(
            crash_apply(homeserver, chart, database_url, tmp_path, kills=3, seed=seed)
        )
    print(counts.report())
    # The kills are spread over the first apply's work. Only a kill that lands after an
    # apply's last change (its bar is drawn ten times a second) leaves the next one nothing.
    assert counts.kills == 3 or counts.finished_early == 1, counts.report()
    assert counts.converged, counts.report()
    assert counts.failures == 0, counts.report()
