"""The directory's word rule and name-order positions, as plain data."""

from __future__ import annotations

from borough.directory_index import GAP, fold, place, token_text, tokens


def test_words_are_folded_runs_of_letters_and_digits() -> None:
    assert tokens("Émile O'Brien-Smith") == ("emile", "o", "brien", "smith")
    assert tokens("ÉLODIE straße 100%") == ("elodie", "strasse", "100")
    assert tokens("%% -- __") == ()
    assert fold("Zoë") == "zoe"


def test_token_text_finds_only_word_starts() -> None:
    text = token_text("Hana Adams", "u00001")
    assert text == " hana adams u00001 "
    assert " " + "ana" not in text and " " + "ada" in text
    assert token_text("") == " "


def test_place_spreads_new_keys_between_neighbours() -> None:
    assert place([], [("a", "1"), ("b", "2")]) == [GAP, 2 * GAP]
    existing = [(("b", "1"), 100), (("d", "1"), 200)]
    assert place(existing, [("a", "1")]) == [50]
    assert place(existing, [("c", "1"), ("c", "2"), ("c", "3")]) == [125, 150, 175]
    assert place(existing, [("e", "1")]) == [200 + GAP]


def test_place_gives_up_when_a_gap_is_full() -> None:
    assert place([(("a", "1"), 10), (("c", "1"), 11)], [("b", "1")]) is None
    assert place([(("a", "1"), 10), (("c", "1"), 12)], [("b", "1"), ("b", "2")]) is None
    assert place([(("a", "1"), 10), (("c", "1"), 12)], [("b", "1")]) == [11]
