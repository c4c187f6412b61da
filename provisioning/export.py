"""Rebuild org YAML from what is live: managed spaces and rooms, and the profile rows.

Round trip: applying the export of a network plans zero changes against that network.
Poster roles come back as the people they resolved to.
"""

from __future__ import annotations

import math
from typing import Any

from borough import events
from borough.live import LiveNetwork, LiveRoom
from borough.network import COMMUNITY_SPACE, COMMUNITY_WELCOME, chart_topic


def export_org_chart(live: LiveNetwork, server_name: str, service_user: str) -> dict[str, Any]:
    rooms = {k: r for k, r in live.rooms.items() if not r.is_retired}
    by_id = {r.room_id: r for r in rooms.values()}
    suffix = f":{server_name}"

    def username(user_id: str) -> str:
        return user_id[1:].removesuffix(suffix)

    def name(room: LiveRoom) -> str:
        return str((room.content("m.room.name") or {}).get("name", room.key))

    def parent_key(room: LiveRoom) -> str | None:
        parents = [p for p in live.parents(room) if p.room_id in by_id]
        return parents[0].key if parents else None

    def templates_under(key: str) -> list[str]:
        return sorted(k.rsplit("/", 1)[1] for k in rooms if k.startswith(key + "/"))

    def holding(room: LiveRoom, lowest: int, below: float = math.inf) -> list[str]:
        users = (room.content("m.room.power_levels") or {}).get("users", {})
        return sorted(
            username(u)
            for u, level in users.items()
            if lowest <= level < below and u != service_user
        )

    def admins(room: LiveRoom) -> list[str]:
        return holding(room, events.ADMIN)

    templates: dict[str, Any] = {}
    for room in rooms.values():
        template = (room.content(events.MANAGED) or {}).get("template")
        if template:
            templates[template["name"]] = template["definition"]

    chart: dict[str, Any] = {"version": 1, "organisations": [], "units": []}
    for key, room in sorted(rooms.items()):
        kind, _, rest = key.partition("/")
        meta = room.content(events.MANAGED) or {}
        if kind == "org":
            org = meta.get("organisation", {})
            chart["organisations"].append(
                {
                    "key": rest,
                    "name": name(room),
                    "kind": org.get("kind", "other"),
                    "email_domains": org.get("email_domains", []),
                    "admins": admins(room),
                }
            )
    units = sorted((k, r) for k, r in rooms.items() if k.startswith("unit/") and k.count("/") == 1)
    for key, room in units:
        parent = parent_key(room) or ""
        unit: dict[str, Any] = {"key": key.split("/", 1)[1], "name": name(room)}
        if parent.startswith("org/"):
            unit["organisation"] = parent.split("/", 1)[1]
        else:
            unit["parent"] = parent.split("/", 1)[1]
        unit["rooms"] = templates_under(key)
        chart["units"].append(unit)
    chart["people"] = [
        _person(row, username)
        for _, row in sorted(live.profiles.items())
        if row.is_managed and row.left_at is None
    ]
    chart["partnerships"] = []
    for key, room in sorted(rooms.items()):
        if key.startswith("partnership/") and key.count("/") == 1:
            # The leads are the partnership space's moderators (partner admins hold 100).
            entry: dict[str, Any] = {"key": key.split("/", 1)[1], "name": name(room)}
            recorded = live.partnerships.get(entry["key"])
            if recorded is not None:
                # What apply last wrote: the organisations and units it joins, as the chart
                # said them, not the members they came to.
                leads = sorted(username(u) for u in recorded.leads)
                entry["organisations"] = list(recorded.organisations)
                entry["units"] = list(recorded.units)
                entry["people"] = sorted(
                    username(u) for u in recorded.people if u not in recorded.leads
                )
            else:
                # Applied before partnerships were recorded: its members, each named.
                leads = holding(room, events.MODERATOR, events.ADMIN)
                entry["people"] = sorted(
                    username(u)
                    for u in room.members
                    if u in live.profiles and username(u) not in leads
                )
            if leads:
                entry["leads"] = leads
            topic = (room.content("m.room.topic") or {}).get("topic")
            if topic:
                entry["description"] = topic
            entry["rooms"] = templates_under(key)
            chart["partnerships"].append(entry)
    chart["channels"] = []
    for key, room in sorted(rooms.items()):
        if not key.startswith("channel/"):
            continue
        rules = room.content(events.CHANNEL) or {}
        owner = parent_key(room) or ""
        owner_kind, _, owner_key = owner.partition("/")
        entry = {
            "key": key.split("/", 1)[1],
            "name": name(room),
            "owner": {owner_kind: owner_key},
            "sealed": bool(rules.get("sealed")),
            "public": bool(rules.get("public")),
            "posters": {"people": sorted(username(u) for u in rules.get("posters", []))},
            "max_length": rules.get("max_length", 500),
        }
        topic = chart_topic((room.content("m.room.topic") or {}).get("topic"), entry["max_length"])
        if topic:
            entry["topic"] = topic
        chart["channels"].append(entry)
    chart["room_templates"] = dict(sorted(templates.items()))
    space, welcome = rooms.get(COMMUNITY_SPACE), rooms.get(COMMUNITY_WELCOME)
    if space is not None and welcome is not None:
        chart["community"] = {
            "name": name(space),
            "topic": chart_topic((space.content("m.room.topic") or {}).get("topic")),
            "welcome_room": name(welcome),
        }
    return chart


def _person(row: Any, username: Any) -> dict[str, Any]:
    person: dict[str, Any] = {
        "username": row.username,
        "display_name": row.display_name,
        "organisation": row.organisation,
        "units": list(row.units),
        "role": row.role,
    }
    if row.email:
        person["email"] = row.email
    if row.job_title:
        person["job_title"] = row.job_title
    if row.manager:
        person["manager"] = username(row.manager)
    fields = {
        f.name: {"value": f.value, "visibility": f.visibility}
        for f in row.fields
        if f.source == "org"
    }
    if fields:
        person["profile"] = dict(sorted(fields.items()))
    return person
