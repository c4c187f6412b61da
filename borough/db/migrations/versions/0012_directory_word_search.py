"""Directory search by word start, in name order (bots issue: `!find` p95 under 20 ms).

- `directory_entries` is rebuilt (it is derived data): texts become folded word lists,
  skills and bio keep their visibility, `position` numbers people in name order with gaps,
  and `circle_text` / `tags_text` hold the marks that gate and filter an FTS search.
- SQLite: `directory_fts` becomes a word index (unicode61, accents folded, prefix indexes)
  with a column per field and per visibility level, keyed by `position`, so FTS5 yields
  matches in name order and a page stops after its rows.
- Every profile is marked dirty, so the first search builds the new entries.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

LEVELS = ("public", "partners", "staff")
# FTS column ← SQL over an entry row ({row} is NEW or OLD in a trigger). Written out here, not
# imported, so this migration keeps meaning what it meant when it ran.
FTS_COLUMNS = (
    ("name", "{row}.name_text"),
    ("title", "{row}.title_text"),
    *(
        (
            f"{field}_{level}",
            f"CASE WHEN {{row}}.{field}_visibility = '{level}' THEN {{row}}.{field}_text ELSE '' END",
        )
        for field in ("skills", "bio")
        for level in LEVELS
    ),
    ("circle", "{row}.circle_text"),
    ("tags", "{row}.tags_text"),
)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for verb in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS directory_fts_{verb}")
        op.execute("DROP TABLE IF EXISTS directory_fts")
    op.drop_table("directory_entries")
    op.create_table(
        "directory_entries",
        # On SQLite `position` is the rowid (INTEGER PRIMARY KEY), so the entries, their
        # FTS rows and every multi-row write go in name order: FTS5 flushes its buffer to
        # a new segment whenever a write's rowid goes backwards, which made a rebuild 50×
        # slower when positions followed user ids.
        sa.Column(
            "position",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=False,
        ),
        sa.Column("user_id", sa.String(255), nullable=False, unique=True),
        sa.Column("display_name", sa.String(255), nullable=False),
        sa.Column("username", sa.String(255), nullable=False),
        sa.Column("job_title", sa.String(255)),
        sa.Column("organisation", sa.String(64)),
        sa.Column("org_key", sa.String(64), index=True),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("units_text", sa.Text, nullable=False),
        sa.Column("name_text", sa.Text, nullable=False),
        sa.Column("title_text", sa.Text, nullable=False),
        sa.Column("skills_text", sa.Text, nullable=False),
        sa.Column("skills_visibility", sa.String(16)),
        sa.Column("bio_text", sa.Text, nullable=False),
        sa.Column("bio_visibility", sa.String(16)),
        sa.Column("circle_text", sa.Text, nullable=False),
        sa.Column("tags_text", sa.Text, nullable=False),
    )
    if sqlite:
        names = ", ".join(name for name, _ in FTS_COLUMNS)
        # Contentless (only positions are read back); prefix indexes make `"an"*` a lookup.
        op.execute(
            f"CREATE VIRTUAL TABLE directory_fts USING fts5({names}, content='', "
            "tokenize='unicode61 remove_diacritics 2', prefix='1 2 3')"
        )

        def values(row: str) -> str:
            return ", ".join(sql.format(row=row) for _, sql in FTS_COLUMNS)

        add = f"INSERT INTO directory_fts (rowid, {names}) VALUES (new.position, {values('new')});"
        drop = (
            f"INSERT INTO directory_fts (directory_fts, rowid, {names}) "
            f"VALUES ('delete', old.position, {values('old')});"
        )
        for verb, body in (("INSERT", add), ("DELETE", drop), ("UPDATE", drop + " " + add)):
            op.execute(
                f"CREATE TRIGGER directory_fts_{verb.lower()} AFTER {verb} ON directory_entries "
                f"BEGIN {body} END"
            )
    op.execute("DELETE FROM directory_dirty")
    op.execute("INSERT INTO directory_dirty (user_id) SELECT user_id FROM profiles")


def downgrade() -> None:
    # The entries are derived: go back to 0006's shape and let the first search rebuild them.
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        for verb in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS directory_fts_{verb}")
        op.execute("DROP TABLE IF EXISTS directory_fts")
    op.drop_table("directory_entries")
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
    if sqlite:
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
    op.execute("DELETE FROM directory_dirty")
    op.execute("INSERT INTO directory_dirty (user_id) SELECT user_id FROM profiles")
