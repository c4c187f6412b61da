"""The org chart's shape on Matrix: users, spaces, rooms and their state.

Shared by provisioning (what to create) and the Synapse modules (where a newcomer belongs).

Pure: a function of the org chart, the server name and the service account. Room ids of
parents are not known here; rooms refer to each other by Borough key.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from borough import events
from borough.org import OrgChart, OrgIndex, Partnership, Person, RoomTemplate, Unit
from borough.org.model import MODERATING_ROLES, Channel, Posters, Reach
from borough.room_widgets import RoomWidget

if TYPE_CHECKING:
    from borough.settings import JitsiSettings

JoinRule = Literal["invite", "restricted", "public"]

#: The service account's display name: Element names it on every room it created ("Borough
#: network created this room"). Not the bot's name ("Borough"): the two share every room, and
#: Element would tell two same-named members apart only by their bare ids.
SERVICE_DISPLAY_NAME = "Borough network"
#: Its avatar, shipped with Borough: the bot's mark, inverted, so the two look related.
SERVICE_AVATAR = Path(__file__).parent / "assets" / "network.png"

#: Keys of the public community space and its welcome room, where unmatched people land.
COMMUNITY_SPACE = "community"
COMMUNITY_WELCOME = "community/welcome"
#: Their aliases: the Synapse modules find them by these when onboarding a newcomer.
COMMUNITY_ALIASES = ("community", "community-welcome")
#: Key of Borough's registry room, where apply writes what the Synapse modules decide from.
REGISTRY = "borough/registry"
REGISTRY_TYPES = (events.REGISTRY_PERSON, events.REGISTRY_EMAIL_DOMAIN)
#: Key and address of the network-wide "Ask the network" room (bots.ask); each
#: organisation's own is `ask_room(org)`, addressed `#ask-ORG`.
ASK_NETWORK = "ask"
ASK_NETWORK_ALIAS = "ask-the-network"
ASK_TOPIC = (
    "Ask a question with !ask; I route it to people whose skills match. Answer in its thread."
)

#: The last line of the topic of a room left unencrypted by design, saying why: Element marks
#: every unencrypted room in red, and staff should not read a choice as a fault.
UNENCRYPTED_INDEXED = "Not end-to-end encrypted: posts are indexed for search and feeds."
UNENCRYPTED_PUBLIC = "Not end-to-end encrypted: anyone may join this room and read it."


def noted_topic(topic: str | None, note: str) -> str:
    """`topic` with `note` on a line of its own at the end."""
    return f"{topic}\n{note}" if topic else note


def chart_topic(topic: str | None, max_length: int | None = None) -> str | None:
    """A topic Borough wrote, as the org chart gives it: the channel's rule (for a channel of
    `max_length`) and the encryption note taken off."""
    if topic is None:
        return None
    rule = [] if max_length is None else [channel_rule_line(max_length)]
    for note in (UNENCRYPTED_INDEXED, UNENCRYPTED_PUBLIC, *rule):
        if topic == note:
            return None
        topic = topic.removesuffix(f"\n{note}")
    return topic


@dataclass(frozen=True)
class DesiredUser:
    user_id: str
    localpart: str
    display_name: str
    email: str | None


@dataclass(frozen=True)
class ChannelRules:
    posters: tuple[str, ...]
    max_length: int
    sealed: bool
    public: bool = False
    #: The organisations of the channel's readers: every person of these for an open channel,
    #: the members' own for a sealed one. `!repost` compares two channels' by them.
    organisations: tuple[str, ...] = ()

    def topic(self, topic: str | None) -> str:
        """The channel's topic with its rule on a line before the encryption note: Element
        shows a refused post without the reason, so people are told before they write."""
        ruled = noted_topic(chart_topic(topic), channel_rule_line(self.max_length))
        return noted_topic(ruled, UNENCRYPTED_INDEXED)

    def content(self) -> dict[str, Any]:
        return {
            "posters": list(self.posters),
            "max_length": self.max_length,
            "sealed": self.sealed,
            "public": self.public,
            "organisations": list(self.organisations),
        }


def channel_rule_line(max_length: int) -> str:
    return f"Only the posters start posts; reply in threads; {max_length} characters at most."


@dataclass(frozen=True)
class BlogRules:
    """Marks a unit's blog room, so the bot indexes its posts and the web shows public ones."""

    unit: str
    public: bool

    def content(self) -> dict[str, Any]:
        return {"unit": self.unit, "public": self.public}


#: Maps a Borough room key to its room id, or to the planner's stand-in for a room not
#: created yet, which apply replaces with the id.
RoomIdOf = Callable[[str], object]


def organisation_space(org_key: str) -> str:
    """The Borough key of an organisation's space: its members belong to the organisation."""
    return f"org/{org_key}"


def ask_room(org_key: str) -> str:
    """The Borough key of an organisation's "Ask the network" room (not under `org/`: export
    reads every `org/` key as an organisation)."""
    return f"ask/{org_key}"


def ask_alias(org_key: str | None) -> str:
    """The address localpart of an organisation's Ask room, or of the network-wide one."""
    return ASK_NETWORK_ALIAS if org_key is None else f"ask-{org_key}"


@dataclass(frozen=True)
class SealedPolicy:
    """Who may be in a sealed room: people joined to the owner's space who also belong (are
    joined to the space of) one of `organisations`. The modules read both from Synapse."""

    owner_key: str
    owner_name: str
    organisations: tuple[str, ...]
    room_name: str

    def content(self, room_id: RoomIdOf) -> dict[str, Any]:
        """The policy event's content, with the spaces' room ids from `room_id`."""
        return {
            "version": 1,
            "owner": self.owner_key,
            "owner_name": self.owner_name,
            "owner_space": room_id(self.owner_key),
            "organisations": list(self.organisations),
            "organisation_spaces": [room_id(organisation_space(k)) for k in self.organisations],
            "room_name": self.room_name,
        }


@dataclass(frozen=True)
class RegistryEntry:
    """One fact for the Synapse modules, kept as state in Borough's registry room: a person
    or an email domain of the chart, and the organisation whose space onboarding joins them to."""

    event_type: str
    #: A person's username (a state key may not be a user id: Synapse reserves those for the
    #: user themselves), or an email domain.
    state_key: str
    organisation: str
    #: A person's: the keys of the spaces that own a sealed room (a unit's or a partnership's)
    #: and that the chart makes them a member of. The sealed-room module lets a person into a
    #: sealed room only if its owner's space is listed here: being joined to the space is not
    #: enough, since anyone in a parent space may join a unit's space by themselves.
    sealed_owners: tuple[str, ...] = ()

    def user_id(self, network: DesiredNetwork) -> str | None:
        if self.event_type != events.REGISTRY_PERSON:
            return None
        return network.user_id(self.state_key)

    def content(self, room_id: RoomIdOf) -> dict[str, Any]:
        content: dict[str, Any] = {
            "organisation": self.organisation,
            "space": room_id(organisation_space(self.organisation)),
        }
        if self.sealed_owners:  # left out when empty: most people own no sealed room
            content[events.REGISTRY_SEALED_OWNERS] = [room_id(key) for key in self.sealed_owners]
        return content


@dataclass(frozen=True)
class DesiredRoom:
    key: str
    alias: str
    name: str
    is_space: bool
    topic: str | None = None
    parent_key: str | None = None
    join_rule: JoinRule = "restricted"
    federate: bool = True
    members: frozenset[str] = frozenset()
    power_users: tuple[tuple[str, int], ...] = ()
    channel: ChannelRules | None = None
    blog: BlogRules | None = None
    policy: SealedPolicy | None = None
    #: Spaces besides the parent whose members may find and join the room: an unsealed
    #: channel's organisations (and, for a public one, the community). Each lists the room.
    open_to: tuple[str, ...] = ()
    #: The chart's image for a space, relative to the org file; apply uploads it once.
    avatar: str | None = None
    standing_meeting: bool = False
    #: Borough's own widgets (people directory, timeline), pinned; see borough.room_widgets.
    widgets: tuple[RoomWidget, ...] = ()
    depth: int = 0
    #: False for open rooms (the community), where people come and go by themselves.
    manages_members: bool = True
    #: Membership or power here is what a seal is decided from (organisation spaces, sealed
    #: rooms and their owners' spaces): taking it away is never held back for `--prune`.
    guards_seal: bool = False
    #: The registry room's entries (see `RegistryEntry`); empty for every other room.
    registry: tuple[RegistryEntry, ...] = ()
    #: Extra facts kept on the room's managed state, so `export` can rebuild the YAML.
    meta: dict[str, Any] = field(default_factory=dict, hash=False)

    @property
    def publishes_address(self) -> bool:
        """A sealed room gets no address: anyone could guess `#smt-updates` and learn the
        room exists. Members find it in their space; Borough finds it by its key."""
        return self.policy is None

    @property
    def kind(self) -> str:
        if self.registry or self.key == REGISTRY:
            return "registry"
        if self.channel is not None:
            return "channel"
        return "space" if self.is_space else "room"

    def managed_content(self) -> dict[str, Any]:
        return {"key": self.key, "kind": self.kind, **self.meta}


@dataclass(frozen=True)
class PartnershipShape:
    """What a partnership joins, for the app database: organisation and unit keys, and the
    people named on their own (leads among them) as user ids, each sorted."""

    name: str
    description: str | None
    organisations: tuple[str, ...]
    units: tuple[str, ...]
    people: tuple[str, ...]
    leads: tuple[str, ...]


@dataclass
class DesiredNetwork:
    server_name: str
    service_user: str
    users: dict[str, DesiredUser] = field(default_factory=dict)
    rooms: dict[str, DesiredRoom] = field(default_factory=dict)
    people: dict[str, Person] = field(default_factory=dict)
    #: unit key -> (name, organisation key, parent key), for the app database.
    units: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    #: organisation key -> name, for the app database.
    organisations: dict[str, str] = field(default_factory=dict)
    #: partnership key -> what it joins, for the app database.
    partnerships: dict[str, PartnershipShape] = field(default_factory=dict)
    #: The Jitsi server; rooms with a standing meeting get its widget only when known.
    jitsi: JitsiSettings | None = None
    #: The widget server as Element reaches it; rooms' widgets are written only when known.
    widget_url: str | None = None

    def user_id(self, username: str) -> str:
        return f"@{username}:{self.server_name}"

    def without(self, user_ids: set[str]) -> DesiredNetwork:
        """This network with these people taken out of it: no account, profile, membership
        or power (channel posters stay as configured)."""
        if not user_ids:
            return self
        rooms = {
            key: replace(
                room,
                members=room.members - user_ids,
                power_users=tuple((u, lvl) for u, lvl in room.power_users if u not in user_ids),
                registry=tuple(e for e in room.registry if e.user_id(self) not in user_ids),
            )
            for key, room in self.rooms.items()
        }
        return replace(
            self,
            users={u: v for u, v in self.users.items() if u not in user_ids},
            people={u: v for u, v in self.people.items() if u not in user_ids},
            rooms=rooms,
            partnerships={
                key: replace(
                    shape,
                    people=tuple(u for u in shape.people if u not in user_ids),
                    leads=tuple(u for u in shape.leads if u not in user_ids),
                )
                for key, shape in self.partnerships.items()
            },
        )


def _template_meta(name: str, template: RoomTemplate) -> dict[str, Any]:
    return {
        "template": {
            "name": name,
            "definition": template.model_dump(mode="json", exclude_defaults=True),
        }
    }


def desired_network(
    chart: OrgChart,
    server_name: str,
    service_user: str,
    bot_user: str | None = None,
    widget_url: str | None = None,
    jitsi: JitsiSettings | None = None,
) -> DesiredNetwork:
    """`bot_user`, when given, joins every room where people type (see `bot_hears`), so
    that it answers commands there and indexes the posts of channels and blogs.
    `widget_url` (settings.widgets.public_url) lets rooms carry Borough's widgets."""
    network = _Builder(chart, server_name, service_user).build()
    network.jitsi = jitsi
    network.widget_url = widget_url
    if bot_user is not None:
        for key, room in network.rooms.items():
            if bot_hears(room):
                network.rooms[key] = _with_bot(room, bot_user)
    return network


def _with_bot(room: DesiredRoom, bot_user: str) -> DesiredRoom:
    """The room with the bot as a member, at moderator level: `!meet` and `!widget` write
    the room's widgets, which takes that level (`events.POWER_LEVEL_EVENTS`)."""
    levels = dict(room.power_users)
    levels[bot_user] = max(levels.get(bot_user, 0), events.MODERATOR)
    return replace(
        room, members=room.members | {bot_user}, power_users=tuple(sorted(levels.items()))
    )


def bot_hears(room: DesiredRoom) -> bool:
    """Whether the bot is a member of this room. Spaces have no timeline in Element, so
    nobody types a command there; open rooms (the community) keep no managed members, so
    apply never joins anyone to them. Every other room, sealed ones included (the
    sealed-room module trusts the bot's account), has the bot, so `!meet` and every other
    command is answered wherever people talk. Not Borough's registry room, where nobody
    talks and only the service account belongs."""
    return not room.is_space and room.manages_members and room.kind != "registry"


class _Builder:
    def __init__(self, chart: OrgChart, server_name: str, service_user: str) -> None:
        self.index = OrgIndex(chart)
        self.net = DesiredNetwork(server_name, service_user)

    def uid(self, person: Person) -> str:
        return self.net.user_id(person.username)

    def uids(self, people: Iterable[Person]) -> frozenset[str]:
        return frozenset(self.uid(p) for p in people)

    def build(self) -> DesiredNetwork:
        chart = self.index.chart
        for person in chart.people:
            uid = self.uid(person)
            self.net.users[uid] = DesiredUser(
                uid, person.username, person.display_name, person.email
            )
            self.net.people[uid] = person
        for org in chart.organisations:
            self.net.organisations[org.key] = org.name
            people = self.index.people_of_organisation(org)
            self._add(
                DesiredRoom(
                    key=organisation_space(org.key),
                    alias=org.key,
                    name=org.name,
                    is_space=True,
                    join_rule="invite",
                    members=self.uids(people),
                    power_users=self._power(admins=self._admins_of([org.key]), moderators=()),
                    avatar=org.avatar,
                    guards_seal=True,
                    meta={
                        "organisation": {"kind": org.kind, "email_domains": list(org.email_domains)}
                    },
                )
            )
        for unit in sorted(chart.units, key=self.index.depth):
            self._unit(unit)
            owner = self.index.organisation_of(unit)
            parent = self.index.parent_of(unit)
            self.net.units[unit.key] = (
                unit.name,
                owner.key if owner else "",
                parent.key if parent else None,
            )
        for partnership in chart.partnerships:
            self._partnership(partnership)
        for channel in chart.channels:
            self._channel(channel)
        self._ask_rooms()
        self._community()
        self._guard_seals()
        self._registry()
        return self.net

    def _guard_seals(self) -> None:
        """Sealed rooms and their owners' spaces: the modules decide entry from them."""
        guarded = {
            key
            for room in self.net.rooms.values()
            if room.policy is not None
            for key in (room.key, room.policy.owner_key)
        }
        for key in guarded & set(self.net.rooms):
            self.net.rooms[key] = replace(self.net.rooms[key], guards_seal=True)

    def _sealed_owners(self) -> dict[str, set[str]]:
        """user id -> the keys of the sealed rooms' owner spaces they are a member of, from
        the very membership apply gives those spaces, so the two cannot drift apart."""
        owners: dict[str, set[str]] = {}
        keys = {room.policy.owner_key for room in self.net.rooms.values() if room.policy}
        for key in keys:
            space = self.net.rooms.get(key)
            for user_id in space.members if space is not None else ():
                owners.setdefault(user_id, set()).add(key)
        return owners

    def _registry(self) -> None:
        """The room where the Synapse modules read who the chart's people are and which
        organisation claims an email domain; only the service account is in it."""
        chart = self.index.chart
        owners = self._sealed_owners()
        entries = [
            RegistryEntry(
                events.REGISTRY_PERSON,
                p.username,
                p.organisation,
                tuple(sorted(owners.get(self.uid(p), ()))),
            )
            for p in chart.people
            if self.index.organisations.get(p.organisation) is not None
        ] + [
            RegistryEntry(events.REGISTRY_EMAIL_DOMAIN, domain.lower(), org.key)
            for org in chart.organisations
            for domain in org.email_domains
        ]
        self._add(
            DesiredRoom(
                key=REGISTRY,
                alias=events.REGISTRY_ALIAS,
                name="Borough registry",
                topic="What Borough's Synapse modules decide from, written by borough apply. "
                "Only Borough's service account is here.",
                is_space=False,
                join_rule="invite",
                federate=False,
                registry=tuple(sorted(entries, key=lambda e: (e.event_type, e.state_key))),
            )
        )

    def _ask_rooms(self) -> None:
        """One "Ask the network" room per organisation, for its people, and one for everyone
        in every organisation, listed in each organisation's space (bots.ask posts there)."""
        chart = self.index.chart
        everyone: list[Person] = []
        for org in chart.organisations:
            people = self.index.people_of_organisation(org)
            everyone += people
            self._add(
                DesiredRoom(
                    key=ask_room(org.key),
                    alias=ask_alias(org.key),
                    name=f"Ask {org.name}",
                    topic=noted_topic(ASK_TOPIC, UNENCRYPTED_INDEXED),
                    is_space=False,
                    parent_key=organisation_space(org.key),
                    members=self.uids(people),
                    power_users=self._power(admins=self._admins_of([org.key]), moderators=()),
                    depth=1,
                    meta={"ask": {"organisation": org.key}},
                )
            )
        if not chart.organisations:
            return
        # Its parent is a council's space (else the first by key): an order, not the
        # chart's, so an exported chart, listed by key, plans the same room.
        ordered = sorted(chart.organisations, key=lambda o: (o.kind != "council", o.key))
        first, *others = (o.key for o in ordered)
        self._add(
            DesiredRoom(
                key=ASK_NETWORK,
                alias=ASK_NETWORK_ALIAS,
                name="Ask the network",
                topic=noted_topic(ASK_TOPIC, UNENCRYPTED_INDEXED),
                is_space=False,
                parent_key=organisation_space(first),
                open_to=tuple(organisation_space(k) for k in others),
                members=self.uids(everyone),
                power_users=self._power(
                    admins=self._admins_of([o.key for o in chart.organisations]), moderators=()
                ),
                depth=1,
                meta={"ask": {"organisation": None}},
            )
        )

    def _community(self) -> None:
        community = self.index.chart.community
        self._add(
            DesiredRoom(
                key=COMMUNITY_SPACE,
                alias=COMMUNITY_ALIASES[0],
                name=community.name,
                topic=noted_topic(community.topic, UNENCRYPTED_PUBLIC),
                is_space=True,
                join_rule="public",
                manages_members=False,
            )
        )
        self._add(
            DesiredRoom(
                key=COMMUNITY_WELCOME,
                alias=COMMUNITY_ALIASES[1],
                name=community.welcome_room,
                topic=noted_topic(community.topic, UNENCRYPTED_PUBLIC),
                is_space=False,
                parent_key=COMMUNITY_SPACE,
                join_rule="public",
                manages_members=False,
                depth=1,
            )
        )

    def _add(self, room: DesiredRoom) -> None:
        if room.channel is not None:
            room = replace(room, topic=room.channel.topic(room.topic))
        self.net.rooms[room.key] = room

    def _admins_of(self, org_keys: Iterable[str]) -> list[Person]:
        admins = []
        for key in org_keys:
            org = self.index.organisations[key]
            admins += [p for ref in org.admins if (p := self.index.people.get(ref)) is not None]
        return admins

    def _power(
        self, admins: Iterable[Person], moderators: Iterable[Person]
    ) -> tuple[tuple[str, int], ...]:
        levels: dict[str, int] = {}
        for person in moderators:
            levels[self.uid(person)] = events.MODERATOR
        for person in admins:
            levels[self.uid(person)] = events.ADMIN
        levels.pop(self.net.service_user, None)  # a v12 creator must not be listed
        return tuple(sorted(levels.items()))

    def _unit_power(self, unit: Unit) -> tuple[tuple[str, int], ...]:
        org = self.index.organisation_of(unit)
        moderators = [
            p
            for u in (unit, *self.index.ancestors(unit))
            for p in self.index.direct_members[u.key]
            if p.role in MODERATING_ROLES
        ]
        return self._power(admins=self._admins_of([org.key] if org else []), moderators=moderators)

    def _unit(self, unit: Unit) -> None:
        parent = self.index.parent_of(unit)
        org = self.index.organisation_of(unit)
        parent_key = f"unit/{parent.key}" if parent else organisation_space(org.key if org else "")
        depth = self.index.depth(unit) + 1
        power = self._unit_power(unit)
        space_key = f"unit/{unit.key}"
        self._add(
            DesiredRoom(
                key=space_key,
                alias=unit.key,
                name=unit.name,
                is_space=True,
                parent_key=parent_key,
                members=self.uids(self.index.members_of_unit(unit)),
                power_users=power,
                depth=depth,
                avatar=unit.avatar,
            )
        )
        for template_name in self.index.unit_rooms(unit):
            self._templated_room(
                space_key,
                unit.key,
                unit.name,
                template_name,
                audience={
                    "subtree": self.index.members_of_unit(unit),
                    "direct": self.index.direct_members[unit.key],
                },
                power=power,
                depth=depth + 1,
            )

    def _templated_room(
        self,
        space_key: str,
        owner_key: str,
        owner_name: str,
        template_name: str,
        audience: Mapping[Reach, list[Person]],
        power: tuple[tuple[str, int], ...],
        depth: int,
    ) -> None:
        """Stamp a room template for a unit or partnership. The template's `reach` picks
        the audience: a unit's whole subtree, or its direct members."""
        template = self.index.templates[template_name]
        rules = template.channel
        people = audience[template.reach]
        name = template.name.replace("{name}", owner_name)
        is_sealed = bool(rules and rules.sealed)
        topic = template.topic.replace("{name}", owner_name) if template.topic else None
        if rules or template.blog:
            topic = noted_topic(topic, UNENCRYPTED_INDEXED)
        self._add(
            DesiredRoom(
                key=f"{space_key}/{template_name}",
                alias=f"{owner_key}-{template_name}",
                name=name,
                topic=topic,
                is_space=False,
                parent_key=space_key,
                join_rule="invite" if is_sealed else "restricted",
                federate=not is_sealed,
                members=self.uids(people),
                power_users=self._inside(power, people) if is_sealed else power,
                channel=self._rules(
                    rules.posters,
                    rules.max_length,
                    rules.sealed,
                    people,
                    rules.public,
                    # Sealed or not, a templated channel is joined from its owner's space only.
                    self._orgs(people),
                )
                if rules
                else None,
                blog=BlogRules(owner_key, template.blog.public) if template.blog else None,
                policy=SealedPolicy(space_key, owner_name, self._orgs(people), name)
                if is_sealed
                else None,
                standing_meeting=template.standing_meeting,
                widgets=tuple(self._widget(ref, owner_key) for ref in template.widgets),
                depth=depth,
                meta=_template_meta(template_name, template),
            )
        )

    def _inside(
        self, power: tuple[tuple[str, int], ...], audience: Iterable[Person]
    ) -> tuple[tuple[str, int], ...]:
        """A sealed room's power goes only to people inside its audience: a moderator of a
        unit above, or an organisation admin outside the seal, could never enter it anyway.
        Borough's service account needs no entry (a v12 creator is never listed)."""
        inside = self.uids(audience)
        return tuple((user, level) for user, level in power if user in inside)

    def _widget(self, ref: str, owner_key: str) -> RoomWidget:
        """`people`, `timeline`, or `timeline:TEMPLATE`: that template's channel of this owner."""
        kind, _, channel_template = ref.partition(":")
        if kind == "people":
            return RoomWidget("people")
        if not channel_template:
            return RoomWidget("timeline")
        return RoomWidget("timeline", f"#{owner_key}-{channel_template}:{self.net.server_name}")

    def _orgs(self, people: Iterable[Person]) -> tuple[str, ...]:
        keys = {o.key for p in people if (o := self.index.organisations.get(p.organisation))}
        return tuple(sorted(keys))

    def _rules(
        self,
        posters: Posters,
        max_length: int,
        sealed: bool,
        audience: list[Person],
        public: bool,
        organisations: tuple[str, ...],
    ) -> ChannelRules:
        chosen = Channel.model_construct(posters=posters)
        people = self.index.posters_of(chosen, audience)
        return ChannelRules(
            tuple(sorted(self.uids(people))), max_length, sealed, public, organisations
        )

    def _partnership(self, partnership: Partnership) -> None:
        index = self.index
        people = {p for ref in partnership.people if (p := index.people.get(ref)) is not None}
        leads = [p for ref in partnership.leads if (p := index.people.get(ref)) is not None]
        self.net.partnerships[partnership.key] = PartnershipShape(
            name=partnership.name,
            description=partnership.description,
            organisations=tuple(
                sorted(
                    {o.key for r in partnership.organisations if (o := index.organisations.get(r))}
                )
            ),
            units=tuple(sorted({u.key for r in partnership.units if (u := index.units.get(r))})),
            people=tuple(sorted(self.uids([*people, *leads]))),
            leads=tuple(sorted(self.uids(leads))),
        )
        members = self.index.members_of_partnership(partnership)
        power = self._partnership_power(partnership, members)
        space_key = f"partnership/{partnership.key}"
        self._add(
            DesiredRoom(
                key=space_key,
                alias=partnership.key,
                name=partnership.name,
                topic=partnership.description,
                is_space=True,
                join_rule="invite",
                members=self.uids(members),
                power_users=power,
                avatar=partnership.avatar,
            )
        )
        for template_name in self.index.partnership_rooms(partnership):
            self._templated_room(
                space_key,
                partnership.key,
                partnership.name,
                template_name,
                audience={"subtree": members, "direct": members},
                power=power,
                depth=1,
            )

    def _partnership_power(
        self, partnership: Partnership, members: list[Person]
    ) -> tuple[tuple[str, int], ...]:
        """Admins of every partner organisation hold 100; the partnership's leads moderate."""
        leads = [p for ref in partnership.leads if (p := self.index.people.get(ref)) is not None]
        return self._power(admins=self._admins_of(self._orgs(members)), moderators=leads)

    def _channel(self, channel: Channel) -> None:
        audience = self.index.audience_of(channel)
        if channel.owner.unit is not None:
            owner = self.index.units[channel.owner.unit]
            owner_key, owner_name = f"unit/{owner.key}", owner.name
            power = self._unit_power(owner)
            depth = self.index.depth(owner) + 2
        else:
            partnership = self.index.partnerships[channel.owner.partnership or ""]
            owner_key, owner_name = f"partnership/{partnership.key}", partnership.name
            power = self._partnership_power(partnership, audience)
            depth = 1
        if channel.sealed:
            power = self._inside(power, audience)
        join_rule: JoinRule = "restricted"
        if channel.sealed:
            join_rule = "invite"
        elif channel.public:
            join_rule = "public"
        self._add(
            DesiredRoom(
                key=f"channel/{channel.key}",
                alias=channel.key,
                name=channel.name,
                topic=noted_topic(channel.topic, UNENCRYPTED_INDEXED),
                is_space=False,
                parent_key=owner_key,
                join_rule=join_rule,
                federate=not channel.sealed,
                members=self.uids(audience),
                power_users=power,
                channel=self._rules(
                    channel.posters,
                    channel.max_length,
                    channel.sealed,
                    audience,
                    channel.public,
                    self._orgs(audience) if channel.sealed else self._open_orgs(channel, audience),
                ),
                policy=SealedPolicy(owner_key, owner_name, self._orgs(audience), channel.name)
                if channel.sealed
                else None,
                open_to=() if channel.sealed else self._open_to(channel, audience),
                depth=depth,
            )
        )

    def _open_to(self, channel: Channel, audience: list[Person]) -> tuple[str, ...]:
        """The spaces of an unsealed channel's audience beyond its owner: everyone in the
        owning unit's organisation, or in each organisation of the owning partnership; for
        a public channel (joinable by anyone), the community too."""
        spaces = tuple(f"org/{key}" for key in self._open_orgs(channel, audience))
        return (*spaces, COMMUNITY_SPACE) if channel.public else spaces

    def _open_orgs(self, channel: Channel, audience: list[Person]) -> tuple[str, ...]:
        """The organisations an unsealed channel is open to: its owning unit's, or each of
        its owning partnership's."""
        if channel.owner.unit is not None:
            org = self.index.organisation_of(self.index.units[channel.owner.unit])
            return (org.key,) if org else ()
        return self._orgs(audience)
