"""Organisation names (cards and welcomes name an organisation, not its key) and the record
of the one welcome message each person gets from the bot.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "organisations",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
    )
    op.create_table(
        "welcomes_sent",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("txn_id", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("welcomes_sent")
    op.drop_table("organisations")
