"""When a digest is due, and which period it covers: pure functions of a subscription and a clock.

A daily digest is due every day at the chosen local time; a weekly one on Mondays at that time.
Each delivery has a period key (`daily:2026-11-25`, `weekly:2026-W48`), unique per person, so
a digest is sent once per period whatever restarts happen. A digest covers the posts of the
period that ends at its scheduled time. A subscription gets its first digest at the first
scheduled time after it began.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Literal, TypeGuard
from zoneinfo import ZoneInfo

Frequency = Literal["daily", "weekly"]
FREQUENCIES: tuple[Frequency, ...] = ("daily", "weekly")
DEFAULT_TIME = "08:00"
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def is_frequency(text: str) -> TypeGuard[Frequency]:
    """Whether a stored subscription's frequency is one digests are sent at."""
    return text in FREQUENCIES


def parse_time(text: str) -> time | None:
    """`HH:MM` on a 24-hour clock, or None."""
    match = _HHMM.match(text.strip())
    return time(int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class Schedule:
    frequency: Frequency
    at: time
    tz: str

    def last_due(self, now: datetime) -> datetime:
        """The latest scheduled time at or before `now` (aware, UTC)."""
        zone = ZoneInfo(self.tz)
        local = now.astimezone(zone)
        day = local.date()
        if self.frequency == "weekly":
            day -= timedelta(days=day.weekday())  # Monday
        step = timedelta(days=7 if self.frequency == "weekly" else 1)
        scheduled = datetime.combine(day, self.at, zone)
        while scheduled > local:
            day -= step
            scheduled = datetime.combine(day, self.at, zone)
        return scheduled.astimezone(UTC)

    def period(self, scheduled: datetime) -> str:
        local = scheduled.astimezone(ZoneInfo(self.tz))
        if self.frequency == "weekly":
            year, week, _ = local.isocalendar()
            return f"weekly:{year}-W{week:02d}"
        return f"daily:{local.date().isoformat()}"

    def window(self, scheduled: datetime) -> tuple[datetime, datetime]:
        """The posts a digest sent at `scheduled` covers: (start, end]."""
        return scheduled - timedelta(days=7 if self.frequency == "weekly" else 1), scheduled


@dataclass(frozen=True)
class DueDigest:
    period: str
    start: datetime
    end: datetime


def due(schedule: Schedule, since: datetime, now: datetime) -> DueDigest | None:
    """The digest to send now, or None. `since` is when the subscription began."""
    scheduled = schedule.last_due(now)
    if scheduled < since:
        return None
    start, end = schedule.window(scheduled)
    return DueDigest(schedule.period(scheduled), start, end)
