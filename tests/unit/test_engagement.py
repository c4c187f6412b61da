"""Engagement arithmetic on plain data: attribution, cross-organisation counting, weeks."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from management.engagement import (
    Activity,
    CircleWeek,
    Interaction,
    MeetingFact,
    Network,
    Scope,
    engagement,
    select_rows,
    virtuous_circle,
    weekly_activity,
    weeks_between,
)

ANN, BOB, CAT, DAN = "@ann:x", "@bob:x", "@cat:x", "@dan:x"
MON = date(2026, 11, 16)  # a Monday
NEXT_WED = date(2026, 11, 25)

NETWORK = Network(
    person_org={ANN: "council", BOB: "council", CAT: "police", DAN: "police"},
    person_units={ANN: ("team",), BOB: ("dir",), CAT: ("beat",), DAN: ("beat",)},
    unit_parent={"dir": None, "team": "dir", "beat": None},
    unit_org={"dir": "council", "team": "council", "beat": "police"},
    room_partnership={"!pspace": "p", "!pchan": "p", "!pgen": "p"},
    room_channel={"!news": "news", "!pchan": "bulletin"},
    channel_owner={"news": ("unit", "dir"), "bulletin": ("partnership", "p")},
    partnership_orgs={"p": frozenset({"council", "police"})},
    names={Scope("organisation", "council"): "The Council"},
)


ACTIVITIES = [
    Activity("!news", ANN, "post", 2),
    Activity("!news", BOB, "reply", 1),
    Activity("!news", CAT, "reaction", 1),  # police reacting in a council channel
    Activity("!pchan", ANN, "post", 1),
    Activity("!pchan", CAT, "reply", 1),
    Activity("!pchan", BOB, "reaction", 1),
    Activity("!pchan", DAN, "reaction", 3),
]
# The same activity by week and organisations, as the database groups it.
INTERACTIONS = [
    Interaction("!news", MON, "post", "council", None, 2),
    Interaction("!news", MON, "reply", "council", "council", 1),
    Interaction("!news", MON, "reaction", "police", "council", 1),
    Interaction("!pchan", MON, "post", "council", None, 1),
    Interaction("!pchan", MON, "reply", "police", "council", 1),  # crosses
    Interaction("!pchan", MON, "reaction", "council", "council", 1),  # same organisation
    Interaction("!pchan", NEXT_WED, "reaction", "police", "council", 3),  # crosses, next week
]
MEETINGS = [
    MeetingFact(1, "!pgen", datetime(2026, 11, 17, 10, tzinfo=UTC), 30.0, frozenset({ANN, CAT})),
    MeetingFact(2, "!teamroom", datetime(2026, 11, 24, 9, tzinfo=UTC), 45.4, frozenset({ANN, BOB})),
    MeetingFact(3, "!pgen", datetime(2026, 11, 24, 9, tzinfo=UTC), 10.0, frozenset({CAT, DAN})),
]


def rows_by_scope() -> dict[Scope, tuple[int, ...]]:
    rows = engagement(
        NETWORK, ACTIVITIES, MEETINGS, new_accounts=[DAN], room_joins={"!pspace": [CAT]}
    )
    return {
        r.scope: (
            r.active_people,
            r.posts,
            r.replies,
            r.reactions,
            r.meetings,
            r.meeting_minutes,
            r.new_joiners,
        )
        for r in rows
    }


def test_organisations_and_units_count_their_people_anywhere() -> None:
    rows = rows_by_scope()
    #                                       active posts replies reactions meetings minutes new
    assert rows[Scope("organisation", "council")] == (2, 3, 1, 1, 2, 75, 0)
    assert rows[Scope("organisation", "police")] == (2, 0, 1, 4, 2, 40, 1)
    # A unit includes its sub-units: Ann (team) counts in the directorate too.
    assert rows[Scope("unit", "team")] == (1, 3, 0, 0, 2, 75, 0)
    assert rows[Scope("unit", "dir")] == (2, 3, 1, 1, 2, 75, 0)


def test_partnerships_and_channels_count_what_happened_in_their_rooms() -> None:
    rows = rows_by_scope()
    assert rows[Scope("partnership", "p")] == (4, 1, 1, 4, 2, 40, 1)
    assert rows[Scope("channel", "bulletin")] == (4, 1, 1, 4, 0, 0, 0)
    assert rows[Scope("channel", "news")] == (3, 2, 1, 1, 0, 0, 0)


def test_every_scope_has_a_row_even_when_idle_and_names_fall_back_to_keys() -> None:
    idle = engagement(NETWORK, [], [])
    assert [(r.scope.kind, r.scope.key) for r in idle] == [
        ("organisation", "council"),
        ("organisation", "police"),
        ("unit", "beat"),
        ("unit", "dir"),
        ("unit", "team"),
        ("partnership", "p"),
        ("channel", "bulletin"),
        ("channel", "news"),
    ]
    assert all(r.active_people == r.posts == r.meetings == 0 for r in idle)
    assert idle[0].name == "The Council" and idle[1].name == "police"


def test_virtuous_circle_counts_only_crossings_inside_partnerships_week_by_week() -> None:
    weeks = virtuous_circle(NETWORK, INTERACTIONS, MEETINGS, MON, NEXT_WED)
    assert weeks == [
        CircleWeek(MON, "p", replies=1, reactions=0, meetings=1, interactions=3),
        CircleWeek(date(2026, 11, 23), "p", replies=0, reactions=3, meetings=0, interactions=4),
    ]
    assert weeks[0].crossing == 2 and weeks[0].share == pytest.approx(2 / 3)
    # Meeting 3 was police-only: an interaction, not a crossing.


def test_a_person_without_an_organisation_never_counts_as_crossing() -> None:
    stranger = [Interaction("!pchan", MON, "reply", None, "council", 1)]
    [week] = virtuous_circle(NETWORK, stranger, [], MON, MON)
    assert (week.replies, week.interactions) == (0, 1)


def test_select_rows_by_organisation_and_by_unit() -> None:
    rows = engagement(NETWORK, ACTIVITIES, MEETINGS)
    police = {
        (r.scope.kind, r.scope.key) for r in select_rows(rows, NETWORK, organisation="police")
    }
    assert police == {
        ("organisation", "police"),
        ("unit", "beat"),
        ("partnership", "p"),
        ("channel", "bulletin"),
    }
    directorate = {(r.scope.kind, r.scope.key) for r in select_rows(rows, NETWORK, unit="dir")}
    assert directorate == {("unit", "dir"), ("unit", "team"), ("channel", "news")}


def test_weeks_and_weekly_activity() -> None:
    assert weeks_between(date(2026, 11, 18), date(2026, 12, 1)) == [
        MON,
        date(2026, 11, 23),
        date(2026, 11, 30),
    ]
    weekly = dict(weekly_activity(INTERACTIONS, MEETINGS, MON, NEXT_WED))
    assert weekly[MON] == {"post": 3, "reply": 2, "reaction": 2, "meeting": 1}
    assert weekly[date(2026, 11, 23)] == {"post": 0, "reply": 0, "reaction": 3, "meeting": 2}
