"""The town hall widget: a channel's live town hall, its questions most upvoted first, as the
pinned list shows them, refreshed every few seconds.

Only someone who may read the channel sees anything (`borough.readers.find_channel`, the rule
every view uses): a sealed channel's town hall is answered exactly like a room that has none.
An anonymous question shows its label ("Anonymous (Housing)"), never who asked. Opening the
widget of a live town hall counts its viewer as joined, for the summary where Jitsi does not
ask Borough's token service.
"""

from __future__ import annotations

from aiohttp import web

from borough import readers
from borough.townhalls import TownHallStore
from widgets import pages
from widgets.app import SESSIONS, SETTINGS, JsonError
from widgets.viewer import viewer_id

#: Room ids and aliases are at most 255 characters (the Matrix spec).
MAX_REFERENCE = 255


async def page(request: web.Request) -> web.Response:
    return pages.render(request, "townhall.html")


async def questions(request: web.Request) -> web.Response:
    viewer = viewer_id(request)
    reference = request.query.get("room", "").strip()
    if not reference or len(reference) > MAX_REFERENCE:
        raise JsonError(
            400,
            f"`room` must name a channel in at most {MAX_REFERENCE} characters",
            "M_INVALID_PARAM",
        )
    server_name = request.app[SETTINGS].homeserver.server_name
    async with request.app[SESSIONS]() as session:
        channel = await readers.find_channel(session, reference, server_name, viewer)
    if channel is None:
        raise JsonError(404, "there is no channel here that you can read", "M_NOT_FOUND")
    store = TownHallStore(request.app[SESSIONS])
    town_hall = await store.shown_in(channel.room_id)
    if town_hall is None:
        return web.json_response({"channel": channel.name, "town_hall": None})
    is_live = town_hall.ended_at is None
    if is_live:
        await store.note_viewer(town_hall.id, viewer)
    ranking = await store.ranking(town_hall.id)
    return web.json_response(
        {
            "channel": channel.name,
            "town_hall": {
                "title": town_hall.title,
                "is_live": is_live,
                "questions": [
                    {
                        "number": q.number,
                        "asked_by": q.label,
                        "text": q.body,
                        "votes": q.votes,
                        "is_answered": q.is_answered,
                    }
                    for q in ranking
                ],
            },
        }
    )


def setup(app: web.Application) -> None:
    pages.setup(app)
    app.router.add_get("/widgets/townhall", page)
    app.router.add_get("/widgets/api/townhall", questions)
