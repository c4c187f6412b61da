"""Profile pages (issue 17): when each person joined, so the directory can open with this
week's new joiners; the few profiles each person viewed last; and an index to find a
manager's direct reports.

`profiles.joined_at` is empty for everyone already here: Borough did not record it, and
they are not new. Every profile written from now on gets the time it was first written.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("profiles", sa.Column("joined_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_profiles_joined_at", "profiles", ["joined_at"])
    # A profile page lists the person's direct reports.
    op.create_index("ix_profiles_manager", "profiles", ["manager"])
    op.create_table(
        "profile_views",
        sa.Column("viewer", sa.String(255), primary_key=True),
        sa.Column("viewed", sa.String(255), primary_key=True),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_profile_views_viewed", "profile_views", ["viewed"])


def downgrade() -> None:
    op.drop_index("ix_profile_views_viewed", "profile_views")
    op.drop_table("profile_views")
    op.drop_index("ix_profiles_manager", "profiles")
    op.drop_index("ix_profiles_joined_at", "profiles")
    op.drop_column("profiles", "joined_at")
