"""How the people directory is indexed and matched: one search rule, built for each backend.

The rule: a query word matches a field when its letters and digits, folded for case and
accents, are words of the field in order, the last one possibly cut short (`ana` finds "Ana"
and "analysis", not "Hana"; `emile` finds "Émile"). Everyone every word matches is a result.
People rank by how far down the fields the words had to go (all in the name, then name and
job title, then skills, then bio) and then by name, in the order `position` keeps. A unit is
found the same way in its key and name (`unit_matches`), so `comms` finds Communications.

PostgreSQL asks one GIN word index (`SqlRule`, migration 0022) whose words carry their field
and visibility, so each tier is one index query; SQLite asks its FTS5 index (`FtsRule`),
whose rows are numbered in name order, so a page of a tier is the first rows the index
yields and a common word costs the page, not the whole directory. PostgreSQL's index yields
a tier in no order, so `borough.directory` reads a tier in ranges of name order, the first
range alone when it fills the page. Both count matches up to a limit
(`borough.directory.EXACT_TOTAL`) and no further.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, cast, literal, literal_column, or_, true
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


def filter_marks(terms: SearchTerms) -> list[str]:
    """The tag marks (`entry_columns`' `tags_text`) that `org:`, `unit:` and `role:` ask for."""
    asked = [("key", terms.organisation), ("unit", terms.unit), ("role", terms.role)]
    return [mark(kind, value) for kind, value in asked if value]


#: PostgreSQL's word index of every entry (migration 0022). Not on the model: SQLite has none.
_SEARCH_WORDS: ColumnElement[Any] = literal_column("directory_entries.search_words")
#: Each field's tag in the index; skills and bio add their visibility level's digit.
_FIELD_TAGS = {"name": "n_", "title": "t_", "skills": "s", "bio": "b"}
_LEVEL_DIGITS = {"public": "0", "partners": "1", "staff": "2"}
#: Words longer than this are cut in the index, so it is asked for their start only.
LONGEST_INDEXED_WORD = 255


def organisation_tag(organisation: str | None) -> str:
    """What follows a staff-only word's tag in the index: who its owner works for (as 0022
    computes it, md5 of the organisation, of '' for none)."""
    return hashlib.md5((organisation or "").encode(), usedforsecurity=False).hexdigest()[:16]


def _indexed(phrase: Phrase) -> bool:
    return len(phrase) == 1 and len(phrase[0]) <= LONGEST_INDEXED_WORD


def _lexemes(tag: str, phrase: Phrase) -> str:
    """The phrase's words under `tag`, the last (and any cut short) as a prefix. Tokens hold
    only letters and digits, so no quote needs escaping."""
    last = len(phrase) - 1
    return " & ".join(
        f"'{tag}{word[:LONGEST_INDEXED_WORD]}'"
        + (":*" if n == last or len(word) > LONGEST_INDEXED_WORD else "")
        for n, word in enumerate(phrase)
    )


def _any(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"


def _every(parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else "(" + " & ".join(parts) + ")"


@dataclass(frozen=True)
class SqlRule:
    """The rule on PostgreSQL, for one viewer: as queries of the word index (`search_words`,
    migration 0022), and as LIKE over the entries' token texts.

    The index holds each word under its field's tag, skills and bio also under their
    visibility level, so a viewer's query names just the places they may read: the levels
    `may_see` opens on everyone, their colleagues' staff-only words (tagged with the owner's
    organisation), and all of their own, through their circle mark. For phrases of one word
    (nearly every query) the index is the rule; a longer phrase (`youth-le`) or a word past
    the index's length is found by the index's superset and then the rule's LIKE
    (`exact` says which)."""

    viewer: Viewer
    entry: type[DirectoryEntry]

    # --- the word index ---

    def exact(self, terms: SearchTerms) -> bool:
        """Whether the index alone answers these terms."""
        phrases = [*terms.words, *([terms.skill] if terms.skill else [])]
        return all(_indexed(phrase) for phrase in phrases)

    @staticmethod
    def matching(query: str | ColumnElement[str]) -> ColumnElement[bool]:
        """Entries the index finds for `query` (from `depth`, `tier_query`, `named_query`),
        given as text or as a bound parameter of one."""
        asked = query if isinstance(query, ColumnElement) else literal(query)
        return _SEARCH_WORDS.bool_op("@@")(cast(asked, TSQUERY))

    def _places(self, field: str) -> tuple[list[str], list[str]]:
        """(tags the viewer reads on everyone, tags they read only on their own entry)."""
        if field in ("name", "title"):
            return [_FIELD_TAGS[field]], []
        viewer, tag = self.viewer, _FIELD_TAGS[field]
        everyone = [
            tag + _LEVEL_DIGITS[level] for level in LEVELS if may_see(viewer, "", None, level)
        ]
        own = []
        for level in LEVELS:
            if may_see(viewer, "", None, level):
                continue
            # Staff-only words are tagged with their owner's organisation, the one thing that
            # decides who else reads them (`may_see`): a viewer's colleagues share theirs.
            placed = tag + _LEVEL_DIGITS[level]
            if level == "staff":
                placed += organisation_tag(viewer.organisation)
                if viewer.organisation and may_see(viewer, "", viewer.organisation, level):
                    everyone.append(placed)
                    continue
            own.append(placed)
        return everyone, own

    def _within(self, fields: Sequence[str], phrase: Phrase) -> str:
        """The phrase in any of `fields`, where the viewer may read it."""
        read: list[str] = []
        own: list[str] = []
        for field in fields:
            everyone, mine = self._places(field)
            read += [_lexemes(tag, phrase) for tag in everyone]
            own += [_lexemes(tag, phrase) for tag in mine]
        if own:
            me = f"'c_{mark('user', self.viewer.user_id)}'"
            read.append(f"({_any(own)} & {me})")
        return _any(read)

    def depth(self, terms: SearchTerms, depth: int) -> str:
        """Every word within the first `depth` fields, and every filter: a tsquery ('' for
        none at all)."""
        parts = [self._within(FIELDS[:depth], phrase) for phrase in terms.words]
        parts += [f"'g_{tag}'" for tag in filter_marks(terms)]
        if terms.skill:
            parts.append(self._within(("skills",), terms.skill))
        return _every(parts) if parts else ""

    def tier_count(self, terms: SearchTerms) -> int:
        return len(FIELDS) if terms.words else 1

    def tier_query(self, terms: SearchTerms, tier: int) -> str:
        """For `exact` terms, the entries in `tier` (1 is the first), in the index alone:
        those found within `tier` fields and not within one fewer."""
        found = self.depth(terms, tier if terms.words else len(FIELDS))
        return f"{found} & !{self.depth(terms, tier - 1)}" if tier > 1 else found

    def counting_queries(self, terms: SearchTerms) -> list[str]:
        """For `exact` terms, every match in queries that no entry is in twice: those found
        within the name and job title, then those found only further down. Counting up to a
        limit, a word common in names or titles is counted from the first alone, whose
        index words are the fewest."""
        if not terms.words:
            return [self.tier_query(terms, 1)]
        near = self.depth(terms, 2)
        return [near, f"{self.depth(terms, len(FIELDS))} & !{near}"]

    def named_query(self, terms: SearchTerms) -> str:
        """Every word in a name or username, as the index finds it."""
        return _every([_lexemes(_FIELD_TAGS["name"], phrase) for phrase in terms.words])

    # --- the rule as LIKE, for what the index finds only a superset of ---

    def _has(self, field: str, phrase: Phrase) -> ColumnElement[bool]:
        # `' ' + phrase` anywhere in the token text.
        column: ColumnElement[str] = getattr(self.entry, f"{field}_text")
        return column.like(f"% {' '.join(phrase)}%")

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

    def tier_conditions(self, terms: SearchTerms, tier: int) -> list[ColumnElement[bool]]:
        """The entries in `tier`, for any terms: the index where it is the rule, else its
        superset narrowed by the rule's LIKE."""
        if self.exact(terms):
            query = self.tier_query(terms, tier)
            return [self.matching(query)] if query else []
        depth = tier if terms.words else len(FIELDS)
        found = [self.matching(self.depth(terms, depth)), *self.filters(terms)]
        if terms.words:
            found.append(self.reaching(terms, tier))
            if tier > 1:  # IS NOT TRUE: a NULL organisation makes the rule NULL, not false
                found.append(self.reaching(terms, tier - 1).is_not(true()))
        return found


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
        parts += [f"tags: {tag}" for tag in filter_marks(terms)]
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
