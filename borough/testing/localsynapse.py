"""Start a real, throwaway Synapse on loopback for the test suite, `make run` and benchmarks.

Everything lives under one directory; SQLite by default, or a fresh C-collated PostgreSQL database.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import yaml

logger = logging.getLogger(__name__)

# The checkout root (this file is borough/testing/localsynapse.py), put on Synapse's path.
REPO_ROOT = Path(__file__).resolve().parents[2]

# Generous enough that no test or benchmark ever sees M_LIMIT_EXCEEDED.
_UNLIMITED = {"per_second": 100000, "burst_count": 1000000}

# Every rate limiter Synapse 1.163.2 reads (synapse/config/ratelimiting.py), except
# federation and remote media, which a single loopback server never exercises.
RATE_LIMITS: dict[str, Any] = {
    "rc_message": _UNLIMITED,
    "rc_registration": _UNLIMITED,
    "rc_registration_token_validity": _UNLIMITED,
    "rc_login": {
        "address": _UNLIMITED,
        "account": _UNLIMITED,
        "failed_attempts": _UNLIMITED,
    },
    "rc_admin_redaction": _UNLIMITED,
    "rc_joins": {"local": _UNLIMITED, "remote": _UNLIMITED},
    "rc_joins_per_room": _UNLIMITED,
    "rc_key_requests": _UNLIMITED,
    "rc_3pid_validation": _UNLIMITED,
    "rc_invites": {
        "per_room": _UNLIMITED,
        "per_user": _UNLIMITED,
        "per_issuer": _UNLIMITED,
    },
    "rc_third_party_invite": _UNLIMITED,
    "rc_media_create": _UNLIMITED,
    "rc_presence": {"per_user": _UNLIMITED},
    "rc_delayed_event_mgmt": _UNLIMITED,
    "rc_room_creation": _UNLIMITED,
    "rc_reports": _UNLIMITED,
    "rc_user_directory": _UNLIMITED,
    "rc_profile": _UNLIMITED,
}

_TAIL_LINES = 30
_POLL_INTERVAL = 0.05

# Loopback only: never route through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

_running: weakref.WeakSet[LocalSynapse] = weakref.WeakSet()


class _Dumper(yaml.SafeDumper):
    """Plain YAML: the shared rate-limit dicts must not come out as anchors and aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


class SynapseStartError(RuntimeError):
    """Synapse exited or stayed silent before it answered /_matrix/client/versions."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """Return `base` with `over` merged in; nested dicts merge, everything else replaces."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


@dataclass(eq=False)  # identity semantics: each instance owns a process
class LocalSynapse:
    base_dir: Path
    server_name: str = "borough.test"
    port: int | None = None
    modules: list[dict[str, Any]] = field(default_factory=list)
    postgres_dsn: str | None = None
    registration_shared_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    extra_config: dict[str, Any] = field(default_factory=dict)
    cpu: int | None = None
    python: str = sys.executable

    _proc: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _console: IO[bytes] | None = field(default=None, init=False, repr=False)
    _db_name: str | None = field(default=None, init=False, repr=False)
    _db_created: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir).resolve()
        if self.port is None:
            self.port = free_port()
        if self.postgres_dsn is not None:
            self._db_name = f"borough_synapse_{secrets.token_hex(6)}"

    # -- paths -------------------------------------------------------------------------------

    @property
    def listen_url(self) -> str:
        """Where this Synapse process itself listens for clients."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """Where clients reach the homeserver: the process itself here, a proxy with workers."""
        return self.listen_url

    @property
    def process_urls(self) -> list[str]:
        """Each Synapse process's own client listener (`homeserver.processes` for doctor)."""
        return [self.listen_url]

    @property
    def config_path(self) -> Path:
        return self.base_dir / "homeserver.yaml"

    @property
    def log_path(self) -> Path:
        return self.base_dir / "homeserver.log"

    @property
    def console_path(self) -> Path:
        """Synapse's own stdout and stderr (tracebacks and config errors land here)."""
        return self.base_dir / "console.log"

    @property
    def database_name(self) -> str | None:
        """The PostgreSQL database created for this server, if any."""
        return self._db_name

    # -- config ------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The homeserver.yaml contents, before it is written."""
        return deep_merge(self._generated_config(), self.extra_config)

    def _generated_config(self) -> dict[str, Any]:
        base = self.base_dir
        generated: dict[str, Any] = {
            "server_name": self.server_name,
            "public_baseurl": f"{self.base_url}/",
            "pid_file": str(base / "homeserver.pid"),
            "listeners": [
                {
                    "port": self.port,
                    "bind_addresses": ["127.0.0.1"],
                    "type": "http",
                    "tls": False,
                    "x_forwarded": False,
                    "resources": [{"names": ["client", "federation"], "compress": False}],
                }
            ],
            "database": self._database_config(),
            "log_config": str(base / "log_config.yaml"),
            "media_store_path": str(base / "media_store"),
            "signing_key_path": str(base / "signing.key"),
            "report_stats": False,
            "enable_registration": False,
            "registration_shared_secret": self.registration_shared_secret,
            "bcrypt_rounds": 4,
            "suppress_key_server_warning": True,
            "trusted_key_servers": [],
            "serve_server_wellknown": False,
            "url_preview_enabled": False,
            "presence": {"enabled": False},
            "enable_metrics": False,
            "modules": list(self.modules),
            # A new database's background updates run without pauses, so start() is not kept
            # waiting for them (see _wait_background_updates).
            "background_updates": {"sleep_enabled": False},
            **RATE_LIMITS,
        }
        return generated

    def _database_config(self) -> dict[str, Any]:
        if self.postgres_dsn is None:
            return {
                "name": "sqlite3",
                "args": {"database": str(self.base_dir / "homeserver.db")},
            }
        from psycopg2.extensions import parse_dsn

        args: dict[str, Any] = dict(parse_dsn(self.postgres_dsn))
        args["dbname"] = self._db_name
        args.update({"cp_min": 1, "cp_max": 10})
        return {"name": "psycopg2", "args": args}

    def _log_config(self, log_path: Path | None = None) -> dict[str, Any]:
        """Synapse's logging config, writing to `log_path` (this process's log by default)."""
        return synapse_log_config(
            {"class": "logging.FileHandler", "filename": str(log_path or self.log_path)}
        )

    def write_config(self) -> Path:
        """Write homeserver.yaml, the log config and (once) the signing key; return the yaml."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        (self.base_dir / "media_store").mkdir(exist_ok=True)
        key_path = self.base_dir / "signing.key"
        if not key_path.exists():
            done = subprocess.run(
                [self.python, "-m", "synapse._scripts.generate_signing_key", "-o", str(key_path)],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                why = _reason(done.stderr.splitlines()) or f"exit code {done.returncode}"
                raise SynapseStartError(
                    f"Could not generate a signing key with {self.python}: {why}"
                )
        (self.base_dir / "log_config.yaml").write_text(
            yaml.dump(self._log_config(), Dumper=_Dumper, sort_keys=False)
        )
        self.config_path.write_text(yaml.dump(self.config(), Dumper=_Dumper, sort_keys=False))
        return self.config_path

    # -- postgres ----------------------------------------------------------------------------

    def _create_database(self) -> None:
        if self.postgres_dsn is None or self._db_name is None or self._db_created:
            return
        import psycopg2
        from psycopg2 import sql

        conn = psycopg2.connect(self.postgres_dsn)
        try:
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(
                    sql.SQL(
                        "CREATE DATABASE {} ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C' "
                        "TEMPLATE template0"
                    ).format(sql.Identifier(self._db_name))
                )
        finally:
            conn.close()
        self._db_created = True
        logger.info("Created PostgreSQL database %s", self._db_name)

    def _drop_database(self) -> None:
        if self.postgres_dsn is None or self._db_name is None or not self._db_created:
            return
        import psycopg2
        from psycopg2 import sql

        try:
            conn = psycopg2.connect(self.postgres_dsn)
            try:
                conn.autocommit = True
                with conn.cursor() as cur:
                    cur.execute(
                        sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                            sql.Identifier(self._db_name)
                        )
                    )
            finally:
                conn.close()
        except psycopg2.Error as exc:
            # Teardown must not mask the test's own failure; a leftover database is harmless.
            logger.warning("Could not drop PostgreSQL database %s: %s", self._db_name, exc)
            return
        self._db_created = False
        logger.info("Dropped PostgreSQL database %s", self._db_name)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 60) -> None:
        """Start Synapse and return once it answers /_matrix/client/versions."""
        if self.running:
            return
        self.write_config()
        self._create_database()
        cmd = self.synapse_command("synapse.app.homeserver", self.config_path)
        env = synapse_environment()
        self._console = self.console_path.open("wb")
        began = time.monotonic()
        logger.info("Starting Synapse for %s on %s", self.server_name, self.base_url)
        self._proc = subprocess.Popen(
            cmd,
            cwd=self.base_dir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
        )
        try:
            _running.add(self)
            self._wait_ready(began + timeout, timeout)
            self._wait_background_updates(began + timeout, timeout)
        except BaseException:
            self.stop()
            raise
        logger.info("Synapse ready at %s after %.2fs", self.base_url, time.monotonic() - began)

    def synapse_command(self, app: str, *config_paths: Path) -> list[str]:
        """The command line that runs Synapse's `app` (homeserver or a worker) on these configs."""
        cmd = [self.python, "-m", app]
        for path in config_paths:
            cmd += ["-c", str(path)]
        if self.cpu is not None:
            cmd = ["taskset", "-c", str(self.cpu), *cmd]
        return cmd

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        assert self._proc is not None
        url = f"{self.listen_url}/_matrix/client/versions"
        while True:
            code = self._proc.poll()
            if code is not None:
                raise SynapseStartError(self._failure(f"Synapse exited with code {code}"))
            try:
                with _OPENER.open(url, timeout=2) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() >= deadline:
                raise SynapseStartError(
                    self._failure(f"Synapse did not answer {url} within {timeout:g}s")
                )
            time.sleep(_POLL_INTERVAL)

    def _pending_background_updates(self) -> int:
        query = "SELECT COUNT(*) FROM background_updates"
        if self.postgres_dsn is None:
            import sqlite3
            from contextlib import closing

            path = self.base_dir / "homeserver.db"
            with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as database:
                return int(database.execute(query).fetchone()[0])
        import psycopg2

        conn = psycopg2.connect(self.postgres_dsn, dbname=self._db_name)
        try:
            with conn.cursor() as cur:
                cur.execute(query)
                row = cur.fetchone()
                return int(row[0]) if row else 0
        finally:
            conn.close()

    def _wait_background_updates(self, deadline: float, timeout: float) -> None:
        """Wait until a new database's background updates are done.

        Until then Synapse 1.163 is not whole: the unique index on `profiles.full_user_id` comes
        from a background update, and `create_profile`'s upsert (run when an admin reactivates
        an account) fails with HTTP 500 "ON CONFLICT clause does not match" before it exists.
        A homeserver that has run a while never shows this; a test's fresh one did, at random.
        """
        while self._pending_background_updates():
            if time.monotonic() >= deadline:
                raise SynapseStartError(
                    self._failure(
                        f"Synapse's background updates did not finish within {timeout:g}s"
                    )
                )
            time.sleep(_POLL_INTERVAL)

    def _failure(self, headline: str) -> str:
        return failure_report(headline, self.console_path, self.log_path)

    def stop(self, keep_database: bool = False) -> None:
        """Stop Synapse (SIGTERM, then SIGKILL after 10s) and drop its database if we made one,
        unless `keep_database` (for an outage that ends with `start()` again)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    logger.warning("Synapse %s ignored SIGTERM; killing it", proc.pid)
                    proc.kill()
                    proc.wait()
            logger.info("Synapse on %s stopped (exit %s)", self.base_url, proc.returncode)
        if self._console is not None:
            self._console.close()
            self._console = None
        _running.discard(self)
        if not keep_database:
            self._drop_database()

    def __enter__(self) -> LocalSynapse:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- client helpers ----------------------------------------------------------------------

    def register_user(
        self,
        localpart: str,
        password: str | None = None,
        admin: bool = False,
        displayname: str | None = None,
    ) -> tuple[str, str]:
        """Register through the shared-secret admin API; return (user_id, access_token)."""
        if password is None:
            password = secrets.token_urlsafe(16)
        path = "/_synapse/admin/v1/register"
        nonce = self._json("GET", path)["nonce"]
        mac = hmac.new(self.registration_shared_secret.encode("utf8"), digestmod=hashlib.sha1)
        mac.update(nonce.encode("utf8"))
        mac.update(b"\x00")
        mac.update(localpart.encode("utf8"))
        mac.update(b"\x00")
        mac.update(password.encode("utf8"))
        mac.update(b"\x00")
        mac.update(b"admin" if admin else b"notadmin")
        body: dict[str, Any] = {
            "nonce": nonce,
            "username": localpart,
            "password": password,
            "admin": admin,
            "mac": mac.hexdigest(),
        }
        if displayname is not None:
            body["displayname"] = displayname
        result = self._json("POST", path, body)
        return result["user_id"], result["access_token"]

    def _json(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode("utf8")
        req = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token is not None:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with _OPENER.open(req, timeout=30) as resp:
                result: dict[str, Any] = json.loads(resp.read())
                return result
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf8", "replace")
            raise RuntimeError(f"{method} {path} -> {exc.code}: {detail}") from None


def synapse_log_config(handler: dict[str, Any]) -> dict[str, Any]:
    """Synapse's logging config: everything at INFO, with request ids, to one file `handler`."""
    return {
        "version": 1,
        "formatters": {
            "precise": {
                "format": "%(asctime)s - %(name)s - %(lineno)d - %(levelname)s - "
                "%(request)s - %(message)s"
            }
        },
        "handlers": {"file": {**handler, "formatter": "precise", "encoding": "utf8"}},
        "loggers": {"synapse.storage.SQL": {"level": "INFO"}},
        "root": {"level": "INFO", "handlers": ["file"]},
        "disable_existing_loggers": False,
    }


def synapse_environment() -> dict[str, str]:
    """This process's environment with the checkout on PYTHONPATH, so Synapse finds the modules."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def failure_report(headline: str, console_path: Path, log_path: Path) -> str:
    """`headline`, the console's telling error line, and the last lines of both files."""
    console = tail(console_path)
    reason = _reason(console)
    parts = [f"{headline}: {reason}" if reason else headline]
    parts.append(f"--- last lines of {console_path} ---")
    parts.extend(console or ["(empty)"])
    parts.append(f"--- last lines of {log_path} ---")
    parts.extend(tail(log_path) or ["(empty)"])
    return "\n".join(parts)


def tail(path: Path, lines: int = _TAIL_LINES) -> list[str]:
    try:
        text = path.read_text(encoding="utf8", errors="replace")
    except FileNotFoundError:
        return []
    return text.splitlines()[-lines:]


_ERROR_LINE = re.compile(r"Error|error in configuration", re.IGNORECASE)


def _reason(lines: list[str]) -> str | None:
    """The most telling one-liner in Synapse's console output: its last line naming an error."""
    for i in range(len(lines) - 1, -1, -1):
        line = lines[i].strip()
        if not _ERROR_LINE.search(line) or line.startswith("File "):
            continue
        # "Error in configuration at 'modules.<item 0>.config':" is followed by indented detail.
        detail = []
        for follow in lines[i + 1 :]:
            if not follow.startswith(" ") or not follow.strip():
                break
            detail.append(follow.strip())
        return " ".join([line, *detail])
    return None


@atexit.register
def _stop_all() -> None:
    for server in list(_running):
        server.stop()
