"""A sealed channel does not exist for outsiders: every way in answers as a missing room does.

Each attempt on the sealed channel is compared with the same attempt on a room this Synapse
has never known, so the test holds Borough to Synapse's own answer (status, errcode and
words), whatever they are in the installed version. Insiders still get Borough's sentence.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.conftest import Homeserver, HttpError, borough

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "modules.yaml"
SEALED_MESSAGE = (
    "Directorate leadership is a sealed channel; only members of Test Directorate can join."
)


@pytest.fixture(scope="module")
def sealed(homeserver: Homeserver, settings_file: Path) -> str:
    result = borough("apply", "-q", str(ORG_FILE), settings=settings_file)
    assert result.exit_code == 0, result.output
    return homeserver.room_id("tsealed")


@pytest.fixture(scope="module")
def unknown() -> str:
    """A room id in the shape of this server's (room version 12) that no room has."""
    return "!" + secrets.token_urlsafe(32)[:43]


@pytest.fixture(scope="module")
def outsider(homeserver: Homeserver, sealed: str) -> str:
    """Pat Parks: the same council, another unit, never in the channel."""
    return homeserver.login_as("tparks")


def answer(hs: Homeserver, method: str, path: str, token: str, body: object = None) -> object:
    try:
        return hs.call(method, path, token, body)
    except HttpError as exc:
        return (exc.status, exc.body)


def same_as_missing(
    hs: Homeserver,
    token: str,
    method: str,
    path: str,
    sealed: str,
    unknown: str,
    body: object = None,
) -> None:
    missing = answer(hs, method, path.format(room=quote(unknown)), token, body)
    got = answer(hs, method, path.format(room=quote(sealed)), token, body)
    assert isinstance(missing, tuple), f"the unknown room answered {missing}"
    assert got == missing
    assert "Directorate" not in str(got) and "Test" not in str(got)


@pytest.mark.parametrize(
    "path", ["/_matrix/client/v3/join/{room}", "/_matrix/client/v3/rooms/{room}/join"]
)
def test_an_outsider_joining_by_id_meets_a_missing_room(
    homeserver: Homeserver, outsider: str, sealed: str, unknown: str, path: str
) -> None:
    same_as_missing(homeserver, outsider, "POST", path, sealed, unknown, {})


def test_an_outsider_knocking_meets_a_missing_room(
    homeserver: Homeserver, outsider: str, sealed: str, unknown: str
) -> None:
    same_as_missing(
        homeserver, outsider, "POST", "/_matrix/client/v3/knock/{room}", sealed, unknown, {}
    )


@pytest.mark.parametrize("invitee", ["tcop", "tstaff"])
def test_an_outsider_inviting_anyone_meets_a_missing_room(
    homeserver: Homeserver, outsider: str, sealed: str, unknown: str, invitee: str
) -> None:
    body = {"user_id": homeserver.user_id(invitee)}
    same_as_missing(
        homeserver,
        outsider,
        "POST",
        "/_matrix/client/v3/rooms/{room}/invite",
        sealed,
        unknown,
        body,
    )


def lookup(hs: Homeserver, localpart: str, token: str) -> object:
    alias = f"#{localpart}:{hs.server_name}"
    return answer(hs, "GET", f"/_matrix/client/v3/directory/room/{quote(alias)}", token)


def test_an_outsider_looking_the_address_up_meets_a_missing_room(
    homeserver: Homeserver, outsider: str, sealed: str
) -> None:
    missing = lookup(homeserver, "nosuchchannel", outsider)
    assert isinstance(missing, tuple) and missing[0] == 404, missing
    status, body = missing
    assert lookup(homeserver, "tsealed", outsider) == (
        status,
        {**body, "error": body["error"].replace("nosuchchannel", "tsealed")},
    )


def test_apply_withdraws_the_address_an_older_apply_gave_a_sealed_room(
    homeserver: Homeserver, settings_file: Path, outsider: str, sealed: str
) -> None:
    alias = f"#tsealed:{homeserver.server_name}"
    homeserver.admin(
        "PUT", f"/_matrix/client/v3/directory/room/{quote(alias)}", {"room_id": sealed}
    )
    homeserver.admin(
        "PUT",
        f"/_matrix/client/v3/rooms/{quote(sealed)}/state/m.room.canonical_alias/",
        {"alias": alias},
    )
    assert lookup(homeserver, "tsealed", outsider) == {
        "room_id": sealed,
        "servers": [homeserver.server_name],
    }

    result = borough("apply", "-q", str(ORG_FILE), settings=settings_file)

    assert result.exit_code == 0, result.output
    assert isinstance(lookup(homeserver, "tsealed", outsider), tuple)
    assert homeserver.state(sealed, "m.room.canonical_alias").get("alias") is None
    again = borough("plan", str(ORG_FILE), settings=settings_file)
    assert "address" not in again.output, again.output


def test_an_insider_inviting_an_outsider_is_told_why(homeserver: Homeserver, sealed: str) -> None:
    got = answer(
        homeserver,
        "POST",
        f"/_matrix/client/v3/rooms/{quote(sealed)}/invite",
        homeserver.login_as("tadmin"),
        {"user_id": homeserver.user_id("tcop")},
    )
    assert isinstance(got, tuple), got
    status, body = got
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    assert SEALED_MESSAGE in body["error"]


def test_a_member_of_the_owner_refused_for_another_reason_is_told_why(
    homeserver: Homeserver, sealed: str
) -> None:
    """Vic is in Test Directorate's space but in no organisation of the chart: refused, and
    told why, since the owner's members know the channel is there."""
    _, token = homeserver.synapse.register_user("tvisitor", secrets.token_hex(12))
    owner_space = quote(homeserver.room_id("tdir"))
    homeserver.admin(
        "POST",
        f"/_synapse/admin/v1/join/{owner_space}",
        {"user_id": homeserver.user_id("tvisitor")},
    )
    got = answer(homeserver, "POST", f"/_matrix/client/v3/join/{quote(sealed)}", token, {})
    assert isinstance(got, tuple), got
    status, body = got
    assert (status, body["errcode"]) == (403, "M_FORBIDDEN")
    assert SEALED_MESSAGE in body["error"]
