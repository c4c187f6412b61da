"""How the people directory is indexed and matched: one search rule, built for each backend.

The rule: a query word matches a field when its letters and digits, folded for case and
accents, are words of the field in order, the last one possibly cut short (`ana` finds "Ana"
and "analysis", not "Hana"; `emile` finds "Émile"). Everyone every word matches is a result.
People rank by how far down the fields the words had to go (all in the name, then name and
job title, then skills, then bio) and then by name, in the order `position` keeps. A unit is
found the same way in its key and name (`unit_matches`), so `comms` finds Communications.

PostgreSQL runs the rule as SQL (`SqlRule`) over the entries' token texts, looking words up
in their indexed word lists first (migration 0015). SQLite asks its FTS5 index (`FtsRule`), whose rows are
numbered in name order, so a page of a tier is the first rows the index yields and a common
word costs the page, not the whole directory.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, case, cast, func, literal, literal_column, or_
from sqlalchemy.dialects.postgresql import TSQUERY

from borough.db import DirectoryEntry
from borough.visibility import Viewer, may_see, may_see_clause

#: The fields a word is looked for in, best first: the tier is how many it needed.
FIELDS = ("name", "title", "skills", "bio")
#: Visibility levels, each with its own FTS column for skills and for bio.
LEVELS = ("public", "partners", "staff")
#: Room between neighbours' positions, so most new people fit without renumbering anyone.
GAP = 1 << 20

Phrase = tuple[str, ...]
SortKey = tuple[str, str]
_TOKEN = re.compile(r"[^\W_]+")


def fold(text: str) -> str:
    """Lower case without accents, for matching and for name order."""
    if text.isascii():
        return text.lower()
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def tokens(text: str) -> Phrase:
    """The words of `text` as search sees them: folded runs of letters and digits."""
    return tuple(_TOKEN.findall(fold(text)))


def token_text(*texts: str) -> str:
    """Tokens with a space on either side, so `" " + phrase` is found only at a word start."""
    words = [word for text in texts for word in tokens(text)]
    return f" {' '.join(words)} " if words else " "


def finds(phrase: Phrase, text: str) -> bool:
    """The rule for one query word on one field, in Python: `text` is the field's
    `token_text`, so the phrase is found only where a word starts."""
    return f" {' '.join(phrase)}" in text


def unit_matches(words: Sequence[Phrase], key: str, name: str) -> bool:
    """A unit is found when every word is in its key or its name, by the people's rule: the
    key is how the chart and `unit:` name it, so `comms` finds "Communications"."""
    text = token_text(key, name)
    return bool(words) and all(finds(phrase, text) for phrase in words)


def sort_key(display_name: str, user_id: str) -> SortKey:
    return (fold(display_name), user_id)


def mark(kind: str, value: str) -> str:
    """One opaque search word standing for an organisation, unit, role or person, so the FTS
    index can gate and filter on it (the hash keeps punctuation out of the tokenizer)."""
    digest = hashlib.blake2b(f"{kind}\0{value}".encode(), digest_size=10).hexdigest()
    return f"{kind[0]}{digest}"


# --- Entries ---


class PersonColumns(Protocol):
    """The profile columns a directory entry is made from (an ORM row or a selected row)."""

    user_id: str
    username: str
    display_name: str
    job_title: str | None
    organisation: str | None
    role: str
    units: list[str]


def entry_columns(
    person: PersonColumns, skills: tuple[Any, str | None], bio: tuple[Any, str | None]
) -> dict[str, Any]:
    """A present person's entry as column values, `position` aside (see `place`).

    `skills` and `bio` are (value, visibility), visibility None when the person has none."""
    skill_list = skills[0] if isinstance(skills[0], list) else []
    circle = [mark("user", person.user_id)]
    tags = [mark("role", person.role.lower())]
    if person.organisation:
        circle.append(mark("org", person.organisation))
        tags.append(mark("key", person.organisation.lower()))
    tags += [mark("unit", unit.lower()) for unit in person.units]
    return {
        "user_id": person.user_id,
        "display_name": person.display_name,
        "username": person.username,
        "job_title": person.job_title,
        "organisation": person.organisation,
        "org_key": person.organisation.lower() if person.organisation else None,
        "role": person.role,
        # Newline-delimited, so a unit test matches one whole unit key.
        "units_text": "".join(f"\n{u.lower()}" for u in person.units) + "\n",
        "name_text": token_text(person.display_name, person.username),
        "title_text": token_text(person.job_title or ""),
        "skills_text": token_text(*map(str, skill_list)) if skills[1] else " ",
        "skills_visibility": skills[1],
        "bio_text": token_text(str(bio[0])) if bio[1] else " ",
        "bio_visibility": bio[1],
        "circle_text": " ".join(circle),
        "tags_text": " ".join(tags),
    }


def place(existing: Sequence[tuple[SortKey, int]], new: Sequence[SortKey]) -> list[int] | None:
    """Positions for `new` keys (sorted, none in `existing`) between their neighbours in
    `existing` (sorted by key), or None when some gap has no room left: renumber everyone."""
    keys = [key for key, _ in existing]
    groups: dict[int, list[int]] = {}
    for n, key in enumerate(new):
        groups.setdefault(bisect_left(keys, key), []).append(n)
    positions = [0] * len(new)
    for slot, members in groups.items():
        before = existing[slot - 1][1] if slot else 0
        after = existing[slot][1] if slot < len(existing) else before + GAP * (len(members) + 1)
        step = (after - before) // (len(members) + 1)
        if step < 1:
            return None
        for offset, n in enumerate(members, start=1):
            positions[n] = before + step * offset
    return positions


def numbered(count: int) -> list[int]:
    return [GAP * (n + 1) for n in range(count)]


# --- The rule for SQL (PostgreSQL) ---


@dataclass(frozen=True)
class SearchTerms:
    """A directory query as phrases of tokens: every word must match; filters narrow."""

    words: tuple[Phrase, ...]
    organisation: str | None = None
    unit: str | None = None
    role: str | None = None
    skill: Phrase | None = None


#: The stored word lists of each field that PostgreSQL indexes (migration 0015). They are
#: not on the model: SQLite has no such columns.
_WORD_LISTS: dict[str, ColumnElement[Any]] = {
    field: literal_column(f"directory_entries.{field}_words") for field in FIELDS
}
#: Words longer than this are cut in the word lists, so only LIKE can ask for them.
LONGEST_LISTED_WORD = 255


def _tsquery(phrase: Phrase) -> str:
    # Quoted lexemes are taken as they are (no parser, no dictionary); tokens hold only
    # letters and digits, so no quote needs escaping.
    return " & ".join([*(f"'{word}'" for word in phrase[:-1]), f"'{phrase[-1]}':*"])


@dataclass(frozen=True)
class SqlRule:
    """The rule as SQL conditions over the entries' token texts, for one viewer.

    `candidates` narrows the entries to those PostgreSQL's word indexes find (each phrase's
    words in some field's word list, the last as a prefix), a superset of the matches; the
    rule itself is then asked of those few as LIKE over the texts, cheaper per entry than
    asking the word lists again."""

    viewer: Viewer
    entry: type[DirectoryEntry]

    def _has(self, field: str, phrase: Phrase) -> ColumnElement[bool]:
        # `' ' + phrase` anywhere in the token text.
        column: ColumnElement[str] = getattr(self.entry, f"{field}_text")
        return column.like(f"% {' '.join(phrase)}%")

    def candidates(
        self, terms: SearchTerms, fields: Sequence[str] = FIELDS
    ) -> list[ColumnElement[bool]]:
        """Conditions the word indexes answer, each implied by the rule over `fields`."""
        found = [self._listed(fields, phrase) for phrase in terms.words]
        if terms.skill:
            found.append(self._listed(("skills",), terms.skill))
        return [condition for condition in found if condition is not None]

    @staticmethod
    def _listed(fields: Sequence[str], phrase: Phrase) -> ColumnElement[bool] | None:
        if any(len(word) > LONGEST_LISTED_WORD for word in phrase):
            return None  # cut short in the lists: LIKE alone asks for it
        query = cast(literal(_tsquery(phrase)), TSQUERY)
        return or_(*(_WORD_LISTS[field].bool_op("@@")(query) for field in fields))

    def _in(self, field: str, phrase: Phrase) -> ColumnElement[bool]:
        e = self.entry
        if field in ("name", "title"):
            return self._has(field, phrase)
        visible = may_see_clause(
            self.viewer, e.user_id, e.organisation, getattr(e, f"{field}_visibility")
        )
        return and_(visible, self._has(field, phrase))

    def reaching(self, terms: SearchTerms, depth: int) -> ColumnElement[bool]:
        """Every word is found within the first `depth` fields."""
        return and_(
            *(or_(*(self._in(f, phrase) for f in FIELDS[:depth])) for phrase in terms.words)
        )

    def named(self, terms: SearchTerms) -> ColumnElement[bool]:
        """Every word is found in the name or username."""
        return and_(*(self._in("name", phrase) for phrase in terms.words))

    def filters(self, terms: SearchTerms) -> list[ColumnElement[bool]]:
        e = self.entry
        found: list[ColumnElement[bool]] = []
        if terms.organisation:
            found.append(e.org_key == terms.organisation)
        if terms.unit:
            found.append(e.units_text.contains(f"\n{terms.unit}\n", autoescape=True))
        if terms.role:
            found.append(e.role == terms.role)
        if terms.skill:
            found.append(self._in("skills", terms.skill))
        return found

    def tier(self, terms: SearchTerms) -> ColumnElement[int]:
        """For a match: how far down the fields its words had to go, the furthest any word's
        first field is (the same as the first depth `reaching` holds at, asking each field
        once per word rather than once per depth)."""
        if not terms.words:
            return literal(1)  # filters alone: everyone is in the first tier
        firsts = [
            case(
                *((self._in(field, phrase), n) for n, field in enumerate(FIELDS[:-1], start=1)),
                else_=len(FIELDS),
            )
            for phrase in terms.words
        ]
        return firsts[0] if len(firsts) == 1 else func.greatest(*firsts)


# --- The rule for SQLite's FTS5 index ---


def _fts_phrase(phrase: Phrase) -> str:
    # Tokens hold only letters and digits, so no quote needs escaping.
    return '"' + " ".join(phrase) + '"*'


@dataclass(frozen=True)
class FtsRule:
    """The rule as FTS5 queries over `directory_fts`, for one viewer.

    Skills and bio have a column per visibility level. A viewer reads some levels on
    everyone and the rest only on people in their circle (their organisation, for staff
    fields, and always themselves), which the `circle` column's marks decide.
    """

    viewer: Viewer

    def _levels(self) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
        """(levels read on everyone, levels read in the circle, the circle's marks), asked of
        `may_see` itself, so the index cannot drift from the one visibility rule."""
        viewer = self.viewer
        everyone = tuple(level for level in LEVELS if may_see(viewer, "", None, level))
        circle_levels = tuple(level for level in LEVELS if level not in everyone)
        marks = [mark("user", viewer.user_id)]  # people always read their own fields
        colleagues = viewer.organisation
        if colleagues and all(may_see(viewer, "", colleagues, lvl) for lvl in circle_levels):
            marks.insert(0, mark("org", colleagues))
        return everyone, circle_levels, tuple(marks)

    def _within(self, fields: Sequence[str], phrase: Phrase) -> str:
        """The phrase in any of `fields` the viewer may read. One column filter holds all the
        columns read on everyone, so FTS5 walks the word's postings once (twice with the
        circle's columns), not once per field."""
        everyone, circle_levels, circle = self._levels()
        read, gated = [], []
        for field in fields:
            if field in ("name", "title"):
                read.append(field)
            else:
                read += [f"{field}_{level}" for level in everyone]
                gated += [f"{field}_{level}" for level in circle_levels]
        text = _fts_phrase(phrase)
        found = f"{{{' '.join(read)}}}: {text}"
        if not gated:
            return found
        marks = " OR ".join(circle)
        return f"({found} OR ({{{' '.join(gated)}}}: {text} AND circle: ({marks})))"

    def _reaching(self, terms: SearchTerms, depth: int) -> str:
        parts = [self._within(FIELDS[:depth], phrase) for phrase in terms.words]
        if terms.organisation:
            parts.append(f"tags: {mark('key', terms.organisation)}")
        if terms.unit:
            parts.append(f"tags: {mark('unit', terms.unit)}")
        if terms.role:
            parts.append(f"tags: {mark('role', terms.role)}")
        if terms.skill:
            parts.append(self._within(("skills",), terms.skill))
        return " AND ".join(parts)

    def named(self, terms: SearchTerms) -> str:
        """Every word is found in the name or username."""
        return " AND ".join(self._within(("name",), phrase) for phrase in terms.words)

    def everyone(self, terms: SearchTerms) -> str:
        return self._reaching(terms, len(FIELDS))

    def tiers(self, terms: SearchTerms) -> list[str]:
        """The queries for each tier in rank order; each row is in exactly one."""
        if not terms.words:
            return [self.everyone(terms)]
        reached = [self._reaching(terms, depth) for depth in range(1, len(FIELDS) + 1)]
        return [reached[0]] + [
            f"({reached[n]}) NOT ({reached[n - 1]})" for n in range(1, len(reached))
        ]
