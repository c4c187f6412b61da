"""An organisation's SCIM mapping, as data: which SCIM attribute fills which person field,
which departments and groups mean which units, which groups give which role, and which give
the organisation's admin role.

`person_values` turns one SCIM User (and the groups it is in) into the person fields that
the people import (`borough.people_import`) reads, with what could not be mapped. Nothing
unknown is guessed: a department or group the mapping does not name is a note, not a unit.
Pure: the mapping and the resources in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from borough.org.model import Role
from borough.people_import import ADMIN, PROFILE_FIELDS, HrMapping, load_field_mapping

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
#: Person fields a SCIM attribute can fill; units and role come from departments and groups.
ATTRIBUTE_FIELDS = ("username", "display_name", "email", "job_title", "manager", *PROFILE_FIELDS)
#: What the people import calls a list's separator; no unit key holds it.
SEPARATOR = ";"


class ScimMapping(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    attributes: dict[str, str] = Field(description="person field: SCIM attribute path")
    departments: dict[str, str] = Field(
        default_factory=dict, description="enterprise department value: unit key"
    )
    groups: dict[str, str] = Field(
        default_factory=dict, description="group displayName: unit key its members belong to"
    )
    roles: dict[str, Role] = Field(
        default_factory=dict, description="group displayName: Borough role of its members"
    )
    admin_groups: tuple[str, ...] = Field(
        default=(),
        description="groups whose members are the organisation's admins, in its fragment's "
        "'admins:' (when the main file sets fragment_may_add_admins on the organisation)",
    )
    default_role: Role = "staff"

    @property
    def maps_units(self) -> bool:
        return bool(self.departments or self.groups)

    def as_import(self) -> HrMapping:
        """The people import's mapping for the fields `person_values` gives: one column per
        field, named after it, and every missing person kept (SCIM's leavers are explicit)."""
        columns = {name: name for name in self.attributes}
        if self.maps_units:
            columns["units"] = "units"
        if self.roles:
            columns["role"] = "role"
        if self.admin_groups:
            columns[ADMIN] = ADMIN
        return HrMapping(
            columns=columns, default_role=self.default_role, separator=SEPARATOR, leavers="keep"
        )


def load_scim_mapping(path: Path | str) -> ScimMapping:
    """The mapping file, validated; `SourceError` lists every problem at its file:line:col."""
    return load_field_mapping(
        path,
        ScimMapping,
        "attributes",
        ATTRIBUTE_FIELDS,
        source="SCIM attribute",
        one="an attribute",
        value="path",
        note="; units and role come from 'departments', 'groups' and 'roles'",
    )


@dataclass
class MappedPerson:
    """A SCIM User as person fields (the people import's row values), and what was not
    mapped, in words for the organisation's admins."""

    values: dict[str, str]
    notes: list[str] = field(default_factory=list)
    is_admin: bool = False


def username_of(value: str) -> str:
    """A user principal name (`ann.smith@nhs.example`) gives its local part; Borough
    usernames are lower-case."""
    return value.partition("@")[0].strip().lower()


def person_values(
    mapping: ScimMapping,
    read: Callable[[str], Any],
    groups: Iterable[str],
    manager_username: Callable[[str], str | None],
) -> MappedPerson:
    """`read(path)` gives a SCIM attribute's value (a list for a multi-valued one); `groups`
    are the displayNames of the groups the user is in; `manager_username(id)` gives the
    username of the User with that SCIM id in the same organisation, or None."""
    person = MappedPerson({})
    for name, path in mapping.attributes.items():
        value = read(path)
        if isinstance(value, list):
            value = next((v for v in value if v not in (None, "")), None)
        if value is None or str(value).strip() == "":
            continue
        text = str(value).strip()
        if name == "username":
            text = username_of(text)
        elif name == "manager":
            found = manager_username(text)
            if found is None:
                person.notes.append(f"manager '{text}' is not a user this provider has sent")
                continue
            text = found
        person.values[name] = text
    if "display_name" not in person.values and "username" in person.values:
        # displayName is optional in SCIM, a name is not in the chart: the user's own name
        # parts, else the username, stand in (and the latter is said).
        formatted = read("name.formatted")
        parts = (read("name.givenName"), read("name.familyName"))
        name = (formatted if isinstance(formatted, str) else "").strip() or " ".join(
            part.strip() for part in parts if isinstance(part, str) and part.strip()
        )
        if not name:
            name = person.values["username"]
            person.notes.append("no displayName or name: the username stands in for the name")
        person.values["display_name"] = name
    group_names = sorted(set(groups))
    if mapping.maps_units:
        units: list[str] = []
        department = read(f"{ENTERPRISE}:department")
        if isinstance(department, str) and department.strip():
            unit = mapping.departments.get(department.strip())
            if unit is None:
                person.notes.append(
                    f"department '{department.strip()}' is not in the mapping's departments"
                )
            else:
                units.append(unit)
        for group in group_names:
            if group in mapping.groups:
                units.append(mapping.groups[group])
            elif group not in mapping.roles and group not in mapping.admin_groups:
                person.notes.append(f"group '{group}' is not in the mapping")
        person.values["units"] = SEPARATOR.join(dict.fromkeys(units))
    if mapping.roles:
        roles = [mapping.roles[g] for g in group_names if g in mapping.roles]
        person.values["role"] = _highest(roles) if roles else mapping.default_role
    person.is_admin = any(g in mapping.admin_groups for g in group_names)
    if mapping.admin_groups:
        person.values[ADMIN] = "yes" if person.is_admin else "no"
    return person


#: Borough's roles, most senior first: a person in several role groups takes the highest.
_SENIORITY = ("senior_manager", "manager", "staff", "partner", "community")


def _highest(roles: Sequence[str]) -> str:
    return min(roles, key=_SENIORITY.index)
