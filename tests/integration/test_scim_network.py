"""SCIM end to end against a real Synapse: an identity provider's writes reach the network
with nobody running a command (`apply: auto`), or wait for `borough partner apply`
(`apply: review`)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from borough.db import create_engine, migrate, session_factory
from borough.settings import load_settings
from tests.conftest import Homeserver, HttpError, borough, write_settings
from tests.integration.test_scim import (
    GROUP,
    PATCH,
    PATCHED,
    Scim,
    entra_user,
    fragment_admins,
    members_patch,
    people,
)
from widgets.app import create_app
from widgets.scim import APPLY
from widgets.scim_tokens import create_token

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parents[1] / "fixtures" / "scim"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.fixture(scope="module")
def chart_folder(
    tmp_path_factory: pytest.TempPathFactory, homeserver: Homeserver, app_database_url: str
) -> tuple[Path, Path]:
    """The SCIM chart applied in full; health applies its SCIM writes at once, police waits."""
    folder = tmp_path_factory.mktemp("scim")
    shutil.copytree(FIXTURES, folder / "chart", dirs_exist_ok=True)
    chart = folder / "chart" / "main.yaml"
    settings = write_settings(
        folder / "borough.yaml",
        homeserver,
        app_database_url,
        scim={
            "chart": str(chart),
            "organisations": {
                "health": {
                    "mapping": str(folder / "chart" / "health-mapping.yaml"),
                    "apply": "auto",
                    "deactivate_leavers": True,
                    "prune": True,
                },
                "police": {
                    "mapping": str(folder / "chart" / "police-mapping.yaml"),
                    "apply": "review",
                },
            },
        },
    )
    result = borough("apply", "-q", str(chart), settings=settings)
    assert result.exit_code == 0, result.output
    return folder, settings


@pytest.fixture
async def server(
    chart_folder: tuple[Path, Path],
) -> AsyncIterator[tuple[TestClient[Any, Any], dict[str, str]]]:
    _, settings_path = chart_folder
    settings = load_settings(settings_path)
    await migrate(settings.database.url)
    engine = create_engine(settings.database.url)
    async with session_factory(engine).begin() as session:
        tokens = {
            org: (await create_token(session, org, "@borough"))[1] for org in ("health", "police")
        }
    await engine.dispose()
    app = create_app(settings, settings_path=str(settings_path))
    async with TestClient(TestServer(app)) as client:
        yield client, tokens


async def applied(client: TestClient[Any, Any]) -> int:
    """Wait for the scoped applies the writes started; the last one's exit code."""
    scoped = client.app[APPLY]
    await asyncio.wait_for(scoped.idle.wait(), timeout=120)
    return scoped.finished[-1][1]


def joined(hs: Homeserver, username: str) -> set[str]:
    path = f"/_synapse/admin/v1/users/{quote(hs.user_id(username))}/joined_rooms"
    return set(hs.admin("GET", path)["joined_rooms"])


def account(hs: Homeserver, username: str) -> dict[str, Any] | None:
    try:
        return dict(hs.admin("GET", f"/_synapse/admin/v2/users/{quote(hs.user_id(username))}"))
    except HttpError as exc:
        assert exc.status == 404
        return None


async def test_auto_joiner_mover_and_leaver_reach_the_network(
    server: Any, homeserver: Homeserver
) -> None:
    client, tokens = server
    entra = Scim(client, tokens["health"])
    assert (await entra.call("GET", '/Users?filter=userName eq "nia@health.example.org"'))[
        "totalResults"
    ] == 0
    nia = await entra.call("POST", "/Users", entra_user("nia"), status=201)
    assert await applied(client) == 0
    user = account(homeserver, "nia")
    assert user is not None and user["displayname"] == "Nia" and not user["deactivated"]
    rooms = joined(homeserver, "nia")
    assert {homeserver.room_id(a) for a in ("health", "hed", "hed-general")} <= rooms
    assert homeserver.room_id("hwards-general") not in rooms

    # A department change moves them.
    await entra.call(
        "PATCH",
        f"/Users/{nia['id']}",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "Replace", "path": f"{ENTERPRISE}:department", "value": "Inpatient Wards"}
            ],
        },
        status=PATCHED,
    )
    assert await applied(client) == 0
    rooms = joined(homeserver, "nia")
    assert homeserver.room_id("hwards-general") in rooms
    assert homeserver.room_id("hed-general") not in rooms

    # active "False" is a leaver; health deactivates leavers.
    await entra.call(
        "PATCH",
        f"/Users/{nia['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]},
        status=PATCHED,
    )
    assert await applied(client) == 0
    left = account(homeserver, "nia")
    assert left is not None and left["deactivated"] is True


def power_of(hs: Homeserver, room: str, username: str) -> int:
    levels = hs.state(hs.room_id(room), "m.room.power_levels")
    return int(levels.get("users", {}).get(hs.user_id(username), 0))


async def partner(
    command: str, folder: Path, settings: Path, organisation: str, *flags: str
) -> Any:
    """`borough partner plan|apply` of the chart; the command runs its own event loop, so
    off this test's."""
    return await asyncio.to_thread(
        borough,
        "partner",
        command,
        str(folder / "chart" / "main.yaml"),
        "--org",
        organisation,
        *flags,
        settings=settings,
    )


async def no_changes(folder: Path, settings: Path, organisation: str) -> bool:
    plan = await partner("plan", folder, settings, organisation, "--prune", "--deactivate-leavers")
    assert plan.exit_code == 0, plan.output
    return "No changes." in plan.output


async def test_an_admin_groups_member_holds_100_in_the_organisation_and_leaving_demotes(
    server: Any, homeserver: Homeserver, chart_folder: tuple[Path, Path]
) -> None:
    """health's main-file entry lets its fragment name admins; Entra's admin group fills
    them, and the auto apply gives and takes the organisation's power (100)."""
    client, tokens = server
    folder, settings = chart_folder
    entra = Scim(client, tokens["health"])
    rae = await entra.call("POST", "/Users", entra_user("rae"), status=201)
    group = await entra.call(
        "POST",
        "/Groups",
        {"schemas": [GROUP], "displayName": "Borough Admins", "members": []},
        status=201,
    )
    assert await applied(client) == 0
    assert power_of(homeserver, "health", "rae") == 0
    await entra.call(
        "PATCH", f"/Groups/{group['id']}", members_patch("Add", rae["id"]), status=PATCHED
    )
    assert "rae" in (fragment_admins(folder) or [])
    assert await applied(client) == 0
    assert power_of(homeserver, "health", "rae") == 100
    assert power_of(homeserver, "hed-general", "rae") == 100
    assert await no_changes(folder, settings, "health")

    await entra.call(
        "PATCH", f"/Groups/{group['id']}", members_patch("Remove", rae["id"]), status=PATCHED
    )
    assert "rae" not in (fragment_admins(folder) or [])
    assert await applied(client) == 0
    assert power_of(homeserver, "health", "rae") == 0
    assert power_of(homeserver, "hed-general", "rae") == 0
    assert homeserver.room_id("hed-general") in joined(homeserver, "rae")  # still a member
    assert await no_changes(folder, settings, "health")


async def test_review_mode_changes_nothing_until_partner_apply(
    server: Any, homeserver: Homeserver, chart_folder: tuple[Path, Path]
) -> None:
    client, tokens = server
    folder, settings = chart_folder
    okta = Scim(client, tokens["police"])
    await okta.call(
        "POST",
        "/Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User", ENTERPRISE],
            "userName": "ola@police.example.org",
            "displayName": "Ola Officer",
            "active": True,
            ENTERPRISE: {"department": "North"},
        },
        status=201,
    )
    assert client.app[APPLY].running == {}
    assert people(folder, "police")["ola"]["units"] == ["pnorth"]
    assert account(homeserver, "ola") is None
    plan = await partner("plan", folder, settings, "police")
    assert plan.exit_code == 0 and f"+ {homeserver.user_id('ola')}" in plan.output, plan.output
    result = await partner("apply", folder, settings, "police", "-q")
    assert result.exit_code == 0, result.output
    assert homeserver.room_id("pnorth-general") in joined(homeserver, "ola")
    # A deletion is a leaver: without --deactivate-leavers it is held back and listed.
    ola = (await okta.call("GET", '/Users?filter=userName eq "ola@police.example.org"'))[
        "Resources"
    ][0]
    await okta.call("DELETE", f"/Users/{ola['id']}", status=204)
    assert "ola" not in people(folder, "police")
    held = await partner("apply", folder, settings, "police")
    assert held.exit_code == 0, held.output
    assert "--deactivate-leavers" in held.output and homeserver.user_id("ola") in held.output, (
        held.output
    )
    still = account(homeserver, "ola")
    assert still is not None and not still["deactivated"]


async def test_removals_over_the_threshold_wait_and_the_rest_is_applied(
    chart_folder: tuple[Path, Path], homeserver: Homeserver
) -> None:
    """An auto apply that would remove more than the destructive threshold is refused by
    `partner apply`; the joins still land, and the removals wait for an admin."""
    folder, settings_path = chart_folder
    strict = folder / "strict.yaml"
    data = yaml.safe_load(settings_path.read_text())
    data["provisioning"]["destructive_threshold"] = 0
    strict.write_text(yaml.safe_dump(data))
    settings = load_settings(strict)
    engine = create_engine(settings.database.url)
    async with session_factory(engine).begin() as session:
        _, token = await create_token(session, "health", "@borough")
    await engine.dispose()
    async with TestClient(TestServer(create_app(settings, settings_path=str(strict)))) as client:
        entra = Scim(client, token)
        pia = await entra.call("POST", "/Users", entra_user("pia"), status=201)
        assert await applied(client) == 0
        assert homeserver.room_id("hed-general") in joined(homeserver, "pia")
        await entra.call(
            "PATCH",
            f"/Users/{pia['id']}",
            {
                "schemas": [PATCH],
                "Operations": [
                    {
                        "op": "Replace",
                        "path": f"{ENTERPRISE}:department",
                        "value": "Inpatient Wards",
                    }
                ],
            },
            status=PATCHED,
        )
        assert await applied(client) == 0
    rooms = joined(homeserver, "pia")
    assert homeserver.room_id("hwards-general") in rooms
    assert homeserver.room_id("hed-general") in rooms  # the removal waits
    plan = await partner("plan", folder, settings_path, "health", "--prune")
    assert plan.exit_code == 0 and homeserver.user_id("pia") in plan.output, plan.output
