"""The live state as provisioning last read it, so a plan reads only what changed since.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_snapshots",
        sa.Column("reader", sa.String(64), primary_key=True),
        sa.Column("filter_version", sa.String(64), nullable=False),
        sa.Column("since", sa.Text(), nullable=False),
        sa.Column("rooms", sa.JSON(), nullable=False),
        sa.Column("saved_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("live_snapshots")
