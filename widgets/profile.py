"""Profile pages in the widget server: one page per person, its JSON, and the directory's
opening view, all as the signed-in viewer sees them.

The answers come from `borough.profile_page` (fields through `borough.directory`, posts and
channels through `borough.readers`). Someone who never was, who left and who was erased
all get the same 404, page and JSON alike, so a page cannot tell them apart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from aiohttp import web
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import directory
from borough.directory import DirectoryError, PersonSummary
from borough.hashtags import pieces
from borough.profile_page import (
    ChannelSummary,
    OpeningView,
    ProfilePage,
    opening_view,
    profile_page,
    profile_path,
)
from widgets import pages
from widgets.app import SESSIONS, JsonError
from widgets.avatars import avatar_url
from widgets.public import matrix_to
from widgets.viewer import viewer_id

logger = logging.getLogger(__name__)

NOT_FOUND = "There is no profile at this address."
FIELD_LABELS = {
    "title": "Job title",
    "bio": "About",
    "skills": "Skills",
    "location": "Location",
    "pronouns": "Pronouns",
    "phone": "Phone",
    "email": "Email",
    "available": "Answers questions",
}


def unit_path(key: str) -> str:
    """A unit's page (its org chart)."""
    return f"/widgets/units/{quote(key, safe='')}"


def person_json(app: web.Application, person: PersonSummary) -> dict[str, Any]:
    """A person as every widget API lists them: name, job, face and page."""
    return {
        "user_id": person.user_id,
        "display_name": person.display_name,
        "job_title": person.job_title,
        "avatar": avatar_url(app, person.user_id),
        "profile": profile_path(person.user_id),
    }


def _channel_json(channel: ChannelSummary) -> dict[str, Any]:
    return {
        "room_id": channel.room_id,
        "name": channel.name,
        "link": matrix_to(channel.alias or channel.room_id),
    }


def _contact(kind: str, value: str) -> dict[str, Any]:
    href = {"email": f"mailto:{value}", "phone": f"tel:{value.replace(' ', '')}"}.get(kind)
    return {"name": kind, "label": FIELD_LABELS[kind], "value": value, "href": href}


def page_json(app: web.Application, shown: ProfilePage) -> dict[str, Any]:
    card, place = shown.card, shown.place
    contact = ([("email", card.email)] if card.email else []) + list(shown.contact)
    return {
        "user_id": card.user_id,
        "display_name": card.display_name,
        "avatar": avatar_url(app, card.user_id),
        "pronouns": shown.pronouns,
        "job_title": card.title,
        "organisation": place.organisation,
        "units": [
            {"key": key, "name": name, "page": unit_path(key)}
            for key, name in zip(card.units, place.units, strict=True)
        ],
        "chain": [person_json(app, p) for p in shown.chain],
        "reports": [person_json(app, p) for p in shown.reports],
        "contact": [_contact(kind, value) for kind, value in contact],
        "skills": [
            {"name": skill, "search": f"/widgets/people?q={quote(f'skill:{_quoted(skill)}')}"}
            for skill in shown.skills
        ],
        "bio_html": shown.bio_html,
        "posts": [
            {
                "event_id": post.event_id,
                "channel": post.channel.name,
                "sent_at": post.sent_at.isoformat(),
                "pieces": [{"text": text, "tag": tag} for text, tag in pieces(post.body)],
                "reply_count": post.reply_count,
                "reaction_count": post.reaction_count,
                "link": matrix_to(post.channel.alias or post.room_id, post.event_id),
            }
            for post in shown.posts
        ],
        "channels": [_channel_json(c) for c in shown.channels],
        "partnerships": [
            {"key": p.key, "name": p.name, "page": f"/widgets/partnerships/{quote(p.key, safe='')}"}
            for p in shown.partnerships
        ],
        "message": matrix_to(card.user_id),
        "is_own": shown.is_own,
        "edits": [
            {
                "name": edit.name,
                "label": FIELD_LABELS.get(edit.name, edit.name.capitalize()),
                "command": edit.command,
                "visibility": edit.visibility,
                "note": edit.note,
            }
            for edit in shown.edits
        ],
    }


def _quoted(words: str) -> str:
    """A skill as one search word: quoted when it has spaces (`skill:"tenancy law"`)."""
    return f'"{words}"' if " " in words else words


async def page(request: web.Request) -> web.Response:
    """The page's frame; its script asks the API as the viewer. Whether the person is
    present is no secret (any signed-in person finds them by name), but it is all the frame
    tells: the same 404 for someone who never was, left or was erased."""
    user_id = request.match_info["user_id"]
    async with request.app[SESSIONS]() as session:
        present = await directory.is_present(session, user_id)
    if not present:
        raise web.HTTPNotFound(text=NOT_FOUND)
    return pages.render(request, "profile.html", user_id=user_id)


async def profile(request: web.Request) -> web.Response:
    asker = viewer_id(request)
    owner = request.match_info["user_id"]
    sessions = request.app[SESSIONS]
    async with sessions() as session:
        viewer = await directory.viewer(session, asker)
        try:
            shown = await profile_page(session, viewer, owner)
        except DirectoryError:
            raise JsonError(404, NOT_FOUND, "M_NOT_FOUND") from None
    if asker != owner:
        request.app[VIEW_WRITES].record(asker, owner)
    return web.json_response(page_json(request.app, shown))


class ViewWrites:
    """Profile views are written after the page has answered: a write transaction costs more
    than the rest of the page on SQLite (30 ms of 50 at 20,000 people), and the page does not
    need it. A viewer's own opening view waits for their pending writes, so it always shows
    the page they just left; shutdown waits for them all."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._pending: dict[str, set[asyncio.Task[None]]] = {}

    def record(self, viewer: str, viewed: str) -> None:
        task = asyncio.create_task(self._write(viewer, viewed, datetime.now(UTC)))
        tasks = self._pending.setdefault(viewer, set())
        tasks.add(task)
        task.add_done_callback(lambda done: self._forget(viewer, done))

    def _forget(self, viewer: str, task: asyncio.Task[None]) -> None:
        tasks = self._pending.get(viewer, set())
        tasks.discard(task)
        if not tasks:
            self._pending.pop(viewer, None)

    async def _write(self, viewer: str, viewed: str, at: datetime) -> None:
        try:
            async with self._sessions.begin() as session:
                await directory.record_view(session, viewer, viewed, at)
        except IntegrityError:
            pass  # the same view, recorded at once by another request: nothing is lost
        except Exception:
            logger.exception("could not record that %s viewed a profile", viewer)

    async def settled(self, viewer: str | None = None) -> None:
        """Once `viewer`'s pending writes (everyone's, for None) are done."""
        if viewer is None:
            tasks = {t for pending in self._pending.values() for t in pending}
        else:
            tasks = set(self._pending.get(viewer, ()))
        if tasks:
            await asyncio.wait(tasks)


def opening_json(app: web.Application, shown: OpeningView) -> dict[str, Any]:
    def people(found: tuple[PersonSummary, ...]) -> list[dict[str, Any]]:
        return [person_json(app, p) for p in found]

    return {
        "me": person_json(app, shown.me) if shown.me else None,
        "manager": person_json(app, shown.manager) if shown.manager else None,
        "units": [
            {
                "key": preview.unit.key,
                "name": preview.unit.name,
                "people": preview.unit.member_count,
                "page": unit_path(preview.unit.key),
                "members": people(preview.people),
            }
            for preview in shown.units
        ],
        "new_joiners": people(shown.new_joiners),
        "recently_viewed": people(shown.recently_viewed),
    }


async def opening(request: web.Request) -> web.Response:
    asker = viewer_id(request)
    await request.app[VIEW_WRITES].settled(asker)
    async with request.app[SESSIONS]() as session:
        viewer = await directory.viewer(session, asker)
        shown = await opening_view(session, viewer, datetime.now(UTC))
    return web.json_response(opening_json(request.app, shown))


VIEW_WRITES = web.AppKey("view_writes", ViewWrites)


def setup(app: web.Application) -> None:
    pages.setup(app)

    async def view_writes(app: web.Application) -> AsyncIterator[None]:
        app[VIEW_WRITES] = ViewWrites(app[SESSIONS])
        yield
        await app[VIEW_WRITES].settled()

    # After the database's context (create_app's), so it closes before the engine does.
    app.cleanup_ctx.append(view_writes)
    app.router.add_get("/widgets/people/{user_id}", page)
    app.router.add_get("/widgets/api/profiles/{user_id}", profile)
    app.router.add_get("/widgets/api/directory/opening", opening)
