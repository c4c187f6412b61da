"""May a post be reposted into a channel? Pure: plain facts about both channels in, a refusal out.

Audiences, from widest to narrowest:

- a **public** channel: everyone (its posts are on the open web);
- an **open** channel (not sealed, not public): every person of its owner's organisation, or
  of each organisation of its owning partnership;
- a **sealed** channel: the members of its owner, a unit (with every unit below it) or a
  partnership, as its `org.borough.policy` names it.

A post may go to a channel whose audience is the same as, or a subset of, its own channel's:
anything from a public channel; from an open channel to a channel none of whose readers is
outside the open channel's organisations; from a sealed channel only to a sealed channel of
the same owner or of a unit below the owner unit. Partnerships are compared by identity only:
the bot cannot prove a unit is inside one, so it refuses rather than guess. A channel whose
organisations are unknown (applied before they were recorded) is refused the same way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import unquote

#: matrix.to links (`https://matrix.to/#/!room:server/$event?via=…`), with or without
#: percent-encoding, and `matrix:` URIs (`matrix:roomid/room:server/e/event`).
_MATRIX_TO = re.compile(r"^https://matrix\.to/#/(?P<room>[^/?]+)/(?P<event>[^/?]+)")
_MATRIX_URI = re.compile(r"^matrix:(?:roomid|r)/(?P<room>[^/?]+)/e/(?P<event>[^/?]+)")


@dataclass(frozen=True)
class PostLink:
    event_id: str
    #: A room id (`!…`) or alias (`#…`), when the link named one.
    room: str | None = None


def parse_post_link(text: str) -> PostLink | None:
    """The post a link or bare event id points at, or None if it points at no post."""
    text = text.strip().strip("<>")
    if text.startswith("$") and len(text) > 1:
        return PostLink(text)
    for pattern, sigils in ((_MATRIX_TO, ""), (_MATRIX_URI, "!$")):
        match = pattern.match(text)
        if match is None:
            continue
        room, event = unquote(match.group("room")), unquote(match.group("event"))
        if sigils:  # matrix: URIs drop the sigils
            room, event = (room if room[:1] in "!#" else f"!{room}"), f"${event.lstrip('$')}"
        if event.startswith("$") and len(event) > 1 and room[:1] in "!#":
            return PostLink(event, room)
    return None


@dataclass(frozen=True)
class ChannelAudience:
    """What the decision needs to know about a channel."""

    name: str
    is_sealed: bool
    is_public: bool
    #: The sealed policy's owner key, `unit/KEY` or `partnership/KEY`; None if unsealed.
    owner: str | None = None
    #: The organisations of its readers (`org.borough.channel`'s `organisations`): all of
    #: their people for an open channel, the members' own for a sealed one. None: unknown.
    organisations: frozenset[str] | None = None


def repost_refusal(
    source: ChannelAudience,
    target: ChannelAudience,
    unit_parents: Mapping[str, str | None],
) -> str | None:
    """None if a post of `source` may be reposted into `target`, else one sentence why not."""
    if source.is_public:
        return None
    if target.is_public:
        return (
            f"**{source.name}** is not public, so its posts cannot be reposted to "
            f"**{target.name}**, which anyone on the web can read."
        )
    if not source.is_sealed:
        return _open_refusal(source, target)
    wider = (
        f"**{source.name}** is sealed, and **{target.name}** reaches people outside it, "
        "so that post cannot be reposted there."
    )
    if not target.is_sealed or source.owner is None or target.owner is None:
        return wider
    if target.owner == source.owner:
        return None
    if source.owner.startswith("unit/") and target.owner.startswith("unit/"):
        if _is_within(
            target.owner.removeprefix("unit/"), source.owner.removeprefix("unit/"), unit_parents
        ):
            return None
    return wider


def _open_refusal(source: ChannelAudience, target: ChannelAudience) -> str | None:
    """An open channel's post may go where every reader is in the open channel's
    organisations: never from one organisation's open channel into another's."""
    if (
        source.organisations is not None
        and target.organisations is not None
        and target.organisations <= source.organisations
    ):
        return None
    one = len(source.organisations or ()) == 1
    whose, outside = ("its organisation", "it") if one else ("its organisations", "them")
    return (
        f"**{source.name}** is open only to {whose}, and **{target.name}** reaches people "
        f"outside {outside}, so that post cannot be reposted there."
    )


def _is_within(unit: str, ancestor: str, parents: Mapping[str, str | None]) -> bool:
    seen: set[str] = set()
    current: str | None = unit
    while current is not None and current not in seen:
        if current == ancestor:
            return True
        seen.add(current)
        current = parents.get(current)
    return False


def attribution(reposter: str, author: str, channel: str, link: str, body: str, limit: int) -> str:
    """The Markdown of a repost: who boosts whose post from where, the post quoted, a link."""
    head = f"🔁 **{reposter}** reposted **{author}** from **{channel}**:"
    tail = f"[Open the original]({link})"
    room = max(20, limit - len(head) - len(tail) - 8)
    excerpt = body if len(body) <= room else body[: room - 1] + "…"
    quoted = "\n".join(f"> {line}" for line in excerpt.splitlines() or [""])
    return f"{head}\n\n{quoted}\n\n{tail}"
