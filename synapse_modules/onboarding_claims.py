"""Borough's own table in Synapse's database: who is onboarding whom, so it happens once.

A person's first sign-ins may reach several Synapse processes at once (nginx spreads
`/login` over the generic workers), and each runs `on_user_login`. The account-data marker
is read, then written after the work, so two processes could both see it missing and both
place the person: two joins to every room. Whoever inserts the person's row here does the
work; a row older than `CLAIM_MS` (its process died mid-way) may be taken over.
"""

from __future__ import annotations

import logging

from synapse.module_api import LoggingTransaction, ModuleApi

logger = logging.getLogger(__name__)

#: How long one process may take to place a person before another may take over.
CLAIM_MS = 30_000

_CREATE = """
    CREATE TABLE IF NOT EXISTS borough_onboarding_claims (
        user_id TEXT PRIMARY KEY,
        claimed_ms BIGINT NOT NULL
    )
"""


class OnboardingClaims:
    def __init__(self, api: ModuleApi) -> None:
        self._api = api
        self._has_table = False

    async def claim(self, person: str) -> bool:
        """Whether this process is the one to onboard `person` now."""
        await self._ensure_table()
        now = self._api.get_current_time_msec()
        claimed: bool = await self._api.run_db_interaction(
            "borough_onboarding_claim", _claim, person, now
        )
        return claimed

    async def _ensure_table(self) -> None:
        if self._has_table:
            return
        try:
            await self._api.run_db_interaction("borough_onboarding_claims_table", _create)
        except Exception:  # the driver's own error class, whichever the database
            # Two processes creating it at once: PostgreSQL lets one win and the other fails
            # on its catalog's unique index. Now it exists, and IF NOT EXISTS passes.
            logger.info("borough_onboarding_claims was being created elsewhere; asking again")
            await self._api.run_db_interaction("borough_onboarding_claims_table", _create)
        self._has_table = True


def _create(txn: LoggingTransaction) -> None:
    txn.execute(_CREATE)


def _claim(txn: LoggingTransaction, person: str, now: int) -> bool:
    txn.execute(
        "INSERT INTO borough_onboarding_claims (user_id, claimed_ms) VALUES (?, ?)"
        " ON CONFLICT (user_id) DO NOTHING",
        (person, now),
    )
    if txn.rowcount == 1:
        return True
    txn.execute(
        "UPDATE borough_onboarding_claims SET claimed_ms = ? WHERE user_id = ? AND claimed_ms <= ?",
        (now, person, now - CLAIM_MS),
    )
    return bool(txn.rowcount == 1)
