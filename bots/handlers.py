"""Borough's chat commands. Each handler: check permission, parse, call a service, answer.

Help is generated from these registrations (`bots.commands`).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import TYPE_CHECKING

from borough.wording import MAX_PAGE, count, page_number
from bots.commands import Arg, CommandRegistry, UsageError
from bots.microblog import Microblog
from bots.profiles import EDITABLE, ProfileDirectory, parse_query

if TYPE_CHECKING:  # these modules register their own commands here, so import back lazily
    from bots.admin import PartnerAdmin
    from bots.blogs import Blogs
    from bots.digest import Digests
    from bots.meet import Meetings
    from bots.sharing import Reposts
    from bots.widgets_cmd import RoomWidgets

registry = CommandRegistry()


@dataclass
class Request:
    """Who asked, where, and the services a handler may call."""

    sender: str
    room_id: str
    event_id: str
    profiles: ProfileDirectory
    microblog: Microblog
    blogs: Blogs
    reposts: Reposts
    digests: Digests
    admin: PartnerAdmin | None = None
    meetings: Meetings | None = None
    room_widgets: RoomWidgets | None = None


@registry.command(
    "help",
    Arg("command", "a command to explain, e.g. `profile set`", is_optional=True, is_rest=True),
    help="List the commands, or explain one.",
)
async def help_(request: Request, command: str | None) -> str:
    return registry.help(command)


@registry.command("profile", help="Show your own profile card.")
async def profile(request: Request) -> str:
    return await request.profiles.card(request.sender, request.sender)


@registry.command(
    "profile set",
    Arg("field", "which field", choices=EDITABLE),
    Arg("value", "the new value; skills are separated by commas", is_rest=True),
    help="Set a field of your profile.",
)
async def profile_set(request: Request, field: str, value: str) -> str:
    return await request.profiles.set_field(request.sender, field, value)


@registry.command(
    "profile visibility",
    Arg("field", "which field", choices=EDITABLE),
    Arg("audience", "who may see it", choices=("staff", "partners", "public")),
    help="Choose who sees a field: your organisation (staff), partner organisations too, or everyone.",
)
async def profile_visibility(request: Request, field: str, audience: str) -> str:
    return await request.profiles.set_visibility(request.sender, field, audience)


@registry.command(
    "whois",
    Arg("person", "@user:server or part of a name", is_rest=True, max_length=100),
    help="Show someone's profile card.",
)
async def whois(request: Request, person: str) -> str:
    matches = await request.profiles.find_people(person)
    if not matches:
        raise UsageError(f"Nobody matches `{person}`. Try part of their name, or `@username`.")
    if len(matches) > 1:
        names = "\n".join(f"- {m.display_name} ({m.user_id})" for m in matches)
        return (
            f"{count(len(matches), 'person', 'people')} match `{person}`:\n\n{names}\n\n"
            "Ask again with their `@username`."
        )
    return await request.profiles.card(request.sender, matches[0].user_id)


@registry.command(
    "find",
    Arg(
        "query",
        'words and filters: org:KEY unit:KEY skill:"…" role:ROLE page:N',
        is_rest=True,
        keeps_quotes=True,
        max_length=300,
    ),
    help="Search the people directory, ranked; only fields you may see are searched.",
)
async def find(request: Request, query: str) -> str:
    return await request.profiles.search(request.sender, parse_query(shlex.split(query)))


@registry.command(
    "team",
    Arg("unit", "a unit's key or name", is_rest=True, max_length=255),
    help="The members of a unit, managers first, and the teams within it.",
)
async def team(request: Request, unit: str) -> str:
    return await request.profiles.team(request.sender, unit)


CHANNEL = Arg("channel", "a channel's alias, e.g. #council-news", max_length=255)
PAGE = Arg("page", f"which page, from 1 to {MAX_PAGE}", is_optional=True, convert=page_number)


@registry.command("follow", CHANNEL, help="Follow a channel: its posts come into your !feed.")
async def follow(request: Request, channel: str) -> str:
    return await request.microblog.follow(request.sender, channel)


@registry.command("unfollow", CHANNEL, help="Stop following a channel.")
async def unfollow(request: Request, channel: str) -> str:
    return await request.microblog.unfollow(request.sender, channel)


@registry.command("feed", PAGE, help="The latest posts of the channels you follow.")
async def feed(request: Request, page: int | None) -> str:
    return await request.microblog.feed(request.sender, page or 1)


@registry.command(
    "tag",
    Arg("hashtag", "e.g. #housing", max_length=100),
    PAGE,
    help="Posts with a hashtag, in channels you can read.",
)
async def tag(request: Request, hashtag: str, page: int | None) -> str:
    return await request.microblog.tag(request.sender, hashtag, page or 1)


@registry.command(
    "trending", help="The hashtags of the past 24 hours and 7 days, in channels you can read."
)
async def trending(request: Request) -> str:
    return await request.microblog.trending(request.sender)
