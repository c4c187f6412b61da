"""Pure parts of moderation and the audit log: event references, lock levels, --since,
secret scrubbing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from borough.audit import REDACTED, scrub
from management.moderation import (
    EventRef,
    ModerationError,
    full_user_id,
    lock_power_levels,
    parse_event_ref,
    unlock_power_levels,
)
from management.timespan import BadSince, parse_since

EVENT = "$Qx9_a-b+c/d=e"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (EVENT, EventRef(EVENT, None)),
        (
            f"https://matrix.to/#/!room:example.org/{EVENT}?via=example.org",
            EventRef(EVENT, "!room:example.org"),
        ),
        (
            "https://matrix.to/#/%21room%3Aexample.org/%24abc?via=x",
            EventRef("$abc", "!room:example.org"),
        ),
        ("https://matrix.to/#/#news:example.org/$abc", EventRef("$abc", "#news:example.org")),
        (
            "https://app.element.io/#/room/!room:example.org/$abc",
            EventRef("$abc", "!room:example.org"),
        ),
        (
            "matrix:roomid/room:example.org/e/abc?via=example.org",
            EventRef("$abc", "!room:example.org"),
        ),
        ("matrix:r/news:example.org/e/abc", EventRef("$abc", "#news:example.org")),
    ],
)
def test_event_references(text: str, expected: EventRef) -> None:
    assert parse_event_ref(text) == expected


@pytest.mark.parametrize("text", ["", "hello", "https://example.org/x", "matrix:r/news:x"])
def test_bad_event_references(text: str) -> None:
    with pytest.raises(ModerationError):
        parse_event_ref(text)


def test_lock_raises_only_what_members_could_send_and_unlock_restores_exactly() -> None:
    current = {
        "users": {"@mod:x": 50},
        "events_default": 0,
        "events": {"m.reaction": 0, "m.room.name": 50, "m.room.power_levels": 100},
        "state_default": 50,
    }
    locked, previous = lock_power_levels(current)
    assert locked["events_default"] == 50
    assert locked["events"] == {"m.reaction": 50, "m.room.name": 50, "m.room.power_levels": 100}
    assert locked["users"] == current["users"] and locked["state_default"] == 50
    assert previous == {"events_default": 0, "events": {"m.reaction": 0}}
    # Something else changed meanwhile (apply promoted someone): kept, while the lock is undone.
    meanwhile = {**locked, "users": {"@mod:x": 50, "@new:x": 50}}
    assert unlock_power_levels(meanwhile, previous) == {**current, "users": meanwhile["users"]}


def test_unlock_restores_an_absent_events_default_as_absent() -> None:
    current = {"users": {}}
    locked, previous = lock_power_levels(current)
    assert locked["events_default"] == 50
    assert unlock_power_levels(locked, previous) == {"users": {}, "events": {}}


def test_full_user_id() -> None:
    assert full_user_id("ann", "x.org") == "@ann:x.org"
    assert full_user_id("@ann:y.org", "x.org") == "@ann:y.org"
    for bad in ("", "@ann", "ann:x"):
        with pytest.raises(ModerationError):
            full_user_id(bad, "x.org")


NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", datetime(2026, 11, 18, 12, 0, tzinfo=UTC)),
        ("12h", datetime(2026, 11, 25, 0, 0, tzinfo=UTC)),
        ("2W", datetime(2026, 11, 11, 12, 0, tzinfo=UTC)),
        ("30m", datetime(2026, 11, 25, 11, 30, tzinfo=UTC)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T09:00+01:00", datetime(2026, 11, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_since(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("soon", "neither a span"),
        ("7y", "neither a span"),
        ("2027-01-01", "in the future"),
        ("99999999999d", "too far back"),
    ],
)
def test_bad_since(text: str, message: str) -> None:
    with pytest.raises(BadSince, match=message):
        parse_since(text, NOW)


def test_scrub_hides_secrets_by_key_and_by_shape() -> None:
    details = {
        "access_token": "abc",
        "Password": "x",
        "jwtSecret": "y",
        "nested": [{"registration_token": "z", "author": "@ann:x"}],
        "note": "syt_bm90_aXQ",
        "count": 2,
        "key": "unit/housing",
    }
    assert scrub(details) == {
        "access_token": REDACTED,
        "Password": REDACTED,
        "jwtSecret": REDACTED,
        "nested": [{"registration_token": REDACTED, "author": "@ann:x"}],
        "note": REDACTED,
        "count": 2,
        "key": "unit/housing",
    }
