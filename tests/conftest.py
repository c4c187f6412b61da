"""Shared fixtures: a real Synapse per test module, Borough settings pointing at it, and a CLI runner.

Set BOROUGH_TEST_POSTGRES to a PostgreSQL DSN to run Synapse and the app database on PostgreSQL.
Add BOROUGH_TEST_WORKERS=N to run Synapse as main, N generic workers and an event persister
behind nginx (borough.testing.topology); BOROUGH_TEST_REDIS=host:port names the Redis to use,
else each topology starts its own.
Nothing here skips: if Synapse cannot start, the tests that need it fail with its reason.
"""

from __future__ import annotations

import json
import os
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from click.testing import CliRunner, Result

from borough import events
from borough.cli import main as borough_main
from borough.testing.localsynapse import LocalSynapse
from borough.testing.topology import local_synapse
from synapse_modules import homeserver_modules

REPO = Path(__file__).resolve().parents[1]
EXAMPLE_ORG = REPO / "config" / "org.example.yaml"
POSTGRES_DSN = os.environ.get("BOROUGH_TEST_POSTGRES")
WORKERS = os.environ.get("BOROUGH_TEST_WORKERS", "0")
REDIS = os.environ.get("BOROUGH_TEST_REDIS")
ARTIFACTS = REPO / "test-artifacts"


class HttpError(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        self.status, self.body = status, body
        super().__init__(f"HTTP {status}: {body}")

    @property
    def errcode(self) -> str:
        return str(self.body.get("errcode"))


@dataclass
class Homeserver:
    """A running Synapse plus Borough's service account, spoken to over plain HTTP."""

    synapse: LocalSynapse
    service_user: str
    service_token: str

    @property
    def server_name(self) -> str:
        return self.synapse.server_name

    def call(self, method: str, path: str, token: str | None = None, body: Any = None) -> Any:
        request = urllib.request.Request(
            self.synapse.base_url + path,
            method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Content-Type": "application/json"},
        )
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(request, timeout=30) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            raise HttpError(exc.code, json.loads(exc.read() or b"{}")) from None

    def admin(self, method: str, path: str, body: Any = None) -> Any:
        return self.call(method, path, self.service_token, body)

    def user_id(self, username: str) -> str:
        return f"@{username}:{self.server_name}"

    def login_as(self, username: str) -> str:
        """An access token for a provisioned person, as if they had signed in."""
        path = f"/_synapse/admin/v1/users/{quote(self.user_id(username))}/login"
        return str(self.admin("POST", path, {})["access_token"])

    def room_id(self, alias_localpart: str) -> str:
        """A managed room by its address; a sealed room, which has none, by the address it
        would have had (`channel/news` as `news`, `unit/housing/leads` as `housing-leads`)."""
        alias = quote(f"#{alias_localpart}:{self.server_name}")
        try:
            return str(self.admin("GET", f"/_matrix/client/v3/directory/room/{alias}")["room_id"])
        except HttpError as exc:
            if exc.status != 404:
                raise
        for room_id in self.admin("GET", "/_matrix/client/v3/joined_rooms")["joined_rooms"]:
            try:
                key = str(self.state(room_id, events.MANAGED).get("key", ""))
            except HttpError:
                continue
            if key.partition("/")[2].replace("/", "-") == alias_localpart:
                return str(room_id)
        raise AssertionError(f"no managed room #{alias_localpart}")

    def state(
        self, room_id: str, event_type: str, state_key: str = "", token: str | None = None
    ) -> Any:
        path = f"/_matrix/client/v3/rooms/{quote(room_id)}/state/{quote(event_type)}/{quote(state_key)}"
        return self.call("GET", path, token or self.service_token)


def postgres_database(prefix: str) -> tuple[str, Any]:
    import psycopg2

    name = f"{prefix}_{secrets.token_hex(4)}"
    conn = psycopg2.connect(POSTGRES_DSN)
    conn.autocommit = True
    with conn.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    conn.close()

    def drop() -> None:
        conn = psycopg2.connect(POSTGRES_DSN)
        conn.autocommit = True
        with conn.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.close()

    base = POSTGRES_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    return f"{base}/{name}", drop


def someone_waits_for_an_advisory_lock(watcher: Any) -> bool:
    """Whether a session of the database that `watcher` (a psycopg2 connection in autocommit)
    is on waits for an advisory lock another holds."""
    with watcher.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        row = cursor.fetchone()
        return row is not None and row[0] > 0


#: The app database backends a test of row-level races runs on: SQLite, and PostgreSQL when
#: the suite has one.
APP_BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_DSN else [])]


@contextmanager
def app_database(backend: str, tmp_path: Path, prefix: str) -> Iterator[str]:
    """The URL of a fresh app database on `backend` (one of APP_BACKENDS), dropped after."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
        return
    url, drop = postgres_database(prefix)
    try:
        yield url
    finally:
        drop()


def start_homeserver(
    base_dir: Path,
    modules: list[dict[str, Any]] | None = None,
    extra_config: dict[str, Any] | None = None,
) -> tuple[Homeserver, LocalSynapse]:
    """Synapse with Borough's modules, which learn the chart from what the test applies."""
    synapse = local_synapse(
        base_dir,
        workers=int(WORKERS),
        redis=REDIS,
        modules=modules if modules is not None else homeserver_modules(),
        postgres_dsn=POSTGRES_DSN,
        extra_config=extra_config or {},
    )
    synapse.start()
    try:
        user_id, token = synapse.register_user("borough", secrets.token_hex(12), admin=True)
    except BaseException:
        synapse.stop()
        raise
    return Homeserver(synapse, user_id, token), synapse


def pytest_configure(config: pytest.Config) -> None:
    if not WORKERS.isdigit():
        raise pytest.UsageError(f"BOROUGH_TEST_WORKERS must be a number, not {WORKERS!r}")
    if int(WORKERS) and not POSTGRES_DSN:
        raise pytest.UsageError(
            "BOROUGH_TEST_WORKERS needs BOROUGH_TEST_POSTGRES: Synapse's workers share one "
            "PostgreSQL database"
        )


#: "node id needs VARIABLE" for each test deselected for want of it, named at the end.
DESELECTED = pytest.StashKey[list[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests that need what this run lacks are deselected, which pytest's summary counts and
    the end of the run names, never skipped in silence: the worker topology's own tests
    (marked `workers`) need BOROUGH_TEST_WORKERS, those marked `postgres` (two bots racing
    for a lease) BOROUGH_TEST_POSTGRES. .ci/run's passes set both."""
    lacking = {} if int(WORKERS) else {"workers": "BOROUGH_TEST_WORKERS"}
    if not POSTGRES_DSN:
        lacking["postgres"] = "BOROUGH_TEST_POSTGRES"
    deselected = {
        item: variable
        for item in items
        for marker, variable in lacking.items()
        if item.get_closest_marker(marker)
    }
    if deselected:
        config.hook.pytest_deselected(items=list(deselected))
        items[:] = [item for item in items if item not in deselected]
        config.stash[DESELECTED] = [f"{item.nodeid} needs {v}" for item, v in deselected.items()]


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    for line in config.stash.get(DESELECTED, []):
        terminalreporter.write_line(f"deselected: {line}", yellow=True)


@pytest.fixture(scope="module")
def homeserver(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Homeserver]:
    """One Synapse per test module; a module's SYNAPSE_CONFIG is merged into homeserver.yaml.
    The modules learn the chart from whatever the tests apply, as in production."""
    extra = getattr(request.module, "SYNAPSE_CONFIG", None)
    hs, synapse = start_homeserver(tmp_path_factory.mktemp("synapse"), extra_config=extra)
    try:
        yield hs
    finally:
        synapse.stop()


@pytest.fixture(scope="module")
def app_database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if POSTGRES_DSN:
        url, drop = postgres_database("borough_app")
        try:
            yield url
        finally:
            drop()
    else:
        yield f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('appdb') / 'borough.db'}"


def write_settings(path: Path, hs: Homeserver, database_url: str, **overrides: Any) -> Path:
    settings: dict[str, Any] = {
        "homeserver": {"url": hs.synapse.base_url, "server_name": hs.server_name},
        "service_account": {"user_id": hs.service_user, "access_token": hs.service_token},
        "database": {"url": database_url},
        "provisioning": {"concurrency": 4},
    }
    for section, values in overrides.items():
        settings[section] = {**settings.get(section, {}), **values}
    path.write_text(yaml.safe_dump(settings), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def settings_file(
    tmp_path_factory: pytest.TempPathFactory, homeserver: Homeserver, app_database_url: str
) -> Path:
    return write_settings(
        tmp_path_factory.mktemp("settings") / "borough.yaml", homeserver, app_database_url
    )


def borough(*args: str, settings: Path | None = None) -> Result:
    """Run the `borough` command in-process, as a person would type it."""
    argv = (["--settings", str(settings)] if settings else []) + list(args)
    result = CliRunner().invoke(borough_main, argv, catch_exceptions=True)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"borough {' '.join(args)} raised instead of answering"
        ) from result.exception
    return result
