"""Ask the network's decisions (borough.asking): reading `!ask`, whom a question goes to, the
daily limit, and who may read a question."""

from __future__ import annotations

import pytest

from borough.asking import (
    DAILY_LIMIT,
    MAX_PEOPLE,
    NETWORK,
    SEALED_ROOM,
    AskedQuestion,
    choose,
    matching_skills,
    may_read,
    organisation_audience,
    parse_ask,
    words_found,
)
from borough.directory import Expert
from borough.visibility import Viewer


def expert(name: str, *skills: str, org: str = "council") -> Expert:
    return Expert(f"@{name}:hs", name.capitalize(), org, skills)


def test_parse_ask_takes_filters_anywhere_and_keeps_the_question() -> None:
    asked = parse_ask(["Who", "knows", "skill:housing benefit", "about", "arrears?", "ORG:Police"])
    assert asked == AskedQuestion("Who knows about arrears?", "housing benefit", "police")


@pytest.mark.parametrize(
    ("words", "message"),
    [
        ([], "Say what you want to know"),
        (["skill:damp"], "Say what you want to know"),
        (["why?", "skill:"], "`skill:` needs a value"),
        (["why?", "org:a", "org:b"], "Give `org:` once"),
        (["why?", "skill:!!"], "needs letters or digits"),
        (["x" * 1001], "at most 1000 characters"),
    ],
)
def test_parse_ask_says_what_is_wrong(words: list[str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ask(words)


def test_skills_match_the_named_skill_in_order_or_the_question_s_words() -> None:
    skills = ("Housing benefit", "Damp and mould", "Data")
    assert matching_skills(skills, AskedQuestion("?", skill="housing")) == ("Housing benefit",)
    assert matching_skills(skills, AskedQuestion("?", skill="benefit housing")) == ()
    asked = AskedQuestion("Any advice on damp and mould in flats? Data welcome")
    assert matching_skills(skills, asked) == ("Damp and mould", "Data")
    # Every word of a skill must be in the question: "damp" alone is not "Damp and mould".
    assert matching_skills(skills, AskedQuestion("Who knows about damp?")) == ()


def test_choose_keeps_to_matching_readers_other_than_the_asker_within_org() -> None:
    people = [
        expert("ana", "damp"),
        expert("bo", "damp", org="police"),
        expert("cy", "roads"),
        expert("di", "damp"),  # cannot read the room
        expert("asker", "damp"),
    ]
    readers = {f"@{n}:hs" for n in ("ana", "bo", "cy", "asker")}
    question = AskedQuestion("damp?")
    chosen = choose("@asker:hs", people, question, readers, {})
    assert [m.expert.user_id for m in chosen] == ["@ana:hs", "@bo:hs"]
    narrowed = AskedQuestion("damp?", organisation="police")
    assert [m.expert.user_id for m in choose("@asker:hs", people, narrowed, readers, {})] == [
        "@bo:hs"
    ]


def test_choose_holds_the_daily_limit_and_prefers_more_skills_then_the_least_asked() -> None:
    people = [expert(f"p{n}", "damp") for n in range(8)] + [expert("zed", "damp", "mould")]
    readers = {p.user_id for p in people}
    recent = {"@p0:hs": DAILY_LIMIT, "@p1:hs": DAILY_LIMIT - 1, "@p2:hs": 1}
    chosen = choose("@x:hs", people, AskedQuestion("damp and mould?"), readers, recent)
    ids = [m.expert.user_id for m in chosen]
    assert len(ids) == MAX_PEOPLE
    assert ids[0] == "@zed:hs"  # two matching skills
    assert "@p0:hs" not in ids  # asked DAILY_LIMIT times already
    assert ids[1:] == ["@p3:hs", "@p4:hs", "@p5:hs", "@p6:hs"]  # never asked, by name
    assert chosen[0].skills == ("damp", "mould")


def test_a_full_day_of_questions_reaches_each_person_at_most_the_limit() -> None:
    people = [expert("only", "damp")]
    asked: dict[str, int] = {}
    sent = 0
    for _ in range(DAILY_LIMIT + 2):
        for match in choose("@x:hs", people, AskedQuestion("damp?"), {"@only:hs"}, asked):
            asked[match.expert.user_id] = asked.get(match.expert.user_id, 0) + 1
            sent += 1
    assert sent == DAILY_LIMIT


def test_who_may_read_a_question() -> None:
    staff = Viewer("@s:hs", "council", "staff")
    partner = Viewer("@p:hs", "police", "partner")
    resident = Viewer("@r:hs", None, None)
    council = organisation_audience("council")
    assert may_read(staff, NETWORK, False, ()) and may_read(partner, NETWORK, False, ())
    assert not may_read(resident, NETWORK, False, ())
    assert may_read(staff, council, False, ()) and not may_read(partner, council, False, ())
    assert may_read(resident, council, True, ())  # marked public by its asker
    # Sealed: only the room's members, whatever else is set.
    assert not may_read(staff, SEALED_ROOM, True, {"@p:hs"})
    assert may_read(partner, SEALED_ROOM, False, {"@p:hs"})


def test_answers_search_finds_word_starts_in_question_or_answer() -> None:
    assert words_found(["damp", "vent"], "Damp in flats?", "Open the ventilation")
    assert not words_found(["amp"], "Damp in flats?", "Open the ventilation")
    assert not words_found(["damp", "roof"], "Damp in flats?", "Open the ventilation")
