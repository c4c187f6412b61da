"""The people directory widget: its page, and the JSON it reads as the signed-in viewer.

Every answer comes from `borough.directory`, the same query layer the bot's `!find`,
`!whois` and `!team` use, so a field hidden from someone in chat is hidden here too.
"""

from __future__ import annotations

import shlex
from dataclasses import replace
from typing import Any

from aiohttp import web

from borough import directory
from borough.directory import DirectoryError, UnitSummary
from borough.directory_index import tokens
from widgets import pages
from widgets.app import SESSIONS, JsonError
from widgets.profile import person_json
from widgets.viewer import viewer_id

FIELD_LABELS = {"pronouns": "Pronouns", "bio": "About", "skills": "Skills"}
MAX_QUERY = 200
#: 20 people a page: 10,000 pages is far past any directory, and keeps offsets small.
MAX_PAGE = 10_000


async def page(request: web.Request) -> web.Response:
    return pages.render(request, "people.html")


def _unit(unit: UnitSummary) -> dict[str, Any]:
    return {"key": unit.key, "name": unit.name, "people": unit.member_count}


def _bad_param(error: str) -> JsonError:
    return JsonError(400, error, "M_INVALID_PARAM")


def _page(request: web.Request, query: directory.DirectoryQuery) -> int:
    """The `page` parameter, else the search's own `page:N`; either from 1 to MAX_PAGE."""
    given = request.query.get("page")
    if given is None:
        if query.page > MAX_PAGE:
            raise _bad_param(f"`page:` in `q` must be a whole number from 1 to {MAX_PAGE}")
        return query.page
    given = given.strip()
    number = int(given) if given.isascii() and given.isdigit() and len(given) <= 9 else 0
    if not 1 <= number <= MAX_PAGE:
        raise _bad_param(f"`page` must be a whole number from 1 to {MAX_PAGE}")
    return number


async def search(request: web.Request) -> web.Response:
    asker = viewer_id(request)
    text = request.query.get("q", "").strip()
    if len(text) > MAX_QUERY:
        raise _bad_param(f"`q` must be under {MAX_QUERY} characters")
    try:
        words = shlex.split(text)
    except ValueError:
        raise _bad_param("a quote in `q` is not closed") from None
    # Checked here, before the bot's parser answers with chat help (`!find …`).
    if not any(tokens(word) for word in words if not word.lower().startswith("page:")):
        raise _bad_param(
            "`q` has nothing to search for: give a name or a word, or a filter such as "
            'org:police or skill:"family support"'
        )
    try:
        query = directory.parse_query(words)
    except DirectoryError as exc:
        raise _bad_param(str(exc)) from None
    query = replace(query, page=_page(request, query))
    async with request.app[SESSIONS]() as session:
        viewer = await directory.viewer(session, asker)
        found = await directory.search(session, viewer, query, page_size=20)
        # Units by key or name, above the people: `comms` finds Communications.
        units = await directory.units(session, viewer, query) if query.page == 1 else ()
    return web.json_response(
        {
            # Exact up to directory.EXACT_TOTAL; past it, `total` is that and
            # `more_than_total` is true.
            "total": found.total,
            "more_than_total": found.more_than_total,
            "page": found.page,
            "has_more": found.has_more,
            "people": [person_json(request.app, p) for p in found.people],
            "units": [_unit(u) for u in units],
        }
    )


async def card(request: web.Request) -> web.Response:
    asker = viewer_id(request)
    async with request.app[SESSIONS]() as session:
        viewer = await directory.viewer(session, asker)
        try:
            shown = await directory.card(session, viewer, request.match_info["user_id"])
        except DirectoryError as exc:
            raise JsonError(404, str(exc), "M_NOT_FOUND") from None
        # Names, never keys: a person reads "Widget Council", not `wcouncil`.
        place = await directory.place_of(session, shown.organisation, shown.units)
    return web.json_response(
        {
            "user_id": shown.user_id,
            "display_name": shown.display_name,
            "job_title": shown.title,
            "organisation": place.organisation,
            "units": [
                {"key": key, "name": name}
                for key, name in zip(shown.units, place.units, strict=True)
            ],
            "manager": shown.manager_name,
            "email": shown.email,
            "fields": [
                {"name": name, "label": FIELD_LABELS.get(name, name.capitalize()), "value": value}
                for name, value in shown.fields
            ],
        }
    )


async def unit(request: web.Request) -> web.Response:
    asker = viewer_id(request)
    async with request.app[SESSIONS]() as session:
        viewer = await directory.viewer(session, asker)
        try:
            listing = await directory.team(session, viewer, request.match_info["key"])
        except DirectoryError as exc:
            status = 403 if viewer.is_community else 404
            errcode = "M_FORBIDDEN" if status == 403 else "M_NOT_FOUND"
            raise JsonError(status, str(exc), errcode) from None
    return web.json_response(
        {
            "key": listing.key,
            "name": listing.name,
            "members": [person_json(request.app, p) for p in listing.members],
            "teams": [_unit(s) for s in listing.sub_units],
        }
    )


def setup(app: web.Application) -> None:
    pages.setup(app)
    app.router.add_get("/widgets/people", page)
    app.router.add_get("/widgets/api/people", search)
    app.router.add_get("/widgets/api/people/{user_id}", card)
    app.router.add_get("/widgets/api/units/{key}", unit)
