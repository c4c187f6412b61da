"""The org chart's pure parts: the tree of units from the units table, and a whole unit
built from the rows of everyone in it."""

from __future__ import annotations

from typing import NamedTuple

from borough.orgchart import UnitRef, units_from_rows, whole_unit

UNITS = units_from_rows(
    [
        ("dir", "Directorate", "council", None),
        ("voids", "Voids", "council", "housing"),
        ("housing", "Housing", "council", "dir"),
        ("help", "Early Help", "council", "dir"),
        ("stray", "Stray", "council", "gone"),  # its parent is no longer in the chart
    ]
)


class Row(NamedTuple):
    user_id: str
    display_name: str
    job_title: str | None
    role: str
    units_text: str


def test_units_are_a_tree_in_name_order() -> None:
    assert UNITS.children[None] == ("dir", "stray")
    assert UNITS.children["dir"] == ("help", "housing")  # Early Help before Housing
    assert sorted(UNITS.subtree("dir")) == ["dir", "help", "housing", "voids"]
    assert UNITS.path("voids") == (UnitRef("dir", "Directorate"), UnitRef("housing", "Housing"))
    assert UNITS.path("stray") == ()


def test_a_whole_unit_counts_each_person_once_and_puts_managers_first() -> None:
    rows = [
        Row("@a:hs", "Ann", None, "staff", "\nhousing\nvoids\n"),  # in two teams
        Row("@b:hs", "Bea", "Head of Housing", "manager", "\nhousing\n"),
        Row("@c:hs", "Cal", None, "senior_manager", "\ndir\n"),
        Row("@d:hs", "Dee", None, "staff", "\nvoids\n"),
        Row("@e:hs", "Eve", None, "staff", "\nelsewhere\nhelp\n"),
    ]
    unit = whole_unit(UNITS, "dir", rows)
    assert (unit.total, unit.people_count, unit.team_count) == (5, 0, 2)
    assert [p.display_name for p in unit.managers] == ["Cal"]
    help_, housing = unit.teams or ()
    assert (help_.key, help_.total, [p.display_name for p in help_.people or ()]) == (
        "help",
        1,
        ["Eve"],
    )
    assert housing.total == 3  # Ann once, though she is in Housing and in Voids
    assert [p.display_name for p in housing.managers] == ["Bea"]
    assert [p.display_name for p in housing.people or ()] == ["Ann"]
    (voids,) = housing.teams or ()
    assert [p.display_name for p in voids.people or ()] == ["Ann", "Dee"]
