"""`!widget` against a real Synapse: Element's widget format, its place, power checks, repeats."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest

from borough.events import WIDGET_LAYOUT, WIDGETS
from borough.settings import BotSettings
from tests.conftest import Homeserver
from tests.integration.running_bot import ThreadedBot
from tests.integration.test_meet import MEETING_OPTIONS, PUBLIC_URL, Team

#: Element's theme and language, which every Borough widget URL asks for.
ELEMENT = "&theme=$org.matrix.msc2873.client_theme&lang=$org.matrix.msc2873.client_language"

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def widget_bot(homeserver: Homeserver, app_database_url: str) -> Iterator[ThreadedBot]:
    user_id, token = homeserver.synapse.register_user("widgetbot", secrets.token_hex(8))
    running = ThreadedBot(
        homeserver,
        app_database_url,
        BotSettings(user_id=user_id, access_token=token),
        **MEETING_OPTIONS,
    )
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def team(homeserver: Homeserver, widget_bot: ThreadedBot) -> Team:
    return Team(homeserver, widget_bot)


def test_without_power_the_bot_says_which_level(team: Team) -> None:
    answer = team.alice.ask("!widget people")
    assert "I cannot add widgets here" in answer and "power level 50" in answer


def test_an_ordinary_member_may_not_add_widgets(team: Team) -> None:
    team.set_power(team.bot_id, 50)
    answer = team.carol.ask("!widget people")
    assert "needs power level 50; you have 0" in answer


def test_widget_people_writes_elements_format_and_puts_it_in_the_side_panel(team: Team) -> None:
    team.set_power(team.bot_id, 50)
    answer = team.alice.ask("!widget people")
    assert "Added **People directory**" in answer
    content = team.state(WIDGETS, "borough_people")
    assert content == {
        "type": "m.custom",
        "url": f"{PUBLIC_URL}/widgets/people?room=$matrix_room_id&user=$matrix_user_id{ELEMENT}",
        "name": "People directory",
        "id": "borough_people",
        "creatorUserId": team.bot_id,
        "waitForIframeLoad": True,
        "data": {"title": "People directory"},
    }
    assert "Room info > Extensions" in answer
    layout = team.state(WIDGET_LAYOUT)
    assert layout["widgets"]["borough_people"] == {"container": "right"}

    # Asking again changes nothing: same content, already placed.
    again = team.alice.ask("!widget people")
    assert "Added **People directory**" in again
    assert team.state(WIDGET_LAYOUT) == layout


def test_widget_timeline_of_follows_goes_beside_it_in_the_side_panel(team: Team) -> None:
    team.set_power(team.bot_id, 50)
    team.alice.ask("!widget people")
    answer = team.alice.ask("!widget timeline")
    assert "Added **Timeline**" in answer
    content = team.state(WIDGETS, "borough_timeline")
    assert (
        content["url"]
        == f"{PUBLIC_URL}/widgets/timeline?room=$matrix_room_id&user=$matrix_user_id{ELEMENT}"
    )
    widgets = team.state(WIDGET_LAYOUT)["widgets"]
    assert widgets["borough_timeline"] == widgets["borough_people"] == {"container": "right"}


def test_widget_timeline_of_an_unknown_channel_is_refused(team: Team) -> None:
    team.set_power(team.bot_id, 50)
    answer = team.alice.ask("!widget timeline #nosuch")
    assert "no channel `#nosuch`" in answer


def test_bad_widget_names_get_the_usage(team: Team) -> None:
    answer = team.alice.ask("!widget clock")
    assert "people" in answer and "timeline" in answer
