"""`!widget people` and `!widget timeline #channel`: Borough's web views as room widgets.

The widget content and its place (the side panel) come from `borough.room_widgets` (apply
writes the same).
Adding a widget changes room state, so the asker must be allowed to change this room's
widgets, and so must the bot; either way the answer says which power level is missing.
"""

from __future__ import annotations

from dataclasses import dataclass

from nio import AsyncClient, RoomPutStateResponse

from borough import events
from borough.room_widgets import RoomWidget, side_panel_layout
from bots.commands import Arg, Commands, Request, UsageError
from bots.homeserver import checked, room_power, state_content
from bots.microblog import Microblog


@dataclass
class RoomWidgets:
    client: AsyncClient
    public_url: str
    #: Finds the channel a timeline widget shows, among those the asker can read.
    microblog: Microblog

    async def add(self, room_id: str, sender: str, widget: RoomWidget) -> str:
        power = await room_power(self.client, room_id)
        needed = power.widget_level
        if not power.may_manage_widgets(sender):
            raise UsageError(
                f"Adding widgets here needs power level {needed}; you have {power.of(sender)}."
            )
        bot = str(self.client.user_id)
        if not power.may_manage_widgets(bot):
            raise UsageError(
                f"I cannot add widgets here: that needs power level {needed} and I have "
                f"{power.of(bot)}. A room admin can raise my power level."
            )
        content = widget.content(self.public_url, bot)
        if await state_content(self.client, room_id, events.WIDGETS, widget.widget_id) != content:
            checked(
                await self.client.room_put_state(
                    room_id, events.WIDGETS, content, state_key=widget.widget_id
                ),
                RoomPutStateResponse,
                "adding the widget",
            )
        current = await state_content(self.client, room_id, events.WIDGET_LAYOUT)
        layout = side_panel_layout(current, [widget.widget_id])
        if layout is not None:
            checked(
                await self.client.room_put_state(room_id, events.WIDGET_LAYOUT, layout),
                RoomPutStateResponse,
                "pinning the widget",
            )
        return (
            f"Added **{widget.name}** to this room's side panel: open it from Room info > "
            "Extensions. Element asks each person once before showing a widget someone else "
            "added, and then to confirm who they are."
        )


COMMANDS = Commands(RoomWidgets)


@COMMANDS.command(
    "widget",
    Arg("widget", "the widget to add", choices=("people", "timeline", "townhall")),
    Arg(
        "channel",
        "for a timeline: the channel, e.g. #news; none for your follows",
        is_optional=True,
    ),
    help="Add Borough's people directory, a channel's timeline, or (in a channel) its town "
    "hall's questions to this room as a widget.",
)
async def widget_(
    room_widgets: RoomWidgets, request: Request, widget: str, channel: str | None
) -> str:
    if widget in ("people", "townhall"):
        if channel is not None:
            raise UsageError(f"`!widget {widget}` takes nothing more.")
        if widget == "people":
            return await room_widgets.add(request.room_id, request.sender, RoomWidget("people"))
        if request.room_id not in room_widgets.microblog.indexer.channels:
            raise UsageError("Town halls are held in channels: add this widget in one.")
        return await room_widgets.add(request.room_id, request.sender, RoomWidget("townhall"))
    reference = None
    if channel is not None:
        row = await room_widgets.microblog.channel(channel, request.sender)
        reference = row.alias or row.room_id
    return await room_widgets.add(
        request.room_id, request.sender, RoomWidget("timeline", reference)
    )
