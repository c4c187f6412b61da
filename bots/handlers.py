"""Borough's chat commands. Each handler: check permission, parse, call a service, answer.

Help is generated from these registrations (`bots.commands`).
"""

from __future__ import annotations

from dataclasses import dataclass

from bots.commands import Arg, CommandRegistry, UsageError
from bots.profiles import EDITABLE, ProfileDirectory

registry = CommandRegistry()


@dataclass
class Request:
    """Who asked, where, and the services a handler may call."""

    sender: str
    room_id: str
    event_id: str
    profiles: ProfileDirectory


@registry.command(
    "help",
    Arg("command", "a command to explain", is_optional=True),
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
        return f"{len(matches)} people match `{person}`:\n\n{names}\n\nAsk again with their `@username`."
    return await request.profiles.card(request.sender, matches[0].user_id)
