"""SCIM 2.0 at /scim/v2/, driven the way identity providers drive it, against the real widget
server and app database: the organisation's fragment is what changes. No homeserver is
needed here (the auto apply's end-to-end run is in test_scim_network.py)."""

from __future__ import annotations

import asyncio
import fcntl
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp.test_utils import TestClient, TestServer

from borough import audit
from borough.db import create_engine, migrate, session_factory
from borough.org.loader import load_org_chart
from borough.settings import ScimOrganisation, load_settings
from provisioning.apply_lock import apply_turn
from tests.conftest import borough, postgres_database
from widgets.app import SESSIONS, create_app
from widgets.scim import SYNC, ScopedApply
from widgets.scim_tokens import create_token, revoke_token

FIXTURES = Path(__file__).parents[1] / "fixtures" / "scim"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
ERROR = "urn:ietf:params:scim:api:messages:2.0:Error"
#: A PATCH answers 200 with the resource, or 204 (RFC 7644 §3.5.2)
PATCHED = (200, 204)
SCIM_JSON = {"Content-Type": "application/scim+json"}


def write_settings(tmp_path: Path, apply: str = "review") -> Path:
    shutil.copytree(FIXTURES, tmp_path / "chart", dirs_exist_ok=True)
    path = tmp_path / "borough.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "homeserver": {"url": "http://127.0.0.1:9", "server_name": "borough.test"},
                "service_account": {"user_id": "@borough:borough.test", "access_token": "x"},
                "database": {"url": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"},
                "widgets": {"public_url": "https://borough.test"},
                "scim": {
                    "chart": str(tmp_path / "chart" / "main.yaml"),
                    "organisations": {
                        "health": {
                            "mapping": str(tmp_path / "chart" / "health-mapping.yaml"),
                            "apply": apply,
                        },
                        "police": {"mapping": str(tmp_path / "chart" / "police-mapping.yaml")},
                    },
                },
            }
        )
    )
    return path


class Scim:
    """A client with one organisation's token, as an identity provider holds it."""

    def __init__(self, client: TestClient[Any, Any], token: str) -> None:
        self.client = client
        self.headers = {"Authorization": f"Bearer {token}", **SCIM_JSON}

    async def call(
        self, method: str, path: str, body: Any = None, status: int | tuple[int, ...] | None = None
    ) -> Any:
        response = await self.client.request(
            method, f"/scim/v2{path}", json=body, headers=self.headers
        )
        data = await response.json(content_type=None) if response.status != 204 else None
        if status is not None:
            assert response.status in (status if isinstance(status, tuple) else (status,)), data
        return data


@pytest.fixture
async def server(
    tmp_path: Path,
) -> AsyncIterator[tuple[TestClient[Any, Any], Path, dict[str, str]]]:
    settings_path = write_settings(tmp_path)
    settings = load_settings(settings_path)
    await migrate(settings.database.url)
    engine = create_engine(settings.database.url)
    tokens = {}
    async with session_factory(engine).begin() as session:
        for org in ("health", "police", "council"):
            tokens[org] = (await create_token(session, org, "@borough:borough.test"))[1]
    await engine.dispose()
    async with TestClient(TestServer(create_app(settings))) as client:
        yield client, tmp_path, tokens


def people(tmp_path: Path, org: str = "health") -> dict[str, dict[str, Any]]:
    data = yaml.safe_load((tmp_path / "chart" / "orgs" / f"{org}.yaml").read_text())
    return {p["username"]: p for p in data.get("people") or []}


def entra_user(name: str, department: str = "Emergency Medicine", **extra: Any) -> dict[str, Any]:
    """A user as Entra ID's provisioning service POSTs it."""
    return {
        "schemas": [USER, ENTERPRISE],
        "externalId": f"{name}-oid",
        "userName": f"{name}@health.example.org",
        "active": True,
        "displayName": name.title(),
        "title": "Nurse",
        "emails": [{"primary": True, "type": "work", "value": f"{name}@health.example.org"}],
        "name": {"formatted": name.title(), "familyName": name.title(), "givenName": name},
        ENTERPRISE: {"department": department, "employeeNumber": "1001"},
        **extra,
    }


async def test_entra_id_provisioning_sequence(server: Any) -> None:
    client, tmp_path, tokens = server
    entra = Scim(client, tokens["health"])
    found = await entra.call(
        "GET", '/Users?filter=userName eq "ann@health.example.org"', status=200
    )
    assert found["totalResults"] == 0 and found["schemas"] == [
        "urn:ietf:params:scim:api:messages:2.0:ListResponse"
    ]
    ann = await entra.call("POST", "/Users", entra_user("ann"), status=201)
    assert ann["userName"] == "ann@health.example.org" and ann["id"]
    assert ann[ENTERPRISE]["employeeNumber"] == "1001"
    assert people(tmp_path)["ann"] == {
        "username": "ann",
        "display_name": "Ann",
        "email": "ann@health.example.org",
        "units": ["hed"],
        "role": "staff",
        "job_title": "Nurse",
    }
    found = await entra.call(
        "GET", '/Users?filter=userName eq "ANN@health.example.org"', status=200
    )
    assert [r["id"] for r in found["Resources"]] == [ann["id"]]

    bob = await entra.call("POST", "/Users", entra_user("bob"), status=201)
    # Entra sets the manager by PATCH, with the manager's id as a bare value.
    await entra.call(
        "PATCH",
        f"/Users/{bob['id']}",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "Add", "path": f"{ENTERPRISE}:manager", "value": ann["id"]},
                {"op": "Replace", "path": "title", "value": "Senior Nurse"},
            ],
        },
        status=PATCHED,
    )
    assert people(tmp_path)["bob"]["manager"] == "ann"
    await entra.call(
        "PATCH",
        f"/Users/{bob['id']}",
        {
            "schemas": [PATCH],
            "Operations": [
                {
                    "op": "Replace",
                    "path": 'emails[type eq "work"].value',
                    "value": "robert@health.example.org",
                },
                {"op": "Add", "path": "name.givenName", "value": "Robert"},
            ],
        },
        status=PATCHED,
    )
    assert people(tmp_path)["bob"]["email"] == "robert@health.example.org"
    assert people(tmp_path)["bob"]["job_title"] == "Senior Nurse"

    # A mover: department changes, capitalised op, no path.
    await entra.call(
        "PATCH",
        f"/Users/{bob['id']}",
        {
            "schemas": [PATCH],
            "Operations": [
                {"op": "Replace", "value": {f"{ENTERPRISE}:department": "Inpatient Wards"}}
            ],
        },
        status=PATCHED,
    )
    assert people(tmp_path)["bob"]["units"] == ["hwards"]

    # A leaver: Entra sends active as the string "False".
    await entra.call(
        "PATCH",
        f"/Users/{bob['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]},
        status=PATCHED,
    )
    assert "bob" not in people(tmp_path)
    assert (await entra.call("GET", f"/Users/{bob['id']}", status=200))["active"] is False
    # Back again: active "True" makes them a joiner once more.
    await entra.call(
        "PATCH",
        f"/Users/{bob['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "True"}]},
        status=PATCHED,
    )
    assert people(tmp_path)["bob"]["units"] == ["hwards"]
    load_org_chart(tmp_path / "chart" / "main.yaml")  # the chart stays valid throughout


async def test_okta_provisioning_sequence(server: Any) -> None:
    client, tmp_path, tokens = server
    okta = Scim(client, tokens["health"])
    # Okta pages through users first, then looks the user up, then POSTs.
    listed = await okta.call("GET", "/Users?startIndex=1&count=100", status=200)
    assert listed["totalResults"] == 0
    await okta.call(
        "GET",
        '/Users?filter=userName eq "cat@health.example.org"&startIndex=1&count=100',
        status=200,
    )
    body = {
        "schemas": [USER],
        "userName": "cat@health.example.org",
        "name": {"givenName": "Cat", "familyName": "Jones"},
        "displayName": "Cat Jones",
        "emails": [{"primary": True, "value": "cat@health.example.org", "type": "work"}],
        "active": True,
        "password": "never-kept-1!",
        "groups": [],
    }
    cat = await okta.call("POST", "/Users", body, status=201)
    assert "password" not in cat
    assert people(tmp_path)["cat"]["display_name"] == "Cat Jones"
    # Okta updates with PUT of the whole user.
    await okta.call("PUT", f"/Users/{cat['id']}", {**body, "displayName": "Cat Smith"}, status=200)
    assert people(tmp_path)["cat"]["display_name"] == "Cat Smith"
    # Groups: Okta pushes a group, then members by PATCH add/remove with a path.
    group = await okta.call(
        "POST",
        "/Groups",
        {"schemas": [GROUP], "displayName": "Ward Nurses", "members": []},
        status=201,
    )
    found = await okta.call("GET", '/Groups?filter=displayName eq "Ward Nurses"', status=200)
    assert [g["id"] for g in found["Resources"]] == [group["id"]]
    await okta.call(
        "PATCH",
        f"/Groups/{group['id']}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "add", "path": "members", "value": [{"value": cat["id"]}]}],
        },
        status=PATCHED,
    )
    assert people(tmp_path)["cat"]["units"] == ["hwards"]
    await okta.call(
        "PATCH",
        f"/Groups/{group['id']}",
        {
            "schemas": [PATCH],
            "Operations": [{"op": "remove", "path": f'members[value eq "{cat["id"]}"]'}],
        },
        status=PATCHED,
    )
    assert people(tmp_path)["cat"]["units"] == []
    # Okta deactivates with PATCH active false (a boolean), and the person leaves.
    await okta.call(
        "PATCH",
        f"/Users/{cat['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]},
        status=PATCHED,
    )
    assert "cat" not in people(tmp_path)


async def test_filters_paging_and_emails(server: Any) -> None:
    client, _, tokens = server
    scim = Scim(client, tokens["health"])
    ids = [
        (await scim.call("POST", "/Users", entra_user(n), status=201))["id"]
        for n in ("dan", "eve", "fay")
    ]
    page = await scim.call("GET", "/Users?startIndex=2&count=1", status=200)
    assert page["totalResults"] == 3 and page["startIndex"] == 2 and page["itemsPerPage"] == 1
    assert [r["id"] for r in page["Resources"]] == [ids[1]]
    for query, expected in [
        ('externalId eq "eve-oid"', [ids[1]]),
        ('emails.value eq "FAY@health.example.org"', [ids[2]]),
        ('displayName eq "Dan"', [ids[0]]),
        ('userName sw "d" or userName sw "e"', ids[:2]),
    ]:
        found = await scim.call("GET", f"/Users?filter={query}", status=200)
        assert [r["id"] for r in found["Resources"]] == expected, query


async def test_errors_are_scim_errors_and_nothing_is_half_written(server: Any) -> None:
    client, tmp_path, tokens = server
    scim = Scim(client, tokens["health"])
    before = (tmp_path / "chart" / "orgs" / "health.yaml").read_text()

    def is_error(data: Any, status: int, scim_type: str | None) -> None:
        assert data["schemas"] == [ERROR] and data["status"] == str(status), data
        assert data.get("scimType") == scim_type, data
        assert data["detail"]

    response = await client.post("/scim/v2/Users", data=b"{not json", headers=scim.headers)
    is_error(await response.json(content_type=None), 400, "invalidSyntax")
    is_error(
        await scim.call(
            "POST", "/Users", {"schemas": [USER], "displayName": "No Name"}, status=400
        ),
        400,
        "invalidValue",
    )
    is_error(
        await scim.call("POST", "/Users", {**entra_user("gus"), "shoeSize": 9}, status=400),
        400,
        "invalidSyntax",
    )
    is_error(await scim.call("GET", "/Users?filter=userName eq", status=400), 400, "invalidFilter")
    # The chart refuses a bad username: no SCIM row is kept either.
    is_error(
        await scim.call("POST", "/Users", entra_user("bad name!"), status=400), 400, "invalidValue"
    )
    assert (await scim.call("GET", '/Users?filter=userName eq "bad name!@health.example.org"'))[
        "totalResults"
    ] == 0
    # A department that means another organisation's unit is a write outside the organisation.
    is_error(
        await scim.call("POST", "/Users", entra_user("hal", department="Policing"), status=403),
        403,
        None,
    )
    # A userName taken by another organisation's person.
    is_error(await scim.call("POST", "/Users", entra_user("padmin"), status=403), 403, None)
    assert (await scim.call("GET", "/Users"))["totalResults"] == 0
    assert (tmp_path / "chart" / "orgs" / "health.yaml").read_text() == before

    await scim.call("POST", "/Users", entra_user("ida"), status=201)
    is_error(await scim.call("POST", "/Users", entra_user("ida"), status=409), 409, "uniqueness")
    is_error(
        await scim.call(
            "POST", "/Users", {**entra_user("ida"), "userName": "ida@other.example.org"}, status=409
        ),
        409,
        "uniqueness",
    )
    # A revoked token is refused at once.
    async with client.app[SESSIONS].begin() as session:
        token_id = tokens["health"].split("_")[1]
        assert await revoke_token(session, token_id) is not None
    await scim.call("GET", "/Users", status=401)
    response = await client.get("/scim/v2/Users", headers={"Authorization": "Bearer bst_nope_nope"})
    assert response.status == 401
    is_error(await response.json(content_type=None), 401, None)


async def test_unknown_departments_and_groups_are_reported_never_guessed(server: Any) -> None:
    client, tmp_path, tokens = server
    scim = Scim(client, tokens["health"])
    jo = await scim.call(
        "POST", "/Users", entra_user("jo", department="Emergency Medicin"), status=201
    )
    assert people(tmp_path)["jo"]["units"] == []
    group = await scim.call(
        "POST",
        "/Groups",
        {"schemas": [GROUP], "displayName": "Theatre", "members": [{"value": jo["id"]}]},
        status=201,
    )
    assert group["members"][0]["value"] == jo["id"]
    assert people(tmp_path)["jo"]["units"] == []
    async with client.app[SESSIONS]() as session:
        entries = await audit.entries(session, action="scim.*")
    unmapped = entries[-1].details["unmapped"][jo["id"]]
    assert "department 'Emergency Medicin' is not in the mapping's departments" in unmapped
    assert "group 'Theatre' is not in the mapping" in unmapped
    assert {e.actor for e in entries} == {"scim:health"}
    settings = tmp_path / "borough.yaml"
    listed = await asyncio.to_thread(
        borough, "--settings", str(settings), "scim", "unmapped", "--org", "health"
    )
    assert listed.exit_code == 0, listed.output
    assert "Emergency Medicin" in listed.output and "Theatre" in listed.output
    assert "jo@health.example.org" in listed.output


async def test_another_organisations_token_reads_404_and_writes_403(server: Any) -> None:
    client, tmp_path, tokens = server
    health, police = Scim(client, tokens["health"]), Scim(client, tokens["police"])
    kim = await health.call("POST", "/Users", entra_user("kim"), status=201)
    await police.call("GET", f"/Users/{kim['id']}", status=404)
    assert (await police.call("GET", '/Users?filter=userName eq "kim@health.example.org"'))[
        "totalResults"
    ] == 0
    patch = {
        "schemas": [PATCH],
        "Operations": [{"op": "replace", "path": "displayName", "value": "Stolen"}],
    }
    await police.call("PATCH", f"/Users/{kim['id']}", patch, status=403)
    await police.call(
        "PUT", f"/Users/{kim['id']}", {**entra_user("kim"), "displayName": "Stolen"}, status=403
    )
    await police.call("DELETE", f"/Users/{kim['id']}", status=403)
    assert people(tmp_path)["kim"]["display_name"] == "Kim"
    # A token of an organisation without a scim section reads, but writes nothing.
    council = Scim(client, tokens["council"])
    await council.call("POST", "/Users", entra_user("lou"), status=403)


async def test_delete_is_a_leaver_and_writes_are_audited(server: Any) -> None:
    client, tmp_path, tokens = server
    scim = Scim(client, tokens["health"])
    max_ = await scim.call("POST", "/Users", entra_user("max"), status=201)
    await scim.call("DELETE", f"/Users/{max_['id']}", status=204)
    assert "max" not in people(tmp_path)
    await scim.call("GET", f"/Users/{max_['id']}", status=404)
    async with client.app[SESSIONS]() as session:
        entries = await audit.entries(session, action="scim.*")
    assert [(e.action, e.details["organisation"]) for e in entries] == [
        ("scim.user.create", "health"),
        ("scim.user.delete", "health"),
    ]
    assert entries[1].details["leavers"] == ["max"]


async def test_discovery(server: Any) -> None:
    client, _, tokens = server
    response = await client.get("/scim/v2/ServiceProviderConfig")
    config = await response.json(content_type=None)
    assert response.status == 200 and config["patch"]["supported"] is True
    assert config["filter"]["supported"] is True and config["bulk"]["supported"] is False
    scim = Scim(client, tokens["health"])
    types = await scim.call("GET", "/ResourceTypes", status=200)
    assert {t["name"] for t in types["Resources"]} == {"User", "Group"}
    schemas = await scim.call("GET", "/Schemas", status=200)
    assert ENTERPRISE in {s["id"] for s in schemas["Resources"]}


def test_token_commands(tmp_path: Path) -> None:
    settings = write_settings(tmp_path)
    chart = str(tmp_path / "chart" / "main.yaml")
    created = borough(
        "--settings", str(settings), "scim", "token", "create", "--org", "health", "--chart", chart
    )
    assert created.exit_code == 0, created.output
    token = created.output.strip().splitlines()[-1]
    assert token.startswith("bst_")
    token_id = token.split("_")[1]
    listed = borough("--settings", str(settings), "scim", "token", "list")
    assert token_id in listed.output and token not in listed.output and "live" in listed.output
    refused = borough(
        "--settings",
        str(settings),
        "scim",
        "token",
        "create",
        "--org",
        "health",
        "--chart",
        chart,
        "--as",
        "@padmin:borough.test",
    )
    assert refused.exit_code != 0 and "not an admin of 'health'" in refused.output
    revoked = borough(
        "--settings",
        str(settings),
        "scim",
        "token",
        "revoke",
        token_id,
        "--org",
        "health",
        "--chart",
        chart,
    )
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in borough("--settings", str(settings), "scim", "token", "list").output


async def test_scim2_tester_conformance_against_the_live_endpoint(tmp_path: Path) -> None:
    """scim2-tester's whole run (discovery, CRUD of Users and Groups, PATCH add/replace/
    remove, random URLs) over real HTTP: every check it makes passes."""
    from aiohttp import web
    from httpx2 import Client
    from scim2_client.engines.httpx2 import SyncSCIMClient
    from scim2_tester import Status, check_server

    settings = load_settings(write_settings(tmp_path))
    await migrate(settings.database.url)
    engine = create_engine(settings.database.url)
    async with session_factory(engine).begin() as session:
        _, token = await create_token(session, "health", "@borough:borough.test")
    await engine.dispose()
    runner = web.AppRunner(create_app(settings))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    def run() -> list[Any]:
        client = Client(
            base_url=f"http://127.0.0.1:{port}/scim/v2",
            headers={"Authorization": f"Bearer {token}"},
        )
        with client:
            return check_server(SyncSCIMClient(client))

    try:
        results = await asyncio.to_thread(run)
    finally:
        await runner.cleanup()
    failed = [(r.title, r.resource_type, r.reason) for r in results if r.status != Status.SUCCESS]
    assert failed == []
    assert len(results) > 100


def fragment_admins(tmp_path: Path, org: str = "health") -> list[str] | None:
    data = yaml.safe_load((tmp_path / "chart" / "orgs" / f"{org}.yaml").read_text())
    return data.get("admins")


def members_patch(op: str, user_id: str) -> dict[str, Any]:
    """Entra ID's group membership change: add or remove one member by PATCH."""
    if op == "Add":
        operation = {"op": "Add", "path": "members", "value": [{"value": user_id}]}
    else:
        operation = {"op": "Remove", "path": f'members[value eq "{user_id}"]'}
    return {"schemas": [PATCH], "Operations": [operation]}


async def test_an_admin_groups_members_are_the_fragments_admins(server: Any) -> None:
    """health's main-file entry lets its fragment name admins: joining the admin group
    adds the person to the fragment's `admins:`, leaving it or leaving takes them out."""
    client, tmp_path, tokens = server
    entra = Scim(client, tokens["health"])
    una = await entra.call("POST", "/Users", entra_user("una"), status=201)
    vic = await entra.call("POST", "/Users", entra_user("vic"), status=201)
    assert fragment_admins(tmp_path) is None
    admins = await entra.call(
        "POST", "/Groups", {"schemas": [GROUP], "displayName": "Borough Admins"}, status=201
    )
    await entra.call(
        "PATCH", f"/Groups/{admins['id']}", members_patch("Add", una["id"]), status=PATCHED
    )
    assert fragment_admins(tmp_path) == ["una"]
    await entra.call(
        "PATCH", f"/Groups/{admins['id']}", members_patch("Add", vic["id"]), status=PATCHED
    )
    assert fragment_admins(tmp_path) == ["una", "vic"]
    health = next(
        o
        for o in load_org_chart(tmp_path / "chart" / "main.yaml").organisations
        if o.key == "health"
    )
    assert health.admins == ("hadmin", "una", "vic")  # the main file's, then the fragment's
    await entra.call(
        "PATCH", f"/Groups/{admins['id']}", members_patch("Remove", una["id"]), status=PATCHED
    )
    assert fragment_admins(tmp_path) == ["vic"]
    assert "una" in people(tmp_path)  # still a person, no longer an admin
    # A leaver leaves the admins too, though the provider has not changed the group yet.
    await entra.call(
        "PATCH",
        f"/Users/{vic['id']}",
        {"schemas": [PATCH], "Operations": [{"op": "Replace", "path": "active", "value": "False"}]},
        status=PATCHED,
    )
    assert fragment_admins(tmp_path) == []
    async with client.app[SESSIONS]() as session:
        entries = await audit.entries(session, action="scim.group.update")
    assert len(entries) == 3 and entries[0].actor == "scim:health"
    listed = await asyncio.to_thread(
        borough, "--settings", str(tmp_path / "borough.yaml"), "scim", "unmapped", "--org", "health"
    )
    assert "admin group" not in listed.output, listed.output


async def test_without_the_main_files_leave_an_admin_group_is_only_noted(server: Any) -> None:
    client, tmp_path, tokens = server
    main = tmp_path / "chart" / "main.yaml"
    main.write_text(main.read_text().replace("fragment_may_add_admins: true", ""))
    before = (tmp_path / "chart" / "orgs" / "health.yaml").read_text()
    entra = Scim(client, tokens["health"])
    group = await entra.call(
        "POST",
        "/Groups",
        {"schemas": [GROUP], "displayName": "Borough Admins", "members": []},
        status=201,
    )
    assert (tmp_path / "chart" / "orgs" / "health.yaml").read_text() == before
    wes = await entra.call("POST", "/Users", entra_user("wes"), status=201)
    await entra.call(
        "PATCH", f"/Groups/{group['id']}", members_patch("Add", wes["id"]), status=PATCHED
    )
    assert fragment_admins(tmp_path) is None and "wes" in people(tmp_path)
    listed = await asyncio.to_thread(
        borough, "--settings", str(tmp_path / "borough.yaml"), "scim", "unmapped", "--org", "health"
    )
    assert listed.exit_code == 0, listed.output
    assert "wes@health.example.org" in listed.output, listed.output
    assert "fragment_may_add_admins" in listed.output, listed.output


async def test_writes_that_arrive_together_land_together_and_a_bad_one_fails_alone(
    server: Any,
) -> None:
    """Writes that arrive while a batch is carried are carried as one (one import, one
    fragment write, one commit); each still gets its own answer, and a write the chart or
    the store refuses fails alone while the others land."""
    client, tmp_path, tokens = server
    scim = Scim(client, tokens["health"])
    sync = client.app[SYNC]
    # Hold the organisation's lock as another replica would, so the writes queue up.
    with (tmp_path / "chart" / ".scim-health.lock").open("a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        first = asyncio.ensure_future(scim.call("POST", "/Users", entra_user("amy")))
        async with sync.arrivals:
            await sync.arrivals.wait_for(lambda: sync.batches)
        bodies = [
            entra_user("bea"),
            entra_user("bad name!"),  # the chart refuses it: known only after the import
            entra_user("cal"),
            entra_user("bea"),  # a uniqueness clash with the write before it in the batch
            entra_user("hal", department="Policing"),  # outside the organisation
            {**entra_user("dot"), "shoeSize": 9},  # a malformed body
            entra_user("eve"),
        ]
        calls = [asyncio.ensure_future(scim.call("POST", "/Users", body)) for body in bodies]
        async with sync.arrivals:
            await sync.arrivals.wait_for(lambda: len(sync.waiting.get("health", [])) == len(bodies))
        fcntl.flock(held, fcntl.LOCK_UN)
    answers = [await first, *[await call for call in calls]]
    assert sync.batches[-2:] == [1, len(bodies)]
    statuses = [a.get("status", "201") for a in answers]
    assert statuses == ["201", "201", "400", "201", "409", "403", "400", "201"], answers
    assert answers[4]["scimType"] == "uniqueness" and answers[2]["scimType"] == "invalidValue"
    assert set(people(tmp_path)) >= {"amy", "bea", "cal", "eve"}
    assert not {"bad", "hal", "dot"} & set(people(tmp_path))
    found = await scim.call("GET", "/Users", status=200)
    assert sorted(u["userName"].split("@")[0] for u in found["Resources"]) == [
        "amy",
        "bea",
        "cal",
        "eve",
    ]
    async with client.app[SESSIONS]() as session:
        entries = await audit.entries(session, action="scim.*")
    created = {e.target_ids[0]: e.details for e in entries}
    assert {u["id"] for u in found["Resources"]} == set(created)
    assert sorted(j for d in created.values() for j in d["joiners"]) == ["amy", "bea", "cal", "eve"]


@pytest.mark.postgres
async def test_two_replicas_run_one_organisations_scoped_apply_one_at_a_time(
    tmp_path: Path,
) -> None:
    """Two widget server replicas on one PostgreSQL app database: a write lands on the second
    while the first applies the organisation. The second's run waits for the first to end,
    then runs (and so applies that write): one at a time, and no wake-up lost. The runs'
    `borough partner apply` is stood in for, taking its lock as it does, so the test can
    hold one open."""
    url, drop = postgres_database("borough_scim")
    engines = [create_engine(url), create_engine(url)]
    events: list[str] = []
    started = {name: asyncio.Event() for name in "ab"}
    finish = {name: asyncio.Event() for name in "ab"}

    class Replica(ScopedApply):
        def __init__(self, name: str, engine: Any) -> None:
            super().__init__(None, tmp_path / "main.yaml")
            self.name = name
            self.sessions = session_factory(engine)

        async def _partner_apply(self, organisation: str, flags: list[str]) -> tuple[int, str]:
            async with apply_turn(self.sessions, organisation, lambda: None):
                events.append(f"{self.name} applies {organisation}")
                started[self.name].set()
                await finish[self.name].wait()
                events.append(f"{self.name} done")
            return 0, "Applied."

    config = ScimOrganisation(mapping=tmp_path / "mapping.yaml", apply="auto")
    a, b = Replica("a", engines[0]), Replica("b", engines[1])
    try:
        a.request("health", config)
        await started["a"].wait()
        b.request("health", config)
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(started["b"].wait(), 1.0)
        finish["a"].set()
        await started["b"].wait()
        finish["b"].set()
        await a.idle.wait()
        await b.idle.wait()
        assert events == ["a applies health", "a done", "b applies health", "b done"]
        assert a.finished == b.finished == [("health", 0)]
    finally:
        for engine in engines:
            await engine.dispose()
        drop()


async def test_a_hand_edit_between_writes_is_read_before_the_next(server: Any) -> None:
    """The server keeps the chart it wrote between writes; a hand edit of the fragment since
    (a person put in with a comment, a field the mapping does not fill) is what the next
    write starts from."""
    client, tmp_path, tokens = server
    scim = Scim(client, tokens["health"])
    ann = await scim.call("POST", "/Users", entra_user("ann"), status=201)
    fragment = tmp_path / "chart" / "orgs" / "health.yaml"
    edited = fragment.read_text().replace(
        "  - {username: ann,",
        "  # on call at weekends\n"
        "  - {username: hana, display_name: Hana Hand, units: [hwards]}\n"
        "  - {profile: {location: Leeds}, username: ann,",
    )
    fragment.write_text(edited)
    retitle = {"op": "Replace", "path": "title", "value": "Sister"}
    await scim.call(
        "PATCH",
        f"/Users/{ann['id']}",
        {"schemas": [PATCH], "Operations": [retitle]},
        status=PATCHED,
    )
    assert "  # on call at weekends\n" in fragment.read_text()
    assert set(people(tmp_path)) == {"hadmin", "hana", "ann"}
    assert people(tmp_path)["ann"]["job_title"] == "Sister"
    assert people(tmp_path)["ann"]["profile"] == {"location": "Leeds"}
