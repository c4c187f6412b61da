"""The JSON body reader's depth pre-scan and hashtag rule: pure functions over text."""

from __future__ import annotations

import json

import pytest

from borough.hashtags import IN_TEXT, pieces
from widgets.bodies import nesting_depth
from widgets.public import hashtag


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ('{"a": "b"}', 1),
        ('{"a": [1, {"b": []}]}', 4),
        ('{"a": "[[[[[[{{{{"}', 1),
        ('{"a": "\\"[[[[", "b": ["\\\\"]}', 2),
        ("[" * 50_000, 50_000),
        ('"no brackets"', 0),
    ],
    ids=["flat", "nested", "brackets-in-a-string", "escaped-quotes", "bomb", "scalar"],
)
def test_nesting_depth_counts_brackets_outside_strings(text: str, depth: int) -> None:
    assert nesting_depth(text) == depth


def test_nesting_depth_agrees_with_the_parser_on_valid_json() -> None:
    value: object = "leaf"
    for level in range(30):
        value = [value] if level % 2 else {"k[": value, "]": "}"}
    assert nesting_depth(json.dumps(value)) == 30


@pytest.mark.parametrize(
    ("given", "tag"),
    [("#Housing", "housing"), ("bins", "bins"), ("  ", None), ("#", None), ("a-b_c9", "a-b_c9")],
)
def test_hashtags_are_stored_lower_case(given: str, tag: str | None) -> None:
    assert hashtag(given) == tag


@pytest.mark.parametrize("given", ["two words", "##x", "9lives", "x" * 101, "a/b"])
def test_what_is_not_a_hashtag_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="a hashtag is one word"):
        hashtag(given)


def test_a_posts_text_is_cut_around_the_tags_the_index_finds() -> None:
    """Pages link a hashtag where it stands in the text (the timeline showed it twice: in
    the text and again below), so the cut must find exactly the index's tags."""
    body = "Voids start Monday #Voids, see #rent-arrears; not #room:hs nor &#39; nor a#b"
    assert pieces(body) == [
        ("Voids start Monday ", None),
        ("#Voids", "voids"),
        (", see ", None),
        ("#rent-arrears", "rent-arrears"),
        ("; not #room:hs nor &#39; nor a#b", None),
    ]
    assert "".join(text for text, _ in pieces(body)) == body
    assert [tag for _, tag in pieces(body) if tag] == [t.lower() for t in IN_TEXT.findall(body)]
    assert pieces("") == [] and pieces("#only") == [("#only", "only")]
