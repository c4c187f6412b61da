"""Ask the network: questions, who each was sent to (the daily limit), and answers (bots.ask).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "questions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("command_event_id", sa.String(255), nullable=False, unique=True),
        sa.Column("room_id", sa.String(255), nullable=False),
        sa.Column("event_id", sa.String(255), unique=True),
        sa.Column("asker", sa.String(255), nullable=False, index=True),
        sa.Column("organisation", sa.String(64), index=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("skill", sa.String(100)),
        sa.Column("audience", sa.String(80), nullable=False),
        sa.Column("is_public", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("asked_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("accepted_answer", sa.String(255)),
        sa.Column("accepted_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "question_routes",
        sa.Column(
            "question_id",
            sa.Integer(),
            sa.ForeignKey("questions.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The daily limit counts one person's recent routes.
    op.create_index("ix_question_routes_user_at", "question_routes", ["user_id", "routed_at"])
    op.create_table(
        "answers",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column(
            "question_id",
            sa.Integer(),
            sa.ForeignKey("questions.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("organisation", sa.String(64)),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("answers")
    op.drop_index("ix_question_routes_user_at", "question_routes")
    op.drop_table("question_routes")
    op.drop_table("questions")
