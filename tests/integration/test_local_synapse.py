"""The suite's own Synapse is whole when it is handed over: its background updates are done.

Synapse 1.163 adds the unique index on `profiles.full_user_id` in a background update, and an
admin's reactivation upserts on it, so on a new database it answered HTTP 500 ("ON CONFLICT
clause does not match") until the update had run. Apply reactivates people, so tests that ran
early on a fresh server failed at random.
"""

from __future__ import annotations

import secrets
from urllib.parse import quote

import pytest

from tests.conftest import Homeserver

pytestmark = pytest.mark.integration


def test_an_account_is_reactivated_as_soon_as_synapse_is_up(homeserver: Homeserver) -> None:
    user = homeserver.user_id("early")
    path = f"/_synapse/admin/v2/users/{quote(user)}"
    homeserver.admin("PUT", path, {"displayname": "Early Bird"})
    homeserver.admin("POST", f"/_synapse/admin/v1/deactivate/{quote(user)}", {"erase": False})
    homeserver.admin("PUT", path, {"deactivated": False, "password": secrets.token_urlsafe()})
    assert homeserver.admin("GET", path)["deactivated"] is False
