"""How Borough's answers word things for people, in chat and on the web: counts with the
right noun, page numbers read back safely, and what a person typed quoted back short.

An answer that quotes a 60 KB message whole is too large to send, so it is never sent.
"""

from __future__ import annotations

import re

#: How many characters of what a person typed an answer quotes back.
QUOTE_LIMIT = 40
#: The last page anyone may ask for; a bigger one would only overflow the database's offset.
MAX_PAGE = 1000
_PAGE = re.compile(r"[0-9]{1,9}")


def count(number: int, noun: str, plural: str | None = None) -> str:
    """`count(1, "person", "people")` → "1 person"; `count(2, "reply", "replies")` → "2 replies"."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"


def quoted(text: str, limit: int = QUOTE_LIMIT) -> str:
    """What a person typed, as inline code on one line, cut to `limit` characters."""
    flat = " ".join(text.split()).replace("`", "'")
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return f"`{flat}`"


def page_number(text: str, written: str | None = None) -> int:
    """`3` → 3. Anything else, or a page out of range, is a ValueError that says the range and
    quotes `written` (how the person wrote it, such as `page:3`), else the text."""
    if _PAGE.fullmatch(text) and 1 <= int(text) <= MAX_PAGE:
        return int(text)
    raise ValueError(
        f"{quoted(written or text)} is not a page number: "
        f"pages are whole numbers from 1 to {MAX_PAGE}."
    )
