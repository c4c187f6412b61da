"""Town halls' pure parts: reading `!townhall`, the pinned list and the summary within their
budget, anonymous labels that never name a crowd of one, and what a room event means."""

from __future__ import annotations

from collections import Counter

import pytest

from borough.townhalls import (
    Asked,
    RankedQuestion,
    Redacted,
    UnitPlace,
    Voted,
    anonymous_label,
    ranked,
    unit_crowds,
)
from bots.commands import UsageError
from bots.townhall import Plan, fitted, happening, list_text, read_plan, summary_text


def question(number: int, votes: int, answered: bool = False) -> RankedQuestion:
    return RankedQuestion(number, f"Person {number}", f"Question {number}?", votes, answered, "$e")


def test_a_plan_reads_a_trailing_time_and_leaves_the_rest_as_the_title() -> None:
    assert read_plan(None) == Plan(None, None)
    assert read_plan("Budget 2027") == Plan("Budget 2027", None)
    assert read_plan("Budget at 2026-12-10 14:00") == Plan("Budget", ("2026-12-10", "14:00", None))
    assert read_plan("Q&A at tomorrow 09:30 Europe/London") == Plan(
        "Q&A", ("tomorrow", "09:30", "Europe/London")
    )
    # "at" not followed by a date is part of the title.
    assert read_plan("Questions at the depot") == Plan("Questions at the depot", None)
    assert read_plan("at today 10:00") == Plan(None, ("today", "10:00", None))


@pytest.mark.parametrize(
    ("words", "says"),
    [
        ("Budget at 2026-12-10", "Plan a town hall as"),
        ("Budget at 2026-12-10 14:00 UTC extra", "Plan a town hall as"),
        ("Budget at 2026-12-10 14:00 nowhere", "is not a timezone"),
    ],
)
def test_a_date_like_at_that_does_not_read_is_an_error_not_a_title(words: str, says: str) -> None:
    with pytest.raises(UsageError, match=says):
        read_plan(words)


def test_questions_rank_by_votes_then_by_who_asked_first() -> None:
    order = ranked([question(1, 2), question(2, 5), question(3, 2), question(4, 0)])
    assert [q.number for q in order] == [2, 1, 3, 4]


def test_the_list_shows_open_questions_ranked_and_answered_ones_by_number() -> None:
    text = list_text(
        "Budget",
        ranked([question(1, 3, answered=True), question(2, 7), question(3, 1)]),
        bot="@bot:hs",
        join_link="https://w.example/meet/x",
        is_over=False,
        budget=4000,
    )
    lines = text.splitlines()
    assert lines[0] == "🎤 Town hall: Budget"
    assert "[here](https://w.example/meet/x)" in text and "`!q QUESTION` to @bot:hs" in text
    assert lines[-3:] == [
        "1. #2 · 7 👍 · Person 2: Question 2?",
        "2. #3 · 1 👍 · Person 3: Question 3?",
        "Answered: #1",
    ]
    ended = list_text("Budget", [], bot="@b:hs", join_link=None, is_over=True, budget=4000)
    assert ended.splitlines()[0] == "🎤 Town hall: Budget (ended)" and "No questions yet." in ended


def test_a_long_list_stops_within_its_budget_and_says_how_many_more() -> None:
    many = [question(n, 100 - n) for n in range(1, 201)]
    text = list_text("Big", many, bot="@b:hs", join_link=None, is_over=False, budget=1000)
    assert len(text) <= 1000
    shown = sum(1 for line in text.splitlines() if line[:1].isdigit())
    assert 0 < shown < 200
    assert f"…and {200 - shown} more" in text
    assert fitted(["h"], ["a", "b"], ["t"], 100, "+{}") == "h\na\nb\nt"
    assert fitted(["h"], ["aaaa", "bbbb"], [], 9, "+{}") == "h\naaaa\n+1"


def test_the_summary_lists_answers_and_the_top_unanswered() -> None:
    questions = ranked([question(n, 10 - n, answered=n == 4) for n in range(1, 9)])
    text = summary_text("Budget", questions, 12, 4000)
    assert text.startswith(
        "🎤 Town hall **Budget** has ended: 12 people joined, 8 questions asked, 1 answered."
    )
    assert "- Answered: #4 · 6 👍 · Person 4: Question 4?" in text
    unanswered = [line for line in text.splitlines() if line.startswith("- Not yet")]
    assert [line.split("#")[1].split(" ")[0] for line in unanswered] == ["1", "2", "3", "5", "6"]
    assert summary_text("Quiet", [], 1, 4000).endswith(
        "1 person joined, 0 questions asked, 0 answered."
    )


UNITS = {
    "dir": UnitPlace("Directorate", None),
    "housing": UnitPlace("Housing", "dir"),
    "solo": UnitPlace("Solo desk", "dir"),
}


def test_an_anonymous_label_names_a_crowd_never_a_person() -> None:
    crowd = unit_crowds([["housing"]] * 5 + [["solo"]] + [["dir"]], UNITS)
    assert crowd == Counter({"dir": 7, "housing": 5, "solo": 1})
    assert anonymous_label("housing", UNITS, crowd, ("Council", 7)) == "Anonymous (Housing)"
    # A team of one would name its member: the directorate above it is named instead.
    assert anonymous_label("solo", UNITS, crowd, ("Council", 7)) == "Anonymous (Directorate)"
    small = unit_crowds([["solo"], ["housing"]], UNITS)
    assert anonymous_label("solo", UNITS, small, ("Council", 2)) == "Anonymous"
    assert anonymous_label(None, UNITS, crowd, ("Council", 7)) == "Anonymous (Council)"
    # Someone in two units counts once in the unit above both.
    assert unit_crowds([["housing", "solo"]], UNITS)["dir"] == 1


def test_what_room_events_mean_for_a_town_hall() -> None:
    thread = {"rel_type": "m.thread", "event_id": "$root"}
    asked = happening(
        {
            "type": "m.room.message",
            "event_id": "$q",
            "sender": "@a:hs",
            "origin_server_ts": 1_700_000_000_000,
            "content": {"msgtype": "m.text", "body": " Why? ", "m.relates_to": thread},
        }
    )
    assert isinstance(asked, Asked) and (asked.body, asked.root) == ("Why?", "$root")
    command = {"msgtype": "m.text", "body": "!answered 1", "m.relates_to": thread}
    assert (
        happening(
            {"type": "m.room.message", "event_id": "$c", "sender": "@a:hs", "content": command}
        )
        is None
    )
    top_level = {"msgtype": "m.text", "body": "Hello"}
    assert (
        happening(
            {"type": "m.room.message", "event_id": "$t", "sender": "@a:hs", "content": top_level}
        )
        is None
    )

    def reaction(key: str) -> dict[str, object]:
        relation = {"rel_type": "m.annotation", "event_id": "$q", "key": key}
        return {
            "type": "m.reaction",
            "event_id": "$r",
            "sender": "@b:hs",
            "content": {"m.relates_to": relation},
        }

    assert happening(reaction("👍")) == Voted("$r", "@b:hs", "$q")
    assert happening(reaction("👍🏽")) == Voted("$r", "@b:hs", "$q")
    assert happening(reaction("❤️")) is None
    assert happening({"type": "m.room.redaction", "redacts": "$r", "content": {}}) == Redacted("$r")
    assert happening({"type": "m.room.redaction", "content": {"redacts": "$r"}}) == Redacted("$r")
