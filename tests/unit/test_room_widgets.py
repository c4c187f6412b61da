"""Borough's room widgets: Element's widget content and where in the room's layout they go.

The containers are Element Web's (element-hq/element-web, apps/web/src/stores/widgets/
WidgetLayoutStore.ts): `top` is the pinned row, at most MAX_PINNED, sharing the room's
width; `right` is the side panel, where unpinned widgets open from Room info > Extensions.
"""

from __future__ import annotations

from borough.jitsi import MeetingWidget
from borough.room_widgets import (
    MAX_PINNED,
    RoomWidget,
    pinned_layout,
    side_panel_layout,
    unpinned_layout,
)


def test_timeline_widget_names_its_channel_in_id_and_url() -> None:
    widget = RoomWidget("timeline", "#news:council.example")
    assert widget.widget_id == "borough_timeline_news_council_example"
    assert widget.url("https://w.example/") == (
        "https://w.example/widgets/timeline?channel=%23news%3Acouncil.example"
        "&room=$matrix_room_id&user=$matrix_user_id"
        "&theme=$org.matrix.msc2873.client_theme&lang=$org.matrix.msc2873.client_language"
    )
    content = widget.content("https://w.example", "@bot:council.example")
    assert content["name"] == content["data"]["title"] == "Timeline #news"
    assert content["type"] == "m.custom" and content["id"] == widget.widget_id
    assert content["creatorUserId"] == "@bot:council.example"
    assert content["waitForIframeLoad"] is True


def test_the_directory_and_timelines_go_to_the_side_panel_not_the_top_row() -> None:
    """Pinned, three widgets share the room's width: at 1,440 px the directory's search box
    was cut off. Only a meeting is pinned; Borough's pages wait in the side panel."""
    meeting = {"container": "top", "index": 0, "width": 100, "height": 40}
    ids = [RoomWidget("people").widget_id, RoomWidget("timeline", "#news:c").widget_id]
    layout = side_panel_layout({"widgets": {"jitsi1": meeting}}, ids)
    assert layout is not None
    assert layout["widgets"] == {
        "jitsi1": meeting,
        ids[0]: {"container": "right"},
        ids[1]: {"container": "right"},
    }
    layout = side_panel_layout(None, ids)
    assert layout is not None
    assert [e for e in layout["widgets"].values() if e["container"] == "top"] == []


def test_widgets_borough_pinned_before_move_to_the_side_panel_and_an_admins_pin_stands() -> None:
    """Rooms applied before keep no reminder of who pinned what but the entry's shape: Borough
    wrote width 50, height 40; Element's own layout writes the widths it computed."""
    meeting = {"container": "top", "index": 0, "width": 50, "height": 40}
    current = {
        "widgets": {
            "jitsi1": meeting,
            "borough_people": {"container": "top", "index": 1, "width": 50, "height": 40},
            "borough_timeline": {"container": "top", "index": 2, "width": 33, "height": 40},
        }
    }
    layout = side_panel_layout(current, ["borough_people", "borough_timeline"])
    assert layout is not None
    assert layout["widgets"] == {
        "jitsi1": meeting,  # not one of the widgets asked about
        "borough_people": {"container": "right"},
        "borough_timeline": current["widgets"]["borough_timeline"],
    }
    assert side_panel_layout(layout, ["borough_people", "borough_timeline"]) is None


def test_a_meeting_is_pinned_after_what_is_there() -> None:
    first = {"container": "top", "index": 0, "width": 100, "height": 40}
    layout = pinned_layout({"widgets": {"jitsi1": first}}, ["jitsi2"])
    assert layout is not None
    assert layout["widgets"]["jitsi1"] == first
    assert layout["widgets"]["jitsi2"]["container"] == "top"
    assert layout["widgets"]["jitsi2"]["index"] == 1


def test_an_admins_placement_stands() -> None:
    pinned = {"widgets": {"borough_people": {"container": "top", "index": 0}}}
    assert side_panel_layout(pinned, ["borough_people"]) is None
    moved = {"widgets": {"borough_meet1": {"container": "right"}}}
    assert pinned_layout(moved, ["borough_meet1"]) is None


def test_pinning_from_nothing() -> None:
    layout = pinned_layout(None, ["m1", "m2"])
    assert layout is not None
    assert [layout["widgets"][w]["index"] for w in ("m1", "m2")] == [0, 1]


def test_a_meeting_is_pinned_by_the_same_policy_and_other_layout_keys_stay() -> None:
    """A Jitsi widget follows the one pin policy: the full top row is left alone, the meeting
    goes to the side, and whatever else the layout holds is kept."""
    meeting = MeetingWidget("borough_meet1", "CONF", "meet.example.org", "Stand-up", "Team")
    top = {f"w{i}": {"container": "top", "index": i, "width": 33} for i in range(MAX_PINNED)}
    current = {"widgets": dict(top), "org.example.note": {"kept": True}}
    layout = pinned_layout(current, [meeting.widget_id])
    assert layout is not None
    assert layout["org.example.note"] == {"kept": True}
    assert layout["widgets"][meeting.widget_id] == {"container": "right"}
    assert {k: v for k, v in layout["widgets"].items() if k != meeting.widget_id} == top
    pinned = [e for e in layout["widgets"].values() if e.get("container") == "top"]
    assert len(pinned) == MAX_PINNED


def test_unpinning_takes_out_one_widget_and_keeps_the_rest() -> None:
    current = {
        "widgets": {"meet": {"container": "top", "index": 0}, "side": {"container": "right"}},
        "org.example.note": {"kept": True},
    }
    assert unpinned_layout(current, "meet") == {
        "widgets": {"side": {"container": "right"}},
        "org.example.note": {"kept": True},
    }
    assert unpinned_layout(current, "absent") is None
