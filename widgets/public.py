"""Public pages for residents: public channels and public blogs as HTML and Atom (feedgen).

Only what is public is ever served. A channel is servable when it is marked public and is
not sealed; a blog post when it and its blog room are both public. Every lookup (key,
alias, room id, feed, tag, media) goes through those two rules, and anything else is the
same 404 as something that does not exist, so sealed content cannot even be confirmed.
Media is proxied from the homeserver only when a public blog post references it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

import nh3
from aiohttp import web
from feedgen.feed import FeedGenerator
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from borough import readers
from borough.db import BlogPost, BlogRoom, ChannelRow, Post, PostTag, Profile
from borough.hashtags import hashtag, pieces
from borough.profile_page import SIGNED_OUT, is_public_person, profile_page
from widgets import pages
from widgets.app import SESSIONS, SETTINGS, JsonError
from widgets.avatars import public_avatar_path
from widgets.media import IMAGE_TYPES, MediaUnavailable, mxc_parts, thumbnail

logger = logging.getLogger(__name__)

PAGE_SIZE = 30


def is_servable_post(post: BlogPost, blog: BlogRoom) -> bool:
    return post.is_public and blog.is_public and post.room_id == blog.room_id


def matrix_to(room: str, event_id: str | None = None) -> str:
    link = f"https://matrix.to/#/{quote(room, safe='')}"
    return link + (f"/{quote(event_id, safe='')}" if event_id else "")


def media_path(mxc: str) -> str | None:
    """`mxc://server/id` → this server's proxy path, or None for anything else."""
    parts = mxc_parts(mxc)
    if parts is None:
        return None
    return f"/public/media/{quote(parts[0], safe='')}/{quote(parts[1], safe='')}"


@dataclass(frozen=True)
class Author:
    """Who wrote a post, as the public pages name them: with a face and a link to their
    public page only if they made a field public (`is_public_person`)."""

    name: str
    page: str | None = None
    face: str | None = None

    def __str__(self) -> str:
        return self.name


def public_person_path(user_id: str) -> str:
    return f"/public/people/{quote(user_id, safe='@:')}"


@dataclass(frozen=True)
class ShownPost:
    """A channel post as the public pages show it."""

    event_id: str
    author: Author
    sent_at: datetime
    body: str
    tags: list[str]
    reply_count: int
    reaction_count: int
    link: str

    @property
    def pieces(self) -> list[tuple[str, str | None]]:
        """The text with each hashtag apart, so the page links a tag where it stands."""
        return pieces(self.body)

    @property
    def other_tags(self) -> list[str]:
        """Indexed tags the text does not show (an edited post): listed once, after it."""
        shown = {tag for _, tag in self.pieces}
        return [tag for tag in self.tags if tag not in shown]


def _not_found() -> web.HTTPNotFound:
    return web.HTTPNotFound(text="There is no public page here.", content_type="text/plain")


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message, content_type="text/plain")


async def _channel(request: web.Request, session: AsyncSession) -> ChannelRow:
    """The public channel the path names (key, alias or room id); anything else is a 404."""
    row = await readers.find_channel(
        session,
        request.match_info["ref"],
        request.app[SETTINGS].homeserver.server_name,
        reader=None,
    )
    if row is None:
        raise _not_found()
    return row


def channel_path(request: web.Request, channel: ChannelRow) -> str:
    """The channel's public page: named by its alias on this server when it has one, which
    reads well and has no `/` (the page's path takes any reference `find_channel` takes)."""
    local = f":{request.app[SETTINGS].homeserver.server_name}"
    alias = channel.alias or ""
    name = alias[1:].removesuffix(local) if alias.endswith(local) else channel.key
    return f"/public/channels/{quote(name, safe='')}"


async def _authors(session: AsyncSession, user_ids: set[str]) -> dict[str, Author]:
    """The authors by id; anyone unknown is named by their id (`author_of`)."""
    rows = await session.scalars(select(Profile).where(Profile.user_id.in_(user_ids)))
    return {
        row.user_id: (
            Author(
                row.display_name, public_person_path(row.user_id), public_avatar_path(row.user_id)
            )
            if is_public_person(row)
            else Author(row.display_name)
        )
        for row in rows
    }


def author_of(authors: dict[str, Author], user_id: str) -> Author:
    return authors.get(user_id) or Author(user_id)


async def _posts(
    session: AsyncSession, room_ids: list[str], tag: str | None, channels: dict[str, ChannelRow]
) -> list[ShownPost]:
    query = select(Post).where(Post.room_id.in_(room_ids), Post.thread_root.is_(None))
    if tag:
        query = query.join(PostTag, PostTag.event_id == Post.event_id).where(PostTag.tag == tag)
    posts = list(
        await session.scalars(query.order_by(Post.sent_at.desc(), Post.event_id).limit(PAGE_SIZE))
    )
    tags: dict[str, list[str]] = {}
    if posts:
        for event_id, name in await session.execute(
            select(PostTag.event_id, PostTag.tag)
            .where(PostTag.event_id.in_([p.event_id for p in posts]))
            .order_by(PostTag.tag)
        ):
            tags.setdefault(event_id, []).append(name)
    authors = await _authors(session, {p.author for p in posts})
    return [
        ShownPost(
            event_id=p.event_id,
            author=author_of(authors, p.author),
            sent_at=p.sent_at,
            body=p.body,
            tags=tags.get(p.event_id, []),
            reply_count=p.reply_count,
            reaction_count=p.reaction_count,
            link=matrix_to(channels[p.room_id].alias or p.room_id, p.event_id),
        )
        for p in posts
    ]


def _tag(request: web.Request) -> str | None:
    try:
        return hashtag(request.query.get("tag", ""))
    except ValueError as exc:
        raise _bad_request(f"The `tag` parameter is not a hashtag: {exc}.") from None


def _path_tag(request: web.Request) -> str:
    try:
        tag = hashtag(request.match_info["tag"])
    except ValueError:
        tag = None
    if tag is None:
        raise _not_found()
    return tag


async def _public_channels(session: AsyncSession) -> list[ChannelRow]:
    query = select(ChannelRow).where(ChannelRow.room_id.in_(readers.public_channels()))
    return list(await session.scalars(query.order_by(ChannelRow.name)))


def _base(request: web.Request) -> str:
    return request.app[SETTINGS].widgets.public_url.rstrip("/")


async def index(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        channels = await _public_channels(session)
        blogs = list(
            await session.scalars(
                select(BlogRoom).where(BlogRoom.is_public.is_(True)).order_by(BlogRoom.name)
            )
        )
    return pages.render(
        request,
        "public_index.html",
        channels=[(c, channel_path(request, c)) for c in channels],
        blogs=blogs,
    )


async def channel_page(request: web.Request) -> web.Response:
    tag = _tag(request)
    async with request.app[SESSIONS]() as session:
        channel = await _channel(request, session)
        posts = await _posts(session, [channel.room_id], tag, {channel.room_id: channel})
    return pages.render(
        request,
        "public_channel.html",
        channel=channel,
        posts=posts,
        tag=tag,
        feed=f"{channel_path(request, channel)}/feed.atom",
        element_link=matrix_to(channel.alias or channel.room_id),
    )


async def channel_feed(request: web.Request) -> web.Response:
    tag = _tag(request)
    async with request.app[SESSIONS]() as session:
        channel = await _channel(request, session)
        posts = await _posts(session, [channel.room_id], tag, {channel.room_id: channel})
    page = f"{_base(request)}{channel_path(request, channel)}"
    return _posts_feed(_feed(page, channel.name, f"Posts in {channel.name}"), posts)


def _posts_feed(feed: FeedGenerator, posts: list[ShownPost]) -> web.Response:
    for post in reversed(posts):
        entry = feed.add_entry()
        entry.id(post.link)
        entry.title(post.body.split("\n", 1)[0][:100] or "(no text)")
        entry.author({"name": post.author.name})
        entry.link(href=post.link)
        entry.content(post.body, type="text")
        entry.published(post.sent_at.replace(tzinfo=post.sent_at.tzinfo or UTC))
        entry.updated(post.sent_at.replace(tzinfo=post.sent_at.tzinfo or UTC))
    return _atom(feed)


async def _tagged(request: web.Request, tag: str) -> list[ShownPost]:
    """The newest posts with `tag` in every public channel, and in no other."""
    async with request.app[SESSIONS]() as session:
        channels = {c.room_id: c for c in await _public_channels(session)}
        return await _posts(session, list(channels), tag, channels)


async def tag_page(request: web.Request) -> web.Response:
    tag = _path_tag(request)
    posts = await _tagged(request, tag)
    feed = f"/public/tags/{quote(tag, safe='')}/feed.atom"
    return pages.render(request, "public_tag.html", tag=tag, posts=posts, feed=feed)


async def tag_feed(request: web.Request) -> web.Response:
    tag = _path_tag(request)
    posts = await _tagged(request, tag)
    page = f"{_base(request)}/public/tags/{quote(tag, safe='')}"
    return _posts_feed(_feed(page, f"#{tag}", f"Public posts tagged #{tag}"), posts)


async def _blog(session: AsyncSession, unit: str) -> BlogRoom:
    blog = await session.scalar(
        select(BlogRoom).where(BlogRoom.unit == unit, BlogRoom.is_public.is_(True)).limit(1)
    )
    if blog is None:
        raise _not_found()
    return blog


async def _blog_posts(session: AsyncSession, blog: BlogRoom) -> list[BlogPost]:
    posts = await session.scalars(
        select(BlogPost)
        .where(BlogPost.room_id == blog.room_id, BlogPost.is_public.is_(True))
        .order_by(BlogPost.sent_at.desc())
        .limit(PAGE_SIZE)
    )
    return [p for p in posts if is_servable_post(p, blog)]


def _media(post: BlogPost) -> list[dict[str, str]]:
    shown = []
    for item in post.media or []:
        path = media_path(str(item.get("url", "")))
        if path and item.get("mimetype") in IMAGE_TYPES:
            shown.append({"src": path, "alt": str(item.get("alt") or "")})
    return shown


async def blog_page(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        blog = await _blog(session, request.match_info["unit"])
        posts = await _blog_posts(session, blog)
        authors = await _authors(session, {p.author for p in posts})
    return pages.render(
        request,
        "public_blog.html",
        blog=blog,
        posts=[(p, author_of(authors, p.author), nh3.clean(p.html), _media(p)) for p in posts],
        feed=f"/public/blogs/{quote(blog.unit, safe='')}/feed.atom",
    )


async def blog_feed(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        blog = await _blog(session, request.match_info["unit"])
        posts = await _blog_posts(session, blog)
        authors = await _authors(session, {p.author for p in posts})
    page = f"{_base(request)}/public/blogs/{quote(blog.unit, safe='')}"
    feed = _feed(page, blog.name, f"Stories from {blog.name}")
    for post in reversed(posts):
        when = post.sent_at.replace(tzinfo=post.sent_at.tzinfo or UTC)
        entry = feed.add_entry()
        entry.id(f"{page}#{quote(post.event_id, safe='')}")
        entry.title(post.title)
        entry.author({"name": author_of(authors, post.author).name})
        entry.link(href=f"{page}#{quote(post.event_id, safe='')}")
        entry.summary(post.summary)
        entry.content(nh3.clean(post.html), type="html")  # sanitised again: defence in depth
        entry.published(when)
        entry.updated((post.edited_at or post.sent_at).replace(tzinfo=when.tzinfo))
    return _atom(feed)


async def media(request: web.Request) -> web.StreamResponse:
    """A thumbnail of an image that a public blog post shows, fetched as the service account."""
    mxc = f"mxc://{request.match_info['server']}/{request.match_info['media_id']}"
    async with request.app[SESSIONS]() as session:
        public_blogs = {
            b.room_id: b
            for b in await session.scalars(select(BlogRoom).where(BlogRoom.is_public.is_(True)))
        }
        posts = await session.scalars(
            select(BlogPost).where(
                BlogPost.is_public.is_(True), BlogPost.room_id.in_(list(public_blogs))
            )
        )
        allowed = any(
            item.get("url") == mxc and item.get("mimetype") in IMAGE_TYPES
            for post in posts
            if is_servable_post(post, public_blogs[post.room_id])
            for item in post.media or []
        )
    if not allowed:
        raise _not_found()
    try:
        image = await thumbnail(request.app, mxc, 800, 600, "scale")
    except MediaUnavailable:
        raise JsonError(502, "the image is not available right now") from None
    return web.Response(
        body=image.body,
        content_type=image.content_type,
        headers={"Cache-Control": "public, max-age=3600"},
    )


async def person_page(request: web.Request) -> web.Response:
    """A person's public page: what anyone may see of them, signed out, by the rule `!whois`
    follows, and their posts in public channels. Only for someone with a public field;
    anyone else (including someone who left or was erased) is the same 404 as nobody."""
    user_id = request.match_info["user_id"]
    async with request.app[SESSIONS]() as session:
        row = await session.get(Profile, user_id)
        if row is None or not is_public_person(row):
            raise _not_found()
        shown = await profile_page(session, SIGNED_OUT, user_id)
        channels = {c.room_id: c for c in await _public_channels(session)}
    return pages.render(
        request,
        "public_person.html",
        person=shown,
        face=public_avatar_path(user_id),
        posts=[
            (post, channel_path(request, channels[post.room_id]), pieces(post.body))
            for post in shown.posts
            if post.room_id in channels
        ],
        message=matrix_to(user_id),
    )


def _feed(page: str, title: str, subtitle: str) -> FeedGenerator:
    feed = FeedGenerator()
    feed.id(page)
    feed.title(title)
    feed.subtitle(subtitle)
    feed.link(href=page, rel="alternate")
    feed.link(href=f"{page}/feed.atom", rel="self")
    feed.language("en-GB")
    feed.updated(datetime.now(UTC))
    return feed


def _atom(feed: FeedGenerator) -> web.Response:
    return web.Response(
        body=feed.atom_str(pretty=True), content_type="application/atom+xml", charset="utf-8"
    )


async def root(request: web.Request) -> web.Response:
    """Someone who opens the server's own address gets the public pages."""
    raise web.HTTPFound("/public")


def setup(app: web.Application) -> None:
    pages.setup(app)
    app.router.add_get("/", root)
    app.router.add_get("/public", index)
    app.router.add_get("/public/", index)
    app.router.add_get("/public/channels/{ref}", channel_page)
    app.router.add_get("/public/channels/{ref}/feed.atom", channel_feed)
    app.router.add_get("/public/tags/{tag}", tag_page)
    app.router.add_get("/public/tags/{tag}/feed.atom", tag_feed)
    app.router.add_get("/public/blogs/{unit}", blog_page)
    app.router.add_get("/public/blogs/{unit}/feed.atom", blog_feed)
    app.router.add_get("/public/media/{server}/{media_id}", media)
    app.router.add_get("/public/people/{user_id}", person_page)
