"""A plan cut to one organisation, and who administers what: pure, on the fragments fixture."""

from __future__ import annotations

from pathlib import Path

import pytest

from borough.live import LiveNetwork
from borough.network import desired_network
from borough.operator import (
    NotAnAdmin,
    UnknownOrganisation,
    check_admin,
    organisations_administered,
)
from borough.org.loader import load_org_chart_with_fragments
from bots.admin import is_org_admin
from provisioning.delegation import org_scope
from provisioning.plan import PlanOptions, make_plan

MAIN = Path(__file__).parents[1] / "fixtures" / "fragments" / "main.yaml"
SERVER = "b.test"


def test_a_scoped_plan_holds_only_the_organisations_own_changes() -> None:
    chart, _ = load_org_chart_with_fragments(MAIN)
    desired = desired_network(chart, SERVER, f"@borough:{SERVER}")
    live = LiveNetwork()
    full = make_plan(desired, live, PlanOptions())
    scope = org_scope(chart, desired, live, "fhealth")
    plan = make_plan(desired, live, PlanOptions(), scope=scope)

    assert scope.rooms == {"org/fhealth", "ask/fhealth", "unit/hward", "unit/hward/general"}
    assert scope.people == {f"@hadmin:{SERVER}", f"@hnurse:{SERVER}"}
    targets = {c.target for c in plan.changes}
    assert f"@hnurse:{SERVER}" in targets and "unit/hward/general" in targets
    assert not any("fadmin" in t or "fstaff" in t or "fdir" in t for t in targets)
    # hnurse joins the shared partnership room: their own membership, so in scope.
    assert any(c.detail == "join partnership/fcare/general" for c in plan.changes)
    outside = len(full.changes) - len(plan.changes)
    assert outside > 0
    assert plan.warnings[-1] == (
        f"{outside} changes outside 'fhealth' left for the admins of the main org file"
    )


def test_who_administers_what() -> None:
    chart, _ = load_org_chart_with_fragments(MAIN)
    assert organisations_administered(chart, f"@hadmin:{SERVER}", SERVER) == ["fhealth"]
    check_admin(chart, "fhealth", f"@hadmin:{SERVER}", SERVER)
    with pytest.raises(NotAnAdmin, match="is not an admin of 'fcouncil'; you administer fhealth"):
        check_admin(chart, "fcouncil", f"@hadmin:{SERVER}", SERVER)
    with pytest.raises(UnknownOrganisation, match="no organisation 'nhs'"):
        check_admin(chart, "nhs", f"@hadmin:{SERVER}", SERVER)


@pytest.mark.parametrize(
    ("levels", "is_admin"),
    [
        ({"users": {"@a:s": 100}}, True),
        ({"users": {"@a:s": 50}}, False),
        ({"users": {}}, False),
        (None, False),
        ({"users": {"@a:s": "100"}}, False),
    ],
)
def test_org_admin_is_power_100_in_the_org_space(levels: dict | None, is_admin: bool) -> None:
    assert is_org_admin(levels, "@a:s") is is_admin
