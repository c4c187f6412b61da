"""Room power as Synapse reads it: levels, room-version-12 creators, who may manage widgets."""

from __future__ import annotations

from typing import Any

import pytest

from borough.room_power import (
    RoomPower,
    level,
    moderator_level,
    required_level,
    room_power_defaults,
    user_power_level,
)


def test_power_levels() -> None:
    pl = {"users": {"@mod:x": 50, "@admin:x": 100}, "users_default": 0, "state_default": 50}
    assert user_power_level(pl, "@mod:x") == 50
    assert user_power_level(pl, "@nobody:x") == 0
    assert user_power_level(pl, "@creator:x", frozenset({"@creator:x"})) == 100
    assert moderator_level(pl) == 50
    assert moderator_level({}) == 50
    assert required_level(pl, "im.vector.modular.widgets") == 50
    assert (
        required_level({"events": {"im.vector.modular.widgets": 0}}, "im.vector.modular.widgets")
        == 0
    )
    assert "users" not in room_power_defaults(pl)
    assert room_power_defaults(pl)["state_default"] == 50
    assert room_power_defaults({})["state_default"] == 50


@pytest.mark.parametrize(
    ("value", "expected"), [(75, 75), ("75", 75), ("-1", -1), (None, 9), ("high", 9), ([], 9)]
)
def test_levels_are_read_as_synapse_reads_them(value: object, expected: int) -> None:
    assert level(value, 9) == expected


def create(version: str, **content: Any) -> dict[str, Any]:
    return {
        "type": "m.room.create",
        "state_key": "",
        "sender": "@owner:x",
        "content": {"room_version": version, **content},
    }


LEVELS = {
    "type": "m.room.power_levels",
    "state_key": "",
    "content": {"users": {"@mod:x": 50}, "events": {"im.vector.modular.widgets": 75}},
}


def test_room_version_12_creators_have_unlimited_power() -> None:
    power = RoomPower.from_state(
        [create("12", additional_creators=["@co:x", 7]), LEVELS]  # 7 is not a user id
    )
    assert power.creators == frozenset({"@owner:x", "@co:x"})
    assert power.of("@co:x") == 100
    assert power.may_manage_widgets("@owner:x") and power.is_moderator("@owner:x")


def test_before_version_12_the_creator_is_only_what_the_levels_say() -> None:
    power = RoomPower.from_state([create("11"), LEVELS])
    assert power.creators == frozenset()
    assert power.of("@owner:x") == 0


def test_managing_widgets_needs_both_the_widget_and_the_layout_level() -> None:
    power = RoomPower.from_state([create("11"), LEVELS])
    assert power.widget_level == 75  # the widget event's 75 beats the layout's default 50
    assert power.is_moderator("@mod:x") and not power.may_manage_widgets("@mod:x")
