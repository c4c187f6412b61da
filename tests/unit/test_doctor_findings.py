"""`borough doctor`'s judgements over plain data: the bot's heartbeat and the Jitsi settings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from borough.bot_lease import LeaseHolder
from borough.db import BotHeartbeat
from borough.settings import JitsiSettings
from management.doctor import bot_state, jitsi_problems

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
BOT = "@boroughbot:borough.test"


def beat(ago: float, stopped: bool = False) -> BotHeartbeat:
    at = NOW - timedelta(seconds=ago)
    return BotHeartbeat(
        bot=BOT,
        holder="bots1 pid 4242",
        started_at=at - timedelta(hours=1),
        beat_at=at,
        stopped_at=at if stopped else None,
    )


def test_a_bot_beating_recently_is_running_and_named_by_its_process() -> None:
    found = bot_state(BOT, beat(ago=5), None, NOW)
    assert not found.problem
    assert found.said == f"{BOT} is running in bots1 pid 4242 (last heartbeat 5 s ago)"
    lease = LeaseHolder(
        BOT, "bots1", 4242, NOW - timedelta(hours=1), NOW, NOW + timedelta(seconds=8), 3
    )
    said = bot_state(BOT, beat(ago=5), lease, NOW).said
    assert said.endswith("; the lease is bots1 pid 4242's since 2026-12-03 11:00:00 UTC (term 3))")
    expired = LeaseHolder(BOT, "bots0", 1, NOW, NOW, NOW - timedelta(seconds=1), 2)
    assert "lease" not in bot_state(BOT, beat(ago=5), expired, NOW).said


def test_a_killed_bot_is_silent_and_named() -> None:
    found = bot_state(BOT, beat(ago=75), None, NOW)
    assert found.problem
    assert "is not running: its last heartbeat, from bots1 pid 4242, was 75 s ago" in found.said


def test_a_bot_stopped_cleanly_says_when() -> None:
    found = bot_state(BOT, beat(ago=1, stopped=True), None, NOW)
    assert found.problem
    assert "is stopped: bots1 pid 4242 stopped it at 2026-12-03 11:59:59 UTC" in found.said


def test_a_bot_that_never_ran_is_named() -> None:
    found = bot_state(BOT, None, None, NOW)
    assert found.problem and "has never run against this database" in found.said


def test_sqlite_times_without_a_zone_are_utc() -> None:
    row = beat(ago=5)
    row.beat_at = row.beat_at.replace(tzinfo=None)
    assert not bot_state(BOT, row, None, NOW).problem


def test_consistent_jitsi_settings_have_no_problems() -> None:
    assert jitsi_problems(JitsiSettings(domain="meet.borough.test")) == []
    secured = JitsiSettings(
        domain="meet.borough.test",
        auth="openidtoken-jwt",
        app_id="borough",
        app_secret="s" * 32,
        verify_token="t" * 32,
    )
    assert jitsi_problems(secured) == []


def test_each_jitsi_inconsistency_is_one_sentence() -> None:
    (url,) = jitsi_problems(JitsiSettings(domain="https://meet.borough.test/"))
    assert "give the host name only" in url
    assert jitsi_problems(JitsiSettings()) == []  # Element's own Jitsi, without auth, works
    elements = JitsiSettings(
        auth="openidtoken-jwt", app_id="borough", app_secret="s" * 32, verify_token="t" * 32
    )
    (public,) = jitsi_problems(elements)
    assert "Element's public Jitsi, which never asks Borough" in public
    (half,) = jitsi_problems(JitsiSettings(domain="meet.borough.test", app_id="borough"))
    assert "go together" in half
    secured = jitsi_problems(JitsiSettings(domain="meet.borough.test", auth="openidtoken-jwt"))
    assert len(secured) == 2
    assert "unsigned" in secured[0] and "verify_token is not set" in secured[1]
    short = JitsiSettings(domain="meet.borough.test", app_id="borough", app_secret="short")
    assert ["too short" in p for p in jitsi_problems(short)] == [True]
    plain = JitsiSettings(domain="meet.borough.test", wrapper_url="http://element.test/jitsi.html")
    assert ["must be https" in p for p in jitsi_problems(plain)] == [True]
