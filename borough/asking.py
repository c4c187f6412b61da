"""Ask the network's decisions, as pure functions over plain data: what `!ask` says, whom a
question is sent to, and who may read a question and its accepted answer.

The bot (`bots.ask`) gathers the data (experts from `borough.directory.experts`, the
readers of the question's room, how often each person was asked lately) and acts on the
answers; the widget server asks `may_read` before it shows an accepted answer.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from borough.directory import Expert
from borough.directory_index import fold, tokens
from borough.visibility import Viewer

#: At most this many people are sent one question.
MAX_PEOPLE = 5
#: Nobody is sent more than this many questions within `LIMIT_WINDOW`.
DAILY_LIMIT = 3
LIMIT_WINDOW = timedelta(hours=24)
MAX_QUESTION = 1000

#: Who may read a question: everyone in an organisation, one organisation (`org:KEY`), or
#: only the members of the sealed room it was asked in, which it never leaves.
NETWORK = "network"
SEALED_ROOM = "room"


def organisation_audience(key: str) -> str:
    return f"org:{key}"


@dataclass(frozen=True)
class AskedQuestion:
    text: str
    skill: str | None = None
    #: `org:KEY`: only that organisation's people are asked.
    organisation: str | None = None


def parse_ask(words: Sequence[str]) -> AskedQuestion:
    """`How do I … skill:"housing benefit" org:police` (already split) → the question and its
    filters. A ValueError's message says what to fix."""
    filters: dict[str, str] = {}
    text: list[str] = []
    for word in words:
        name, colon, value = word.partition(":")
        if colon and name.lower() in ("skill", "org"):
            name = name.lower()
            if not value.strip():
                raise ValueError(f'`{name}:` needs a value, e.g. `skill:"housing benefit"`.')
            if name in filters:
                raise ValueError(f"Give `{name}:` once.")
            filters[name] = value.strip()
        else:
            text.append(word)
    question = " ".join(text).strip()
    if not question:
        raise ValueError(
            'Say what you want to know, e.g. `!ask Who knows damp surveys? skill:"housing"`.'
        )
    if len(question) > MAX_QUESTION:
        raise ValueError(f"A question is at most {MAX_QUESTION} characters.")
    skill = filters.get("skill")
    if skill is not None and not tokens(skill):
        raise ValueError("`skill:` needs letters or digits.")
    org = filters.get("org")
    return AskedQuestion(question, skill, org.lower() if org else None)


def matching_skills(skills: Sequence[str], question: AskedQuestion) -> tuple[str, ...]:
    """The skills that answer the question: with `skill:`, those it names (`names_skill`);
    without, those the question's words mention (`mentions_skill`)."""
    if question.skill is not None:
        return tuple(s for s in skills if names_skill(question.skill, s))
    said = set(skill_words(question.text, with_parts=True))
    return tuple(s for s in skills if mentions_skill(said, s))


#: Words that join a skill's others ("Health and safety"): saying one names no skill.
JOINING_WORDS = frozenset(
    {"a", "an", "and", "at", "by", "for", "from", "in", "of", "on", "or", "the", "to", "with"}
)
#: Words every question is full of: a skill's "IT" is not mentioned by a question's "it"
#: (`skill:IT` names it).
QUESTION_WORDS = JOINING_WORDS | frozenset(
    "about any anyone be can do how i is it know we what who you".split()
)
_COMPOUND = re.compile(r"[^\W_]+(?:-[^\W_]+)*")


def skill_words(text: str, *, with_parts: bool = False) -> tuple[str, ...]:
    """The words of a skill or a question as skills are matched: folded as search folds them,
    a hyphened word whole ("anti-social" is "antisocial", and with `with_parts` also "anti"
    and "social"), and a plural's ending dropped ("adults" is "adult", "policies" "policy")."""
    words: list[str] = []
    for compound in _COMPOUND.findall(fold(text)):
        parts = compound.split("-")
        if with_parts and len(parts) > 1:
            words += map(_singular, parts)
        words.append(_singular("".join(parts)))
    return tuple(words)


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 4 and word.endswith(("sses", "shes", "xes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def _content(words: Sequence[str]) -> list[str]:
    """The words that say something; all of them if only joining words were given."""
    return [w for w in words if w not in JOINING_WORDS] or list(words)


def names_skill(wanted: str, skill: str) -> bool:
    """`skill:WANTED` finds a skill when each of its words starts a word of the skill, in
    any order and any case: `safeguard` and `adult safeguarding` both find "Safeguarding
    adults", `anti-social` finds "Antisocial behaviour"."""
    have = skill_words(skill, with_parts=True)
    return all(any(h.startswith(w) for h in have) for w in _content(skill_words(wanted)))


def mentions_skill(said: Collection[str], skill: str) -> bool:
    """A question (its `skill_words`, with parts) mentions a skill when it says one of the
    skill's words other than the words every question uses: "Who knows about safeguarding?"
    reaches "Safeguarding adults". Whole words only: a question's "car" is not "care"."""
    return any(w in said for w in skill_words(skill) if w not in QUESTION_WORDS)


@dataclass(frozen=True)
class Match:
    expert: Expert
    skills: tuple[str, ...]


def choose(
    asker: str,
    experts: Sequence[Expert],
    question: AskedQuestion,
    readers: Collection[str],
    recently_asked: Mapping[str, int],
    limit: int = MAX_PEOPLE,
    daily_limit: int = DAILY_LIMIT,
) -> list[Match]:
    """Up to `limit` people to send the question to. Each is someone other than the asker,
    in `org:` if given, who can read the room the question is in (`readers`), was asked
    fewer than `daily_limit` times lately and has a matching skill; most matching skills
    first, then the least asked, then by name."""
    found = []
    for expert in experts:
        if expert.user_id == asker or expert.user_id not in readers:
            continue
        if question.organisation is not None and expert.organisation != question.organisation:
            continue
        if recently_asked.get(expert.user_id, 0) >= daily_limit:
            continue
        if skills := matching_skills(expert.skills, question):
            found.append(Match(expert, skills))
    found.sort(
        key=lambda m: (
            -len(m.skills),
            recently_asked.get(m.expert.user_id, 0),
            m.expert.display_name,
            m.expert.user_id,
        )
    )
    return found[:limit]


def may_read(viewer: Viewer, audience: str, is_public: bool, room_members: Collection[str]) -> bool:
    """Whether `viewer` may read a question (and its accepted answer): a public one anyone;
    a network one anyone in an organisation; an organisation's its people; one asked in a
    sealed room only that room's members."""
    if audience == SEALED_ROOM:
        return viewer.user_id in room_members
    if is_public:
        return True
    if viewer.is_community:
        return False
    if audience == NETWORK:
        return True
    return audience == organisation_audience(viewer.organisation or "")


def words_found(words: Sequence[str], *texts: str) -> bool:
    """Whether every searched word starts a word of `texts` (`!answers`)."""
    said = {w for text in texts for w in tokens(text)}
    return all(any(s.startswith(w) for s in said) for word in words for w in tokens(word))
