"""What a blog post is, and how it is rendered: pure, so the bot that indexes and the web pages
that show blogs agree.

A message in a unit's blog room (`org.borough.blog` state) is a blog post when its body starts
with a Markdown ATX heading (`# Title`, up to `######`); the heading is the title and the rest,
rendered by `markdown` and sanitised by nh3, is the HTML. Images and videos belong to a post
when the same person sends them in the post's thread, or in the room within
`MEDIA_WINDOW` after the post (to their latest post there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from typing import Any

import markdown
import nh3

#: How long after a post its author's uploads still belong to it.
MEDIA_WINDOW = timedelta(minutes=10)
MEDIA_MSGTYPES = frozenset({"m.image", "m.video"})
SUMMARY_LENGTH = 300
TITLE_LENGTH = 255

HEADING = re.compile(r"\A\s*#{1,6}[ \t]+(?P<title>[^\n]*?)[ \t#]*(?:\n|\Z)")

#: Tags a blog post may keep; no images from arbitrary URLs (media come as Matrix uploads).
BLOG_TAGS = {
    "a",
    "b",
    "blockquote",
    "br",
    "code",
    "del",
    "em",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "strong",
    "sub",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "u",
    "ul",
}


@dataclass(frozen=True)
class RenderedPost:
    title: str
    html: str
    summary: str


@dataclass(frozen=True)
class MediaRef:
    url: str
    mimetype: str
    alt: str

    def as_json(self) -> dict[str, str]:
        return {"url": self.url, "mimetype": self.mimetype, "alt": self.alt}


def render_post(body: str) -> RenderedPost | None:
    """The post a message body makes, or None when it does not start with a heading."""
    match = HEADING.match(body)
    if match is None or not match.group("title").strip():
        return None
    title = match.group("title").strip()[:TITLE_LENGTH]
    html = render_markdown(body[match.end() :])
    return RenderedPost(title=title, html=html, summary=summarise(html))


def render_markdown(text: str) -> str:
    """Markdown a person wrote (a blog post, a profile's bio) as HTML that is safe to show:
    rendered by `markdown`, then only BLOG_TAGS and links kept by nh3."""
    return nh3.clean(
        markdown.markdown(text, extensions=["sane_lists", "tables", "fenced_code"]),
        tags=BLOG_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"https", "http", "mailto", "matrix"},
        link_rel="noopener nofollow",
    )


def summarise(html: str) -> str:
    """Plain text of the HTML, whitespace collapsed, at most `SUMMARY_LENGTH` characters."""
    text = nh3.clean(html, tags=set())
    text = re.sub(r"\s+", " ", unescape(text)).strip()
    if len(text) <= SUMMARY_LENGTH:
        return text
    return text[: SUMMARY_LENGTH - 1].rstrip() + "…"


def media_of(content: dict[str, Any]) -> MediaRef | None:
    """The media reference of an m.image/m.video message, or None for anything else."""
    url = content.get("url")
    if content.get("msgtype") not in MEDIA_MSGTYPES or not isinstance(url, str):
        return None
    if not url.startswith("mxc://"):
        return None
    info = given if isinstance(given := content.get("info"), dict) else {}
    mimetype = str(info.get("mimetype") or "application/octet-stream")[:255]
    return MediaRef(url=url, mimetype=mimetype, alt=str(content.get("body") or "")[:500])
