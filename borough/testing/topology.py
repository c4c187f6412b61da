"""Synapse on workers, from real parts, for tests, benchmarks and people: PostgreSQL, Redis,
the main process, N generic workers, one event persister and nginx in front, all under one
directory with every process's log kept. `local_synapse(base_dir, workers=N)` gives one;
`workers=0` gives the single process.
"""

from __future__ import annotations

import getpass
import grp
import logging
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import IO, Any

import yaml

from borough.testing.localsynapse import (
    _OPENER,
    LocalSynapse,
    SynapseStartError,
    _Dumper,
    failure_report,
    synapse_environment,
)
from borough.testing.worker_layout import MAIN, Worker, WorkerLayout, worker_layout
from borough.testing.worker_routes import nginx_site

logger = logging.getLogger(__name__)

_POLL_INTERVAL = 0.1
# Synapse logs this once its replication over Redis is live (synapse/replication/tcp/redis.py).
_REPLICATING = "REPLICATE successfully sent"
# One line of nginx's access log, as `nginx_config` formats it.
_ACCESS_LINE = re.compile(r'^\S+ (\S+) (\S+) (\d+) -> "([^"]*)" \S+$')


def free_ports(count: int) -> Iterator[int]:
    """`count` distinct loopback ports that were free a moment ago (held open together)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
    return iter(ports)


def installed_program(name: str, why: str) -> str:
    """The path of Debian's `name` (also found in /usr/sbin, off a plain user's PATH)."""
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin")
    if found is None:
        raise SynapseStartError(why)
    return found


@dataclass(eq=False)
class _Child:
    """A helper process of the topology, with its console output kept in `console_path`."""

    name: str
    cmd: list[str]
    console_path: Path
    log_path: Path
    proc: subprocess.Popen[bytes] | None = None
    console: IO[bytes] | None = None

    def start(self, cwd: Path, env: dict[str, str]) -> None:
        self.console = self.console_path.open("wb")
        self.proc = subprocess.Popen(
            self.cmd,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.console,
            stderr=subprocess.STDOUT,
        )

    def check_alive(self) -> None:
        code = None if self.proc is None else self.proc.poll()
        if self.proc is None or code is not None:
            raise SynapseStartError(
                failure_report(
                    f"{self.name} exited with code {code}", self.console_path, self.log_path
                )
            )

    def stop(self) -> None:
        """SIGTERM (nginx's fast shutdown: it waits for no long-polling sync), then SIGKILL."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                logger.warning(
                    "%s (pid %s) ignored its stop signal; killing it", self.name, proc.pid
                )
                proc.kill()
                proc.wait()
        if self.console is not None:
            self.console.close()
            self.console = None


def _answers(url: str) -> bool:
    try:
        with _OPENER.open(url, timeout=2) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


def _redis_pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _logged(path: Path, text: str, after: int = 0) -> bool:
    """Whether `text` is in the log at `path`, past its first `after` bytes."""
    try:
        with path.open("rb") as log:
            log.seek(after)
            return text in log.read().decode("utf8", errors="replace")
    except FileNotFoundError:
        return False


def _log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def nginx_conf(base: Path, site: str) -> str:
    """A whole nginx.conf around `site` (http-level text: upstreams, maps, server blocks):
    its own pid, logs and temp dirs under `base`, and an access log that names the upstream
    each request went to (read_access_log)."""
    # As root, nginx's workers would drop to `nobody`, who cannot write these temp dirs.
    user = (
        f"user {getpass.getuser()} {grp.getgrgid(os.getgid()).gr_name};" if os.getuid() == 0 else ""
    )
    temp = "\n".join(
        f"    {kind}_temp_path {base / 'tmp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    indented = "\n".join(f"    {line}" if line else "" for line in site.splitlines())
    return (
        f"{user}\nworker_processes 1;\ndaemon off;\npid {base / 'nginx.pid'};\n"
        f"error_log {base / 'error.log'} notice;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    log_format upstream '$time_iso8601 $request_method $request_uri $status "
        '-> "$upstream_addr" ${request_time}s\';\n'
        f"    access_log {base / 'access.log'} upstream;\n"
        f"{temp}\n{indented}\n}}\n"
    )


def nginx_child(base: Path, conf: str) -> _Child:
    """Debian's nginx with `conf` (nginx_conf's) written under `base`, ready to start."""
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (base / "tmp" / kind).mkdir(parents=True, exist_ok=True)
    path = base / "nginx.conf"
    path.write_text(conf)
    nginx = installed_program(
        "nginx", "Borough's topologies need nginx: apt-get install nginx-light"
    )
    cmd = [nginx, "-p", str(base), "-e", str(base / "error.log"), "-c", str(path)]
    return _Child("nginx", cmd, base / "console.log", base / "error.log")


@contextmanager
def running_nginx(base: Path, site: str, ready_url: str, timeout: float = 30) -> Iterator[_Child]:
    """nginx serving `site` (see nginx_conf) until the block ends; ready once `ready_url`
    answers 200 through it. Its logs stay under `base`."""
    child = nginx_child(base, nginx_conf(base, site))
    child.start(base, dict(os.environ))
    try:
        deadline = time.monotonic() + timeout
        while not _answers(ready_url):
            child.check_alive()
            if time.monotonic() >= deadline:
                raise SynapseStartError(
                    failure_report(
                        "nginx was not ready in time", child.console_path, base / "error.log"
                    )
                )
            time.sleep(_POLL_INTERVAL)
        yield child
    finally:
        child.stop()


def read_access_log(log: Path, names: dict[int, str]) -> list[ServedRequest]:
    """What nginx has passed on so far (nginx_conf's access log), each named by the port of
    the upstream that answered (`names`), else by nginx's upstream text."""
    served = []
    for line in log.read_text(encoding="utf8").splitlines() if log.exists() else []:
        found = _ACCESS_LINE.match(line)
        if found is None:
            continue
        method, uri, status, upstream = found.groups()
        # A retried request lists each upstream tried; the last one answered.
        last = upstream.split(", ")[-1]
        port = int(last.rsplit(":", 1)[-1]) if ":" in last else 0
        served.append(
            ServedRequest(
                method, uri, int(status), names.get(port, upstream), len(upstream.split(", "))
            )
        )
    return served


#: The query parameter of logged_requests' probes, which it leaves out of what it returns.
_LOG_PROBE = "borough_log_probe"


def logged_requests(
    proxy_url: str, probe_path: str, log: Path, names: dict[int, str]
) -> list[ServedRequest]:
    """read_access_log, once every request nginx had answered before the call is in it.

    nginx writes a request's line just after sending its answer, so a client holding the
    answer may read the log too soon. A probe (a GET of `probe_path`, which nginx serves)
    is sent and waited for: one nginx worker process logs in order, so once the probe's line
    is there, so are those of the requests answered before. Probes are left out."""
    probe = f"{probe_path}?{_LOG_PROBE}={secrets.token_hex(6)}"
    _answers(proxy_url + probe)
    deadline = time.monotonic() + 10
    while True:
        served = read_access_log(log, names)
        if any(r.uri == probe for r in served) or time.monotonic() >= deadline:
            return [r for r in served if _LOG_PROBE not in r.uri]
        time.sleep(_POLL_INTERVAL)


@dataclass(frozen=True)
class ServedRequest:
    method: str
    uri: str
    status: int
    process: str  # "main", a worker's name, or nginx's upstream text when it is neither
    attempts: int = 1  # upstreams tried: more than one when nginx passed a request on


@dataclass(eq=False)
class SynapseWorkers(LocalSynapse):
    """The main process (LocalSynapse's own) plus workers, Redis and nginx; `base_url` is nginx.

    `redis` names a running Redis as host:port. Without it the topology starts a Redis of its
    own: Synapse names its replication channels after `server_name`, so two topologies for
    borough.test on one Redis would hear each other."""

    workers: int = 2
    redis: str | None = None
    proxy_port: int = 0

    _layout: WorkerLayout = field(init=False, repr=False)
    _children: list[_Child] = field(init=False, repr=False, default_factory=list)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.postgres_dsn is None:
            raise ValueError("Synapse workers share one database: give a PostgreSQL postgres_dsn")
        # nginx, Redis, main's replication, the generic workers and the event persister's two.
        ports = free_ports(5 + self.workers)
        if not self.proxy_port:
            self.proxy_port = next(ports)
        redis_port = next(ports)
        if self.redis is not None:
            host, _, port = self.redis.rpartition(":")
            if host not in ("127.0.0.1", "localhost") or not port.isdigit():
                raise ValueError(f"redis must be 127.0.0.1:PORT, not {self.redis!r}")
            redis_port = int(port)
        assert self.port is not None
        self._layout = worker_layout(self.workers, iter([self.port, *ports]), redis_port)

    # -- paths -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.proxy_port}"

    @property
    def layout(self) -> WorkerLayout:
        return self._layout

    @property
    def process_urls(self) -> list[str]:
        """Main's and each worker's own client listener, past nginx."""
        return [self.listen_url, *(f"http://127.0.0.1:{w.port}" for w in self._layout.workers)]

    def worker_log_path(self, worker: Worker) -> Path:
        return self.base_dir / "workers" / f"{worker.name}.log"

    @property
    def nginx_dir(self) -> Path:
        return self.base_dir / "nginx"

    @property
    def log_paths(self) -> list[Path]:
        """Every process's log: main, each worker, nginx's access and error logs, Redis."""
        paths = [self.log_path, self.console_path]
        for worker in self._layout.workers:
            paths += [
                self.worker_log_path(worker),
                self.worker_log_path(worker).with_suffix(".console"),
            ]
        paths += [self.nginx_dir / "access.log", self.nginx_dir / "error.log"]
        if self.redis is None:
            paths.append(self.base_dir / "redis" / "redis.log")
        return paths

    def requests_served(self) -> list[ServedRequest]:
        """What nginx has passed on so far, and to which process, from its access log."""
        by_port = {self._layout.main_port: MAIN}
        by_port.update((w.port, w.name) for w in self._layout.workers)
        return logged_requests(
            self.base_url, "/_matrix/client/versions", self.nginx_dir / "access.log", by_port
        )

    # -- config ------------------------------------------------------------------------------

    def _generated_config(self) -> dict[str, Any]:
        generated = super()._generated_config()
        generated.update(self._layout.shared_config(str(self._secret_path)))
        return generated

    @property
    def _secret_path(self) -> Path:
        return self.base_dir / "worker_replication_secret"

    def write_config(self) -> Path:
        """homeserver.yaml as LocalSynapse writes it, and (once) the replication secret."""
        if not self._secret_path.exists():
            self.base_dir.mkdir(parents=True, exist_ok=True)
            self._secret_path.write_text(secrets.token_urlsafe(24))
            self._secret_path.chmod(0o600)
        return super().write_config()

    def write_worker_configs(self) -> dict[str, Path]:
        """Each worker's own yaml and log config; return the yaml paths by worker name."""
        folder = self.base_dir / "workers"
        folder.mkdir(parents=True, exist_ok=True)
        written = {}
        for worker in self._layout.workers:
            log_config = folder / f"{worker.name}.log.yaml"
            log_config.write_text(
                yaml.dump(self._log_config(self.worker_log_path(worker)), Dumper=_Dumper)
            )
            path = folder / f"{worker.name}.yaml"
            config = self._layout.worker_config(worker, str(log_config))
            path.write_text(yaml.dump(config, Dumper=_Dumper, sort_keys=False))
            written[worker.name] = path
        return written

    def nginx_config(self) -> str:
        """A whole nginx.conf: its own pid, logs and temp dirs under nginx/, and the site."""
        site = nginx_site(
            self._layout,
            listen=[f"listen 127.0.0.1:{self.proxy_port};", f"server_name {self.server_name};"],
            admin_allow=["127.0.0.1"],
            header=["Generated by borough.testing.topology for one test topology."],
        )
        return nginx_conf(self.nginx_dir, site)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return super().running and all(
            c.proc is not None and c.proc.poll() is None for c in self._children
        )

    def start(self, timeout: float = 90) -> None:
        """Start Redis, main, the workers and nginx; return once nginx routes to them all."""
        if self._proc is not None:
            return
        began = time.monotonic()
        try:
            if self.redis is None:
                self._start_redis(began + timeout)
            super().start(timeout)
            self._start_workers(began + timeout)
            self._start_nginx(began + timeout)
        except BaseException:
            self.stop()
            raise
        logger.info(
            "Synapse with %d workers ready at %s after %.2fs",
            len(self._layout.workers),
            self.base_url,
            time.monotonic() - began,
        )

    def _spawn(self, child: _Child) -> _Child:
        child.start(self.base_dir, synapse_environment())
        self._children.append(child)
        return child

    def _wait(
        self, what: str, deadline: float, ready: Callable[[], bool], children: list[_Child]
    ) -> None:
        while not ready():
            for child in children:
                child.check_alive()
            if time.monotonic() >= deadline:
                child = children[-1]
                raise SynapseStartError(
                    failure_report(
                        f"{what} was not ready in time", child.console_path, child.log_path
                    )
                )
            time.sleep(_POLL_INTERVAL)

    def _start_redis(self, deadline: float) -> None:
        folder = self.base_dir / "redis"
        folder.mkdir(parents=True, exist_ok=True)
        port = self._layout.redis_port
        child = self._spawn(
            _Child(
                "redis",
                [
                    installed_program(
                        "redis-server",
                        "Synapse workers need Redis: install redis-server, or name a running "
                        "one (BOROUGH_TEST_REDIS=127.0.0.1:6379 for the tests)",
                    ),
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(folder),
                    "--logfile",
                    str(folder / "redis.log"),
                ],
                folder / "console.log",
                folder / "redis.log",
            )
        )
        self._wait("Redis", deadline, lambda: _redis_pings(port), [child])

    def _start_workers(self, deadline: float) -> None:
        configs = self.write_worker_configs()
        started = [
            self._spawn_worker(worker, configs[worker.name]) for worker in self._layout.workers
        ]
        for worker, (child, log_size) in zip(self._layout.workers, started, strict=True):
            self._wait_for_worker(worker, child, log_size, deadline)
        self._wait(
            "main's replication",
            deadline,
            lambda: _logged(self.log_path, _REPLICATING),
            [child for child, _ in started],
        )

    def _spawn_worker(self, worker: Worker, config: Path) -> tuple[_Child, int]:
        """The worker's process, started, and how long its log was before."""
        log = self.worker_log_path(worker)
        log_size = _log_size(log)
        cmd = self.synapse_command("synapse.app.generic_worker", self.config_path, config)
        return self._spawn(_Child(worker.name, cmd, log.with_suffix(".console"), log)), log_size

    def _wait_for_worker(
        self, worker: Worker, child: _Child, log_size: int, deadline: float
    ) -> None:
        url = f"http://127.0.0.1:{worker.port}/_matrix/client/versions"
        self._wait(worker.name, deadline, partial(_answers, url), [child])
        self._wait(
            f"{worker.name}'s replication",
            deadline,
            partial(_logged, child.log_path, _REPLICATING, log_size),
            [child],
        )

    def restart_worker(
        self, name: str, extra_config: dict[str, Any] | None = None, timeout: float = 60
    ) -> None:
        """Stop one worker and start it again with `extra_config` over its own file: how a
        test breaks a worker on purpose (`{"modules": []}`: one without Borough's modules)
        and mends it (no `extra_config`). Returns once it answers and replicates."""
        worker = next((w for w in self._layout.workers if w.name == name), None)
        if worker is None:
            known = ", ".join(w.name for w in self._layout.workers)
            raise ValueError(f"no worker {name!r} in this topology (it has {known})")
        for child in [c for c in self._children if c.name == name]:
            child.stop()
            self._children.remove(child)
        config = self.write_worker_configs()[name]
        if extra_config:
            written = yaml.safe_load(config.read_text(encoding="utf8"))
            config.write_text(
                yaml.dump({**written, **extra_config}, Dumper=_Dumper, sort_keys=False)
            )
        child, log_size = self._spawn_worker(worker, config)
        self._wait_for_worker(worker, child, log_size, time.monotonic() + timeout)

    def _start_nginx(self, deadline: float) -> None:
        child = self._spawn(nginx_child(self.nginx_dir, self.nginx_config()))
        url = f"{self.base_url}/_matrix/client/versions"
        self._wait("nginx", deadline, lambda: _answers(url), [child])

    def stop(self, keep_database: bool = False) -> None:
        """Stop nginx, the workers, main and Redis, in that order; logs stay on disk."""
        children, self._children = self._children, []
        redis = [child for child in children if child.name == "redis"]
        for child in reversed(children):
            if child not in redis:
                child.stop()
        super().stop(keep_database)
        for child in redis:
            child.stop()


def local_synapse(
    base_dir: Path, workers: int = 0, redis: str | None = None, **settings: Any
) -> LocalSynapse:
    """A throwaway Synapse: one process, or with `workers` generic workers and the rest of
    the worker topology (which needs `postgres_dsn`; `redis` as in SynapseWorkers).
    `settings` are LocalSynapse's."""
    if workers:
        return SynapseWorkers(base_dir, workers=workers, redis=redis, **settings)
    return LocalSynapse(base_dir, **settings)
