"""SCIM bearer tokens: each belongs to one organisation, is shown once and kept as a SHA-256.

A token is `bst_` + its public id + `_` + a random secret. The id names it in lists and
revocations; the secret is 256 bits from `secrets`, so a plain SHA-256 is enough to keep it
(no password-style stretching: nothing to guess).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from borough.db import ScimToken, rows_changed

PREFIX = "bst_"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(
    session: AsyncSession, organisation: str, created_by: str
) -> tuple[str, str]:
    """A new token for `organisation`: its id and the token itself (shown once, never kept)."""
    token_id = secrets.token_hex(4)
    token = f"{PREFIX}{token_id}_{secrets.token_urlsafe(32)}"
    session.add(
        ScimToken(
            id=token_id,
            organisation=organisation,
            token_hash=token_hash(token),
            created_by=created_by,
            created_at=datetime.now(UTC),
        )
    )
    return token_id, token


async def revoke_token(session: AsyncSession, token_id: str) -> ScimToken | None:
    """Revoke the token with this id; the token, or None if there is no live one."""
    row = await session.get(ScimToken, token_id)
    if row is None or row.revoked_at is not None:
        return None
    changed = await rows_changed(
        session,
        update(ScimToken)
        .where(ScimToken.id == token_id, ScimToken.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC)),
    )
    return row if changed else None


async def list_tokens(session: AsyncSession, organisation: str | None) -> list[ScimToken]:
    query = select(ScimToken).order_by(ScimToken.created_at)
    if organisation is not None:
        query = query.where(ScimToken.organisation == organisation)
    return list((await session.scalars(query)).all())


async def token_of(session: AsyncSession, bearer: str) -> ScimToken | None:
    """The live token this bearer value is, or None."""
    if not bearer.startswith(PREFIX):
        return None
    row = await session.scalar(select(ScimToken).where(ScimToken.token_hash == token_hash(bearer)))
    return row if row is not None and row.revoked_at is None else None
