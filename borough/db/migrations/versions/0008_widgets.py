"""Widget web views: no tables of their own (kept as the slot in the chain).

The directory, timeline and public pages read the profile, directory, channel and blog
tables; viewer sessions are signed bearer tokens, so the server keeps no session state.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-25
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to create."""


def downgrade() -> None:
    """Nothing to drop."""
