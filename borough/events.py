"""Borough's Matrix event types and the room shapes every component agrees on."""

from __future__ import annotations

#: On every managed space and room. Content: {"key": "unit/housing/general", "kind": ...}.
MANAGED = "org.borough.managed"
#: On sealed rooms. Content: see `borough.network.SealedPolicy`; the modules enforce it.
POLICY = "org.borough.policy"
#: On microblog channels. Content: {"posters": [...user ids], "max_length": int, "sealed": bool,
#: "public": bool, "organisations": [...keys of the organisations its readers belong to]}.
CHANNEL = "org.borough.channel"
#: On unit blog rooms. Content: {"unit": unit key, "public": bool}. A message there that starts
#: with a Markdown heading is a blog post.
BLOG = "org.borough.blog"
#: On a channel that `borough moderate lock` made read-only. Content: {"locked": true, "by",
#: "reason", "at", "previous": the power levels to restore}; `{}` once unlocked. Provisioning
#: leaves a lock alone: it only ever rewrites power levels' `users`.
LOCK = "org.borough.lock"

#: In Borough's registry room (alias REGISTRY_ALIAS, only the service account in it): where
#: onboarding places a person. State key: their username (localpart). Content: {"organisation": key,
#: "space": the organisation space's room id, and, if any, REGISTRY_SEALED_OWNERS: [room ids]};
#: `{}` once they have left the chart.
REGISTRY_PERSON = "org.borough.person"
#: In a person's registry entry: the spaces (a unit's or a partnership's) that own a sealed room
#: and that the chart makes them a member of. The sealed-room module lets nobody else in.
REGISTRY_SEALED_OWNERS = "sealed_owners"
#: In the registry room: an organisation's email domain. State key: the domain, lower case.
#: Content: {"organisation": key, "space": room id}; `{}` once no organisation claims it.
REGISTRY_EMAIL_DOMAIN = "org.borough.email_domain"
#: The registry room's alias localpart. The modules trust it only if Borough's service account
#: created it, so a squatter's room of that name decides nothing.
REGISTRY_ALIAS = "borough-registry"

#: MSC4133 custom profile fields live under this prefix.
PROFILE_FIELD_PREFIX = "org.borough."

SPACE_CHILD = "m.space.child"
SPACE_PARENT = "m.space.parent"
WIDGETS = "im.vector.modular.widgets"
WIDGET_LAYOUT = "io.element.widgets.layout"

MODERATOR = 50
ADMIN = 100

#: The complete `events` map of Borough's power levels. A power-level override at room
#: creation replaces whole top-level keys, so every default must be restated here.
POWER_LEVEL_EVENTS: dict[str, int] = {
    "m.room.name": MODERATOR,
    "m.room.topic": MODERATOR,
    "m.room.avatar": MODERATOR,
    "m.room.canonical_alias": MODERATOR,
    "m.room.pinned_events": MODERATOR,
    "m.room.power_levels": ADMIN,
    "m.room.history_visibility": ADMIN,
    "m.room.join_rules": ADMIN,
    "m.room.server_acl": ADMIN,
    "m.room.encryption": ADMIN,
    "m.room.tombstone": ADMIN,
    SPACE_CHILD: MODERATOR,
    SPACE_PARENT: ADMIN,
    WIDGETS: MODERATOR,
    WIDGET_LAYOUT: MODERATOR,
    MANAGED: ADMIN,
    POLICY: ADMIN,
    CHANNEL: ADMIN,
    BLOG: ADMIN,
    LOCK: ADMIN,
}
#: Borough's own state: only admins may send it, or a moderator could unseal a room (policy)
#: or drop a lock's record of the levels to restore. Apply restores these levels if lowered.
ADMIN_ONLY_STATE = (MANAGED, POLICY, CHANNEL, BLOG, LOCK)


def power_levels(users: dict[str, int]) -> dict[str, object]:
    """A complete power-levels content for a Borough room. `users` must omit v12 creators."""
    return {
        "users": dict(sorted(users.items())),
        "users_default": 0,
        "events": dict(POWER_LEVEL_EVENTS),
        "events_default": 0,
        "state_default": MODERATOR,
        "ban": MODERATOR,
        "kick": MODERATOR,
        "redact": MODERATOR,
        "invite": MODERATOR,
        "notifications": {"room": MODERATOR},
    }
