"""The audit log: who did what to which ids, when and why.

`record` adds an entry to the caller's session (the caller commits, so the entry lands in the
same transaction as the action). The table refuses UPDATE and DELETE at the database level
(migration 0009). Details whose key names a secret are stored as "[redacted]".
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from borough.db import AuditEntry

__all__ = ["REDACTED", "entries", "record", "scrub"]

REDACTED = "[redacted]"

# Key names that carry credentials ("access_token", "admin_password", "jwt_secret", ...).
_SECRET_KEY = re.compile(
    r"pass(word|wd|phrase)|secret|token|credential|api[_-]?key|private[_-]?key|authorization",
    re.IGNORECASE,
)
# Values that are Matrix access tokens or JWTs, whatever key they sit under.
_SECRET_VALUE = re.compile(r"^(syt_|mct_|syl_|eyJ[\w-]+\.[\w-]+\.)")


def scrub(value: Any) -> Any:
    """`value` with every secret-named key's value and every token-shaped string redacted."""
    if isinstance(value, Mapping):
        return {
            str(k): REDACTED if _SECRET_KEY.search(str(k)) else scrub(v) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    if isinstance(value, str) and _SECRET_VALUE.match(value):
        return REDACTED
    if isinstance(value, datetime):
        return value.isoformat()
    return value


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target_ids: Sequence[str],
    reason: str | None = None,
    details: Mapping[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to `session` (the caller commits) and return it."""
    entry = AuditEntry(
        actor=actor,
        action=action,
        reason=reason,
        target_ids=[str(t) for t in target_ids],
        details=scrub(dict(details or {})),
    )
    session.add(entry)
    return entry


async def entries(
    session: AsyncSession,
    *,
    since: datetime | None = None,
    actor: str | None = None,
    action: str | None = None,
    limit: int | None = None,
) -> list[AuditEntry]:
    """Audit entries, oldest first, filtered by time, actor and action (exact, or 'prefix.*')."""
    query = select(AuditEntry)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if actor is not None:
        query = query.where(AuditEntry.actor == actor)
    if action is not None:
        if action.endswith(".*"):
            query = query.where(AuditEntry.action.startswith(action[:-1], autoescape=True))
        else:
            query = query.where(AuditEntry.action == action)
    if limit is not None:
        # The newest `limit` entries, still returned oldest first.
        newest = query.order_by(AuditEntry.id.desc()).limit(limit).subquery()
        query = select(AuditEntry).join(newest, AuditEntry.id == newest.c.id)
    rows = (await session.scalars(query.order_by(AuditEntry.id))).all()
    return list(rows)
