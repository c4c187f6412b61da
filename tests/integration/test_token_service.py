"""The Jitsi token service against a real Synapse: real OpenID tokens, real rooms, real state."""

from __future__ import annotations

import json
import logging
import re
import secrets
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlalchemy import select

from borough.db import Meeting, MeetingParticipant, create_engine, session_factory
from borough.jitsi import room_conference_id
from borough.settings import Settings
from tests.conftest import POSTGRES_DSN, Homeserver, borough
from widgets.app import AccessLog, create_app
from widgets.conferencing import ADMISSIONS

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml"
APP_SECRET = "a-test-secret-that-is-long-enough-for-hs256"


@dataclass
class People:
    room_id: str
    alice: tuple[str, str]  # room creator
    bob: tuple[str, str]  # member at power level 50
    carol: tuple[str, str]  # member at power level 0
    dave: tuple[str, str]  # not a member


def openid_token(hs: Homeserver, person: tuple[str, str]) -> str:
    user_id, token = person
    path = f"/_matrix/client/v3/user/{quote(user_id)}/openid/request_token"
    return str(hs.call("POST", path, token, {})["access_token"])


@pytest.fixture(scope="module")
def people(homeserver: Homeserver) -> People:
    hs = homeserver
    suffix = secrets.token_hex(3)
    alice, bob, carol, dave = (
        hs.synapse.register_user(f"{name}{suffix}") for name in ("alice", "bob", "carol", "dave")
    )
    room_id = hs.call(
        "POST",
        "/_matrix/client/v3/createRoom",
        alice[1],
        {"preset": "private_chat", "name": "Housing team", "invite": [bob[0], carol[0]]},
    )["room_id"]
    for person in (bob, carol):
        hs.call("POST", f"/_matrix/client/v3/join/{quote(room_id)}", person[1], {})
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.power_levels/"
    levels = hs.call("GET", path, alice[1])
    levels["users"] = {**levels.get("users", {}), bob[0]: 50}
    hs.call("PUT", path, alice[1], levels)
    return People(room_id, alice, bob, carol, dave)


@pytest.fixture(scope="module")
def settings(homeserver: Homeserver, app_database_url: str) -> Settings:
    return Settings.model_validate(
        {
            "homeserver": {
                "url": homeserver.synapse.base_url,
                "server_name": homeserver.server_name,
            },
            "service_account": {
                "user_id": homeserver.service_user,
                "access_token": homeserver.service_token,
            },
            "database": {"url": app_database_url},
            "jitsi": {
                "domain": "meet.test",
                "auth": "openidtoken-jwt",
                "app_id": "borough",
                "app_secret": APP_SECRET,
            },
        }
    )


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client


async def verify(client: TestClient[Any, Any], body: Any) -> tuple[int, dict[str, Any]]:
    response = await client.post("/verify/user_in_room", json=body)
    return response.status, await response.json()


async def test_a_member_is_verified_with_power_levels(
    client: TestClient[Any, Any], homeserver: Homeserver, people: People
) -> None:
    token = openid_token(homeserver, people.carol)
    status, body = await verify(
        client,
        {"token": token, "room_id": people.room_id, "matrix_server_name": homeserver.server_name},
    )
    assert status == 200, body
    assert body["results"] == {"user": True, "room_membership": True}
    assert body["user_id"] == people.carol[0]
    assert body["power_levels"]["user"] == 0
    assert body["power_levels"]["room"]["state_default"] == 50
    assert "users" not in body["power_levels"]["room"]


async def test_a_power_level_50_member_is_a_moderator(
    client: TestClient[Any, Any], homeserver: Homeserver, people: People
) -> None:
    status, body = await verify(
        client, {"token": openid_token(homeserver, people.bob), "room_id": people.room_id}
    )
    assert status == 200, body
    assert body["power_levels"]["user"] == 50
    response = await client.post(
        f"/meet/{people.room_id}/token",
        json={"openid_token": openid_token(homeserver, people.bob)},
    )
    minted = await response.json()
    assert response.status == 200, minted
    assert response.headers["Cache-Control"] == "no-store"
    assert minted["is_moderator"] is True
    conference = room_conference_id(people.room_id)
    assert minted["url"].startswith(f"https://meet.test/{conference}?jwt=")
    claims = jwt.decode(
        minted["url"].split("jwt=", 1)[1], APP_SECRET, algorithms=["HS256"], audience="borough"
    )
    assert claims["room"] == conference.lower()
    assert claims["context"]["user"] == {
        "id": people.bob[0],
        "name": people.bob[0][1:].split(":")[0],  # Synapse's default display name
        "email": "",
        "avatar": "",
        "affiliation": "owner",
        "moderator": "true",
    }
    response = await client.post(
        f"/meet/{people.room_id}/token",
        json={"openid_token": openid_token(homeserver, people.carol)},
    )
    assert (await response.json())["is_moderator"] is False


async def test_a_non_member_is_refused(
    client: TestClient[Any, Any], homeserver: Homeserver, people: People
) -> None:
    status, body = await verify(
        client, {"token": openid_token(homeserver, people.dave), "room_id": people.room_id}
    )
    assert status == 403
    assert body["results"] == {"user": True, "room_membership": False}
    assert body["user_id"] == people.dave[0]
    assert body["power_levels"] is None
    assert body["errcode"] == "M_FORBIDDEN"
    response = await client.post(
        f"/meet/{people.room_id}/token",
        json={"openid_token": openid_token(homeserver, people.dave)},
    )
    assert response.status == 403
    assert "jwt" not in await response.text()


async def test_a_forged_token_is_refused(
    client: TestClient[Any, Any], people: People, caplog: pytest.LogCaptureFixture
) -> None:
    forged = secrets.token_urlsafe(18)
    status, body = await verify(client, {"token": forged, "room_id": people.room_id})
    assert status == 401
    assert body["results"] == {"user": False, "room_membership": False}
    assert body["errcode"] == "M_UNKNOWN_TOKEN"
    assert forged not in caplog.text


def expire_openid_tokens(homeserver: Homeserver) -> None:
    """Age the homeserver's OpenID tokens past their lifetime, in Synapse's own database."""
    statement = "UPDATE open_id_tokens SET ts_valid_until_ms = 0"
    if POSTGRES_DSN:
        import psycopg2

        base = POSTGRES_DSN.rsplit("/", 1)[0]
        with psycopg2.connect(f"{base}/{homeserver.synapse.database_name}") as conn:
            conn.cursor().execute(statement)
        return
    with sqlite3.connect(homeserver.synapse.base_dir / "homeserver.db") as conn:
        conn.execute(statement)


async def test_an_expired_token_is_refused(
    client: TestClient[Any, Any], homeserver: Homeserver, people: People
) -> None:
    token = openid_token(homeserver, people.carol)
    status, _ = await verify(client, {"token": token, "room_id": people.room_id})
    assert status == 200
    expire_openid_tokens(homeserver)
    status, body = await verify(client, {"token": token, "room_id": people.room_id})
    assert status == 401
    assert body["results"]["user"] is False


async def test_a_foreign_server_is_refused(client: TestClient[Any, Any], people: People) -> None:
    status, body = await verify(
        client,
        {"token": "abc", "room_id": people.room_id, "matrix_server_name": "evil.example"},
    )
    assert status == 401
    assert "evil.example" not in body["error"] or "only tokens" in body["error"]


@pytest.mark.parametrize(
    "raw",
    [b"not json", b"[1, 2]", b'{"room_id": "!x:y"}', b'{"token": "", "room_id": "!x:y"}',
     b'{"token": "abc", "room_id": 5}', b'{"token": "abc", "room_id": "nonsense"}'],
)  # fmt: skip
async def test_malformed_bodies_get_a_json_400(client: TestClient[Any, Any], raw: bytes) -> None:
    response = await client.post(
        "/verify/user_in_room", data=raw, headers={"Content-Type": "application/json"}
    )
    assert response.status == 400
    body = await response.json()
    assert body["errcode"] in ("M_BAD_JSON", "M_INVALID_PARAM")
    assert body["results"]["user"] is False


@pytest.mark.parametrize(
    ("raw", "status", "says"),
    [
        (b"[" * 50_000, 400, "nests deeper"),
        (b'{"token": "' + b"x" * 70_000 + b'", "room_id": "!x:y"}', 413, "64 KiB"),
        (b"", 400, "empty"),
    ],
    ids=["nested", "oversized", "empty"],
)
@pytest.mark.parametrize("route", ["/verify/user_in_room", "/meet/{room}/token"])
async def test_bodies_past_the_limits_get_a_4xx_in_the_services_shape(
    client: TestClient[Any, Any], people: People, route: str, raw: bytes, status: int, says: str
) -> None:
    response = await client.post(
        route.format(room=quote(people.room_id)),
        data=raw,
        headers={"Content-Type": "application/json"},
    )
    assert response.status == status, await response.text()
    body = await response.json()
    assert says in body["error"]
    assert body["results"] == {"user": False, "room_membership": False}


async def test_admissions_are_recorded_once_per_person(
    client: TestClient[Any, Any], homeserver: Homeserver, people: People, app_database_url: str
) -> None:
    for _ in range(2):
        status, _ = await verify(
            client, {"token": openid_token(homeserver, people.alice), "room_id": people.room_id}
        )
        assert status == 200
    await client.server.app[ADMISSIONS].drain()
    engine = create_engine(app_database_url)
    try:
        async with session_factory(engine)() as session:
            meetings = (
                await session.scalars(select(Meeting).where(Meeting.room_id == people.room_id))
            ).all()
            assert len(meetings) == 1
            participants = (
                await session.scalars(
                    select(MeetingParticipant.user_id).where(
                        MeetingParticipant.meeting_id == meetings[0].id
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    assert people.alice[0] in participants
    assert len(participants) == len(set(participants))


async def test_well_known_announces_openid_auth(client: TestClient[Any, Any]) -> None:
    response = await client.get("/.well-known/element/jitsi")
    assert await response.json() == {"auth": "openidtoken-jwt"}


SCRIPT = re.compile(r"<script([^>]*)>(.*?)</script>", re.DOTALL)


async def test_the_meeting_page_is_plain_accessible_html(
    client: TestClient[Any, Any], people: People
) -> None:
    response = await client.get(f"/meet/{people.room_id}")
    assert response.status == 200
    page = await response.text()
    assert '<html lang="en-GB">' in page
    assert '<label for="username">' in page and '<label for="password">' in page
    assert 'role="status"' in page
    sources = [attrs for attrs, _ in SCRIPT.findall(page) if "src=" in attrs]
    assert sources == [
        ' src="/static/widget-api.js"',
        ' src="/static/homeserver-signin.js"',
        ' src="/static/meeting.js"',
    ]  # only ours
    response = await client.get("/meet/not-a-room")
    assert response.status == 404


async def test_the_meeting_page_runs_no_inline_code_and_posts_its_form(
    client: TestClient[Any, Any], homeserver: Homeserver, people: People
) -> None:
    """The old page built its script with html-escaped JSON (`const roomId = &quot;!…`): a
    syntax error, so its form fell back to a GET with the password in the URL."""
    response = await client.get(f"/meet/{people.room_id}")
    page = await response.text()
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy
    assert f"connect-src 'self' {homeserver.synapse.base_url};" in policy
    assert "frame-ancestors 'none'" in policy
    scripts = SCRIPT.findall(page)
    assert all("&quot;" not in body for _, body in scripts)
    inline = [(attrs, body) for attrs, body in scripts if "src=" not in attrs]
    assert [attrs for attrs, _ in inline] == [' type="application/json" id="meeting-config"']
    assert json.loads(inline[0][1]) == {
        "homeserver": homeserver.synapse.base_url,
        "server_name": homeserver.server_name,
    }
    form = re.search(r"<form [^>]*>", page)
    assert form is not None and 'method="post"' in form.group(0)
    assert f'action="/meet/{people.room_id}"' in form.group(0)

    odd = await client.get("/meet/!<b>'&\"x")
    assert odd.status == 200
    text = await odd.text()
    assert "<b>" not in text and "!&lt;b&gt;&#39;&amp;&#34;x" in text


async def test_a_form_posted_without_the_script_is_refused_unread(
    client: TestClient[Any, Any], people: People
) -> None:
    form = {"username": "alice", "password": "hunter2"}
    response = await client.post(f"/meet/{people.room_id}", data=form)
    assert response.status == 400
    assert "needs JavaScript" in await response.text()


async def test_credentials_in_a_query_get_the_page_but_stay_out_of_the_access_log(
    settings: Settings, people: People, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    server = TestServer(create_app(settings))
    await server.start_server(access_log_class=AccessLog)
    async with TestClient(server) as query_client:
        response = await query_client.get(
            f"/meet/{people.room_id}?username=alice&password=hunter2",
            headers={"Referer": "https://widgets.test/meet/!r?loginToken=syl_secret"},
        )
        assert response.status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert len(lines) == 1, lines
    assert "hunter2" not in lines[0] and "syl_secret" not in lines[0]
    assert f'GET /meet/{people.room_id}?username=***&password=*** HTTP/1.1" 200' in lines[0]
    assert '"https://widgets.test/meet/!r?loginToken=***"' in lines[0]


def test_borough_widgets_serve_logs_accesses_without_query_values(
    monkeypatch: pytest.MonkeyPatch, settings_file: Path
) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr(web, "run_app", lambda app, **options: served.update(options))
    result = borough("widgets", "serve", settings=settings_file)
    assert result.exit_code == 0, result.output
    assert served["access_log_class"] is AccessLog


async def test_a_bearer_token_is_required_when_configured(
    settings: Settings, people: People
) -> None:
    locked = settings.model_copy(
        update={"jitsi": settings.jitsi.model_copy(update={"verify_token": SecretStr("s3cret")})}
    )
    async with TestClient(TestServer(create_app(locked))) as locked_client:
        status, body = await verify(locked_client, {"token": "abc", "room_id": people.room_id})
        assert status == 401 and body["errcode"] == "M_MISSING_TOKEN"


async def test_without_auth_the_link_follows_the_rooms_widget(
    settings: Settings, homeserver: Homeserver, people: People
) -> None:
    hs, alice = homeserver, people.alice
    room_id = hs.call(
        "POST", "/_matrix/client/v3/createRoom", alice[1], {"preset": "private_chat"}
    )["room_id"]
    plain = settings.model_copy(
        update={"jitsi": settings.jitsi.model_copy(update={"auth": "none"})}
    )
    async with TestClient(TestServer(create_app(plain))) as plain_client:

        async def ask() -> tuple[int, dict[str, Any]]:
            response = await plain_client.post(
                f"/meet/{room_id}/token", json={"openid_token": openid_token(hs, alice)}
            )
            return response.status, await response.json()

        status, body = await ask()
        assert status == 404 and body["errcode"] == "M_NOT_FOUND"
        widget = {
            "type": "jitsi",
            "url": "https://app.element.io/jitsi.html#conferenceId=$conferenceId",
            "name": "Catch-up",
            "data": {"conferenceId": "JitsiCatchUp", "domain": "meet.test"},
        }
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/state/im.vector.modular.widgets/w1"
        hs.call("PUT", path, alice[1], widget)
        status, body = await ask()
        assert status == 200, body
        assert body["title"] == "Catch-up"
        assert body["url"].startswith("https://meet.test/JitsiCatchUp?jwt=")


async def test_in_a_room_borough_is_in_the_member_is_read_directly(
    client: TestClient[Any, Any], homeserver: Homeserver, people: People
) -> None:
    """Provisioned rooms hold the service account: one membership read, however big the room."""
    hs, alice, carol = homeserver, people.alice, people.carol
    room_id = hs.call(
        "POST",
        "/_matrix/client/v3/createRoom",
        alice[1],
        {"preset": "private_chat", "invite": [hs.service_user, carol[0]]},
    )["room_id"]
    for token in (hs.service_token, carol[1]):
        hs.call("POST", f"/_matrix/client/v3/join/{quote(room_id)}", token, {})
    status, body = await verify(client, {"token": openid_token(hs, alice), "room_id": room_id})
    assert status == 200, body
    assert body["power_levels"]["user"] == 100  # the creator, in room v12
    status, body = await verify(client, {"token": openid_token(hs, carol), "room_id": room_id})
    assert status == 200 and body["power_levels"]["user"] == 0
    kick = f"/_matrix/client/v3/rooms/{quote(room_id)}/kick"
    hs.call("POST", kick, alice[1], {"user_id": carol[0]})
    status, body = await verify(client, {"token": openid_token(hs, carol), "room_id": room_id})
    assert status == 403 and body["results"] == {"user": True, "room_membership": False}
    status, _ = await verify(client, {"token": openid_token(hs, people.dave), "room_id": room_id})
    assert status == 403
