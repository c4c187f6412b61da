"""Who may see which profile field: one rule, for the bot and the widgets alike.

- `public`: anyone, residents included.
- `partners`: anyone in a named organisation (council staff and partner organisations).
- `staff`: people in the same organisation as the profile's owner.
People always see their own fields; community members see only public ones.

`may_see` decides for one field in Python; `may_see_clause` is the same rule as a SQL
condition, so searches filter in the database and never load what the viewer may not see.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, SQLColumnExpression, and_, or_


@dataclass(frozen=True)
class Viewer:
    user_id: str
    organisation: str | None
    role: str | None

    @property
    def is_community(self) -> bool:
        return self.organisation is None or self.role == "community"


def may_see(viewer: Viewer, owner_id: str, owner_organisation: str | None, visibility: str) -> bool:
    if viewer.user_id == owner_id or visibility == "public":
        return True
    if viewer.is_community:
        return False
    if visibility == "partners":
        return True
    return visibility == "staff" and viewer.organisation == owner_organisation


def may_see_clause(
    viewer: Viewer,
    owner_id: SQLColumnExpression[str],
    owner_organisation: SQLColumnExpression[str | None],
    visibility: SQLColumnExpression[str | None],
) -> ColumnElement[bool]:
    """`may_see` as a SQL condition over the owner's columns, for this viewer."""
    if viewer.is_community:
        return or_(owner_id == viewer.user_id, visibility == "public")
    return or_(
        owner_id == viewer.user_id,
        visibility.in_(("public", "partners")),
        and_(visibility == "staff", owner_organisation == viewer.organisation),
    )
