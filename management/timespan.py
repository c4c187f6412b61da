"""`--since 7d` or `--since 2026-11-01`: a moment in the past, as a person writes it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import click

_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadSince(ValueError):
    pass


def parse_since(text: str, now: datetime) -> datetime:
    """`30m`, `12h`, `7d`, `2w` before `now`, or an ISO date/datetime (UTC unless it says)."""
    match = _RELATIVE.match(text)
    if match:
        amount, unit = int(match.group(1)), _UNITS[match.group(2).lower()]
        try:
            return now - timedelta(**{unit: amount})
        except OverflowError:
            raise BadSince(f"'{text}' reaches too far back") from None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadSince(
            f"'{text}' is neither a span like 7d, 12h, 2w or 30m nor a date like 2026-11-01"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment > now:
        raise BadSince(f"'{text}' is in the future")
    return moment


def week_start(day: date) -> date:
    """The Monday of `day`'s ISO week."""
    return day - timedelta(days=day.weekday())


class Since(click.ParamType[datetime]):
    """A click parameter: bad input is a usage error (exit 2) that says what is accepted."""

    name = "SINCE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_since(str(value), datetime.now(UTC))
        except BadSince as exc:
            self.fail(str(exc), param, ctx)
