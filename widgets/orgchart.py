"""The org chart widget pages: a unit's picture, an organisation's tree of units and what a
partnership joins, and the JSON they read as the signed-in viewer.

Every answer comes from `borough.orgchart`, which asks the directory's visibility rule, so a
chart shows no more than the directory does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from borough import directory, orgchart
from borough.directory import DirectoryError, PersonSummary
from borough.org.model import KEY_PATTERN
from borough.orgchart import ChartUnit, TreeUnit
from borough.visibility import Viewer
from borough.wording import page_number
from widgets import pages
from widgets.app import SESSIONS, JsonError
from widgets.profile import person_json
from widgets.viewer import viewer_id

T = TypeVar("T")


async def page(request: web.Request) -> web.Response:
    return pages.render(request, "orgchart.html")


def _unit(app: web.Application, unit: ChartUnit) -> dict[str, Any]:
    def people(found: tuple[PersonSummary, ...]) -> list[dict[str, Any]]:
        return [person_json(app, p) for p in found]

    return {
        "key": unit.key,
        "name": unit.name,
        "total": unit.total,
        "managers": people(unit.managers),
        "people": None if unit.people is None else people(unit.people),
        "people_count": unit.people_count,
        "teams": None if unit.teams is None else [_unit(app, t) for t in unit.teams],
        "team_count": unit.team_count,
    }


def _tree(unit: TreeUnit) -> dict[str, Any]:
    return {
        "key": unit.key,
        "name": unit.name,
        "total": unit.total,
        "units": [_tree(u) for u in unit.units],
    }


def _refused(viewer: Viewer, error: DirectoryError) -> JsonError:
    """A viewer who may not open charts is told so (403); a missing key is a 404."""
    if not directory.may_open_charts(viewer):
        return JsonError(403, str(error), "M_FORBIDDEN")
    return JsonError(404, str(error), "M_NOT_FOUND")


async def _asked(request: web.Request, ask: Callable[[AsyncSession, Viewer], Awaitable[T]]) -> T:
    """`ask` answered for the signed-in viewer, or the JSON error a person can act on."""
    asker = viewer_id(request)
    async with request.app[SESSIONS]() as session:
        viewer = await directory.viewer(session, asker)
        try:
            return await ask(session, viewer)
        except DirectoryError as exc:
            raise _refused(viewer, exc) from None


async def unit_chart(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    chart = await _asked(request, lambda s, v: orgchart.unit_chart(s, v, key))
    return web.json_response(
        {
            "unit": _unit(request.app, chart.unit),
            "organisation": asdict(chart.organisation),
            "path": [asdict(ref) for ref in chart.path],
        }
    )


def _page_number(request: web.Request) -> int:
    given = request.query.get("page", "1").strip()
    try:
        return page_number(given, f"page={given}")
    except ValueError as exc:
        raise JsonError(400, f"`page`: {exc}", "M_INVALID_PARAM") from None


async def unit_people(request: web.Request) -> web.Response:
    key, number = request.match_info["key"], _page_number(request)
    found = await _asked(request, lambda s, v: orgchart.unit_people(s, v, key, number))
    return web.json_response(
        {
            "key": found.key,
            "page": found.page,
            "total": found.total,
            "has_more": found.has_more,
            "people": [person_json(request.app, p) for p in found.people],
        }
    )


async def organisation(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    tree = await _asked(request, lambda s, v: orgchart.organisation_tree(s, v, key))
    return web.json_response(
        {
            "key": tree.key,
            "name": tree.name,
            "total": tree.total,
            "units": [_tree(u) for u in tree.units],
        }
    )


async def partnership(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    shown = await _asked(request, lambda s, v: orgchart.partnership(s, v, key))
    return web.json_response(
        {
            "key": shown.key,
            "name": shown.name,
            "description": shown.description,
            "total": shown.total,
            "organisations": [asdict(org) for org in shown.organisations],
            "units": [asdict(unit) for unit in shown.units],
            "leads": [person_json(request.app, p) for p in shown.leads],
            "people": [person_json(request.app, p) for p in shown.people],
        }
    )


def setup(app: web.Application) -> None:
    pages.setup(app)
    # A page is a shell whose script asks the API; a path that cannot be a key is the
    # server's own "nothing at this address", not a shell that loads nothing.
    key = "{key:" + KEY_PATTERN + "}"
    app.router.add_get(f"/widgets/units/{key}", page)
    app.router.add_get(f"/widgets/organisations/{key}", page)
    app.router.add_get(f"/widgets/partnerships/{key}", page)
    app.router.add_get("/widgets/api/units/{key}/chart", unit_chart)
    app.router.add_get("/widgets/api/units/{key}/people", unit_people)
    app.router.add_get("/widgets/api/organisations/{key}", organisation)
    app.router.add_get("/widgets/api/partnerships/{key}", partnership)
