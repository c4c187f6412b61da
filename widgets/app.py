"""The widget server: one aiohttp application for every web view Borough serves.

`create_app(settings)` builds it. Each area of the server (conferencing, directory and
timeline widgets, public pages) is one module with a `setup(app)` that adds its routes; the
list below is the whole map. State lives under typed `web.AppKey`s; resources open and close
in `cleanup_ctx`.
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import create_engine, migrate, session_factory
from borough.matrix import MatrixClient
from borough.settings import Settings
from widgets import pages

logger = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)
SESSIONS = web.AppKey("sessions", async_sessionmaker[AsyncSession])
MATRIX = web.AppKey("matrix", MatrixClient)
SETTINGS_PATH = web.AppKey("settings_path", str)

#: Modules whose `setup(app)` adds routes, in the order their routes are matched.
AREAS: list[str] = [
    "widgets.viewer",
    "widgets.directory",
    "widgets.profile",
    "widgets.avatars",
    "widgets.orgchart",
    "widgets.timeline",
    "widgets.public",
    "widgets.answers",
    "widgets.conferencing",
    "widgets.scim",
    "widgets.townhall",
]


class JsonError(web.HTTPException):
    """An HTTP error whose body is `{"error": ..., "errcode": ...}`; views raise it."""

    def __init__(self, status: int, error: str, errcode: str = "M_UNKNOWN") -> None:
        self.status_code = status
        self.error, self.errcode = error, errcode
        super().__init__(
            text=json.dumps({"errcode": errcode, "error": error}),
            content_type="application/json",
        )


#: Paths whose clients are programs: their errors are JSON, every other path's are a page.
JSON_PREFIXES = ("/widgets/api/", "/verify/", "/.well-known/", "/healthz", "/scim/")

ERRCODES = {
    401: "M_UNAUTHORIZED",
    403: "M_FORBIDDEN",
    404: "M_NOT_FOUND",
    405: "M_UNRECOGNIZED",
    413: "M_TOO_LARGE",
}
PLAIN_MESSAGES = {
    404: "There is nothing at this address.",
    413: "The request body is too large.",
    500: "Something went wrong on our side; the server log has the details.",
}


def wants_json(request: web.Request) -> bool:
    path = request.path
    return path.startswith(JSON_PREFIXES) or (path.startswith("/meet/") and path.endswith("/token"))


def error_response(
    request: web.Request, status: int, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    """The same error as JSON for an API path, or as a small page for everything else."""
    if wants_json(request):
        body = {"errcode": ERRCODES.get(status, "M_UNKNOWN"), "error": message}
        return web.json_response(body, status=status, headers=headers)
    response = pages.render(request, "error.html", status=status, message=message)
    response.headers.update(headers or {})
    return response


def _message(error: web.HTTPException) -> str:
    """What an HTTP error says: the view's own words, or one sentence for aiohttp's defaults."""
    if isinstance(error, web.HTTPMethodNotAllowed):
        return f"This address takes {' or '.join(sorted(error.allowed_methods))} only."
    if error.text and error.text != f"{error.status}: {error.reason}":
        return error.text
    return PLAIN_MESSAGES.get(error.status, error.reason)


@web.middleware
async def no_tracebacks(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """A person never sees a traceback or aiohttp's bare text errors: an API path answers
    JSON, a page path a page, and an unexpected error is a plain 500 (logged here)."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400 or error.content_type == "application/json":
            raise
        allow = {"Allow": error.headers["Allow"]} if "Allow" in error.headers else None
        return error_response(request, error.status, _message(error), allow)
    except Exception:
        logger.exception("unhandled error serving %s %s", request.method, request.path)
        return error_response(request, 500, PLAIN_MESSAGES[500])


def without_query_values(target: str) -> str:
    """A request target or URL with each query value replaced by `***`, names kept as sent."""
    path, has_query, query = target.partition("?")
    if not has_query:
        return path
    names = (part.partition("=")[0] for part in query.split("&") if part)
    return f"{path}?{'&'.join(f'{name}=***' for name in names)}"


class AccessLog(AbstractAccessLogger):
    """aiohttp's access line with no query values: a query can carry an SSO login token (the
    meeting page's return address) or a password that a broken form put there, and logs
    outlive both. `borough widgets serve` logs with it."""

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s HTTP/%d.%d" %d %d "%s" "%s" %.3fs',
            request.remote or "-",
            request.method,
            without_query_values(request.raw_path),
            request.version.major,
            request.version.minor,
            response.status,
            response.body_length,
            without_query_values(request.headers.get("Referer", "-")),
            request.headers.get("User-Agent", "-"),
            time,
        )


@web.middleware
async def no_nul_characters(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """No name Borough serves holds a NUL, and PostgreSQL refuses one in any query: say so
    here, once, rather than in a 500 from whichever view passes it to the database."""
    if "\x00" in request.path or any("\x00" in k + v for k, v in request.query.items()):
        raise web.HTTPBadRequest(text="The address holds a NUL character (%00); remove it.")
    return await handler(request)


class MalformedRequests(logging.Filter):
    """aiohttp logs a request it cannot parse (a 20 KB header, a broken request line) at ERROR
    with a traceback, then answers 400. The fault is the client's and nothing in Borough
    failed, so the log says it in one line: what aiohttp refused and from where."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and error.code < 500:
            record.msg = f"{record.msg}: %s (answered {error.code})"
            record.args = (*(record.args if isinstance(record.args, tuple) else ()), error.message)
            record.exc_info, record.exc_text = None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


MALFORMED_REQUESTS = MalformedRequests()


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def create_app(
    settings: Settings, *, run_migrations: bool = True, settings_path: str | None = None
) -> web.Application:
    """`settings_path` is the file `settings` came from, for commands the server runs (a SCIM
    write's scoped apply)."""
    app = web.Application(middlewares=[no_tracebacks, no_nul_characters], client_max_size=1024**2)
    app[SETTINGS] = settings
    if settings_path is not None:
        app[SETTINGS_PATH] = settings_path
    # One filter object: adding it again, for a second app in the process, is a no-op.
    logging.getLogger("aiohttp.server").addFilter(MALFORMED_REQUESTS)

    async def database(app: web.Application) -> AsyncIterator[None]:
        if run_migrations:
            await migrate(settings.database.url)
        engine = create_engine(settings.database.url)
        app[SESSIONS] = session_factory(engine)
        yield
        await engine.dispose()

    async def matrix(app: web.Application) -> AsyncIterator[None]:
        async with MatrixClient(
            settings.homeserver.url, settings.access_token, concurrency=16, max_retries=2
        ) as client:
            app[MATRIX] = client
            yield

    app.cleanup_ctx.extend([database, matrix])
    app.router.add_get("/healthz", health)
    for area in AREAS:
        importlib.import_module(area).setup(app)
    return app
