"""Standing meetings: `apply` gives team rooms their Jitsi widget; a second plan changes nothing."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import pytest

from borough.jitsi import STANDING_WIDGET_ID, room_conference_id
from tests.conftest import Homeserver, HttpError, borough, write_settings

pytestmark = pytest.mark.integration

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml"


@pytest.fixture(scope="module")
def settings(
    homeserver: Homeserver, app_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    return write_settings(
        tmp_path_factory.mktemp("standing") / "borough.yaml",
        homeserver,
        app_database_url,
        jitsi={"domain": "meet.test", "auth": "openidtoken-jwt"},
    )


@pytest.fixture(scope="module")
def applied(settings: Path) -> Path:
    result = borough("apply", "-q", str(ORG_FILE), settings=settings)
    assert result.exit_code == 0, result.output
    return settings


def test_team_rooms_get_the_standing_meeting_widget(homeserver: Homeserver, applied: Path) -> None:
    room_id = homeserver.room_id("tteam-team")
    widget = homeserver.state(room_id, "im.vector.modular.widgets", STANDING_WIDGET_ID)
    conference = room_conference_id(room_id)
    assert widget["type"] == "jitsi"
    assert widget["name"] == "Test Team team room standing meeting"
    assert widget["data"] == {
        "conferenceId": conference,
        "roomName": "Test Team team room",
        "isAudioOnly": False,
        "isVideoChannel": False,
        "domain": "meet.test",
        "auth": "openidtoken-jwt",
    }
    assert f"?confId={conference}#conferenceDomain=$domain" in widget["url"]


def test_rooms_without_a_standing_meeting_have_no_widget(
    homeserver: Homeserver, applied: Path
) -> None:
    room_id = homeserver.room_id("tteam-general")
    with pytest.raises(HttpError) as error:
        homeserver.state(room_id, "im.vector.modular.widgets", STANDING_WIDGET_ID)
    assert error.value.status == 404


def test_a_second_plan_changes_nothing_and_a_removed_widget_comes_back(
    homeserver: Homeserver, applied: Path
) -> None:
    plan = borough("plan", str(ORG_FILE), settings=applied)
    assert "No changes." in plan.output, plan.output
    room_id = homeserver.room_id("tteam-team")
    path = (
        f"/_matrix/client/v3/rooms/{quote(room_id)}/state/"
        f"im.vector.modular.widgets/{STANDING_WIDGET_ID}"
    )
    homeserver.admin("PUT", path, {})
    plan = borough("plan", str(ORG_FILE), settings=applied)
    assert "im.vector.modular.widgets" in plan.output, plan.output
    assert borough("apply", "-q", str(ORG_FILE), settings=applied).exit_code == 0
    assert "No changes." in borough("plan", str(ORG_FILE), settings=applied).output
