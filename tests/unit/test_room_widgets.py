"""Borough's room widgets: Element's widget content and where the pin goes."""

from __future__ import annotations

from borough.jitsi import MeetingWidget
from borough.room_widgets import MAX_PINNED, RoomWidget, pinned_layout, unpinned_layout


def test_timeline_widget_names_its_channel_in_id_and_url() -> None:
    widget = RoomWidget("timeline", "#news:council.example")
    assert widget.widget_id == "borough_timeline_news_council_example"
    assert widget.url("https://w.example/") == (
        "https://w.example/widgets/timeline?channel=%23news%3Acouncil.example"
        "&room=$matrix_room_id&user=$matrix_user_id"
    )
    content = widget.content("https://w.example", "@bot:council.example")
    assert content["type"] == "m.custom" and content["id"] == widget.widget_id
    assert content["creatorUserId"] == "@bot:council.example"
    assert content["waitForIframeLoad"] is True


def test_pin_keeps_what_is_there_and_goes_after_it() -> None:
    jitsi = {"container": "top", "index": 0, "width": 100, "height": 40}
    layout = pinned_layout({"widgets": {"jitsi1": jitsi}}, ["borough_people"])
    assert layout is not None
    assert layout["widgets"]["jitsi1"] == jitsi
    assert layout["widgets"]["borough_people"]["container"] == "top"
    assert layout["widgets"]["borough_people"]["index"] == 1


def test_an_admins_placement_stands() -> None:
    current = {"widgets": {"borough_people": {"container": "right"}}}
    assert pinned_layout(current, ["borough_people"]) is None


def test_a_full_top_row_sends_new_widgets_to_the_side() -> None:
    current = {"widgets": {f"w{i}": {"container": "top", "index": i} for i in range(MAX_PINNED)}}
    layout = pinned_layout(current, ["borough_people"])
    assert layout is not None
    assert layout["widgets"]["borough_people"] == {"container": "right"}


def test_pinning_from_nothing() -> None:
    layout = pinned_layout(None, ["borough_people", "borough_timeline"])
    assert layout is not None
    assert [layout["widgets"][w]["index"] for w in ("borough_people", "borough_timeline")] == [0, 1]


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
