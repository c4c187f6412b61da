"""What a hashtag is: one rule for the bot's index, `!tag`, the timeline widget and the public
pages, so a tag one of them accepts is a tag the others find, and a tag the index found in a
post is the one those pages link where it stands in the text."""

from __future__ import annotations

import re

#: The word after `#`: a letter, then up to 99 letters, digits, `-` or `_`.
WORD = r"[A-Za-z][\w-]{0,99}"
#: A hashtag in a post's text, but not a room alias (#room:server) or an HTML entity.
IN_TEXT = re.compile(rf"(?<![\w#&])#({WORD})(?![\w-]|:\S)")
_WHOLE = re.compile(WORD)


def hashtag(text: str) -> str | None:
    """A hashtag as the index stores it (`#Housing` → `housing`), None for none given, or a
    ValueError saying what a hashtag is."""
    tag = text.strip().removeprefix("#").lower()
    if tag and not _WHOLE.fullmatch(tag):
        raise ValueError(
            "a hashtag is one word of up to 100 letters, digits, - or _ "
            "that starts with a letter, e.g. #housing"
        )
    return tag or None


def pieces(text: str) -> list[tuple[str, str | None]]:
    """A post's text in order, cut around its hashtags: (`#Voids`, `voids`) for a tag, (text,
    None) for the rest. Pages make each tag a link where it stands, instead of repeating the
    post's tags below its text, which showed every tag twice."""
    found: list[tuple[str, str | None]] = []
    start = 0
    for match in IN_TEXT.finditer(text):
        if match.start() > start:
            found.append((text[start : match.start()], None))
        found.append((match.group(0), match.group(1).lower()))
        start = match.end()
    if start < len(text):
        found.append((text[start:], None))
    return found
