"""Reposts, digests (subscriptions, periods sent, DM rooms), blogs, mirrored profiles and avatars.

Also `channels.is_public`: public channels may be shown on the open web.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("channels") as batch:
        batch.add_column(
            sa.Column("is_public", sa.Boolean, nullable=False, server_default=sa.false())
        )
    op.create_table(
        "reposts",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source_event_id", sa.String(255), nullable=False, index=True),
        sa.Column("source_room_id", sa.String(255), nullable=False),
        sa.Column("target_room_id", sa.String(255), nullable=False),
        sa.Column("reposter", sa.String(255), nullable=False, index=True),
        sa.Column("txn_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255)),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("source_event_id", "target_room_id"),
    )
    op.create_table(
        "digest_subscriptions",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("frequency", sa.String(8), nullable=False),
        sa.Column("at_time", sa.String(5), nullable=False),
        sa.Column("tz", sa.String(64), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "digests_sent",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("period", sa.String(32), primary_key=True),
        sa.Column("txn_id", sa.String(255), nullable=False),
        sa.Column("room_id", sa.String(255)),
        sa.Column("event_id", sa.String(255)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "direct_rooms",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("room_id", sa.String(255), nullable=False),
    )
    op.create_table(
        "blog_rooms",
        sa.Column("room_id", sa.String(255), primary_key=True),
        sa.Column("unit", sa.String(64), nullable=False, index=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("is_public", sa.Boolean, nullable=False),
    )
    op.create_table(
        "blog_posts",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("room_id", sa.String(255), nullable=False, index=True),
        sa.Column("unit", sa.String(64), nullable=False, index=True),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("html", sa.Text, nullable=False),
        sa.Column("summary", sa.String(300), nullable=False),
        sa.Column("media", sa.JSON, nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("edited_at", sa.DateTime(timezone=True)),
        sa.Column("is_public", sa.Boolean, nullable=False),
    )
    op.create_table(
        "blog_media",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column(
            "post_id",
            sa.String(255),
            sa.ForeignKey("blog_posts.event_id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("url", sa.String(500), nullable=False),
    )
    op.create_table(
        "mirrored_profiles",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("avatar_sha256", sa.String(64)),
    )
    op.create_table(
        "mirrored_avatars",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("mxc", sa.String(255), nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in (
        "mirrored_profiles",
        "mirrored_avatars",
        "blog_media",
        "blog_posts",
        "blog_rooms",
        "direct_rooms",
        "digests_sent",
        "digest_subscriptions",
        "reposts",
    ):
        op.drop_table(table)
    with op.batch_alter_table("channels") as batch:
        batch.drop_column("is_public")
