"""Channel membership and search indexes for the directory and feeds (bots issue, performance).

- `channel_members`: who is joined to each room the bot is in (readers of a channel).
- `directory_entries`: each present person's lower-cased searchable text, and
  `directory_dirty`: people whose entry must be rebuilt, filled by triggers on `profiles` and
  `profile_fields` (SQLite triggers; one PL/pgSQL function on PostgreSQL). Every existing
  profile starts dirty, so the first search builds the entries.
- SQLite only: `directory_fts`, an FTS5 trigram index over the entries' `search_text`, so a
  word of three or more characters finds its candidates without scanning everyone.
- `posts_feed`: top-level posts by channel and time, for the feed's per-channel newest-first
  reads; the index on `posts.thread_root` becomes partial (replies only), see upgrade().

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

WATCHED = ("profiles", "profile_fields")


def upgrade() -> None:
    op.create_table(
        "channel_members",
        sa.Column("room_id", sa.String(255), primary_key=True),
        sa.Column("user_id", sa.String(255), primary_key=True, index=True),
    )
    op.create_table(
        "directory_entries",
        sa.Column("user_id", sa.String(255), primary_key=True),
        sa.Column("display_name", sa.String(255), nullable=False, index=True),
        sa.Column("username", sa.String(255), nullable=False, index=True),
        sa.Column("job_title", sa.String(255)),
        sa.Column("organisation", sa.String(64)),
        sa.Column("org_key", sa.String(64), index=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("name_text", sa.Text, nullable=False),
        sa.Column("title_text", sa.Text, nullable=False),
        sa.Column("units_text", sa.Text, nullable=False),
        sa.Column("skills_text", sa.Text, nullable=False),
        sa.Column("skills_visibility", sa.String(16)),
        sa.Column("bio_text", sa.Text, nullable=False),
        sa.Column("bio_visibility", sa.String(16)),
        sa.Column("search_text", sa.Text, nullable=False),
    )
    op.create_table("directory_dirty", sa.Column("user_id", sa.String(255), primary_key=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION directory_mark_dirty() RETURNS trigger AS $$
            BEGIN
                IF TG_OP <> 'INSERT' THEN
                    INSERT INTO directory_dirty (user_id) VALUES (OLD.user_id)
                    ON CONFLICT DO NOTHING;
                END IF;
                IF TG_OP <> 'DELETE' THEN
                    INSERT INTO directory_dirty (user_id) VALUES (NEW.user_id)
                    ON CONFLICT DO NOTHING;
                END IF;
                RETURN NULL;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for table in WATCHED:
            op.execute(
                f"CREATE TRIGGER {table}_directory_dirty AFTER INSERT OR UPDATE OR DELETE "
                f"ON {table} FOR EACH ROW EXECUTE FUNCTION directory_mark_dirty()"
            )
    else:
        mark = "INSERT OR IGNORE INTO directory_dirty (user_id) VALUES ({}.user_id);"
        for table in WATCHED:
            for verb, rows in (
                ("INSERT", ("NEW",)),
                ("UPDATE", ("OLD", "NEW")),
                ("DELETE", ("OLD",)),
            ):
                body = " ".join(mark.format(row) for row in rows)
                op.execute(
                    f"CREATE TRIGGER {table}_directory_dirty_{verb.lower()} AFTER {verb} ON {table} "
                    f"BEGIN {body} END"
                )
        # Substring search without a full scan: a trigram index kept by triggers. Contentless:
        # only rowids are read back, and with external content each delete took ~20 ms.
        op.execute(
            "CREATE VIRTUAL TABLE directory_fts USING fts5(search_text, content='', "
            "tokenize='trigram')"
        )
        add = "INSERT INTO directory_fts (rowid, search_text) VALUES (new.rowid, new.search_text);"
        drop = (
            "INSERT INTO directory_fts (directory_fts, rowid, search_text) "
            "VALUES ('delete', old.rowid, old.search_text);"
        )
        for verb, body in (("INSERT", add), ("DELETE", drop), ("UPDATE", drop + " " + add)):
            op.execute(
                f"CREATE TRIGGER directory_fts_{verb.lower()} AFTER {verb} ON directory_entries "
                f"BEGIN {body} END"
            )
    op.execute("INSERT INTO directory_dirty (user_id) SELECT user_id FROM profiles")
    # Only replies have a thread root. A full index on it lets SQLite's planner (after ANALYZE)
    # take `thread_root IS NULL` for selective and read every top-level post of the table;
    # a partial index still serves `thread_root = ?` and leaves the feed to `posts_feed`.
    op.drop_index("ix_posts_thread_root", table_name="posts")
    op.create_index(
        "ix_posts_thread_root",
        "posts",
        ["thread_root"],
        sqlite_where=sa.text("thread_root IS NOT NULL"),
        postgresql_where=sa.text("thread_root IS NOT NULL"),
    )
    op.create_index(
        "posts_feed",
        "posts",
        ["room_id", "sent_at", "event_id"],
        sqlite_where=sa.text("thread_root IS NULL"),
        postgresql_where=sa.text("thread_root IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("posts_feed", table_name="posts")
    op.drop_index("ix_posts_thread_root", table_name="posts")
    op.create_index("ix_posts_thread_root", "posts", ["thread_root"])
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_directory_dirty ON {table}")
        op.execute("DROP FUNCTION IF EXISTS directory_mark_dirty()")
    else:
        for table in WATCHED:
            for verb in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_directory_dirty_{verb}")
        for verb in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS directory_fts_{verb}")
        op.execute("DROP TABLE IF EXISTS directory_fts")
    for table in ("directory_dirty", "directory_entries", "channel_members"):
        op.drop_table(table)
