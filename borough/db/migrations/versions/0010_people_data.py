"""HR import and data rights (managing-the-network issue): no tables of their own.

HR imports write the organisation's fragment (the org chart), and exports and erasures are
recorded in the audit log (0009), so this slot changes nothing.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-25
"""

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
