"""PostgreSQL: one word index for the whole directory search, visibility included, so `!find`
asks one GIN index exactly and never reads an entry it does not return or count.

0015 indexed each field's words on their own; who may read a skill or a bio was then checked
entry by entry, with the rule's LIKE, over every candidate (half the directory for a common
word: p95 19-55 ms at 20,000 people). Here every word of an entry is one lexeme of
`search_words`, tagged with where it stands (`borough.directory_index` builds the queries):

- `n_` name and username, `t_` job title;
- `s0`/`b0` public, `s1`/`b1` partners skills and bio; `s2`/`b2` staff-only ones followed
  by 16 hex digits of the md5 of the owner's organisation (`''` for none), the one level
  whose readers depend on the owner, so a staff viewer reads their colleagues' by prefix;
- `c_` the circle marks (the person's own mark lets people read all their own fields), `g_`
  the tag marks that `org:`, `unit:` and `role:` filter on.

A query word is a tagged prefix (`'s1housing':*`), so the index answers the rule exactly for
one-word phrases, with no recheck of the entries. Words are cut to 255 characters as in 0015.
The index takes new entries at once (`fastupdate = off`, as 0015 explains).

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

FIELDS = ("name", "title", "skills", "bio")
_CUT = "regexp_replace({column}, '(\\S{{255}})\\S+', '\\1', 'g')"


def _tagged(column: str, tag: str) -> str:
    return f"regexp_replace({_CUT.format(column=column)}, '(\\S+)', {tag} || '\\1', 'g')"


def _level_tag(letter: str, visibility: str) -> str:
    return (
        f"CASE {visibility} WHEN 'public' THEN '{letter}0' WHEN 'partners' THEN '{letter}1' "
        f"WHEN 'staff' THEN '{letter}2' || left(md5(coalesce(organisation, '')), 16) END"
    )


SEARCH_WORDS = (
    "array_to_tsvector(array_remove(string_to_array("
    + " || ' ' || ".join(
        [
            _tagged("name_text", "'n_'"),
            _tagged("title_text", "'t_'"),
            f"coalesce({_tagged('skills_text', _level_tag('s', 'skills_visibility'))}, '')",
            f"coalesce({_tagged('bio_text', _level_tag('b', 'bio_visibility'))}, '')",
            _tagged("circle_text", "'c_'"),
            _tagged("tags_text", "'g_'"),
        ]
    )
    + ", ' '), ''))"
)
#: 0015's word list of one field, for the downgrade.
FIELD_WORDS = (
    "array_to_tsvector(array_remove(string_to_array("
    "regexp_replace({field}_text, '(\\S{{255}})\\S+', '\\1', 'g'), ' '), ''))"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for field in FIELDS:  # their indexes go with them
        op.execute(f"ALTER TABLE directory_entries DROP COLUMN {field}_words")
    op.execute(
        "ALTER TABLE directory_entries ADD COLUMN search_words tsvector "
        f"GENERATED ALWAYS AS ({SEARCH_WORDS}) STORED"
    )
    op.execute(
        "CREATE INDEX directory_search_words ON directory_entries "
        "USING gin (search_words) WITH (fastupdate = off)"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE directory_entries DROP COLUMN search_words")
    for field in FIELDS:
        op.execute(
            f"ALTER TABLE directory_entries ADD COLUMN {field}_words tsvector "
            f"GENERATED ALWAYS AS ({FIELD_WORDS.format(field=field)}) STORED"
        )
        op.execute(
            f"CREATE INDEX directory_{field}_words ON directory_entries "
            f"USING gin ({field}_words) WITH (fastupdate = off)"
        )
