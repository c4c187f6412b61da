"""Bad HTTP requests to every route of the widget server, in-process against a real Synapse.

The routes are read from the application's router, so a new route is covered by the method,
path and token cases without editing this file: every method a route does not take, odd
values for each path parameter, and, for the JSON APIs, missing and bad sessions. Bodies,
query parameters and traversals are listed by hand. Each answer is a 4xx that says what is
wrong; the server's log carries no traceback."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from borough.settings import Settings, load_settings
from tests.badinput.corpus import HANG_GUARD_SECONDS, Case, Stopwatch, answered, tapped_logs
from tests.conftest import borough
from widgets.app import JSON_PREFIXES, create_app
from widgets.viewer import SESSION_KEY, issue_session

pytestmark = [pytest.mark.integration, pytest.mark.timeout(HANG_GUARD_SECONDS, func_only=True)]

#: A session the test signs itself with the server's key: stands in for a signed-in viewer.
SESSION = "{session}"
ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml"
METHODS = ("GET", "POST", "PUT", "DELETE", "PATCH")


@dataclass(frozen=True)
class HttpCase(Case):
    method: str = "GET"
    #: Sent as it is: no normalising of `..` or of percent-escapes by the client.
    path: str = "/"
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def _router_app() -> web.Application:
    """The application, only to read its routes: nothing starts and nothing connects."""
    settings = Settings.model_validate(
        {
            "homeserver": {"url": "http://127.0.0.1:9", "server_name": "borough.test"},
            "service_account": {"user_id": "@b:borough.test", "access_token": "x"},
        }
    )
    return create_app(settings, run_migrations=False)


def _routes(app: web.Application) -> list[tuple[str, set[str], bool]]:
    """Each resource's path template, the methods it takes, and whether it is a JSON API."""
    found: dict[str, set[str]] = {}
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        template = info.get("formatter") or info.get("path") or info.get("prefix", "")
        found.setdefault(template, set()).add(route.method)
    return [
        (template, methods, template.startswith("/widgets/api/") and template != SESSION_PATH)
        for template, methods in sorted(found.items())
    ]


SESSION_PATH = "/widgets/api/session"
ROUTES = _routes(_router_app())
#: Values for a path parameter: what a prober tries in place of a room id, a key or a tag.
ODD_SEGMENTS = {
    "traversal": "..%2F..%2F..%2F..%2Fetc%2Fpasswd",
    "dots": "..",
    "nul": "a%00b",
    "huge": "x" * 4000,
    "bad-utf8": "%FF%FE%FD",
    "emoji": "%F0%9F%92%A9",
    "html": "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
}
#: A bad path segment is answered "not found" (a page or feed), or asks for a sign-in first
#: (the JSON APIs), or, for a POST, about its body or token.
NOT_FOUND = r"(not found|no such|no public page|nothing at this address|unknown|sign in|token|JSON|body|not a)"
#: A method a route does not take: the answer names the ones it does.
GONE = r"(not found|no such|no public page|nothing at this address)"
#: A static file outside the folder, or the folder itself: not found, or forbidden.
STATIC = r"(not found|nothing at this address|forbidden)"
ALLOWED = r"(Method Not Allowed|This address takes [A-Z]+( or [A-Z]+)* only)"


def _fill(template: str, value: str) -> str:
    """The template with each placeholder replaced by value; a tail placeholder whose pattern
    starts with a slash (`{tail:(/.*)?}`) gets the slash too, so the path still reaches it."""
    out, depth, placeholder = "", 0, ""
    for ch in template:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                slash = "/" if placeholder.partition(":")[2].startswith("(/") else ""
                out += slash + value
                placeholder = ""
                continue
        if depth > 0:
            placeholder += ch if depth > 1 or ch != "{" else ""
        else:
            out += ch
    return out


def _generated() -> list[HttpCase]:
    cases = []
    for template, methods, is_api in ROUTES:
        concrete = _fill(template, "x") if "{" in template else template
        if template.startswith("/static"):
            concrete = "/static/borough.css"
        # A route registered for "*" takes every method: no method case, and GET for the rest.
        takes_all = "*" in methods
        for method in [] if takes_all else METHODS:
            if method not in methods and not (method == "HEAD" and "GET" in methods):
                cases.append(HttpCase(f"method-{method}-{template}", ALLOWED, method, concrete))
        if "{" in template:
            for name, value in ODD_SEGMENTS.items():
                method = "GET" if "GET" in methods or takes_all else sorted(methods)[0]
                cases.append(
                    HttpCase(
                        f"segment-{name}-{template}", NOT_FOUND, method, _fill(template, value)
                    )
                )
        if is_api and "GET" in methods:
            for name, auth, expect in [
                ("none", None, r"sign in"),
                ("basic", "Basic YTpi", r"sign in"),
                ("empty-bearer", "Bearer ", r"sign in"),
                ("garbage", "Bearer v1.%%%.%%%", r"malformed"),
                ("forged", "{forged}", r"not issued by this server"),
                ("expired", "{expired}", r"expired"),
                ("huge", "Bearer v1." + "A" * 6000 + ".B", r"(malformed|not issued)"),
            ]:
                headers = {"Authorization": auth} if auth else {}
                cases.append(
                    HttpCase(f"token-{name}-{template}", expect, "GET", concrete, None, headers)
                )
    return cases


JSON = {"Content-Type": "application/json"}
DEPTH = r"(nest|deep|depth)"
# One case a line, read as a table.
# fmt: off
BODY_CASES = [
    ("nested-lists-50000", b"[" * 50_000 + b"]" * 50_000, JSON, DEPTH + r"|larger than"),
    ("nested-lists-30000", b"[" * 30_000 + b"]" * 30_000, JSON, DEPTH),
    ("nested-unclosed-50000", b"[" * 50_000, JSON, DEPTH + r"|JSON"),
    ("nested-objects-20000", b'{"a":' * 20_000 + b"1" + b"}" * 20_000, JSON, DEPTH + r"|larger than"),
    ("nested-objects-10000", b'{"a":' * 10_000 + b"1" + b"}" * 10_000, JSON, DEPTH),
    ("huge-body", b'{"openid_token": "' + b"x" * 3_000_000 + b'"}', JSON, r"(too large|too big|large|size|bytes)"),
    ("huge-string-field", b'{"access_token": "' + b"x" * 600_000 + b'"}', JSON, r"(long|large|access_token|openid_token|check|expected)"),
    ("not-json", b"not json", JSON, r"JSON"),
    ("empty", b"", JSON, r"(JSON|body|empty)"),
    ("json-null", b"null", JSON, r"(expected|object|JSON|body|token)"),
    ("json-list", b"[]", JSON, r"(expected|object|JSON|body|token)"),
    ("json-number-overflow", b"1e99999", JSON, r"(expected|object|JSON|body|token)"),
    ("json-huge-integer", b'{"expires_in": ' + b"9" * 5000 + b"}", JSON, r"(JSON|integer|digits|expected|body|token)"),
    ("invalid-utf8", b'{"access_token": "\xff\xfe"}', JSON, r"(JSON|UTF-8|body)"),
    ("nul-in-string", b'{"access_token": "a\\u0000b", "matrix_server_name": "x", "openid_token": "a\\u0000b"}', JSON, r"(token|server|body|expected)"),
    ("form-encoded", b"access_token=abc&matrix_server_name=x", {"Content-Type": "application/x-www-form-urlencoded"}, r"(JSON|content type|Content-Type)"),
    ("text-plain", b'{"access_token": "abc"}', {"Content-Type": "text/plain"}, r"(JSON|content type|Content-Type|expected|token)"),
    ("xml", b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", {"Content-Type": "application/xml"}, r"(JSON|content type|Content-Type)"),
]
# fmt: on
#: The routes that read a JSON body (the meeting page's own POST is its form's fallback).
POST_ROUTES = [
    template
    for template, methods, _ in ROUTES
    if "POST" in methods and (template.startswith(JSON_PREFIXES) or template.endswith("/token"))
]


def _bodies() -> list[HttpCase]:
    return [
        HttpCase(
            f"body-{name}-{template}",
            expect,
            "POST",
            _fill(template, "!nope:borough.test"),
            body,
            headers,
        )
        for template in POST_ROUTES
        for name, body, headers, expect in BODY_CASES
    ]


PAGE = r"(page|number)"
# One case a line, read as a table.
# fmt: off
QUERY_CASES = [
    HttpCase("people-page-negative", PAGE, path="/widgets/api/people?q=a%20page:-1", headers={"Authorization": SESSION}),
    HttpCase("people-page-zero", PAGE, path="/widgets/api/people?q=a%20page:0", headers={"Authorization": SESSION}),
    HttpCase("people-page-huge", PAGE, path="/widgets/api/people?q=a%20page:999999999999999999999", headers={"Authorization": SESSION}),
    HttpCase("people-page-words", PAGE, path="/widgets/api/people?q=a%20page:two", headers={"Authorization": SESSION}),
    HttpCase("people-page-param-negative", r"(page|\"people\")", path="/widgets/api/people?q=a&page=-1", headers={"Authorization": SESSION}),
    HttpCase("people-page-param-huge", r"(page|\"people\")", path="/widgets/api/people?q=a&page=999999999999999999999", headers={"Authorization": SESSION}),
    HttpCase("people-query-huge", r"(characters|long)", path="/widgets/api/people?q=" + "a" * 5000, headers={"Authorization": SESSION}),
    HttpCase("people-query-unclosed-quote", r"quote", path="/widgets/api/people?q=%22Tara", headers={"Authorization": SESSION}),
    HttpCase("people-query-nul", r"(\"people\"|character|NUL)", path="/widgets/api/people?q=a%00b", headers={"Authorization": SESSION}),
    HttpCase("people-query-bad-utf8", r"(\"people\"|UTF-8|character|nothing to search)", path="/widgets/api/people?q=%FF%FE", headers={"Authorization": SESSION}),
    HttpCase("people-query-many-words", r"(characters|long|words|\"people\")", path="/widgets/api/people?q=" + "a%20" * 1500, headers={"Authorization": SESSION}),
    HttpCase("card-unknown-person", r"(not found|no such|nobody|unknown)", path="/widgets/api/people/%40nobody%3Aborough.test", headers={"Authorization": SESSION}),
    HttpCase("unit-unknown", r"(not found|no such|unknown|know no unit)", path="/widgets/api/units/nowhere", headers={"Authorization": SESSION}),
    HttpCase("timeline-unknown-channel", r"(channel|not found|unknown)", path="/widgets/api/timeline?channel=%23nowhere", headers={"Authorization": SESSION}),
    HttpCase("timeline-huge-channel", r"(channel|not found|unknown|long)", path="/widgets/api/timeline?channel=" + "c" * 50_000, headers={"Authorization": SESSION}),
    HttpCase("timeline-tag-with-space", r"hashtag is one word", path="/widgets/api/timeline?tag=a%20b", headers={"Authorization": SESSION}),
    HttpCase("timeline-tag-huge", r"hashtag is one word", path="/widgets/api/timeline?tag=" + "t" * 5000, headers={"Authorization": SESSION}),
    HttpCase("public-channel-unknown", GONE, path="/public/channels/nowhere"),
    HttpCase("public-channel-tag-huge", r"(not found|no such|hashtag)", path="/public/channels/nowhere?tag=" + "t" * 5000),
    HttpCase("public-tag-unicode", r"(not found|no such|hashtag|no posts|#)", path="/public/tags/%F0%9F%92%A9"),
    HttpCase("public-blog-unknown", GONE, path="/public/blogs/nowhere"),
    HttpCase("public-blog-feed-unknown", GONE, path="/public/blogs/nowhere/feed.atom"),
    HttpCase("public-media-unknown", GONE, path="/public/media/borough.test/nothing"),
    HttpCase("public-media-other-server", GONE, path="/public/media/evil.example/abc"),
    HttpCase("meeting-page-not-a-room", r"No such meeting", path="/meet/not-a-room"),
    HttpCase("meeting-page-huge", r"(No such meeting|not found)", path="/meet/!" + "r" * 8000 + ":borough.test"),
    # --- Traversal into static files and media ---
    HttpCase("static-missing-file", STATIC, path="/static/nope.css"),
    HttpCase("static-dotdot", STATIC, path="/static/../../../../etc/passwd"),
    HttpCase("static-encoded-dotdot", STATIC, path="/static/%2e%2e/%2e%2e/%2e%2e/etc/passwd"),
    HttpCase("static-encoded-slash", STATIC, path="/static/..%2F..%2F..%2Fetc%2Fpasswd"),
    HttpCase("static-backslash", STATIC, path="/static/..\\..\\..\\etc\\passwd"),
    HttpCase("static-absolute", STATIC, path="/static//etc/passwd"),
    HttpCase("static-nul", r"NUL character", path="/static/borough.css%00.png"),
    HttpCase("static-python-source", STATIC, path="/static/../app.py"),
    HttpCase("static-directory-listing", STATIC, path="/static/"),
    HttpCase("media-dotdot", GONE, path="/public/media/..%2F..%2F/..%2F_synapse%2Fadmin"),
    HttpCase("templates-direct", STATIC, path="/templates/people.html"),
    # --- Bad session tokens on a POST that needs none, and the OpenID exchange ---
    HttpCase("session-forged-openid", r"(token|OpenID|homeserver)", "POST", SESSION_PATH, b'{"access_token": "forgedforgedforged", "matrix_server_name": "{server}"}', JSON),
    HttpCase("session-other-server", r"serves .* only", "POST", SESSION_PATH, b'{"access_token": "abc", "matrix_server_name": "evil.example"}', JSON),
    HttpCase("session-unknown-key", r"user_id", "POST", SESSION_PATH, b'{"access_token": "abc", "matrix_server_name": "x", "user_id": "@admin:x"}', JSON),
    HttpCase("session-token-too-long", r"access_token", "POST", SESSION_PATH, b'{"access_token": "' + b"a" * 600 + b'", "matrix_server_name": "x"}', JSON),
    HttpCase("verify-no-token-field", r"(token|body|expected)", "POST", "/verify/user_in_room", b'{"room_id": "!x:borough.test"}', JSON),
    HttpCase("verify-forged-token", r"(token|OpenID|not|member)", "POST", "/verify/user_in_room", b'{"token": "forged", "room_id": "!x:borough.test"}', JSON),
    HttpCase("meet-token-forged", r"(token|OpenID)", "POST", "/meet/!x:borough.test/token", b'{"openid_token": "forged"}', JSON),
    HttpCase("meet-token-not-a-room", r"(room|not found|No such)", "POST", "/meet/not-a-room/token", b'{"openid_token": "forged"}', JSON),
    HttpCase("meeting-page-form-post", r"needs JavaScript", "POST", "/meet/!x:borough.test", b"username=a&password=b", {"Content-Type": "application/x-www-form-urlencoded"}),
    # --- The request line and headers themselves: aiohttp's limits, 8 KiB a line ---
    HttpCase("huge-header", r"Got more than \d+ bytes", path="/healthz", headers={"X-Big": "h" * 20_000}),
    HttpCase("huge-query-string", r"Got more than \d+ bytes", path="/widgets/api/people?q=" + "a" * 20_000),
]
# fmt: on
CASES = _generated() + _bodies() + QUERY_CASES


@pytest.fixture(scope="module")
def settings(settings_file: Path) -> Settings:
    """The chart applied, so the signed-in viewer is a real member of a real organisation."""
    result = borough("apply", "-q", str(ORG_FILE), settings=settings_file)
    assert result.exit_code == 0, result.output
    return load_settings(settings_file)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def client(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(create_app(settings))) as test_client:
        yield test_client


def _headers(case: HttpCase, client: TestClient[Any, Any], server: str) -> dict[str, str]:
    key = client.app[SESSION_KEY]
    user = f"@tstaff:{server}"
    tokens = {
        SESSION: f"Bearer {issue_session(key, user, time.time())}",
        "{forged}": f"Bearer {issue_session(b'k' * 32, user, time.time())}",
        "{expired}": f"Bearer {issue_session(key, user, time.time() - 3600, ttl=60)}",
    }
    return {name: tokens.get(value, value) for name, value in case.headers.items()}


async def test_the_cases_cover_every_route_served(client: TestClient[Any, Any]) -> None:
    """The cases come from an app built at collection with stand-in settings; the app under
    test, built from the real settings, must serve no route they leave out."""
    assert {template for template, _, _ in _routes(client.app)} == {t for t, _, _ in ROUTES}
    assert len(ROUTES) >= 20


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_bad_request(
    case: HttpCase, client: TestClient[Any, Any], settings: Settings
) -> None:
    server = settings.homeserver.server_name
    url = URL(str(client.make_url("/")).rstrip("/") + case.path, encoded=True)
    body = case.body.replace(b"{server}", server.encode()) if case.body else case.body
    with tapped_logs() as tap, Stopwatch() as watch:
        async with client.session.request(
            case.method, url, data=body, headers=_headers(case, client, server)
        ) as response:
            status, text = response.status, (await response.read()).decode("utf-8", "replace")
    answered(case, text, watch.elapsed, tap.tracebacks(), status)
    assert 400 <= status < 500, f"{case.id}: HTTP {status}: {text[:500]}"
    assert "root:" not in text, text[:500]
