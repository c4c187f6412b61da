"""Where a newcomer belongs: pure, from the org chart, their username and their emails.

A person in the chart's people list is placed by it; otherwise an email domain of an
organisation places them in that organisation's space; otherwise they land in the
public community space and its welcome room.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from borough.network import COMMUNITY_SPACE, COMMUNITY_WELCOME, DesiredNetwork


@dataclass(frozen=True)
class PlacementRoom:
    key: str
    alias: str
    is_public: bool


@dataclass(frozen=True)
class Placement:
    reason: Literal["people list", "email domain", "community"]
    organisation: str | None
    display_name: str | None
    rooms: tuple[PlacementRoom, ...]


def place(
    network: DesiredNetwork,
    email_domains: dict[str, str],
    user_id: str,
    emails: Iterable[str],
) -> Placement:
    """`email_domains` maps a domain (lower case) to an organisation key."""

    def rooms(keys: Iterable[str]) -> tuple[PlacementRoom, ...]:
        chosen = sorted((network.rooms[k] for k in keys), key=lambda r: (r.depth, r.key))
        return tuple(PlacementRoom(r.key, r.alias, r.join_rule == "public") for r in chosen)

    person = network.people.get(user_id)
    if person is not None:
        keys = [k for k, room in network.rooms.items() if user_id in room.members]
        return Placement("people list", person.organisation, person.display_name, rooms(keys))
    for email in emails:
        domain = email.rpartition("@")[2].lower()
        organisation = email_domains.get(domain)
        if organisation is not None:
            return Placement("email domain", organisation, None, rooms([f"org/{organisation}"]))
    return Placement("community", None, None, rooms([COMMUNITY_SPACE, COMMUNITY_WELCOME]))
