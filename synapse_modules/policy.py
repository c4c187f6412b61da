"""Pure decisions behind Borough's Synapse modules: sealed rooms and channel posting rules.

No Synapse import here: the module classes adapt Synapse's callbacks to these functions,
and unit tests call them with plain data. A decision is `None` (allowed) or a `Refusal`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from borough import events


@dataclass(frozen=True)
class Refusal:
    """Why something is not allowed, in words for the person who tried it."""

    message: str


# --- sealed rooms ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SealedRoomPolicy:
    room_name: str
    owner_name: str
    owner_space: str | None
    organisations: frozenset[str]
    #: The spaces of `organisations`; None in a policy written before they were recorded
    #: (the owner space alone then decides, until the next apply rewrites the policy).
    organisation_spaces: tuple[str, ...] | None = None

    @classmethod
    def from_content(cls, content: Mapping[str, Any] | None) -> SealedRoomPolicy | None:
        """The policy of a room from its `org.borough.policy` content; None if unsealed."""
        if not content or content.get("version") != 1:
            return None
        return cls(
            room_name=str(content.get("room_name") or "This room"),
            owner_name=str(content.get("owner_name") or "its owners"),
            owner_space=content.get("owner_space")
            if isinstance(content.get("owner_space"), str)
            else None,
            organisations=frozenset(str(o) for o in content.get("organisations") or ()),
            organisation_spaces=_strings(content.get("organisation_spaces")),
        )

    def refusal(self) -> Refusal:
        return Refusal(
            f"{self.room_name} is a sealed channel; only members of {self.owner_name} can join."
        )


def _strings(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list):
        return None
    return tuple(v for v in value if isinstance(v, str))


@dataclass(frozen=True)
class Entrant:
    """Someone who wants into a sealed room, as far as the decision needs to know: all of
    it read from Synapse at the moment they try (see `synapse_modules.chart`)."""

    user_id: str
    is_local: bool
    is_service: bool
    #: Joined to the space of one of the policy's organisations.
    is_in_organisation: bool
    is_in_owner_space: bool
    #: The registry's entry for them (written by apply from the chart) lists the owner's space
    #: among their sealed owners. Joined to the space alone proves nothing: a unit's space is
    #: restricted, so anyone in the space above may join it by themselves.
    is_owner_member_by_chart: bool


def may_enter(policy: SealedRoomPolicy, entrant: Entrant) -> Refusal | None:
    """Join, invite and knock all ask this: is the person inside the seal?"""
    if entrant.is_service:
        return None
    if not entrant.is_local or not entrant.is_in_organisation:
        return policy.refusal()
    if not (entrant.is_in_owner_space and entrant.is_owner_member_by_chart):
        return policy.refusal()
    return None


#: State that only Borough and organisation admins may change in a sealed room.
SEAL_STATE = frozenset(
    {
        events.POLICY,
        "m.room.join_rules",
        "m.room.server_acl",
        "m.room.history_visibility",
        "m.room.tombstone",
    }
)

#: Power-level thresholds that keep a sealed room shut; lowering one opens the room.
_GUARDED_LEVELS = ("invite", "state_default")


def opens_room(old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
    """Would this power-levels change let more people invite or change the seal?"""

    def level(content: Mapping[str, Any], key: str, default: int) -> int:
        value = content.get(key, default)
        return value if isinstance(value, int) else default

    def event_level(content: Mapping[str, Any], event_type: str) -> int:
        levels = content.get("events") or {}
        value = levels.get(event_type, level(content, "state_default", 50))
        return value if isinstance(value, int) else 50

    if any(level(new, k, 50) < level(old, k, 50) for k in _GUARDED_LEVELS):
        return True
    return any(
        event_level(new, t) < event_level(old, t) for t in (*SEAL_STATE, "m.room.power_levels")
    )


def may_change_seal(
    policy: SealedRoomPolicy,
    event_type: str,
    is_privileged: bool,
    old: Mapping[str, Any] | None,
    new: Mapping[str, Any],
) -> Refusal | None:
    if event_type == "m.room.guest_access" and new.get("guest_access") == "can_join":
        # Nobody, not even Borough: a guest is never a member of the owner.
        return Refusal(f"{policy.room_name} is a sealed channel; guests can never join it.")
    if is_privileged:
        return None
    if event_type == "m.room.canonical_alias" and _aliases(new) - _aliases(old or {}):
        return Refusal(
            f"{policy.room_name} is a sealed channel; only Borough and organisation admins "
            "can give it addresses, so that outsiders cannot look it up."
        )
    if event_type in SEAL_STATE:
        return Refusal(
            f"{policy.room_name} is a sealed channel; only Borough and organisation admins "
            f"can change its {_describe(event_type)}."
        )
    if event_type == "m.room.power_levels" and opens_room(old or {}, new):
        return Refusal(
            f"{policy.room_name} is a sealed channel; these power levels would open it to more "
            "people, so only Borough and organisation admins can set them."
        )
    return None


def _aliases(content: Mapping[str, Any]) -> set[str]:
    alt = content.get("alt_aliases")
    found = {a for a in alt if isinstance(a, str)} if isinstance(alt, list) else set()
    if isinstance(content.get("alias"), str):
        found.add(content["alias"])
    return found


@dataclass(frozen=True)
class AddressMaker:
    """Someone publishing a new room address (`PUT /directory/room/#x`), as far as the
    decision needs to know.

    Synapse tells a module who makes an address, not for which room; it only requires that
    they are in the room. So the decision looks at every sealed room they are in."""

    is_borough: bool
    #: A room created in the same request: its address comes with it (`room_alias_name`).
    is_new_room: bool
    #: The sealed rooms they are in whose seal they may not change.
    seals: tuple[SealedRoomPolicy, ...]


def may_add_address(maker: AddressMaker) -> Refusal | None:
    if maker.is_borough or maker.is_new_room or not maker.seals:
        return None
    first = min(maker.seals, key=lambda p: p.room_name)
    return Refusal(
        f"You are in {first.room_name}, a sealed channel, and Synapse does not tell Borough "
        "which room a new address is for; so that a sealed channel's address never reaches "
        "outsiders, ask a Borough admin to publish the address."
    )


def _describe(event_type: str) -> str:
    return {
        events.POLICY: "seal",
        "m.room.join_rules": "join rule",
        "m.room.server_acl": "server access list",
        "m.room.history_visibility": "history visibility",
        "m.room.tombstone": "room version (upgrades would drop the seal)",
    }.get(event_type, event_type)


def upgrade_refusal(policy: SealedRoomPolicy) -> Refusal:
    return Refusal(
        f"{policy.room_name} is a sealed channel and cannot be upgraded by hand, since the new "
        "room would not carry the seal; ask a Borough admin."
    )


# --- channels --------------------------------------------------------------------------------

#: Event types that are posts (as opposed to reactions, receipts or state).
POST_TYPES = frozenset(
    {
        "m.room.message",
        "m.sticker",
        "m.room.encrypted",
        "m.poll.start",
        "org.matrix.msc3381.poll.start",
    }
)


@dataclass(frozen=True)
class ChannelPolicy:
    name: str
    posters: frozenset[str]
    max_length: int

    @classmethod
    def from_content(cls, name: str, content: Mapping[str, Any] | None) -> ChannelPolicy | None:
        if not content or not isinstance(content.get("posters"), list):
            return None
        max_length = content.get("max_length")
        return cls(
            name=name,
            posters=frozenset(str(p) for p in content["posters"]),
            max_length=max_length if isinstance(max_length, int) and max_length > 0 else 500,
        )


def judge_post(
    channel: ChannelPolicy,
    sender: str,
    is_service: bool,
    event_type: str,
    content: Mapping[str, Any],
) -> Refusal | None:
    """May `sender` send this event into the channel?

    Posters start posts; everyone who may read replies in threads and reacts. Edits and
    redactions work as in Element (Synapse itself checks whose they are). Borough's own
    accounts post what Borough writes and bounds itself (a town hall's list of questions, its
    summary), so the length limit, an editorial rule for people, is not theirs.
    """
    if event_type not in POST_TYPES or is_service:
        return None
    relation = content.get("m.relates_to")
    rel_type = relation.get("rel_type") if isinstance(relation, Mapping) else None
    text = post_text(content)
    if text is not None and len(text) > channel.max_length:
        return Refusal(
            f"Posts in {channel.name} are limited to {channel.max_length} characters; "
            f"this one has {len(text)}."
        )
    if rel_type in ("m.thread", "m.replace") or sender in channel.posters:
        return None
    return Refusal(
        f"Only the posters of {channel.name} can start a post here; reply in a thread or react "
        "instead."
    )


def post_text(content: Mapping[str, Any]) -> str | None:
    """The text a post or an edit says (an edit's new text), if it has any."""
    text = content.get("body")
    relation = content.get("m.relates_to")
    is_edit = isinstance(relation, Mapping) and relation.get("rel_type") == "m.replace"
    if is_edit and isinstance(content.get("m.new_content"), Mapping):
        text = content["m.new_content"].get("body")
    return text if isinstance(text, str) else None
