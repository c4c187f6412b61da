"""How Synapse is split into workers, as Synapse's docs/workers.md describes: the processes,
the shared settings that join them (`instance_map`, `stream_writers`, `redis:`) and each
worker's own file. One source for the test topology (`borough.testing.topology`) and the
copyable files in config/deploy/ (`borough.testing.deploy_files`), so the two cannot drift.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

MAIN = "main"
EVENT_PERSISTER = "event_persister1"

Role = Literal["generic", "event_persister"]


def http_listener(port: int, names: list[str], x_forwarded: bool) -> dict[str, Any]:
    """A plain-HTTP listener on loopback serving Synapse's `names` resources."""
    resource: dict[str, Any] = {"names": names}
    if "replication" not in names:
        resource["compress"] = False
    return {
        "type": "http",
        "port": port,
        "bind_addresses": ["127.0.0.1"],
        "tls": False,
        "x_forwarded": x_forwarded,
        "resources": [resource],
    }


@dataclass(frozen=True)
class Worker:
    """One worker process. A generic worker serves the clients nginx sends it on `port`.
    An event persister listens for replication on `replication_port`; nginx sends it
    nothing, and its `port` is there only for whoever asks each process directly
    (`borough doctor`, which checks every process loaded Borough's modules)."""

    name: str
    role: Role
    port: int
    replication_port: int | None = None

    @property
    def listeners(self) -> list[dict[str, Any]]:
        if self.replication_port is None:
            return [http_listener(self.port, ["client", "federation"], x_forwarded=True)]
        return [
            http_listener(self.replication_port, ["replication"], x_forwarded=False),
            http_listener(self.port, ["client"], x_forwarded=False),
        ]


@dataclass(frozen=True)
class WorkerLayout:
    """The main process's two listeners, the workers, and the Redis that relays replication."""

    main_port: int
    replication_port: int
    workers: tuple[Worker, ...]
    redis_host: str = "127.0.0.1"
    redis_port: int = 6379

    @property
    def generic(self) -> tuple[Worker, ...]:
        return tuple(w for w in self.workers if w.role == "generic")

    @property
    def persisters(self) -> tuple[Worker, ...]:
        return tuple(w for w in self.workers if w.role == "event_persister")

    def main_listeners(self) -> list[dict[str, Any]]:
        """Main's client listener (behind the proxy) and its replication listener."""
        return [
            http_listener(self.main_port, ["client", "federation"], x_forwarded=True),
            http_listener(self.replication_port, ["replication"], x_forwarded=False),
        ]

    def shared_config(self, replication_secret_path: str) -> dict[str, Any]:
        """What the shared homeserver.yaml gains so its processes work as one server.

        Every process reads this file, so Borough's `modules:` there load in every worker."""
        instance_map: dict[str, Any] = {MAIN: {"host": "127.0.0.1", "port": self.replication_port}}
        for persister in self.persisters:
            instance_map[persister.name] = {
                "host": "127.0.0.1",
                "port": persister.replication_port,
            }
        return {
            "listeners": self.main_listeners(),
            # Replication is unencrypted; the secret at least authenticates it.
            "worker_replication_secret_path": replication_secret_path,
            "redis": {"enabled": True, "host": self.redis_host, "port": self.redis_port},
            "instance_map": instance_map,
            "stream_writers": {"events": [p.name for p in self.persisters]},
        }

    def worker_config(self, worker: Worker, log_config: str) -> dict[str, Any]:
        """A worker's own file, read after the shared one (`-c shared.yaml -c worker.yaml`)."""
        return {
            "worker_app": "synapse.app.generic_worker",
            "worker_name": worker.name,
            "worker_listeners": worker.listeners,
            "worker_log_config": log_config,
        }


def worker_layout(generic_workers: int, ports: Iterator[int], redis_port: int) -> WorkerLayout:
    """`generic_workers` generic workers and one event persister, on ports taken from `ports`
    in a fixed order: main, main's replication, the generic workers, the persister's
    replication and its own listener."""
    if generic_workers < 1:
        raise ValueError(f"workers must be at least 1, not {generic_workers}")
    main_port, replication_port = next(ports), next(ports)
    workers = [
        Worker(f"generic_worker{i}", "generic", next(ports)) for i in range(1, 1 + generic_workers)
    ]
    replication = next(ports)
    workers.append(Worker(EVENT_PERSISTER, "event_persister", next(ports), replication))
    return WorkerLayout(main_port, replication_port, tuple(workers), redis_port=redis_port)
