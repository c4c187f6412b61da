"""The bot assembled in one place: its features, the command registry built from them, and the
services their commands are given.

A feature module only declares its commands (`bots.commands.Commands`); importing it registers
nothing anywhere. What the bot can do is the list below, so `!help` is the same whatever was
imported first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bots import (
    admin,
    ask,
    blogs,
    digest,
    meet,
    microblog,
    profiles,
    sharing,
    townhall,
    widgets_cmd,
)
from bots.commands import HELP, CommandRegistry, Commands, Help, Services

FEATURES: tuple[Commands[Any], ...] = (
    HELP,
    profiles.COMMANDS,
    microblog.COMMANDS,
    blogs.COMMANDS,
    sharing.COMMANDS,
    digest.COMMANDS,
    admin.COMMANDS,
    meet.COMMANDS,
    widgets_cmd.COMMANDS,
    ask.COMMANDS,
    townhall.COMMANDS,
)


def command_registry() -> CommandRegistry:
    return CommandRegistry(FEATURES)


@dataclass(frozen=True)
class BotServices(Services):
    """One of each service the features' commands are given; `BoroughBot` builds it."""

    help: Help
    profiles: profiles.ProfileDirectory
    microblog: microblog.Microblog
    blogs: blogs.Blogs
    reposts: sharing.Reposts
    digests: digest.Digests
    admin: admin.PartnerAdmin
    meetings: meet.Meetings
    room_widgets: widgets_cmd.RoomWidgets
    asking: ask.AskTheNetwork
    town_halls: townhall.TownHalls
