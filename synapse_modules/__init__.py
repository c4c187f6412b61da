"""Borough's Synapse modules: the rules every client is held to, enforced inside Synapse.

`homeserver_modules()` returns the `modules:` list for homeserver.yaml. It is empty until the
sealed-room, channel and onboarding modules land (issue 3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def homeserver_modules(org_file: Path | None = None) -> list[dict[str, Any]]:
    """The `modules:` entries that load Borough into Synapse, configured for `org_file`."""
    return []
