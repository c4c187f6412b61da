"""Borough's Synapse modules, tested as real clients (never a server admin) against a real Synapse.

The modules learn tests/fixtures/org/modules.yaml from what apply writes; everything but
`tlate` is applied first, so `tlate` can show the chart growing while Synapse runs.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest

from borough import events
from borough.testing.localsynapse import LocalSynapse, SynapseStartError
from borough.testing.topology import SynapseWorkers
from synapse_modules import homeserver_modules
from tests.conftest import Homeserver, HttpError, borough

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "modules.yaml"
# Open registration with a token, as a council would for residents.
SYNAPSE_CONFIG = {"enable_registration": True, "registration_requires_token": True}
SEALED_MESSAGE = (
    "Directorate leadership is a sealed channel; only members of Test Directorate can join."
)


@pytest.fixture(scope="module")
def network(
    homeserver: Homeserver, settings_file: Path, tmp_path_factory: pytest.TempPathFactory
) -> Homeserver:
    applied = tmp_path_factory.mktemp("org") / "applied.yaml"
    text = ORG_FILE.read_text()
    applied.write_text(
        "\n".join(line for line in text.splitlines() if "username: tlate" not in line) + "\n"
    )
    result = borough("apply", "-q", str(applied), settings=settings_file)
    assert result.exit_code == 0, result.output
    return homeserver


@pytest.fixture(scope="module")
def tokens(network: Homeserver) -> dict[str, str]:
    return {name: network.login_as(name) for name in ("tadmin", "tmgr", "tstaff", "tparks", "tcop")}


@pytest.fixture(scope="module")
def sealed(network: Homeserver) -> str:
    return network.room_id("tsealed")


def refused(call: object, message: str = SEALED_MESSAGE) -> HttpError:
    assert isinstance(call, HttpError), f"expected a refusal, got {call!r}"
    assert call.status == 403, call.body
    assert call.body["errcode"] == "M_FORBIDDEN"
    assert message in call.body["error"], call.body
    return call


def hidden(hs: Homeserver, door: str, room_id: str, token: str) -> None:
    """`door` (join or knock) is refused as it is for a room that does not exist, on the
    process that serves it: 404 on main, 502 for a knock on a generic worker
    (test_sealed_unseen.py compares the words)."""
    call = attempt(hs, "POST", f"/_matrix/client/v3/{door}/{quote(room_id)}", token, {})
    missing_id = f"!{secrets.token_hex(8)}:{hs.server_name}"
    missing = attempt(hs, "POST", f"/_matrix/client/v3/{door}/{quote(missing_id)}", token, {})
    assert isinstance(call, HttpError), f"expected a refusal, got {call!r}"
    assert isinstance(missing, HttpError), missing
    assert (call.status, call.errcode) == (missing.status, missing.errcode), call.body
    assert "Directorate" not in call.body["error"], call.body


def attempt(hs: Homeserver, method: str, path: str, token: str, body: object = None) -> object:
    try:
        return hs.call(method, path, token, body)
    except HttpError as exc:
        return exc


def set_join_rule(hs: Homeserver, room_id: str, rule: str) -> None:
    hs.admin(
        "PUT",
        f"/_matrix/client/v3/rooms/{quote(room_id)}/state/m.room.join_rules/",
        {"join_rule": rule},
    )


# --- sealed rooms ----------------------------------------------------------------------------


def test_a_unit_member_may_join_the_sealed_room(
    network: Homeserver, tokens: dict[str, str], sealed: str
) -> None:
    room = quote(sealed)
    network.call("POST", f"/_matrix/client/v3/rooms/{room}/leave", tokens["tstaff"], {})
    network.call(
        "POST",
        f"/_matrix/client/v3/rooms/{room}/invite",
        tokens["tadmin"],
        {"user_id": network.user_id("tstaff")},
    )
    assert (
        network.call("POST", f"/_matrix/client/v3/join/{room}", tokens["tstaff"], {})["room_id"]
        == sealed
    )


def test_a_non_member_cannot_join(network: Homeserver, tokens: dict[str, str], sealed: str) -> None:
    hidden(network, "join", sealed, tokens["tparks"])


def test_a_room_moderator_cannot_invite_a_non_member(
    network: Homeserver, tokens: dict[str, str], sealed: str
) -> None:
    refused(
        attempt(
            network,
            "POST",
            f"/_matrix/client/v3/rooms/{quote(sealed)}/invite",
            tokens["tadmin"],
            {"user_id": network.user_id("tparks")},
        )
    )


def test_a_partner_organisation_user_cannot_be_invited(
    network: Homeserver, tokens: dict[str, str], sealed: str
) -> None:
    refused(
        attempt(
            network,
            "POST",
            f"/_matrix/client/v3/rooms/{quote(sealed)}/invite",
            tokens["tadmin"],
            {"user_id": network.user_id("tcop")},
        )
    )


def test_not_even_a_server_admin_can_invite_a_non_member(network: Homeserver, sealed: str) -> None:
    refused(
        attempt(
            network,
            "POST",
            f"/_matrix/client/v3/rooms/{quote(sealed)}/invite",
            network.service_token,
            {"user_id": network.user_id("tparks")},
        )
    )


@pytest.mark.parametrize(("join_rule", "door"), [("knock", "knock"), ("public", "join")])
def test_a_non_member_stays_out_when_the_join_rule_is_opened(
    network: Homeserver, tokens: dict[str, str], sealed: str, join_rule: str, door: str
) -> None:
    set_join_rule(network, sealed, join_rule)
    try:
        hidden(network, door, sealed, tokens["tparks"])
    finally:
        set_join_rule(network, sealed, "invite")


def test_only_borough_and_organisation_admins_may_change_the_seal(
    network: Homeserver, tokens: dict[str, str], sealed: str
) -> None:
    room = quote(sealed)
    levels = network.state(sealed, "m.room.power_levels")
    levels["users"][network.user_id("tmgr")] = 100  # a room admin who is no organisation admin
    network.admin("PUT", f"/_matrix/client/v3/rooms/{room}/state/m.room.power_levels/", levels)
    for event_type, content in [
        ("m.room.join_rules", {"join_rule": "public"}),
        (events.POLICY, {}),
        ("m.room.history_visibility", {"history_visibility": "world_readable"}),
        ("m.room.server_acl", {"allow": ["*"], "deny": []}),
        ("m.room.power_levels", {**levels, "invite": 0}),
    ]:
        path = f"/_matrix/client/v3/rooms/{room}/state/{quote(event_type)}/"
        refused(attempt(network, "PUT", path, tokens["tmgr"], content), "is a sealed channel; ")
    assert network.state(sealed, "m.room.join_rules")["join_rule"] == "invite"
    # The organisation's admin may.
    path = f"/_matrix/client/v3/rooms/{room}/state/m.room.history_visibility/"
    network.call("PUT", path, tokens["tadmin"], {"history_visibility": "shared"})


def test_an_upgrade_cannot_drop_the_seal(
    network: Homeserver, tokens: dict[str, str], sealed: str
) -> None:
    result = attempt(
        network,
        "POST",
        f"/_matrix/client/v3/rooms/{quote(sealed)}/upgrade",
        tokens["tadmin"],
        {"new_version": "12"},
    )
    refused(result, "cannot be upgraded by hand")
    assert network.state(sealed, events.POLICY)["owner"] == "unit/tdir"


# --- open channels ---------------------------------------------------------------------------


def failed(call: object) -> bool:
    return isinstance(call, HttpError) and call.status in (403, 404)


def test_an_open_channel_is_found_and_joined_across_its_organisation_and_a_sealed_one_is_not(
    network: Homeserver, tokens: dict[str, str]
) -> None:
    """Pat is in the council but outside Test Team, which owns #topen, and outside Test
    Directorate, which owns the sealed #tsealed."""
    pat = tokens["tparks"]
    seen = hierarchy_aliases(network, "tcouncil", pat)
    assert f"#topen:{network.server_name}" in seen, seen
    assert f"#tsealed:{network.server_name}" not in seen
    open_id, sealed_id = network.room_id("topen"), network.room_id("tsealed")
    joined_room = network.call("POST", f"/_matrix/client/v3/join/{quote(open_id)}", pat, {})
    assert joined_room["room_id"] == open_id
    assert failed(attempt(network, "POST", f"/_matrix/client/v3/join/{quote(sealed_id)}", pat, {}))
    # Beyond its organisation, the open channel is as closed as the team's own rooms.
    tina = tokens["tcop"]
    assert f"#topen:{network.server_name}" not in hierarchy_aliases(network, "tpolice", tina)
    assert failed(attempt(network, "POST", f"/_matrix/client/v3/join/{quote(open_id)}", tina, {}))


def publish_address(hs: Homeserver, token: str, localpart: str, room_id: str) -> object:
    alias = quote(f"#{localpart}:{hs.server_name}")
    return attempt(
        hs, "PUT", f"/_matrix/client/v3/directory/room/{alias}", token, {"room_id": room_id}
    )


def test_a_member_and_a_moderator_cannot_give_a_sealed_room_an_address(
    network: Homeserver, tokens: dict[str, str], sealed: str
) -> None:
    bulletin = network.room_id("tbulletin")
    # tstaff leads the partnership, so moderates its sealed bulletin; tmgr is a member there.
    assert network.state(bulletin, "m.room.power_levels")["users"][network.user_id("tstaff")] == 50
    for name, room_id in (("tstaff", bulletin), ("tmgr", bulletin), ("tstaff", sealed)):
        localpart = f"leak-{name}-{secrets.token_hex(4)}"
        refused(publish_address(network, tokens[name], localpart, room_id), "a sealed channel")
        # And so an outsider cannot look the room up by it.
        lookup = attempt(
            network,
            "GET",
            f"/_matrix/client/v3/directory/room/{quote(f'#{localpart}:{network.server_name}')}",
            tokens["tparks"],
        )
        assert isinstance(lookup, HttpError) and lookup.status == 404, lookup


def test_addresses_outside_sealed_rooms_still_work(
    network: Homeserver, tokens: dict[str, str]
) -> None:
    # Someone in no sealed room gives their unit's room an address.
    parks = network.room_id("tparks-general")
    localpart = f"parks-{secrets.token_hex(4)}"
    assert publish_address(network, tokens["tparks"], localpart, parks) == {}
    # Someone in a sealed room creates a room of their own with its address.
    localpart = f"club-{secrets.token_hex(4)}"
    created = network.call(
        "POST",
        "/_matrix/client/v3/createRoom",
        tokens["tstaff"],
        {"name": "Book club", "room_alias_name": localpart},
    )
    assert network.room_id(localpart) == created["room_id"]


def test_nobody_opens_a_sealed_room_to_guests(network: Homeserver, tokens: dict[str, str]) -> None:
    bulletin = network.room_id("tbulletin")
    path = f"/_matrix/client/v3/rooms/{quote(bulletin)}/state/m.room.guest_access/"
    for token in (tokens["tstaff"], tokens["tcop"]):  # a moderator, and a partner org's admin
        refused(
            attempt(network, "PUT", path, token, {"guest_access": "can_join"}),
            "Partnership bulletin is a sealed channel; guests can never join it.",
        )
    assert network.state(bulletin, "m.room.guest_access") == {"guest_access": "forbidden"}


def test_every_applied_room_is_closed_to_guests(network: Homeserver) -> None:
    for alias in ("tcouncil", "tdir", "tteam-general", "tsealed", "tpartners", "community"):
        room_id = network.room_id(alias)
        assert network.state(room_id, "m.room.guest_access") == {"guest_access": "forbidden"}, alias


def test_in_a_sealed_partnership_channel_power_goes_to_its_lead_and_admins_inside(
    network: Homeserver,
) -> None:
    users = network.state(network.room_id("tbulletin"), "m.room.power_levels")["users"]
    # tadmin, the council's admin, is outside the partnership, so holds nothing there.
    assert users == {network.user_id("tcop"): 100, network.user_id("tstaff"): 50}


# --- channel rules ---------------------------------------------------------------------------


def send(
    hs: Homeserver, room_id: str, token: str, content: dict, event_type: str = "m.room.message"
) -> object:
    path = f"/_matrix/client/v3/rooms/{quote(room_id)}/send/{event_type}/{secrets.token_hex(8)}"
    return attempt(hs, "PUT", path, token, content)


def test_channel_posting_rules(network: Homeserver, tokens: dict[str, str], sealed: str) -> None:
    post = send(
        network, sealed, tokens["tadmin"], {"msgtype": "m.text", "body": "Budget briefing at 3pm"}
    )
    assert isinstance(post, dict), post
    post_id = post["event_id"]

    refused(
        send(network, sealed, tokens["tmgr"], {"msgtype": "m.text", "body": "Me too"}),
        "Only the posters of Directorate leadership can start a post here",
    )
    refused(
        send(
            network,
            sealed,
            tokens["tmgr"],
            {
                "msgtype": "m.text",
                "body": "> quoted\n\nreply",
                "m.relates_to": {"m.in_reply_to": {"event_id": post_id}},
            },
        ),
        "reply in a thread",
    )
    thread = send(
        network,
        sealed,
        tokens["tmgr"],
        {
            "msgtype": "m.text",
            "body": "Thanks!",
            "m.relates_to": {"rel_type": "m.thread", "event_id": post_id},
        },
    )
    assert isinstance(thread, dict), thread
    reaction = send(
        network,
        sealed,
        tokens["tmgr"],
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": post_id, "key": "👍"}},
        "m.reaction",
    )
    assert isinstance(reaction, dict), reaction

    too_long = "x" * 501
    refused(
        send(network, sealed, tokens["tadmin"], {"msgtype": "m.text", "body": too_long}),
        "Posts in Directorate leadership are limited to 500 characters; this one has 501.",
    )
    edit = send(
        network,
        sealed,
        tokens["tadmin"],
        {
            "msgtype": "m.text",
            "body": "* Budget briefing at 4pm",
            "m.new_content": {"msgtype": "m.text", "body": "Budget briefing at 4pm"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": post_id},
        },
    )
    assert isinstance(edit, dict), edit
    redaction = attempt(
        network,
        "PUT",
        f"/_matrix/client/v3/rooms/{quote(sealed)}/redact/{post_id}/{secrets.token_hex(8)}",
        tokens["tadmin"],
        {"reason": "wrong time"},
    )
    assert isinstance(redaction, dict), redaction


# --- onboarding ------------------------------------------------------------------------------


def password_login(hs: Homeserver, localpart: str, password: str) -> str:
    body = {
        "type": "m.login.password",
        "identifier": {"type": "m.id.user", "user": localpart},
        "password": password,
    }
    return str(hs.call("POST", "/_matrix/client/v3/login", None, body)["access_token"])


def sign_in_at_once(hs: Homeserver, logins: list[tuple[str, str]]) -> dict[str, str]:
    """First sign-ins (localpart, password) made all at once; an access token per localpart.
    On the worker topology, nginx spreads them over the generic workers, and every generic
    worker must have served some (else the test would not be testing several processes)."""
    topology = hs.synapse if isinstance(hs.synapse, SynapseWorkers) else None
    earlier = len(topology.requests_served()) if topology else 0
    with ThreadPoolExecutor(max_workers=len(logins)) as pool:
        tokens = dict(pool.map(lambda login: (login[0], password_login(hs, *login)), logins))
    if topology is not None:
        served = {
            request.process
            for request in topology.requests_served()[earlier:]
            if request.uri == "/_matrix/client/v3/login" and request.method == "POST"
        }
        generic = {worker.name for worker in topology.layout.generic}
        assert served == generic, f"the sign-ins reached only {served}"
    return tokens


def joined(hs: Homeserver, token: str) -> set[str]:
    return set(hs.call("GET", "/_matrix/client/v3/joined_rooms", token)["joined_rooms"])


def memberships(hs: Homeserver, token: str, room_id: str, user_id: str) -> list[str]:
    """`user_id`'s membership events in the room, newest first, as `token` reads them."""
    history = hs.call(
        "GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=1000", token
    )["chunk"]
    return [
        event["content"]["membership"]
        for event in history
        if event["type"] == "m.room.member" and event["state_key"] == user_id
    ]


def hierarchy_aliases(hs: Homeserver, space_alias: str, token: str) -> set[str]:
    tree = hs.call(
        "GET", f"/_matrix/client/v1/rooms/{quote(hs.room_id(space_alias))}/hierarchy", token
    )
    return {r.get("canonical_alias") for r in tree["rooms"]}


def test_a_listed_person_lands_in_their_organisation_and_units(
    network: Homeserver, settings_file: Path
) -> None:
    """The chart gains tlate while Synapse runs: one apply later, his first sign-in finds him
    placed, and onboarding records that the people list placed him."""
    result = borough("apply", "-q", str(ORG_FILE), settings=settings_file)
    assert result.exit_code == 0, result.output
    tlate = network.user_id("tlate")
    network.admin(
        "PUT", f"/_synapse/admin/v2/users/{quote(tlate)}", {"password": "pw-tlate-123456"}
    )
    token = password_login(network, "tlate", "pw-tlate-123456")
    rooms = joined(network, token)
    for alias in (
        "tcouncil",
        "tdir",
        "tteam",
        "tteam-general",
        "tteam-team",
        "tteam-announcements",
        "tpartners",
    ):
        assert network.room_id(alias) in rooms, alias
    assert network.room_id("tsealed") in rooms  # tteam is inside the channel's owner, tdir
    assert network.room_id("tparks-general") not in rooms
    assert f"#tteam:{network.server_name}" in hierarchy_aliases(network, "tcouncil", token)
    profile = network.call(
        "GET", f"/_matrix/client/v3/profile/{quote(network.user_id('tlate'))}", token
    )
    assert profile["displayname"] == "Lee Late"
    marker = network.admin("GET", f"/_synapse/admin/v1/users/{quote(tlate)}/accountdata")
    onboarded = marker["account_data"]["global"]["org.borough.onboarded"]
    assert onboarded["reason"] == "people list" and onboarded["organisation"] == "tcouncil"


def test_a_person_matched_by_email_domain_lands_in_their_organisation(network: Homeserver) -> None:
    user_id = network.user_id("newstarter")
    network.admin(
        "PUT",
        f"/_synapse/admin/v2/users/{quote(user_id)}",
        {
            "password": "pw-newstarter-1",
            "threepids": [{"medium": "email", "address": "new.starter@TEST.gov.uk"}],
        },
    )
    rooms = joined(network, password_login(network, "newstarter", "pw-newstarter-1"))
    assert network.room_id("tcouncil") in rooms
    assert network.room_id("tpolice") not in rooms and network.room_id("community") not in rooms


def test_an_unknown_person_lands_in_the_community(network: Homeserver) -> None:
    network.synapse.register_user("resident1", "pw-resident-123")
    token = password_login(network, "resident1", "pw-resident-123")
    rooms = joined(network, token)
    assert {network.room_id("community"), network.room_id("community-welcome")} <= rooms
    assert network.room_id("tcouncil") not in rooms
    assert f"#community-welcome:{network.server_name}" in hierarchy_aliases(
        network, "community", token
    )


def test_a_resident_registering_with_a_token_lands_in_the_community(network: Homeserver) -> None:
    token = network.admin("POST", "/_synapse/admin/v1/registration_tokens/new", {})["token"]
    body: dict = {"username": "resident2", "password": "pw-resident-2222", "inhibit_login": False}
    try:
        network.call("POST", "/_matrix/client/v3/register", None, body)
        raise AssertionError("registration without a token should need an auth stage")
    except HttpError as exc:
        session = exc.body["session"]
    body["auth"] = {"type": "m.login.registration_token", "token": token, "session": session}
    try:
        network.call("POST", "/_matrix/client/v3/register", None, body)
    except HttpError as exc:
        assert exc.body["completed"] == ["m.login.registration_token"], exc.body
    body["auth"] = {"type": "m.login.dummy", "session": session}
    access = network.call("POST", "/_matrix/client/v3/register", None, body)["access_token"]
    # No login follows a registration: the module places them once the email grace period ends.
    # Wait on /sync for the join to arrive, not on a timer.
    community = network.room_id("community-welcome")
    since = None
    for _ in range(10):
        query = "timeout=5000" + (f"&since={since}" if since else "")
        sync = network.call("GET", f"/_matrix/client/v3/sync?{query}", access)
        since = sync["next_batch"]
        if community in sync.get("rooms", {}).get("join", {}):
            break
    assert community in joined(network, access)


def test_onboarding_happens_once(network: Homeserver) -> None:
    token = password_login(network, "resident1", "pw-resident-123")
    welcome = quote(network.room_id("community-welcome"))
    network.call("POST", f"/_matrix/client/v3/rooms/{welcome}/leave", token, {})
    again = password_login(network, "resident1", "pw-resident-123")
    assert network.room_id("community-welcome") not in joined(network, again)


def test_a_first_sign_in_made_at_once_on_every_process_onboards_once(
    network: Homeserver,
) -> None:
    """Six first sign-ins at once, which nginx spreads over the generic workers on the worker
    topology: the person joins each community room once (one membership event each), and
    onboarding records that the community placed them."""
    network.synapse.register_user("resident3", "pw-resident-333")
    tokens = sign_in_at_once(network, [("resident3", "pw-resident-333")] * 6)
    user_id = network.user_id("resident3")
    for alias in ("community", "community-welcome"):
        room_id = network.room_id(alias)
        assert room_id in joined(network, tokens["resident3"]), alias
        changes = memberships(network, tokens["resident3"], room_id, user_id)
        assert changes == ["join"], (alias, changes)
    marker = network.admin("GET", f"/_synapse/admin/v1/users/{quote(user_id)}/accountdata")
    assert marker["account_data"]["global"]["org.borough.onboarded"]["reason"] == "community"


# --- bad module config -----------------------------------------------------------------------


@pytest.fixture
def synapse_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "synapse"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"colour": "red"}, "Borough sealed rooms: unknown key 'colour'"),
        ({"service_account": 42}, "'service_account' must be the localpart"),
        ({"trusted_accounts": "boroughbot"}, "'trusted_accounts' must be a list of localparts"),
    ],
)
def test_a_bad_module_config_stops_synapse_with_a_one_line_reason(
    synapse_dir: Path, change: dict, reason: str
) -> None:
    modules = homeserver_modules()
    modules[0] = {**modules[0], "config": {**modules[0]["config"], **change}}
    synapse = LocalSynapse(synapse_dir, modules=modules)
    with pytest.raises(SynapseStartError) as caught:
        synapse.start()
    first_line = str(caught.value).splitlines()[0]
    assert reason in first_line, first_line
