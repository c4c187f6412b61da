"""Where a newcomer belongs: pure, from the registry's entries, their username and emails.

A person the chart names is placed by it: apply has made their account and joins them to their
units and rooms, and onboarding makes sure they are in their organisation's space. Otherwise
an organisation's email domain places them in that organisation's space; otherwise they land
in the public community space and its welcome room.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from borough.network import COMMUNITY_ALIASES


@dataclass(frozen=True)
class PlacementRoom:
    """A room to join: a room id, or `#alias` for the public community rooms."""

    room: str
    is_public: bool


@dataclass(frozen=True)
class Placement:
    reason: Literal["people list", "email domain", "community"]
    organisation: str | None
    rooms: tuple[PlacementRoom, ...]


def email_domains(emails: Iterable[str]) -> list[str]:
    """The distinct domains of `emails`, lower case, in order."""
    return list(dict.fromkeys(e.rpartition("@")[2].lower() for e in emails if "@" in e))


def place(
    person: Mapping[str, Any] | None,
    domains: Mapping[str, Mapping[str, Any]],
    server_name: str,
) -> Placement:
    """`person` is the registry's entry for them (None if the chart does not name them);
    `domains` the entries found for their email domains, in the order of their emails."""
    if person is not None:
        space = PlacementRoom(str(person["space"]), is_public=False)
        return Placement("people list", str(person["organisation"]), (space,))
    for entry in domains.values():
        space = PlacementRoom(str(entry["space"]), is_public=False)
        return Placement("email domain", str(entry["organisation"]), (space,))
    community = tuple(PlacementRoom(f"#{a}:{server_name}", True) for a in COMMUNITY_ALIASES)
    return Placement("community", None, community)
