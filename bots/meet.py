"""`!meet`: Jitsi meetings in any room, now or at a time, with a reminder and a link.

A meeting is Element's own Jitsi widget, pinned at the top of the room, plus a short message
with a link for Element X and browsers (the widget server's meeting page, which checks
membership before it hands out a token). Scheduled meetings live in the app database; the
schedule loop claims each reminder and each start in a committed transition before acting,
and its messages carry stable transaction ids, so nothing fires twice across restarts.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from nio import AsyncClient, RoomPutStateResponse, RoomSendResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough.db import ChannelRow, Meeting
from borough.events import WIDGET_LAYOUT, WIDGETS
from borough.jitsi import (
    OPENID_AUTH,
    STANDING_WIDGET_ID,
    MeetingTokenRequest,
    MeetingWidget,
    is_jitsi_widget,
    mint_meeting_token,
    new_widget_id,
    random_conference_id,
    room_conference_id,
    token_meeting_url,
)
from borough.meetings import REMINDER_LEAD, MeetingStore, as_utc
from borough.room_power import RoomPower
from borough.room_widgets import pinned_layout, unpinned_layout
from borough.settings import JitsiSettings
from borough.wording import quoted
from bots.commands import Arg, Commands, Request, UsageError
from bots.direct import DirectMessages
from bots.homeserver import HomeserverRefused, checked, room_power, state_content
from bots.replies import notice
from bots.ticking import run_ticks

logger = logging.getLogger(__name__)

Clock = Callable[[], datetime]
MAX_AHEAD = timedelta(days=366)
#: Jitsi checks a token when someone joins, so a guest link must outlive the wait to join.
GUEST_LINK_LIFETIME = timedelta(hours=4)
_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m(?:in)?)?$")


def utc_now() -> datetime:
    return datetime.now(UTC)


# --- pure: reading times ---------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"`{name}` is not a timezone I know. Use a name like Europe/London or UTC."
        ) from None


def looks_like_zone(word: str) -> bool:
    return word == "UTC" or bool(re.fullmatch(r"[A-Za-z_]+/[A-Za-z_/+-]+", word))


def parse_duration(text: str) -> timedelta:
    """`90m`, `2h`, `1h30m`, `1d` → a timedelta of at least a minute, at most a year."""
    match = _DURATION.match(text.lower())
    if not text or match is None or not any(match.groups()):
        raise UsageError(f"`{text}` is not a duration. Use e.g. `30m`, `2h`, `1h30m` or `1d`.")
    days, hours, minutes = (int(g) if g else 0 for g in match.groups())
    # In whole minutes first: a timedelta of 99999999999 hours overflows before it compares.
    total = (days * 24 + hours) * 60 + minutes
    if not 1 <= total <= MAX_AHEAD // timedelta(minutes=1):
        raise UsageError("A meeting can be set from a minute to a year ahead.")
    return timedelta(minutes=total)


def parse_local_time(day: str, clock_time: str, tz: ZoneInfo, now: datetime) -> datetime:
    """`2026-12-01` (or today/tomorrow) and `14:00` in `tz` → an aware UTC datetime."""
    local_today = now.astimezone(tz).date()
    if day.lower() == "today":
        when_day = local_today
    elif day.lower() == "tomorrow":
        when_day = local_today + timedelta(days=1)
    else:
        try:
            when_day = date.fromisoformat(day)
        except ValueError:
            raise UsageError(
                f"`{day}` is not a date. Use YYYY-MM-DD, `today` or `tomorrow`."
            ) from None
    # Far dates are refused here, before year 9999 in a zone west of UTC overflows.
    if when_day < local_today - timedelta(days=1):
        raise UsageError("That time has already passed. Pick a time in the future.")
    if when_day > local_today + MAX_AHEAD + timedelta(days=1):
        raise UsageError("A meeting can be set at most a year ahead.")
    match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", clock_time)
    if match is None:
        raise UsageError(f"`{clock_time}` is not a time. Use HH:MM on a 24-hour clock.")
    wall = datetime.combine(when_day, time(int(match[1]), int(match[2])), tzinfo=tz)
    moment = wall.astimezone(UTC)
    if moment.astimezone(tz).replace(tzinfo=None) != wall.replace(tzinfo=None):
        raise UsageError(
            f"{clock_time} does not exist on {when_day} in {tz.key}: the clocks change."
        )
    return moment


def meeting_number(text: str) -> int:
    """`3` or `#3` → 3; a number beyond any meeting's id is no meeting, said the same way."""
    digits = text.removeprefix("#")
    if not re.fullmatch(r"[0-9]{1,9}", digits):
        raise UsageError(f"{quoted(text)} is not a meeting number; `!meet list` shows them.")
    return int(digits)


def check_ahead(moment: datetime, now: datetime) -> datetime:
    if moment <= now:
        raise UsageError("That time has already passed. Pick a time in the future.")
    if moment - now > MAX_AHEAD:
        raise UsageError("A meeting can be set at most a year ahead.")
    return moment


#: A meeting's title when none was given and the room has no name (a direct chat).
UNTITLED = "Meeting"


def called(meeting: Meeting) -> str:
    """How answers name a meeting: "Meeting **Budget review**" ("Audio meeting" for sound
    only), or "The meeting" when it has no title of its own, never "Meeting **Meeting**"."""
    kind = "Audio meeting" if meeting.is_audio_only else "Meeting"
    return f"The {kind.lower()}" if meeting.title == UNTITLED else f"{kind} **{meeting.title}**"


def already_on(live: Meeting) -> str:
    return (
        f"{called(live)} is already on here. "
        "Join it from the widget at the top of the room, or close it with `!meet end`."
    )


def numbered(meeting: Meeting) -> str:
    """A planned meeting by its number: "Meeting #3 **Budget review**", or "Meeting #3"."""
    title = "" if meeting.title == UNTITLED else f" **{meeting.title}**"
    return f"Meeting #{meeting.id}{title}"


def split_audio_title(words: str | None) -> tuple[bool, str | None]:
    """`audio Budget review` → (True, "Budget review"); the title may be absent."""
    text = (words or "").strip()
    first, _, rest = text.partition(" ")
    if first.lower() == "audio":
        return True, rest.strip() or None
    return False, text or None


def show_time(moment: datetime, tz_name: str) -> str:
    local = moment.astimezone(zone(tz_name))
    return f"{local:%a %-d %b %Y, %H:%M} ({tz_name})"


def meeting_page_url(public_url: str, room_id: str) -> str:
    return f"{public_url}/meet/{quote(room_id, safe='!:')}"


# --- the service -------------------------------------------------------------------------------


@dataclass
class Meetings:
    sessions: async_sessionmaker[AsyncSession]
    client: AsyncClient
    jitsi: JitsiSettings
    default_tz: str
    public_url: str
    clock: Clock = utc_now
    interval: float = 15.0
    #: How many times the schedule loop has looked; tests await it.
    ticks: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.store = MeetingStore(self.sessions)
        self.direct = DirectMessages(self.sessions, self.client)

    # --- commands ------------------------------------------------------------------------------

    async def start(self, room_id: str, sender: str, words: str | None) -> str:
        is_audio, title = split_audio_title(words)
        live = await self.store.live(room_id)
        if live is not None:
            return already_on(live)
        await self._check_may_start(room_id, sender)
        title = title or self._room_name(room_id)
        meeting, opened = await self.open_now(room_id, sender, title, is_audio)
        if not opened:
            return already_on(meeting)
        return self._join_text(meeting)

    async def open_now(
        self, room_id: str, created_by: str, title: str, is_audio: bool = False
    ) -> tuple[Meeting, bool]:
        """The room's live meeting, or a new one added and pinned now (a town hall's, too), and
        whether it is new. The caller has checked that `created_by` may start one here."""
        live = await self.store.live(room_id)
        if live is not None:
            return live, False
        self._check_bot_power(await self._power(room_id))
        # Under the room's meeting lock, as widget servers open one: one meeting comes of it.
        meeting, opened = await self.store.live_or_open(
            room_id=room_id,
            started_at=self.clock(),
            widget_id=new_widget_id(),
            conference_id=self._conference_id(room_id),
            title=title,
            is_audio_only=is_audio,
            created_by=created_by,
            timezone=self.default_tz,
        )
        if not opened:
            return meeting, False
        try:
            await self._open(meeting)
        except HomeserverRefused as exc:
            await self.store.end(meeting.id, self.clock())
            raise UsageError(f"I could not add the meeting: {exc}.") from None
        return meeting, True

    async def schedule_at(
        self,
        room_id: str,
        sender: str,
        day: str,
        clock_time: str,
        words: str | None,
        command_id: str,
    ) -> str:
        tz_name = await self._timezone_of(sender)
        first, _, rest = (words or "").partition(" ")
        if looks_like_zone(first):
            tz_name, words = zone(first).key, rest
        now = self.clock()
        moment = check_ahead(parse_local_time(day, clock_time, zone(tz_name), now), now)
        return await self._schedule(room_id, sender, moment, tz_name, words, command_id)

    async def schedule_in(
        self, room_id: str, sender: str, delay: timedelta, words: str | None, command_id: str
    ) -> str:
        moment = self.clock() + delay
        tz_name = await self._timezone_of(sender)
        return await self._schedule(room_id, sender, moment, tz_name, words, command_id)

    async def _timezone_of(self, person: str) -> str:
        """The person's own timezone (as set with `!digest`), else the council's."""
        chosen = await self.store.person_timezone(person)
        if chosen:
            try:
                return zone(chosen).key
            except UsageError:
                logger.info("ignoring an unknown timezone %r for %s", chosen, person)
        return self.default_tz

    async def _schedule(
        self,
        room_id: str,
        sender: str,
        moment: datetime,
        tz_name: str,
        words: str | None,
        command_id: str,
    ) -> str:
        is_audio, title = split_audio_title(words)
        await self._check_may_start(room_id, sender)
        self._check_bot_power(await self._power(room_id))
        # A bot killed after planning but before it recorded the command as handled sees the
        # command again when it restarts: it must find that meeting, not plan a second one.
        widget_id = new_widget_id(command_id)
        meeting = await self.store.with_widget(room_id, widget_id) or await self.store.create(
            room_id=room_id,
            widget_id=widget_id,
            conference_id=self._conference_id(room_id),
            title=title or self._room_name(room_id),
            is_audio_only=is_audio,
            created_by=sender,
            timezone=tz_name,
            scheduled_for=moment,
            reminded_at=self.clock() if moment - self.clock() <= REMINDER_LEAD else None,
        )
        return (
            f"{numbered(meeting)} is set for {show_time(moment, tz_name)}. "
            f"I will remind the room {int(REMINDER_LEAD.total_seconds() // 60)} minutes before "
            f"and add the meeting at the time. `!meet cancel {meeting.id}` calls it off."
        )

    async def end(self, room_id: str, sender: str) -> str:
        live = await self.store.live(room_id)
        if live is None:
            return "There is no meeting on in this room."
        power = await self._power(room_id)
        if sender != live.created_by and not power.may_manage_widgets(sender):
            raise UsageError(
                "Only the person who started this meeting, or someone who may change the "
                "room's widgets, can end it."
            )
        if await self.finish(live):
            return f"{called(live)} has ended; the room's standing meeting stays."
        return f"{called(live)} has ended."

    async def finish(self, live: Meeting) -> bool:
        """End a live meeting and remove its widget; True if the widget stays because it is
        the room's standing meeting (the org chart's to keep: only this session ends)."""
        if live.widget_id in ("", STANDING_WIDGET_ID):
            await self.store.end(live.id, self.clock())
            return True
        await self._close(live.room_id, live.widget_id)
        await self.store.end(live.id, self.clock())
        return False

    async def upcoming(self, room_id: str) -> str:
        lines = []
        live = await self.store.live(room_id)
        if live is not None:
            lines.append(f"- Now: **{live.title}** (started by {live.created_by})")
        for meeting in await self.store.upcoming(room_id):
            assert meeting.scheduled_for is not None
            when = show_time(as_utc(meeting.scheduled_for), meeting.timezone)
            lines.append(f"- #{meeting.id} **{meeting.title}**: {when}, by {meeting.created_by}")
        if not lines:
            return "No meetings are planned in this room. `!meet at` or `!meet in` sets one."
        return "Meetings in this room:\n\n" + "\n".join(lines)

    async def guest_link(self, room_id: str, sender: str, name: str, tx_id: str) -> str:
        """An HS256 link into this room's live meeting for someone without an account, sent
        to the asker by direct message: anyone who sees the link can join as the guest."""
        live = await self.store.live(room_id)
        if live is None:
            raise UsageError("There is no meeting on here; start one with `!meet` first.")
        if sender != live.created_by and not (await self._power(room_id)).is_moderator(sender):
            raise UsageError(
                "Only the person who started this meeting, or a moderator, can invite guests."
            )
        if self.jitsi.app_id is None or self.jitsi.app_secret is None:
            raise UsageError(
                "Guest links need `jitsi.app_id` and `jitsi.app_secret` in Borough's settings "
                "(the same as Prosody's). Ask the team that runs Borough."
            )
        lifetime = int(GUEST_LINK_LIFETIME.total_seconds())
        token = mint_meeting_token(
            MeetingTokenRequest(
                user_id=f"guest:{live.id}:{sender}",
                display_name=f"{name} (guest)",
                conference_id=live.conference_id,
                is_moderator=False,
                issued_at=int(self.clock().timestamp()),
                lifetime_seconds=lifetime,
            ),
            app_id=self.jitsi.app_id,
            app_secret=self.jitsi.app_secret.get_secret_value(),
            domain=self.jitsi.domain,
        )
        url = token_meeting_url(self.jitsi.domain, live.conference_id, token)
        link = (
            f"A guest link for {name} to **{live.title}**, for this meeting only; it must be "
            f"opened within {lifetime // 3600} hours. Send it to them directly: {url}"
        )
        if await self.direct.send(sender, link, tx_id) is None:
            raise UsageError(
                "I could not send you the guest link by direct message. Check that you accept "
                "invites from me, then ask again."
            )
        return f"I have sent you the guest link for {name} by direct message."

    async def cancel(self, room_id: str, sender: str, number: int) -> str:
        meeting = await self.store.get(number)
        if meeting is None or meeting.room_id != room_id:
            raise UsageError(f"There is no meeting #{number} in this room.")
        if meeting.started_at is not None:
            raise UsageError("That meeting has already started; `!meet end` closes it.")
        if meeting.cancelled_at is not None:
            return f"Meeting #{meeting.id} was already cancelled."
        if sender != meeting.created_by and not (await self._power(room_id)).is_moderator(sender):
            raise UsageError("Only the person who set this meeting, or a moderator, can cancel it.")
        await self.store.cancel(room_id, meeting.id, self.clock())
        return f"{numbered(meeting)} is cancelled."

    # --- what the sync tells us ------------------------------------------------------------

    async def observe_state(self, room_id: str, events: list[dict[str, Any]]) -> None:
        """A Jitsi widget removed by anyone (content without type/url) ends its meeting."""
        for event in events:
            if event.get("type") != WIDGETS or "state_key" not in event:
                continue
            if not is_jitsi_widget(event.get("content") or {}):
                ended = await self.store.end_widget(room_id, str(event["state_key"]), self.clock())
                if ended:
                    logger.info("a meeting widget was removed in %s; meeting ended", room_id)

    # --- the schedule loop -------------------------------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        await run_ticks(self, stopping, "the meeting schedule loop")

    async def tick(self) -> None:
        now = self.clock()
        for meeting in await self.store.claim_reminders(now):
            assert meeting.scheduled_for is not None
            text = (
                f"Reminder: {numbered(meeting)} starts at "
                f"{show_time(as_utc(meeting.scheduled_for), meeting.timezone)}."
            )
            await self._say(meeting.room_id, text, f"meet-remind-{meeting.id}")
        for start in await self.store.claim_starts(now):
            meeting = start.meeting
            if start.already_on is not None:
                await self._say(
                    meeting.room_id,
                    f"{numbered(meeting)} was due to start now. I have not opened a second "
                    f"meeting: {already_on(start.already_on)}",
                    f"meet-start-{meeting.id}",
                )
                continue
            try:
                await self._open(meeting)
            except HomeserverRefused as exc:
                logger.warning(
                    "could not start meeting %d in %s: %s", meeting.id, meeting.room_id, exc
                )
                await self._say(
                    meeting.room_id,
                    f"I could not add {numbered(meeting)}: {exc}. Start it by hand with `!meet`.",
                    f"meet-start-{meeting.id}",
                )
                await self.store.end(meeting.id, now)
                continue
            await self._say(meeting.room_id, self._join_text(meeting), f"meet-start-{meeting.id}")

    # --- Matrix ------------------------------------------------------------------------------

    def _conference_id(self, room_id: str) -> str:
        if self.jitsi.auth == OPENID_AUTH:
            return room_conference_id(room_id)
        return random_conference_id()

    def _room_name(self, room_id: str) -> str:
        room = self.client.rooms.get(room_id)
        name = room.name if room is not None else None
        return (name or UNTITLED)[:255]

    def _widget(self, meeting: Meeting) -> MeetingWidget:
        return MeetingWidget(
            widget_id=meeting.widget_id,
            conference_id=meeting.conference_id,
            domain=self.jitsi.domain,
            title=meeting.title,
            room_name=self._room_name(meeting.room_id),
            is_audio_only=meeting.is_audio_only,
            is_authenticated=self.jitsi.auth == OPENID_AUTH,
            wrapper_url=self.jitsi.wrapper_url,
        )

    def join_link(self, meeting: Meeting) -> str:
        """Where Element X and browsers join: the meeting page when a token is needed."""
        needs_token = self.jitsi.auth == OPENID_AUTH or self.jitsi.app_secret is not None
        if needs_token:
            return meeting_page_url(self.public_url, meeting.room_id)
        return self._widget(meeting).meeting_url()

    def _join_text(self, meeting: Meeting) -> str:
        return (
            f"{called(meeting)} has started: join from the widget at the top of "
            f"the room. On Element X or in a browser: [join the meeting]({self.join_link(meeting)})"
        )

    async def _open(self, meeting: Meeting) -> None:
        widget = self._widget(meeting)
        room_id = meeting.room_id
        checked(
            await self.client.room_put_state(
                room_id, WIDGETS, widget.content(), state_key=meeting.widget_id
            ),
            RoomPutStateResponse,
            "adding the meeting widget",
        )
        current = await state_content(self.client, room_id, WIDGET_LAYOUT)
        layout = pinned_layout(current, [meeting.widget_id])
        if layout is not None:
            checked(
                await self.client.room_put_state(room_id, WIDGET_LAYOUT, layout),
                RoomPutStateResponse,
                "pinning the meeting widget",
            )

    async def _close(self, room_id: str, widget_id: str) -> None:
        checked(
            await self.client.room_put_state(room_id, WIDGETS, {}, state_key=widget_id),
            RoomPutStateResponse,
            "removing the meeting widget",
        )
        current = await state_content(self.client, room_id, WIDGET_LAYOUT)
        layout = unpinned_layout(current, widget_id)
        if layout is not None:
            checked(
                await self.client.room_put_state(room_id, WIDGET_LAYOUT, layout),
                RoomPutStateResponse,
                "unpinning the meeting widget",
            )

    async def _say(self, room_id: str, text: str, tx_id: str) -> None:
        try:
            checked(
                await self.client.room_send(room_id, "m.room.message", notice(text), tx_id=tx_id),
                RoomSendResponse,
                f"posting in {room_id}",
            )
        except HomeserverRefused as refused:
            logger.warning("%s", refused)

    async def _power(self, room_id: str) -> RoomPower:
        return await room_power(self.client, room_id)

    async def _check_may_start(self, room_id: str, sender: str) -> None:
        """In a channel, a meeting is pinned for every reader, so only those who may start a
        post there may start or plan one; elsewhere, any member may."""
        async with self.sessions() as session:
            channel = await session.get(ChannelRow, room_id)
        if channel is not None and sender not in channel.posters:
            raise UsageError(
                f"Only the posters of {channel.name} can start or plan a meeting in it."
            )

    def _check_bot_power(self, power: RoomPower) -> None:
        bot = self.client.user_id
        if not power.may_manage_widgets(bot):
            raise UsageError(
                f"I cannot add a meeting here: changing this room's widgets needs power level "
                f"{power.widget_level} and I have {power.of(bot)}. A room admin can raise my "
                f"power level, or lower the level for `{WIDGETS}` and "
                f"`{WIDGET_LAYOUT}`."
            )


# --- commands ------------------------------------------------------------------------------------

COMMANDS = Commands(Meetings)
TITLE = Arg(
    "title",
    "what the meeting is about; start with `audio` for sound only",
    is_optional=True,
    is_rest=True,
    max_length=200,
)


@COMMANDS.command("meet", TITLE, help="Start a Jitsi meeting in this room now, pinned at the top.")
async def meet(meetings: Meetings, request: Request, title: str | None) -> str:
    return await meetings.start(request.room_id, request.sender, title)


@COMMANDS.command("meet end", help="End this room's meeting and remove its widget.")
async def meet_end(meetings: Meetings, request: Request) -> str:
    return await meetings.end(request.room_id, request.sender)


@COMMANDS.command(
    "meet at",
    Arg("date", "YYYY-MM-DD, today or tomorrow", max_length=10),
    Arg("time", "HH:MM on a 24-hour clock", max_length=5),
    Arg(
        "title",
        "optionally a timezone such as Europe/Paris first (default: the council's), then the "
        "title; `audio` before the title for sound only",
        is_optional=True,
        is_rest=True,
        max_length=200,
    ),
    help="Plan a meeting at a date and time; the room is reminded 10 minutes before.",
)
async def meet_at(
    meetings: Meetings, request: Request, date: str, time: str, title: str | None
) -> str:
    return await meetings.schedule_at(
        request.room_id, request.sender, date, time, title, request.event_id
    )


@COMMANDS.command(
    "meet in",
    Arg("delay", "e.g. 30m, 2h, 1h30m, 1d", max_length=12, convert=parse_duration),
    TITLE,
    help="Plan a meeting after a delay; the room is reminded 10 minutes before.",
)
async def meet_in(meetings: Meetings, request: Request, delay: timedelta, title: str | None) -> str:
    return await meetings.schedule_in(
        request.room_id, request.sender, delay, title, request.event_id
    )


@COMMANDS.command(
    "meet guest",
    Arg("name", "the guest's name, as the meeting will show it", is_rest=True, max_length=100),
    help="A link into this room's meeting for a guest without an account, sent to you by "
    "direct message (moderators).",
)
async def meet_guest(meetings: Meetings, request: Request, name: str) -> str:
    return await meetings.guest_link(
        request.room_id, request.sender, name, f"guest-{request.event_id}"
    )


@COMMANDS.command("meet list", help="The meeting on now and those planned in this room.")
async def meet_list(meetings: Meetings, request: Request) -> str:
    return await meetings.upcoming(request.room_id)


@COMMANDS.command(
    "meet cancel",
    Arg("number", "the meeting's number, from `!meet list`", convert=meeting_number),
    help="Call off a planned meeting.",
)
async def meet_cancel(meetings: Meetings, request: Request, number: int) -> str:
    return await meetings.cancel(request.room_id, request.sender, number)
