"""The microblog index: channels, posts (and thread replies), hashtags, mentions, reactions, follows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("room_id", sa.String(255), primary_key=True),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("alias", sa.String(255)),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("is_sealed", sa.Boolean, nullable=False),
        sa.Column("posters", sa.JSON, nullable=False),
        sa.Column("max_length", sa.Integer, nullable=False),
    )
    op.create_table(
        "posts",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("author", sa.String(255), nullable=False, index=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("links", sa.JSON, nullable=False),
        sa.Column("thread_root", sa.String(255), index=True),
        sa.Column("reply_count", sa.Integer, nullable=False),
        sa.Column("reaction_count", sa.Integer, nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True)),
    )
    op.create_index("posts_room_time", "posts", ["room_id", "sent_at"])
    op.create_table(
        "post_tags",
        sa.Column(
            "event_id",
            sa.String(255),
            sa.ForeignKey("posts.event_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("tag", sa.String(100), primary_key=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("post_tags_tag_time", "post_tags", ["tag", "sent_at"])
    op.create_table(
        "post_mentions",
        sa.Column(
            "event_id",
            sa.String(255),
            sa.ForeignKey("posts.event_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.String(255), primary_key=True, index=True),
    )
    op.create_table(
        "reactions",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("post_id", sa.String(255), nullable=False, index=True),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
    )
    op.create_table(
        "follows",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("room_id", sa.String(255), primary_key=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("follows", "reactions", "post_mentions", "post_tags", "posts", "channels"):
        op.drop_table(table)
