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
    mentions_skill,
    names_skill,
    organisation_audience,
    parse_ask,
    skill_words,
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


@pytest.mark.parametrize(
    ("wanted", "skill"),
    [
        ("safeguarding", "Safeguarding adults"),
        ("SAFEGUARD", "Safeguarding adults"),  # any case, the start of a word
        ("adult safeguarding", "Safeguarding adults"),  # any order; a plural's s
        ("adults", "Adult social care"),
        ("policies", "Housing policy"),
        ("anti-social", "Antisocial behaviour"),
        ("antisocial", "Anti-social behaviour"),
        ("anti social", "Anti-social behaviour"),
        ("health and safety", "Health & safety"),  # joining words are not looked for
        ("benefit housing", "Housing benefit"),
    ],
)
def test_skill_names_a_skill_by_the_starts_of_its_words_in_any_order(
    wanted: str, skill: str
) -> None:
    assert names_skill(wanted, skill)
    assert matching_skills((skill, "Roads"), AskedQuestion("?", skill=wanted)) == (skill,)


@pytest.mark.parametrize(
    ("wanted", "skill"),
    [
        ("guarding", "Safeguarding adults"),  # inside a word, not at its start
        ("safeguarding children", "Safeguarding adults"),  # every word is needed
        ("housing", "Roads"),
        ("antisocial", "Anti social behaviour"),  # two words, not one
    ],
)
def test_skill_does_not_name_a_skill_without_each_of_its_words(wanted: str, skill: str) -> None:
    assert not names_skill(wanted, skill)


def test_a_question_mentions_a_skill_by_any_of_its_whole_words() -> None:
    skills = ("Safeguarding adults", "Damp and mould", "Data", "Anti-social behaviour")

    def mentioned(text: str) -> tuple[str, ...]:
        return matching_skills(skills, AskedQuestion(text))

    assert mentioned("Who knows about safeguarding?") == ("Safeguarding adults",)
    assert mentioned("Any advice on damp in flats? Data welcome") == ("Damp and mould", "Data")
    assert mentioned("Mould in the stairwells again") == ("Damp and mould",)
    assert mentioned("Who deals with antisocial neighbours?") == ("Anti-social behaviour",)
    # Joining words and parts of words mention nothing: "and", "dat", "safe".
    assert mentioned("Is it safe and dated?") == ()
    assert mentions_skill(skill_words("damp?", with_parts=True), "Damp and mould")
    assert not mentions_skill(skill_words("and?", with_parts=True), "Damp and mould")
    # A question's "it" is no skill "IT"; `skill:IT` names it.
    assert matching_skills(("IT", "IT support"), AskedQuestion("Can anyone look at it?")) == ()
    assert matching_skills(("IT", "Roads"), AskedQuestion("?", skill="IT")) == ("IT",)


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
