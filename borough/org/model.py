"""The org chart as pydantic models: organisations, units, people, partnerships, channels.

Shapes only. Cross-references (unknown units, cycles, posters outside a sealed channel) are
checked in `borough.org.checks`, which reports every problem with its place in the file.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
    model_validator,
)

#: A unit's, organisation's or partnership's key, also as a route pattern for its pages.
KEY_PATTERN = r"[a-z0-9][a-z0-9-]{0,62}"
Key = Annotated[
    str,
    StringConstraints(pattern=rf"^{KEY_PATTERN}$"),
    Field(description="lower-case letters, digits and dashes; stable forever once applied"),
]
Username = Annotated[str, StringConstraints(pattern=r"^[a-z0-9._=/-]{1,64}$")]
#: Synapse refuses a longer display name (MAX_DISPLAYNAME_LEN), so apply would fail on it.
MAX_DISPLAY_NAME = 256
#: Names become space and room names: far past any real one, and well inside the 64 KiB a
#: Matrix event may hold, so a runaway value is refused here rather than by apply.
Name = Annotated[str, StringConstraints(min_length=1, max_length=255)]
Visibility = Literal["staff", "partners", "public"]
Role = Literal["senior_manager", "manager", "staff", "partner", "community"]
#: Who a unit's room from a template reaches: everyone in the unit and the units below it
#: (`subtree`), or only the people who list the unit itself (`direct`).
Reach = Literal["subtree", "direct"]
#: An image file (PNG, JPEG, GIF or WebP), relative to the org file. Apply uploads it once.
ImageFile = Annotated[str, StringConstraints(pattern=r"(?i)^[^\x00]+\.(png|jpe?g|gif|webp)$")]
OrgKind = Literal[
    "council", "health", "police", "fire", "education", "charity", "community", "business", "other"
]

#: Roles that moderate (power level 50) the units they belong to.
MODERATING_ROLES: frozenset[str] = frozenset({"senior_manager", "manager"})

#: Where a profile field is visible when the YAML gives a bare value.
DEFAULT_VISIBILITY: dict[str, Visibility] = {
    "bio": "partners",
    "skills": "partners",
    "location": "staff",
    "pronouns": "partners",
    "phone": "staff",
}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Organisation(Strict):
    key: Key
    name: Name
    kind: OrgKind
    email_domains: tuple[
        Annotated[str, StringConstraints(pattern=r"^[a-z0-9.-]+\.[a-z]{2,}$")], ...
    ] = ()
    admins: tuple[str, ...] = Field(
        default=(), description="usernames of this organisation's admins"
    )
    # Strict: the include step reads the raw value, so "yes" must not pass as true here.
    fragment_may_add_admins: StrictBool = Field(
        default=False,
        description="the organisation's fragment may list more of its own people under its "
        "'admins:' (its identity provider's admin groups fill it); they join these admins, "
        "who stay admins whatever the fragment says",
    )
    avatar: ImageFile | None = Field(default=None, description="the space's avatar")


class Unit(Strict):
    key: Key
    name: Name
    organisation: str | None = Field(default=None, description="required unless parent is given")
    parent: str | None = None
    rooms: tuple[str, ...] | None = Field(
        default=None, description="room templates; defaults.unit_rooms when absent"
    )
    avatar: ImageFile | None = Field(default=None, description="the space's avatar")


class ProfileField(Strict):
    value: str | tuple[str, ...]
    visibility: Visibility

    @field_validator("value", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        # A phone number written without quotes arrives as an int.
        return (
            str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )


class Profile(Strict):
    bio: ProfileField | None = None
    skills: ProfileField | None = None
    location: ProfileField | None = None
    pronouns: ProfileField | None = None
    phone: ProfileField | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_values_take_default_visibility(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {
            name: (
                {"value": value, "visibility": DEFAULT_VISIBILITY[name]}
                if name in DEFAULT_VISIBILITY and isinstance(value, str | int | float | list)
                else value
            )
            for name, value in data.items()
        }

    def fields(self) -> dict[str, ProfileField]:
        return {name: getattr(self, name) for name in DEFAULT_VISIBILITY if getattr(self, name)}


class Person(Strict):
    username: Username
    display_name: str = Field(min_length=1, max_length=MAX_DISPLAY_NAME)
    email: EmailStr | None = None
    organisation: str
    units: tuple[str, ...] = ()
    role: Role = "staff"
    job_title: str | None = None
    manager: str | None = None
    profile: Profile = Profile()
    avatar: ImageFile | None = Field(
        default=None, description="apply sets it as the person's Matrix avatar"
    )


class Partnership(Strict):
    key: Key
    name: Name
    description: str | None = None
    organisations: tuple[str, ...] = Field(default=(), description="every person of these")
    units: tuple[str, ...] = Field(default=(), description="every person of these and sub-units")
    people: tuple[str, ...] = ()
    leads: tuple[str, ...] = Field(
        default=(),
        description="usernames of the people who lead the partnership: they are members, and "
        "moderate (50) its spaces, rooms and channels",
    )
    rooms: tuple[str, ...] | None = Field(
        default=None, description="room templates; defaults.partnership_rooms when absent"
    )
    avatar: ImageFile | None = Field(default=None, description="the space's avatar")


class ChannelOwner(Strict):
    unit: str | None = None
    partnership: str | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ChannelOwner:
        if (self.unit is None) == (self.partnership is None):
            raise ValueError("give exactly one of 'unit' or 'partnership'")
        return self


class Posters(Strict):
    roles: tuple[Role, ...] = ()
    people: tuple[str, ...] = ()


class Channel(Strict):
    key: Key
    name: Name
    topic: str | None = None
    owner: ChannelOwner
    sealed: bool = False
    posters: Posters = Posters(roles=("senior_manager", "manager"))
    max_length: int = Field(default=500, ge=1, le=20000)
    public: bool = Field(default=False, description="shown on the open web; never when sealed")

    @model_validator(mode="after")
    def _sealed_is_never_public(self) -> Channel:
        return _refuse_sealed_public(self)


class TemplateChannel(Strict):
    """Makes a templated room a microblog channel of the unit it is stamped for."""

    sealed: bool = False
    posters: Posters = Posters(roles=("senior_manager", "manager"))
    max_length: int = Field(default=500, ge=1, le=20000)
    public: bool = Field(default=False, description="shown on the open web; never when sealed")

    @model_validator(mode="after")
    def _sealed_is_never_public(self) -> TemplateChannel:
        return _refuse_sealed_public(self)


_C = TypeVar("_C", "Channel", "TemplateChannel")


def _refuse_sealed_public(channel: _C) -> _C:
    if channel.sealed and channel.public:
        raise ValueError("a sealed channel cannot be public: choose one of 'sealed' or 'public'")
    return channel


class TemplateBlog(Strict):
    """Makes a templated room the blog of the unit it is stamped for."""

    public: bool = Field(default=False, description="shown on the open web, with an Atom feed")


class RoomTemplate(Strict):
    name: str = Field(min_length=1, description="'{name}' is replaced by the unit's name")
    topic: str | None = None
    channel: TemplateChannel | None = None
    blog: TemplateBlog | None = None
    standing_meeting: bool = False
    reach: Reach = Field(
        default="subtree",
        description="who is joined to a unit's room: everyone in the unit and the units below "
        "it (subtree), or only the unit's own people (direct; not for channels). Either way, "
        "anyone in the unit's space may join it. Partnerships have no units below",
    )
    widgets: tuple[str, ...] = Field(
        default=(),
        description="Borough widgets pinned in the room: people, timeline (the viewer's "
        "follows) or timeline:TEMPLATE (this unit's channel made from that room template)",
    )

    @field_validator("widgets")
    @classmethod
    def _known_widgets(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ref in value:
            if not re.fullmatch(r"people|timeline(:[a-z0-9][a-z0-9-]{0,62})?", ref):
                raise ValueError(
                    f"unknown widget '{ref}': use people, timeline or timeline:TEMPLATE"
                )
        return value

    @model_validator(mode="after")
    def _channel_or_blog(self) -> RoomTemplate:
        if self.channel is not None and self.blog is not None:
            raise ValueError("a room is a channel or a blog, not both")
        if self.channel is not None and self.reach == "direct":
            # A seal admits its owner's whole space, and reposts count on that audience.
            raise ValueError(
                "a channel reaches everyone in its unit and the units below it; "
                "'reach: direct' is for rooms"
            )
        return self


DEFAULT_ROOM_TEMPLATES: dict[str, RoomTemplate] = {
    # Not "{name}" alone: Element would show "Communications" inside "Communications".
    "general": RoomTemplate(name="{name} · General", topic="Everything about {name}"),
    "announcements": RoomTemplate(
        name="{name} announcements",
        topic="Updates from the managers of {name}. Reply in a thread.",
        channel=TemplateChannel(),
    ),
    "team": RoomTemplate(
        name="{name} team room",
        topic="Day-to-day and the standing meeting",
        standing_meeting=True,
        reach="direct",
    ),
    "blog": RoomTemplate(
        name="{name} blog",
        topic="Stories from {name}. A message that starts with a # heading is a blog post.",
        blog=TemplateBlog(),
    ),
}


class Community(Strict):
    """The public door for residents and community groups: people who match nothing land here."""

    name: str = "Community"
    topic: str | None = "Residents, community groups and everyone else. Say hello!"
    welcome_room: str = "Welcome"


class Defaults(Strict):
    unit_rooms: tuple[str, ...] = ("general", "announcements", "team")
    partnership_rooms: tuple[str, ...] = ("general",)


class OrgChart(Strict):
    version: Literal[1] = 1
    organisations: tuple[Organisation, ...] = Field(min_length=1)
    units: tuple[Unit, ...] = ()
    people: tuple[Person, ...] = ()
    partnerships: tuple[Partnership, ...] = ()
    channels: tuple[Channel, ...] = ()
    room_templates: dict[Key, RoomTemplate] = Field(
        default_factory=dict, description="added to, or replacing, the built-in templates"
    )
    defaults: Defaults = Defaults()
    community: Community = Community()
