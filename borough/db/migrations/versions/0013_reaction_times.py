"""Reactions keep their own time, so the engagement report counts them in the week they
were made rather than their post's week (management issue: a gap noted at its close).

Existing reactions take their post's time: the best the index knew.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reactions", sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE reactions SET sent_at = "
        "(SELECT posts.sent_at FROM posts WHERE posts.event_id = reactions.post_id)"
    )
    # The bot indexes a reaction only when it has the post, so none is left without a time;
    # this catches a post deleted by hand since.
    op.execute("UPDATE reactions SET sent_at = CURRENT_TIMESTAMP WHERE sent_at IS NULL")
    with op.batch_alter_table("reactions") as batch:
        batch.alter_column("sent_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index("ix_reactions_sent_at", "reactions", ["sent_at"])


def downgrade() -> None:
    op.drop_index("ix_reactions_sent_at", table_name="reactions")
    with op.batch_alter_table("reactions") as batch:
        batch.drop_column("sent_at")
