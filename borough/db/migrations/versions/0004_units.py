"""Units of the org chart, as applied, so bots and widgets can show teams without the YAML.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "units",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("organisation", sa.String(64), nullable=False),
        sa.Column("parent", sa.String(64)),
    )


def downgrade() -> None:
    op.drop_table("units")
