"""The org chart's queries (`borough.orgchart`) on both database backends, held to the chart
worked out plainly in Python from the same random people: whole and collapsed, a unit's
people by page, an organisation's tree, and who may see any of it."""

# The fixtures below are imported from their own modules, and named again where used.
# ruff: noqa: F811
from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import orgchart
from borough.db import (
    OrganisationRow,
    PartnershipRow,
    Profile,
    UnitRow,
    create_engine,
    migrate,
    session_factory,
)
from borough.directory import DirectoryError
from borough.orgchart import ChartUnit
from borough.visibility import Viewer
from tests.integration.test_directory_backends import database_url  # noqa: F401

#: key → (name, parent); all in the council but `beat` (police).
UNITS = {
    "dir": ("Directorate of People", None),
    "housing": ("Housing", "dir"),
    "voids": ("Void Properties", "housing"),
    "tenancy": ("Tenancy Support", "housing"),
    "help": ("Early Help", "dir"),
    "beat": ("Neighbourhood Beat", None),
}
STAFF = Viewer("@p001:hs", "council", "staff")
PARTNER = Viewer("@cop:hs", "police", "partner")
RESIDENT = Viewer("@res:hs", None, None)


def _people(rng: random.Random) -> list[Profile]:
    people = []
    for n in range(160):
        org = "police" if n % 10 == 0 else "council"
        units = ["beat"] if org == "police" else rng.sample(list(UNITS)[:5], rng.choice((1, 1, 2)))
        people.append(
            Profile(
                user_id=f"@p{n:03d}:hs",
                username=f"p{n:03d}",
                display_name=f"{rng.choice(('Ana', 'Ben', 'Émile', 'Lee'))} Person{n:03d}",
                organisation=org,
                units=units,
                role=rng.choice(("staff",) * 6 + ("manager", "senior_manager")),
                job_title=rng.choice((None, "Officer", "Lead")),
                is_managed=True,
                # Someone who left is in no chart.
                left_at=datetime(2026, 1, 1, tzinfo=UTC) if n % 37 == 5 else None,
                fields=[],
            )
        )
    return people


@pytest.fixture(scope="module")
async def data(database_url: str) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], Any]]:
    await migrate(database_url)
    engine = create_engine(database_url)
    factory = session_factory(engine)
    people = _people(random.Random(17))
    async with factory.begin() as session:
        session.add_all(
            [
                OrganisationRow(key="council", name="Borough Council"),
                OrganisationRow(key="police", name="Borough Police"),
                *(
                    UnitRow(
                        key=key,
                        name=name,
                        organisation="police" if key == "beat" else "council",
                        parent=parent,
                    )
                    for key, (name, parent) in UNITS.items()
                ),
                *people,
                PartnershipRow(
                    key="estate",
                    name="Safer Estate",
                    description=None,
                    organisations=["police"],
                    units=["housing", "gone"],  # a unit since taken out of the chart
                    people=["@p001:hs", "@p002:hs", "@nobody:hs"],
                    leads=["@p002:hs"],
                ),
            ]
        )
    try:
        yield factory, [p for p in people if p.left_at is None]
    finally:
        await engine.dispose()


def _below(key: str) -> set[str]:
    found = {key}
    for child, (_, parent) in UNITS.items():
        if parent == key:
            found |= _below(child)
    return found


def _in(people: list[Any], keys: set[str]) -> list[Any]:
    return [p for p in people if keys & set(p.units)]


def _names(people: Any) -> list[str]:
    return [p.display_name for p in people]


def _managing(p: Any) -> bool:
    return bool(p.role in ("manager", "senior_manager"))


def _expected_whole(people: list[Any], key: str) -> dict[str, Any]:
    own = _in(people, {key})
    teams = sorted(
        (k for k, (_, parent) in UNITS.items() if parent == key), key=lambda k: UNITS[k][0]
    )
    return {
        "key": key,
        "total": len(_in(people, _below(key))),
        "managers": sorted(
            (p.display_name for p in own if _managing(p)),
        ),
        "people": sorted(p.display_name for p in own if not _managing(p)),
        "teams": [_expected_whole(people, team) for team in teams],
    }


def _shape(unit: ChartUnit) -> dict[str, Any]:
    return {
        "key": unit.key,
        "total": unit.total,
        "managers": sorted(_names(unit.managers)),
        "people": sorted(_names(unit.people or ())),
        "teams": [_shape(team) for team in unit.teams or ()],
    }


async def test_a_small_unit_comes_whole_with_every_team_open(data: Any) -> None:
    sessions, people = data
    async with sessions() as session:
        chart = await orgchart.unit_chart(session, STAFF, "dir")
    assert _shape(chart.unit) == _expected_whole(people, "dir")
    assert chart.organisation == orgchart.UnitRef("council", "Borough Council")
    assert chart.path == ()
    assert all(team.people is not None for team in chart.unit.teams or ())
    # Senior managers first, then by name.
    own = {p.display_name: p for p in _in(people, {"dir"})}
    order = [(own[n].role != "senior_manager", n.casefold()) for n in _names(chart.unit.managers)]
    assert order == sorted(order) and len(order) >= 2


async def test_a_large_unit_collapses_to_counts_and_managers(data: Any) -> None:
    sessions, people = data
    async with sessions() as session:
        chart = await orgchart.unit_chart(session, PARTNER, "housing", expanded=10, direct_page=5)
    unit = chart.unit
    own = _in(people, {"housing"})
    assert unit.total == len(_in(people, _below("housing")))
    assert sorted(_names(unit.managers)) == sorted(p.display_name for p in own if _managing(p))
    assert unit.people is None  # more than 5: counted, read by page
    assert unit.people_count == len([p for p in own if not _managing(p)])
    assert [t.key for t in unit.teams or ()] == ["tenancy", "voids"]
    for team in unit.teams or ():
        assert team.people is None and team.teams is None
        assert team.total == len(_in(people, _below(team.key)))
        heads = sorted(
            (p for p in _in(people, {team.key}) if _managing(p)),
            key=lambda p: (p.role != "senior_manager", p.display_name.casefold()),
        )
        assert _names(team.managers) == _names(heads[: orgchart.CARD_MANAGERS])
    assert chart.path == (orgchart.UnitRef("dir", "Directorate of People"),)

    async with sessions() as session:
        first = await orgchart.unit_people(session, STAFF, "housing", 1, page_size=5)
        everyone = []
        for page in range(1, 100):
            found = await orgchart.unit_people(session, STAFF, "housing", page, page_size=5)
            everyone += _names(found.people)
            if not found.has_more:
                break
    assert first.total == unit.people_count and len(first.people) == 5
    assert sorted(everyone) == sorted(p.display_name for p in own if not _managing(p))


async def test_the_organisation_tree_counts_each_person_once(data: Any) -> None:
    sessions, people = data
    async with sessions() as session:
        tree = await orgchart.organisation_tree(session, PARTNER, "council")
    assert tree.name == "Borough Council"
    assert tree.total == len([p for p in people if p.organisation == "council"])
    (top,) = tree.units
    assert (top.key, top.total) == ("dir", len(_in(people, _below("dir"))))
    assert [(u.key, u.total) for u in top.units] == [
        ("help", len(_in(people, {"help"}))),
        ("housing", len(_in(people, _below("housing")))),
    ]
    housing = top.units[1]
    assert [u.key for u in housing.units] == ["tenancy", "voids"]


async def test_residents_may_not_open_charts_and_unknown_keys_are_named(data: Any) -> None:
    sessions, _ = data
    async with sessions() as session:
        for call in (
            orgchart.unit_chart(session, RESIDENT, "dir"),
            orgchart.unit_people(session, RESIDENT, "dir", 1),
            orgchart.organisation_tree(session, RESIDENT, "council"),
        ):
            with pytest.raises(DirectoryError, match="staff and partner"):
                await call
        with pytest.raises(DirectoryError, match="no unit `nowhere`"):
            await orgchart.unit_chart(session, STAFF, "nowhere")
        with pytest.raises(DirectoryError, match="no organisation `nowhere`"):
            await orgchart.organisation_tree(session, STAFF, "nowhere")
        # A key is a key whatever its case.
        assert (await orgchart.unit_chart(session, STAFF, "VOIDS")).unit.key == "voids"


async def test_a_partnership_counts_everyone_it_reaches_once(data: Any) -> None:
    sessions, people = data
    async with sessions() as session:
        shown = await orgchart.partnership(session, STAFF, "estate")
    police = [p for p in people if p.organisation == "police"]
    housing = _in(people, _below("housing"))
    named = [p for p in people if p.user_id in ("@p001:hs", "@p002:hs")]
    reached = {p.user_id for p in [*police, *housing, *named]}
    assert shown.total == len(reached)
    assert shown.organisations == (
        orgchart.JoinedOrganisation("police", "Borough Police", len(police)),
    )
    assert shown.units == (
        orgchart.JoinedUnit("housing", "Housing", "Borough Council", len(housing)),
    )
    by_id = {p.user_id: p.display_name for p in people}
    assert [p.display_name for p in shown.leads] == [by_id["@p002:hs"]]
    assert [p.display_name for p in shown.people] == [by_id["@p001:hs"]]
    async with sessions() as session:
        with pytest.raises(DirectoryError, match="staff and partner"):
            await orgchart.partnership(session, RESIDENT, "estate")
        with pytest.raises(DirectoryError, match="no partnership `nowhere`"):
            await orgchart.partnership(session, PARTNER, "nowhere")
