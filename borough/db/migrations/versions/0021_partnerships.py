"""Partnerships in the app database (issue 17): the organisations, units and people each one
joins, as apply last wrote them, so the org chart can show a partnership's page without
asking Synapse (whose partnership spaces hold members, not what made them members).

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "partnerships",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("organisations", sa.JSON, nullable=False),
        sa.Column("units", sa.JSON, nullable=False),
        sa.Column("people", sa.JSON, nullable=False),
        sa.Column("leads", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("partnerships")
