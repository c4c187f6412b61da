"""The one bounded wait for a condition another thread or process makes true, where there
is no event to await (a bot's own database, its loop counters)."""

from __future__ import annotations

import time
from collections.abc import Callable

POLL_SECONDS = 0.05


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> None:
    """Return once `condition()` holds; after `timeout` seconds fail naming `what` waited for."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(POLL_SECONDS)
