"""Replies as `m.notice`: Markdown rendered by `markdown`, then sanitised by nh3."""

from __future__ import annotations

from typing import Any

import markdown
import nh3

from borough.blogs import BLOG_TAGS

#: Tags Element renders in `formatted_body`: a blog post's, plus top-level headings and colour
#: spans; everything else is stripped.
ALLOWED_TAGS = BLOG_TAGS | {"h1", "span"}
ALLOWED_ATTRIBUTES = {"a": {"href"}, "span": {"data-mx-color"}, "code": {"class"}}


def render_html(text: str) -> str:
    html = markdown.markdown(text, extensions=["sane_lists", "tables", "fenced_code"])
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes={"https", "http", "mailto", "matrix"},
        link_rel="noopener",
    )


def notice(text: str, reply_to: str | None = None) -> dict[str, Any]:
    """The content of a notice: plain Markdown as `body`, sanitised HTML as `formatted_body`."""
    content: dict[str, Any] = {
        "msgtype": "m.notice",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": render_html(text),
    }
    if reply_to:
        content["m.relates_to"] = {"m.in_reply_to": {"event_id": reply_to}}
    return content


def in_thread(root: str, content: dict[str, Any], reply_to: str | None = None) -> dict[str, Any]:
    """`content` as a message in the thread `root` starts, a reply there to `reply_to` if
    given; a client without threads shows it as a reply (to `reply_to`, else the root)."""
    return {
        **content,
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": reply_to is None,
            "m.in_reply_to": {"event_id": reply_to or root},
        },
    }


def thread_root(content: Any) -> str | None:
    """The root of the thread a message (its content) is in, or None outside threads."""
    relates = content.get("m.relates_to") if isinstance(content, dict) else None
    if not isinstance(relates, dict) or relates.get("rel_type") != "m.thread":
        return None
    root = relates.get("event_id")
    return root if isinstance(root, str) else None
