"""The org chart's pages and JSON against a real Synapse and a real `borough apply`: staff
and partners see a unit's picture and an organisation's tree, a resident is refused, and bad
input gets a JSON answer that names it."""

# The fixtures below are imported from their own modules, and named again where used.
# ruff: noqa: F811
from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient

from tests.conftest import Homeserver, borough
from tests.integration.test_widget_views import (  # noqa: F401 (fixtures)
    ORG_FILE,
    applied,
    client,
    signed_in,
)

pytestmark = pytest.mark.integration


def _names(people: list[dict[str, Any]]) -> list[str]:
    return [person["display_name"] for person in people]


async def test_staff_and_partners_see_a_units_picture(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    for viewer in ("wmgr", "wcop"):
        answer = await client.get(
            "/widgets/api/units/wdir/chart", headers=await signed_in(client, homeserver, viewer)
        )
        assert answer.status == 200, await answer.text()
        chart = await answer.json()
        assert chart["organisation"] == {"key": "wcouncil", "name": "Widget Council"}
        assert chart["path"] == []
        unit = chart["unit"]
        assert (unit["name"], unit["total"]) == ("Widget Directorate", 3)
        assert _names(unit["managers"]) == ["Wanda Boss"]
        assert unit["managers"][0]["job_title"] == "Director of Housing"
        assert unit["people"] == []
        (team,) = unit["teams"]
        assert (team["key"], team["total"]) == ("wteam", 2)
        assert _names(team["managers"]) == ["Walter Manager"]
        assert _names(team["people"]) == ["Winnie Staff"]
        # Name, job, face and page only: nothing a card keeps for the same organisation.
        winnie = team["people"][0]
        assert set(winnie) == {"user_id", "display_name", "job_title", "avatar", "profile"}
        assert winnie["profile"] == f"/widgets/people/{homeserver.user_id('wstaff')}"
        assert winnie["avatar"].startswith(f"/widgets/avatars/{homeserver.user_id('wstaff')}?")

    team = await (
        await client.get(
            "/widgets/api/units/wteam/chart", headers=await signed_in(client, homeserver, "wcop")
        )
    ).json()
    assert team["path"] == [{"key": "wdir", "name": "Widget Directorate"}]


async def test_an_organisation_shows_its_units_as_a_tree(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    answer = await client.get(
        "/widgets/api/organisations/wcouncil",
        headers=await signed_in(client, homeserver, "wcop"),
    )
    assert answer.status == 200, await answer.text()
    assert await answer.json() == {
        "key": "wcouncil",
        "name": "Widget Council",
        "total": 3,
        "units": [
            {
                "key": "wdir",
                "name": "Widget Directorate",
                "total": 3,
                "units": [{"key": "wteam", "name": "Widget Housing Team", "total": 2, "units": []}],
            }
        ],
    }


async def test_a_resident_is_refused_every_chart(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    headers = await signed_in(client, homeserver, "wres")
    for path in (
        "/widgets/api/units/wdir/chart",
        "/widgets/api/units/wteam/people",
        "/widgets/api/organisations/wcouncil",
        "/widgets/api/units/nowhere/chart",  # not even whether a unit exists
    ):
        answer = await client.get(path, headers=headers)
        assert answer.status == 403, path
        body = await answer.json()
        assert body["errcode"] == "M_FORBIDDEN"
        assert "staff and partner" in body["error"]


async def test_bad_input_is_named_in_json(
    client: TestClient[Any, Any], homeserver: Homeserver
) -> None:
    headers = await signed_in(client, homeserver, "wmgr")
    cases = {
        "/widgets/api/units/nowhere/chart": (404, "M_NOT_FOUND", "no unit `nowhere`"),
        "/widgets/api/organisations/nowhere": (404, "M_NOT_FOUND", "no organisation `nowhere`"),
        "/widgets/api/units/wteam/people?page=0": (400, "M_INVALID_PARAM", "`page`"),
        "/widgets/api/units/wteam/people?page=two": (400, "M_INVALID_PARAM", "`page`"),
    }
    for path, (status, errcode, words) in cases.items():
        answer = await client.get(path, headers=headers)
        body = await answer.json()
        assert (answer.status, body["errcode"]) == (status, errcode), (path, body)
        assert words in body["error"], (path, body)
    unsigned = await client.get("/widgets/api/units/wdir/chart")
    assert unsigned.status == 401
    people = await (await client.get("/widgets/api/units/wteam/people", headers=headers)).json()
    assert {k: v for k, v in people.items() if k != "people"} == {
        "key": "wteam",
        "page": 1,
        "total": 1,
        "has_more": False,
    }
    assert [(p["user_id"], p["job_title"]) for p in people["people"]] == [
        (homeserver.user_id("wstaff"), "Housing Officer")
    ]


async def test_the_chart_pages_are_widget_pages(client: TestClient[Any, Any]) -> None:
    for path in ("/widgets/units/wdir", "/widgets/organisations/wcouncil"):
        answer = await client.get(path)
        assert answer.status == 200
        assert answer.content_type == "text/html"
        assert "frame-ancestors *" in answer.headers["Content-Security-Policy"]
        page = await answer.text()
        assert '<script src="/static/orgchart.js">' in page
        assert '<link rel="stylesheet" href="/static/orgchart.css">' in page
    for name in ("orgchart.js", "orgchart.css"):
        assert (await client.get(f"/static/{name}")).status == 200


async def test_a_partnership_shows_the_organisations_units_and_people_it_joins(
    client: TestClient[Any, Any], homeserver: Homeserver, applied: Path, tmp_path: Path
) -> None:
    chart = yaml.safe_load(ORG_FILE.read_text())
    chart["partnerships"] = [
        {
            "key": "wsafe",
            "name": "Widget Safer Streets",
            "description": "Police and housing, on one estate.",
            "organisations": ["wpolice"],
            "units": ["wteam"],
            "leads": ["wboss"],
        }
    ]
    org_file = tmp_path / "org.yaml"
    org_file.write_text(yaml.safe_dump(chart))
    # The command runs its own event loop: in a thread, beside this test's.
    result = await asyncio.to_thread(borough, "apply", "-q", str(org_file), settings=applied)
    assert result.exit_code == 0, result.output

    answer = await client.get(
        "/widgets/api/partnerships/wsafe", headers=await signed_in(client, homeserver, "wcop")
    )
    assert answer.status == 200, await answer.text()
    shown = await answer.json()
    assert (shown["name"], shown["description"]) == (
        "Widget Safer Streets",
        "Police and housing, on one estate.",
    )
    assert shown["organisations"] == [{"key": "wpolice", "name": "Widget Police", "total": 1}]
    assert shown["units"] == [
        {
            "key": "wteam",
            "name": "Widget Housing Team",
            "organisation": "Widget Council",
            "total": 2,
        }
    ]
    assert _names(shown["leads"]) == ["Wanda Boss"] and shown["people"] == []
    assert shown["total"] == 4  # Wes, Walter and Winnie, and Wanda who leads it

    page = await client.get("/widgets/partnerships/wsafe")
    assert page.status == 200 and '<script src="/static/orgchart.js">' in await page.text()
    resident = await client.get(
        "/widgets/api/partnerships/wsafe", headers=await signed_in(client, homeserver, "wres")
    )
    assert resident.status == 403
    missing = await client.get(
        "/widgets/api/partnerships/nowhere", headers=await signed_in(client, homeserver, "wmgr")
    )
    assert (missing.status, (await missing.json())["errcode"]) == (404, "M_NOT_FOUND")

    # Applied again, nothing is left to do; taken out of the chart, it goes with --prune.
    again = await asyncio.to_thread(borough, "plan", str(org_file), settings=applied)
    assert again.exit_code == 0 and "partnerships (" not in again.output, again.output
    pruned = await asyncio.to_thread(
        borough, "apply", "-q", "--prune", str(ORG_FILE), settings=applied
    )
    assert pruned.exit_code == 0, pruned.output
    gone = await client.get(
        "/widgets/api/partnerships/wsafe", headers=await signed_in(client, homeserver, "wmgr")
    )
    assert gone.status == 404
