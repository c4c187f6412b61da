"""Town halls: planned and live ones, their questions, votes and who opened the widget.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "town_halls",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("room_id", sa.String(255), nullable=False, index=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=False),
        sa.Column("timezone", sa.String(64), nullable=False),
        sa.Column("command_event_id", sa.String(255), nullable=False, unique=True),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True, index=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "meeting_id",
            sa.Integer(),
            sa.ForeignKey("meetings.id", ondelete="SET NULL"),
            nullable=True,
        ),
        sa.Column("root_event_id", sa.String(255), nullable=True),
        sa.Column("list_text", sa.Text(), nullable=True),
        sa.Column("edits_sent", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("summary_event_id", sa.String(255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "town_hall_questions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "town_hall_id",
            sa.Integer(),
            sa.ForeignKey("town_halls.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(255), nullable=True, unique=True),
        sa.Column("source_event_id", sa.String(255), nullable=False, unique=True),
        sa.Column("asker", sa.String(255), nullable=False, index=True),
        sa.Column("is_anonymous", sa.Boolean(), nullable=False),
        sa.Column("label", sa.String(255), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("town_hall_id", "number"),
    )
    op.create_table(
        "town_hall_votes",
        sa.Column("reaction_event_id", sa.String(255), primary_key=True),
        sa.Column(
            "question_id",
            sa.Integer(),
            sa.ForeignKey("town_hall_questions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("voter", sa.String(255), nullable=False),
    )
    op.create_table(
        "town_hall_viewers",
        sa.Column(
            "town_hall_id",
            sa.Integer(),
            sa.ForeignKey("town_halls.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("town_hall_viewers")
    op.drop_table("town_hall_votes")
    op.drop_table("town_hall_questions")
    op.drop_table("town_halls")
