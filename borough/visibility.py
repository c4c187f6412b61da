"""Who may see which profile field: pure, so the bot and the widgets answer alike.

- `public`: anyone, residents included.
- `partners`: anyone in a named organisation (council staff and partner organisations).
- `staff`: people in the same organisation as the profile's owner.
People always see their own fields; community members see only public ones.
"""

from __future__ import annotations

from dataclasses import dataclass


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
