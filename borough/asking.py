"""Ask the network's decisions, as pure functions over plain data: what `!ask` says, whom a
question is sent to, and who may read a question and its accepted answer.

The bot (`bots.ask`) gathers the data (experts from `borough.directory.experts`, the
readers of the question's room, how often each person was asked lately) and acts on the
answers; the widget server asks `may_read` before it shows an accepted answer.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from borough.directory import Expert
from borough.directory_index import tokens
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
    """The skills that answer the question: with `skill:`, those that contain its words in
    order (`housing` finds "Housing benefit"); without, those whose every word the question
    uses ("damp" in "who knows about damp in flats?")."""
    if question.skill is not None:
        wanted = tokens(question.skill)
        return tuple(s for s in skills if _contains(tokens(s), wanted))
    said = set(tokens(question.text))
    return tuple(s for s in skills if (words := tokens(s)) and set(words) <= said)


def _contains(words: tuple[str, ...], phrase: tuple[str, ...]) -> bool:
    return any(words[i : i + len(phrase)] == phrase for i in range(len(words) - len(phrase) + 1))


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
