"""Shared practice on the web: accepted answers (bots.ask) as the directory widget's tab, for
the signed-in viewer, and as a public page with an Atom feed for those their askers marked
public. Both read `borough.shared_practice`, which applies who may read what.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from aiohttp import web

from borough import directory
from borough.shared_practice import SharedAnswer, accepted_answers
from widgets import pages
from widgets.app import SESSIONS, SETTINGS, JsonError
from widgets.public import _atom, _feed, matrix_to
from widgets.viewer import viewer_id

MAX_QUERY = 200
SHOWN = 50
PUBLIC_PATH = "/public/answers"


def _words(request: web.Request) -> list[str]:
    text = request.query.get("q", "").strip()
    if len(text) > MAX_QUERY:
        raise JsonError(400, f"`q` must be under {MAX_QUERY} characters", "M_INVALID_PARAM")
    return text.split()


def _shown(item: SharedAnswer) -> dict[str, Any]:
    return {
        "question": item.question,
        "skill": item.skill,
        "asker": item.asker_name,
        "answer": item.answer,
        "answerer": item.answerer_name,
        "accepted_at": item.accepted_at.isoformat(),
        "link": matrix_to(item.room_id, item.event_id),
    }


async def search(request: web.Request) -> web.Response:
    asker = viewer_id(request)
    words = _words(request)
    async with request.app[SESSIONS]() as session:
        viewer = await directory.viewer(session, asker)
        found = await accepted_answers(session, viewer, words, SHOWN)
    return web.json_response({"answers": [_shown(a) for a in found]})


async def public_page(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        found = await accepted_answers(session, None, _words(request), SHOWN)
    return pages.render(
        request, "public_answers.html", answers=found, feed=f"{PUBLIC_PATH}/feed.atom"
    )


async def public_feed(request: web.Request) -> web.Response:
    async with request.app[SESSIONS]() as session:
        found = await accepted_answers(session, None, (), SHOWN)
    page = request.app[SETTINGS].widgets.public_url.rstrip("/") + PUBLIC_PATH
    feed = _feed(page, "Shared answers", "Questions asked on the network and the answers accepted")
    for item in reversed(found):
        entry = feed.add_entry()
        entry.id(f"{page}#q{item.question_id}")
        entry.title(item.question.split("\n", 1)[0][:100])
        entry.author({"name": item.answerer_name})
        entry.link(href=f"{page}#q{item.question_id}")
        entry.content(f"{item.question}\n\n{item.answerer_name}: {item.answer}", type="text")
        when = item.accepted_at.replace(tzinfo=item.accepted_at.tzinfo or UTC)
        entry.published(when)
        entry.updated(when)
    return _atom(feed)


def setup(app: web.Application) -> None:
    pages.setup(app)
    app.router.add_get("/widgets/api/answers", search)
    app.router.add_get(PUBLIC_PATH, public_page)
    app.router.add_get(f"{PUBLIC_PATH}/feed.atom", public_feed)
