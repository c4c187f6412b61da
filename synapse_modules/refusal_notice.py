"""What Borough tells a person whose post a channel refused, and how often: pure.

Element shows a refused send only as "Some of your messages have not been sent"; the reason
Synapse gives reaches the browser console alone (element-hq/element-web,
`src/components/structures/RoomStatusBar.tsx`, `getUnsentMessageContent`: only consent and
resource-limit errcodes get their own words). So the person is also sent a direct message
with the reason and their own text, kept whole. `telling.py` sends it.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

#: At most this many notices per person in one window; a flood of refusals (a client
#: retrying, a script) yields these few messages, the last of which says so.
NOTICES_PER_WINDOW = 3
WINDOW_MS = 10 * 60 * 1000


@dataclass(frozen=True)
class NoticeAllowance:
    """How many notices a person has had since `window_start_ms` (`notice_ledger.py` keeps it)."""

    window_start_ms: int
    sent: int


def next_allowance(current: NoticeAllowance | None, now_ms: int) -> NoticeAllowance | None:
    """The allowance after one more notice, or None when the person has had their share of
    this window. A window starts with the first notice after the last one ended (or after a
    clock jump backwards)."""
    if current is None or not 0 <= now_ms - current.window_start_ms < WINDOW_MS:
        return NoticeAllowance(now_ms, 1)
    if current.sent >= NOTICES_PER_WINDOW:
        return None
    return NoticeAllowance(current.window_start_ms, current.sent + 1)


@dataclass(frozen=True)
class RefusedPost:
    """A post the channel rules refused: where, why (the module's sentence) and its text."""

    room_id: str
    reason: str
    text: str | None


def notice_content(post: RefusedPost, is_last_in_window: bool) -> dict[str, Any]:
    """The direct message: an `m.notice`, so that no bot answers it. The text goes in a code
    block, where Element shows it as written and offers a copy button."""
    link = f"https://matrix.to/#/{post.room_id}"
    lines = [f"Your message was not sent: {post.reason}"]
    parts = [
        f'<p>Your <a href="{html.escape(link)}">message</a> was not sent: '
        f"{html.escape(post.reason)}</p>"
    ]
    if post.text:
        lines += ["", "Your text, so that nothing is lost:", "", post.text]
        parts += [
            "<p>Your text, so that nothing is lost:</p>",
            f"<pre><code>{html.escape(post.text)}</code></pre>",
        ]
    minutes = WINDOW_MS // 60_000
    footer = "This is an automatic message from Borough; replies here are not read."
    if is_last_in_window:
        footer = (
            f"More refusals in the next {minutes} minutes are not repeated here; Element keeps "
            "unsent messages until you delete them. " + footer
        )
    lines += ["", footer]
    parts.append(f"<p><em>{html.escape(footer)}</em></p>")
    return {
        "msgtype": "m.notice",
        "body": "\n".join(lines),
        "format": "org.matrix.custom.html",
        "formatted_body": "".join(parts),
    }
