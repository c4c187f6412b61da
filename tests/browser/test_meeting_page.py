"""The meeting page in headless Chromium against a real Synapse: a member signs in by
password and by SSO (Synapse's CAS support, pointed at a small CAS server this module runs on
loopback), reaches the conference link, and leaves no session behind. Every request the
browser makes is recorded: the password travels only in the JSON body of the homeserver's
POST /login."""

from __future__ import annotations

import contextlib
import json
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import jwt
import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, BrowserContext, Request, Route, expect
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from yarl import URL

from borough.jitsi import room_conference_id
from borough.settings import load_settings
from borough.testing.localsynapse import free_port
from tests.browser.harness import MAXIMISED, TILE, assert_fits, check_page
from tests.conftest import ARTIFACTS, Homeserver, write_settings
from widgets.app import create_app

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml"
CAS_PORT = free_port()
#: Synapse's SSO through CAS (synapse/config/cas.py); service_url is its own public_baseurl.
SYNAPSE_CONFIG = {"cas_config": {"enabled": True, "server_url": f"http://127.0.0.1:{CAS_PORT}"}}
APP_SECRET = "a-test-secret-that-is-long-enough-for-hs256"
JITSI = "meet.test"
DEVICE_NAME = "Borough meeting page"


class FakeCas:
    """A CAS server (protocol 2) that signs in `username` without asking: `/login` sends the
    browser back to the service with a ticket, and `/proxyValidate` redeems it once."""

    def __init__(self) -> None:
        self.username = ""
        self.tickets: dict[str, tuple[str, str]] = {}

    async def login(self, request: web.Request) -> web.Response:
        service = request.query["service"]
        ticket = f"ST-{secrets.token_urlsafe(16)}"
        self.tickets[ticket] = (service, self.username)
        raise web.HTTPFound(URL(service).update_query(ticket=ticket))

    async def validate(self, request: web.Request) -> web.Response:
        service, username = self.tickets.pop(request.query.get("ticket", ""), ("", ""))
        if not username or service != request.query.get("service"):
            outcome = '<cas:authenticationFailure code="INVALID_TICKET"/>'
        else:
            outcome = (
                "<cas:authenticationSuccess>"
                f"<cas:user>{username}</cas:user>"
                "</cas:authenticationSuccess>"
            )
        return web.Response(
            text=f'<cas:serviceResponse xmlns:cas="http://www.yale.edu/tp/cas">{outcome}'
            "</cas:serviceResponse>",
            content_type="text/xml",
        )


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def cas() -> AsyncIterator[FakeCas]:
    fake = FakeCas()
    app = web.Application()
    app.router.add_get("/login", fake.login)
    app.router.add_get("/proxyValidate", fake.validate)
    server = TestServer(app, host="127.0.0.1", port=CAS_PORT)
    await server.start_server()
    try:
        yield fake
    finally:
        await server.close()


@dataclass
class Member:
    localpart: str
    user_id: str
    password: str


@dataclass
class Meeting:
    room_id: str
    by_password: Member
    by_sso: Member


@pytest.fixture(scope="module")
def meeting(homeserver: Homeserver) -> Meeting:
    """A room with two members: one signs in by password, one by SSO."""
    hs, suffix = homeserver, secrets.token_hex(3)
    members, tokens = [], []
    for name in ("pia", "sam"):
        password = f"pw-{secrets.token_urlsafe(12)}"
        user_id, token = hs.synapse.register_user(f"{name}{suffix}", password)
        members.append(Member(f"{name}{suffix}", user_id, password))
        tokens.append(token)
    room_id = hs.call(
        "POST",
        "/_matrix/client/v3/createRoom",
        tokens[0],
        {"preset": "private_chat", "name": "Housing stand-up", "invite": [members[1].user_id]},
    )["room_id"]
    hs.call("POST", f"/_matrix/client/v3/join/{quote(room_id)}", tokens[1], {})
    return Meeting(room_id, members[0], members[1])


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def widget_server(
    homeserver: Homeserver, app_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    jitsi = {
        "domain": JITSI,
        "auth": "openidtoken-jwt",
        "app_id": "borough",
        "app_secret": APP_SECRET,
    }
    path = tmp_path_factory.mktemp("settings") / "borough.yaml"
    settings = load_settings(write_settings(path, homeserver, app_database_url, jitsi=jitsi))
    server = TestServer(create_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser: Browser) -> AsyncIterator[BrowserContext]:
    """A browser context whose Jitsi is a stub page: the test stops where the conference
    would begin."""
    context = await browser.new_context()

    async def jitsi(route: Route) -> None:
        await route.fulfill(body="<title>Conference</title>", content_type="text/html")

    await context.route(f"https://{JITSI}/**", jitsi)
    try:
        yield context
    finally:
        await context.close()


def recorded(context: BrowserContext) -> list[Request]:
    requests: list[Request] = []
    context.on("request", lambda request: requests.append(request))
    return requests


async def carrying(requests: list[Request], secret: str) -> list[tuple[str, str, str]]:
    """(method, url, where) for every request that carries `secret` anywhere."""
    found = []
    for request in requests:
        headers = await request.all_headers()
        places = {
            "url": request.url,
            "headers": json.dumps(headers),
            "body": (request.post_data_buffer or b"").decode("utf-8", "replace"),
        }
        found += [
            (request.method, request.url, where) for where, text in places.items() if secret in text
        ]
    return found


def meeting_link_user(url: str, room_id: str) -> str:
    """The Matrix user a conference link was minted for, after checking it is this room's."""
    parts = urlsplit(url)
    assert parts.netloc == JITSI and parts.path == f"/{room_conference_id(room_id)}", url
    token = parse_qs(parts.query)["jwt"][0]
    claims = jwt.decode(token, APP_SECRET, algorithms=["HS256"], audience="borough")
    return str(claims["context"]["user"]["id"])


def meeting_page_devices(hs: Homeserver, user_id: str) -> list[dict[str, Any]]:
    devices = hs.admin("GET", f"/_synapse/admin/v2/users/{quote(user_id)}/devices")["devices"]
    return [d for d in devices if d.get("display_name") == DEVICE_NAME]


async def test_a_member_joins_by_password_which_goes_only_to_login(
    context: BrowserContext, widget_server: str, homeserver: Homeserver, meeting: Meeting
) -> None:
    member, requests = meeting.by_password, recorded(context)
    page = await context.new_page()
    errors: list[str] = []  # a CSP refusal or a script error shows here
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto(f"{widget_server}/meet/{meeting.room_id}")
    await expect(page.get_by_role("button", name="Sign in with your organisation")).to_be_visible()
    await page.get_by_label("Username").fill(member.localpart)
    await page.get_by_label("Password").fill(member.password)
    await page.get_by_role("button", name="Join the meeting").click()
    # Where the password went is checked first: a page that leaks it never gets further.
    with contextlib.suppress(PlaywrightTimeoutError):
        await page.wait_for_url(f"https://{JITSI}/**")
    login = f"{homeserver.synapse.base_url}/_matrix/client/v3/login"
    assert await carrying(requests, member.password) == [("POST", login, "body")]
    assert meeting_link_user(page.url, meeting.room_id) == member.user_id
    body = json.loads(
        next(r for r in requests if r.method == "POST" and r.url == login).post_data or ""
    )
    assert body["password"] == member.password and body["type"] == "m.login.password"
    assert meeting_page_devices(homeserver, member.user_id) == []  # signed out again
    assert errors == []


async def test_a_member_joins_by_sso_and_the_login_token_leaves_the_address_bar(
    context: BrowserContext,
    widget_server: str,
    homeserver: Homeserver,
    meeting: Meeting,
    cas: FakeCas,
) -> None:
    member, requests = meeting.by_sso, recorded(context)
    cas.username = member.localpart
    page = await context.new_page()
    page.on("console", lambda message: print(f"[browser {message.type}] {message.text}"))
    meeting_url = f"{widget_server}/meet/{meeting.room_id}"
    await page.goto(meeting_url)
    await page.get_by_role("button", name="Sign in with your organisation").click()
    # Synapse asks the person to confirm handing their account to this page (the default for a
    # redirectUrl not in sso.client_whitelist).
    await page.get_by_role("link", name="Continue").click()
    await page.wait_for_url(f"https://{JITSI}/**")
    assert meeting_link_user(page.url, meeting.room_id) == member.user_id

    came_back = [r.url for r in requests if r.url.startswith(f"{meeting_url}?loginToken=")]
    assert len(came_back) == 1, [r.url for r in requests]
    login_token = parse_qs(urlsplit(came_back[0]).query)["loginToken"][0]
    login = f"{homeserver.synapse.base_url}/_matrix/client/v3/login"
    assert [
        (m, u, w) for m, u, w in await carrying(requests, login_token) if u != came_back[0]
    ] == [("POST", login, "body")]
    assert await carrying(requests, member.password) == []
    assert meeting_page_devices(homeserver, member.user_id) == []

    await page.go_back()  # history holds the page without its used login token
    await expect(page.get_by_role("button", name="Join the meeting")).to_be_visible()
    assert page.url == meeting_url


async def test_the_meeting_page_in_both_themes_and_on_a_phone(
    browser: Browser, widget_server: str, meeting: Meeting
) -> None:
    """The page with a refused sign-in showing: the error, too, must be readable in both."""
    page = await browser.new_page()
    await page.goto(f"{widget_server}/meet/{meeting.room_id}")
    await page.get_by_label("Username").fill(meeting.by_password.localpart)
    await page.get_by_label("Password").fill("not-the-password")
    await page.get_by_role("button", name="Join the meeting").click()
    await expect(page.get_by_role("status")).to_contain_text("Could not join: Invalid")
    await check_page(page, "meeting-page")
    await page.close()


async def test_the_meeting_page_fits_a_side_panel_and_a_maximised_window(
    browser: Browser, widget_server: str, meeting: Meeting
) -> None:
    """The page a join message links to, in Element's 320 px side panel or a phone, and in a
    wide window: the room id and the sign-in form stay whole (test_directory_widget.py says
    where these widths come from in Element's source)."""
    ARTIFACTS.mkdir(exist_ok=True)
    for width, name in ((TILE, "meeting-page-tile"), (MAXIMISED, "meeting-page-maximised")):
        page = await browser.new_page(viewport={"width": width, "height": 800})
        await page.goto(f"{widget_server}/meet/{meeting.room_id}")
        await expect(page.get_by_role("button", name="Join the meeting")).to_be_visible()
        await assert_fits(page.main_frame, width)
        await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        await page.close()
