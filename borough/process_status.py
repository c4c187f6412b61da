"""What a Synapse process says about the Borough it loaded, at `STATUS_PATH`: the contract
between the module that answers (`synapse_modules.status`) and `borough doctor`, which asks
every process."""

from __future__ import annotations

from typing import Any

#: Where every Synapse process that loaded Borough's modules answers (server admins only).
STATUS_PATH = "/_synapse/client/borough/status"


def status_body(version: str, worker_name: str | None, synapse_version: str) -> dict[str, Any]:
    """What a process says about itself; `process` is "main" for the main process."""
    return {
        "borough_version": version,
        "process": worker_name or "main",
        "synapse_version": synapse_version,
    }
