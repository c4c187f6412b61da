"""`borough doctor` against a real deployment: Synapse with the modules, the bot, the widget
server and the app database, all running; then each part broken on purpose, and named."""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from borough import __version__
from borough.db import alembic_config
from borough.settings import Settings, load_settings
from borough.testing.topology import SynapseWorkers, local_synapse
from borough.testing.waiting import wait_until
from tests.conftest import Homeserver, borough, write_settings
from tests.integration.running_bot import ThreadedBot
from widgets.app import create_app

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def serving_widgets(settings: Settings) -> Iterator[None]:
    """`borough widgets serve`'s app on its own event loop in a thread, on a real port."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(settings))
    loop.run_until_complete(runner.setup())
    loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", settings.widgets.port).start())
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.run_until_complete(runner.cleanup())
        loop.close()


@pytest.fixture(scope="module")
def settings_path(
    homeserver: Homeserver, app_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    user_id, token = homeserver.synapse.register_user("boroughbot", secrets.token_hex(8))
    port = free_port()
    return write_settings(
        tmp_path_factory.mktemp("doctor") / "borough.yaml",
        homeserver,
        app_database_url,
        # Each process's own listener: on the worker topology, main and every worker.
        homeserver={"processes": homeserver.synapse.process_urls},
        bot={"user_id": user_id, "access_token": token},
        widgets={"port": port, "public_url": f"http://127.0.0.1:{port}"},
        jitsi={"domain": "meet.borough.test"},
    )


@pytest.fixture(scope="module")
def deployment(
    homeserver: Homeserver, app_database_url: str, settings_path: Path
) -> Iterator[ThreadedBot]:
    """The widget server (which migrates the app database as it starts) and the bot."""
    settings = load_settings(settings_path)
    assert settings.bot is not None
    with serving_widgets(settings):
        bot = ThreadedBot(homeserver, app_database_url, settings.bot)
        bot.start()
        try:
            wait_until(
                lambda: doctor(settings_path).exit_code == 0, 60, "a deployment doctor passes"
            )
            yield bot
        finally:
            if bot.thread is not None and bot.thread.is_alive():
                bot.stop()


def doctor(settings_path: Path) -> DoctorRun:
    result = borough("doctor", settings=settings_path)
    return DoctorRun(result.exit_code, result.output)


class DoctorRun:
    def __init__(self, exit_code: int, output: str) -> None:
        self.exit_code, self.output = exit_code, output

    @property
    def problems(self) -> list[str]:
        return [line for line in self.output.splitlines() if line.startswith("problem:")]


def test_a_healthy_deployment_passes(
    deployment: ThreadedBot, homeserver: Homeserver, settings_path: Path
) -> None:
    run = doctor(settings_path)
    assert run.exit_code == 0, run.output
    assert run.problems == []
    for part in ("homeserver", "service account", "synapse modules", "database", "bot"):
        assert f"ok: {part} " in run.output, run.output
    assert "Synapse process main at" in run.output
    for url in homeserver.synapse.process_urls:
        assert f" at {url} runs Borough {__version__}" in run.output, run.output
    assert f"{deployment.user_id} is running in" in run.output
    # The bot runs in a thread of this process, which therefore holds its lease.
    assert f"the lease is {socket.gethostname()} pid {os.getpid()}'s since" in run.output
    assert "ok: widget server answers at http://127.0.0.1:" in run.output
    assert "ok: jitsi settings are consistent" in run.output


def test_a_synapse_process_without_the_modules_is_named(
    deployment: ThreadedBot,
    homeserver: Homeserver,
    settings_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A second Synapse (one process, SQLite) started with no `modules:` stands for a process
    # someone forgot; test_a_worker_without_the_modules_is_named breaks a real worker.
    bare = local_synapse(tmp_path_factory.mktemp("bare-synapse"), modules=[])
    bare.start()
    try:
        settings = yaml.safe_load(settings_path.read_text(encoding="utf-8"))
        settings["homeserver"]["processes"] = [*homeserver.synapse.process_urls, bare.base_url]
        both = settings_path.with_name("two-processes.yaml")
        both.write_text(yaml.safe_dump(settings), encoding="utf-8")
        run = doctor(both)
    finally:
        bare.stop()
    assert run.exit_code == 1, run.output
    assert run.problems == [modules_missing(bare.base_url)], run.output
    assert (
        f"ok: synapse modules Synapse process main at {homeserver.synapse.process_urls[0]}"
        in run.output
    )


def modules_missing(url: str) -> str:
    return (
        f"problem: synapse modules the Synapse process at {url} has not loaded "
        "Borough's modules (nothing answers at /_synapse/client/borough/status): add them to "
        "its homeserver.yaml `modules:` and restart it"
    )


@pytest.mark.workers
def test_a_worker_without_the_modules_is_named(
    deployment: ThreadedBot, homeserver: Homeserver, settings_path: Path
) -> None:
    """On the worker topology: one generic worker restarted without Borough's modules is the
    one problem doctor names; mended, doctor passes again."""
    topology = homeserver.synapse
    assert isinstance(topology, SynapseWorkers), "needs the worker topology"
    worker = topology.layout.generic[0]
    url = f"http://127.0.0.1:{worker.port}"
    topology.restart_worker(worker.name, {"modules": []})
    try:
        run = doctor(settings_path)
    finally:
        topology.restart_worker(worker.name)
    assert run.exit_code == 1, run.output
    assert run.problems == [modules_missing(url)], run.output
    for other in topology.process_urls:
        if other != url:
            assert f" at {other} runs Borough {__version__}" in run.output, run.output
    mended = doctor(settings_path)
    assert mended.exit_code == 0, mended.output


def test_a_stopped_bot_is_named(deployment: ThreadedBot, settings_path: Path) -> None:
    deployment.stop()
    try:
        run = doctor(settings_path)
    finally:
        deployment.start()
    assert run.exit_code == 1, run.output
    assert len(run.problems) == 1, run.output
    assert run.problems[0].startswith(f"problem: bot {deployment.user_id} is stopped: "), run.output
    assert "pid" in run.problems[0] and "borough bots run" in run.problems[0]


def test_a_database_a_migration_behind_is_named(
    deployment: ThreadedBot, app_database_url: str, settings_path: Path
) -> None:
    from alembic import command
    from alembic.script import ScriptDirectory

    config = alembic_config(app_database_url)
    newest = ScriptDirectory.from_config(config).get_current_head()
    deployment.stop()  # as an operator would: the newest migration may hold the bot's tables
    command.downgrade(config, "-1")
    try:
        run = doctor(settings_path)
        previous = command_current(app_database_url)
    finally:
        command.upgrade(config, "head")
        deployment.start()
    assert run.exit_code == 1, run.output
    assert run.problems == [
        f"problem: database is at migration {previous}, behind the newest, {newest}: restart "
        "the bot or the widget server with this Borough (they migrate at start)"
    ], run.output
    assert previous != newest


def command_current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    sync_url = url.replace("+aiosqlite", "").replace("+asyncpg", "+psycopg2")
    engine = create_engine(sync_url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def test_bot_settings_without_a_bot_section_skip_the_bot(
    homeserver: Homeserver, app_database_url: str, tmp_path: Path, deployment: ThreadedBot
) -> None:
    plain = write_settings(tmp_path / "borough.yaml", homeserver, app_database_url)
    run = doctor(plain)
    assert "skipped: bot not checked: the settings have no bot section" in run.output
    assert not any(line.startswith("problem: bot") for line in run.output.splitlines())
