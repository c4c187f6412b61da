"""The SCIM mapping file: validated at its lines, and a user mapped to person fields with
what it could not map reported, never guessed."""

from __future__ import annotations

from pathlib import Path

import pytest

from borough.yamlsource import SourceError
from widgets.scim_mapping import load_scim_mapping, person_values

REPO = Path(__file__).parents[2]
ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


def test_the_example_mapping_loads() -> None:
    mapping = load_scim_mapping(REPO / "config" / "scim-mapping.example.yaml")
    assert mapping.departments["Emergency Medicine"] == "nhs-ed"


def test_a_bad_mapping_names_each_problem_at_its_place(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("attributes:\n  usrname: userName\nroles:\n  Admins: boss\n")
    with pytest.raises(SourceError) as caught:
        load_scim_mapping(path)
    text = caught.value.render()
    assert (
        "m.yaml:2:3" in text and "unknown person field 'usrname' — did you mean 'username'?" in text
    )
    assert "map an attribute to 'display_name'" in text
    assert "m.yaml:4" in text and "boss" in text


def test_a_user_becomes_person_fields(tmp_path: Path) -> None:
    path = tmp_path / "m.yaml"
    path.write_text(
        "attributes: {username: userName, display_name: displayName, manager: m}\n"
        "departments: {ED: hed}\ngroups: {Nurses: hward}\nroles: {Leads: manager, Execs: senior_manager}\n"
        "admin_groups: [Admins]\n"
    )
    mapping = load_scim_mapping(path)
    attributes = {
        "userName": "Ann.Smith@nhs.example.org",
        "displayName": "Ann Smith",
        "m": "42",
        f"{ENTERPRISE}:department": "Accident",
    }
    mapped = person_values(
        mapping,
        attributes.get,
        ["Nurses", "Leads", "Execs", "Admins", "Chess club"],
        lambda ref: None,
    )
    assert mapped.values == {
        "username": "ann.smith",
        "display_name": "Ann Smith",
        "units": "hward",
        "role": "senior_manager",
        "admin": "yes",
    }
    assert mapped.notes == [
        "manager '42' is not a user this provider has sent",
        "department 'Accident' is not in the mapping's departments",
        "group 'Chess club' is not in the mapping",
    ]
    assert mapped.is_admin
    nobody = person_values(mapping, {"userName": "x@y.org"}.get, [], lambda ref: "boss")
    assert nobody.values == {
        "username": "x",
        "display_name": "x",
        "units": "",
        "role": "staff",
        "admin": "no",
    }
    assert nobody.notes == ["no displayName or name: the username stands in for the name"]
