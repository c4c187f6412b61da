"""Identity sync over SCIM 2.0: each organisation's tokens (hashed) and the Users and Groups
its identity provider wrote (widgets/scim.py).

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scim_tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("organisation", sa.String(64), nullable=False, index=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "scim_resources",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("organisation", sa.String(64), nullable=False, index=True),
        sa.Column("resource_type", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("modified_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_name", sa.String(255), nullable=True),
        sa.Column("external_id", sa.String(255), nullable=True, index=True),
        sa.Column("display_name", sa.String(255), nullable=True, index=True),
        sa.Column("emails", sa.Text(), nullable=True),
        sa.Column("username", sa.String(255), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.UniqueConstraint("organisation", "resource_type", "user_name"),
    )


def downgrade() -> None:
    op.drop_table("scim_resources")
    op.drop_table("scim_tokens")
