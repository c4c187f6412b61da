"""`!townhall`, `!q`, `!answered`, `!hide`: town halls in channels, with questions staff rank.

A town hall is a meeting (`bots.meet`) plus one pinned message that lists the questions, most
upvoted first, and is the root of the thread they are asked in. People ask in the thread, or
send `!q` to the bot privately and the bot posts the question as "Anonymous (their unit)".
A 👍 on a question is a vote. The list is edited in place, at most once every
`edit_interval` seconds however fast votes come, always from the database, so the last edit
is exact. Planned starts, ends and summaries run in the schedule loop under the bot's lease
(`borough.townhalls` claims each once), and every message carries a transaction id derived
from the town hall, so a restart half-way finishes the work instead of repeating it.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from nio import AsyncClient, RoomPutStateResponse, RoomRedactResponse, RoomSendResponse
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import audit, readers
from borough.db import ChannelRow, TownHall, TownHallQuestion
from borough.townhalls import (
    Asked,
    Happening,
    Mark,
    RankedQuestion,
    Redacted,
    TownHallStore,
    Voted,
    is_upvote,
)
from borough.wording import count, quoted
from bots.commands import Arg, Commands, Request, UsageError
from bots.homeserver import HomeserverRefused, checked, room_power, state_content
from bots.meet import (
    Clock,
    Meetings,
    check_ahead,
    looks_like_zone,
    parse_local_time,
    show_time,
    utc_now,
    zone,
)
from bots.replies import in_thread, notice, render_html
from bots.ticking import run_ticks

logger = logging.getLogger(__name__)

PINNED = "m.room.pinned_events"
#: How much of a question the pinned list and the summary quote.
QUOTE_CHARS = 90
#: The most the list and the summary say, in characters: a long list ends "…and N more". A
#: channel's length limit is for people (`synapse_modules.policy.judge_post`), not for these.
MAX_LIST = 4000
_DATE = re.compile(r"(?i)^(today|tomorrow|\d.*)$")


# --- pure: reading the command, writing the list and the summary -----------------------------


@dataclass(frozen=True)
class Plan:
    title: str | None
    #: (date, time, timezone or None) when the town hall is planned rather than started now.
    when: tuple[str, str, str | None] | None


def read_plan(words: str | None) -> Plan:
    """`Budget 2027 at 2026-12-10 14:00 Europe/London` → a title and a time; no trailing
    `at DATE HH:MM [TZ]` → a title (perhaps none) to start now. An `at` followed by something
    date-like that does not read as one is an error, not part of the title: starting a town
    hall by mistake is worse than asking again."""
    tokens = (words or "").split()
    for at in range(len(tokens) - 1, -1, -1):
        if tokens[at].lower() != "at":
            continue
        tail = tokens[at + 1 :]
        if not tail or not _DATE.match(tail[0]):
            continue
        if len(tail) not in (2, 3):
            raise UsageError(
                "Plan a town hall as `!townhall TITLE at DATE HH:MM [TIMEZONE]`, e.g. "
                "`!townhall Budget 2027 at 2026-12-10 14:00 Europe/London`."
            )
        if len(tail) == 3 and not looks_like_zone(tail[2]):
            raise UsageError(
                f"{quoted(tail[2])} is not a timezone. Use a name like Europe/London or UTC."
            )
        title = " ".join(tokens[:at]) or None
        return Plan(title, (tail[0], tail[1], tail[2] if len(tail) == 3 else None))
    return Plan(" ".join(tokens) or None, None)


def question_number(text: str) -> int:
    digits = text.removeprefix("#")
    if not re.fullmatch(r"[0-9]{1,9}", digits):
        raise UsageError(f"{quoted(text)} is not a question number: the pinned list shows them.")
    return int(digits)


def _short(text: str, limit: int = QUOTE_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def question_line(question: RankedQuestion) -> str:
    return f"#{question.number} · {question.votes} 👍 · {question.label}: {_short(question.body)}"


def fitted(head: list[str], items: list[str], tail: list[str], budget: int, more: str) -> str:
    """The head, as many items as fit in `budget` characters with the tail, and a `more`
    line ("…and N more", N filled in) for those left out."""

    def joined(shown: list[str], left: int) -> str:
        extra = [more.format(left)] if left else []
        return "\n".join([*head, *shown, *extra, *tail])

    shown: list[str] = []
    for index, item in enumerate(items):
        if len(joined([*shown, item], len(items) - index - 1)) > budget:
            return joined(shown, len(items) - index)
        shown.append(item)
    return joined(shown, 0)


def list_text(
    title: str,
    questions: Sequence[RankedQuestion],
    *,
    bot: str,
    join_link: str | None,
    is_over: bool,
    budget: int,
) -> str:
    """The pinned list: how to take part, then the open questions most upvoted first, then
    the numbers of those answered."""
    if is_over:
        head = [f"🎤 Town hall: {title} (ended)", "", "Questions, most upvoted first:"]
    else:
        meeting = "Join the meeting from the widget at the top of the room" + (
            f" or [here]({join_link})." if join_link else "."
        )
        head = [
            f"🎤 Town hall: {title}",
            meeting,
            f"Ask in this thread, or anonymously: send `!q QUESTION` to {bot} in a direct "
            "message. 👍 the questions you want answered.",
            "",
            "Questions, most upvoted first:",
        ]
    open_ = [q for q in questions if not q.is_answered]
    answered = sorted(q.number for q in questions if q.is_answered)
    items = [f"{n}. {question_line(q)}" for n, q in enumerate(open_, 1)]
    if not questions:
        items = ["No questions yet."]
    tail = [f"Answered: {', '.join(f'#{n}' for n in answered)}"] if answered else []
    return fitted(head, items, tail, budget, "…and {} more (`!widget townhall` shows all).")


def summary_text(title: str, questions: Sequence[RankedQuestion], joined: int, budget: int) -> str:
    answered = [q for q in questions if q.is_answered]
    unanswered = [q for q in questions if not q.is_answered][:5]
    head = [
        f"🎤 Town hall **{title}** has ended: {count(joined, 'person', 'people')} joined, "
        f"{count(len(questions), 'question')} asked, {len(answered)} answered."
    ]
    items = [f"- Answered: {question_line(q)}" for q in answered]
    items += [f"- Not yet answered: {question_line(q)}" for q in unanswered]
    return fitted(head, items, [], budget, "- …and {} more.")


def edit_content(root: str, text: str) -> dict[str, Any]:
    """An `m.replace` of the list: the new text, and a fallback for clients without edits."""
    new = notice(text)
    return {
        **notice(f"* {text}"),
        "m.new_content": new,
        "m.relates_to": {"rel_type": "m.replace", "event_id": root},
    }


def happening(source: dict[str, Any]) -> Happening | None:
    """What a room event means for a town hall: a question in a thread, a 👍 or a redaction."""
    kind, content = source.get("type"), source.get("content") or {}
    relation = content.get("m.relates_to") or {}
    if not isinstance(relation, dict):
        return None
    if kind == "m.room.redaction":
        redacts = source.get("redacts") or content.get("redacts")
        return Redacted(redacts) if isinstance(redacts, str) else None
    if kind == "m.reaction" and relation.get("rel_type") == "m.annotation":
        key, target = relation.get("key"), relation.get("event_id")
        if isinstance(key, str) and is_upvote(key) and isinstance(target, str):
            return Voted(source["event_id"], source["sender"], target)
        return None
    if kind == "m.room.message" and relation.get("rel_type") == "m.thread":
        body, root = content.get("body"), relation.get("event_id")
        if (
            isinstance(body, str)
            and isinstance(root, str)
            and body.strip()
            and not body.lstrip().startswith("!")
            and content.get("msgtype") in ("m.text", "m.emote")
        ):
            at = datetime.fromtimestamp(int(source.get("origin_server_ts", 0)) / 1000, UTC)
            return Asked(source["event_id"], source["sender"], root, body.strip(), at)
    return None


# --- the service -----------------------------------------------------------------------------


@dataclass
class TownHalls:
    sessions: async_sessionmaker[AsyncSession]
    client: AsyncClient
    meetings: Meetings
    server_name: str
    #: Fences every write by the sync's events with the bot's lease (`BotLease.confirm`).
    confirm: Callable[[AsyncSession], Awaitable[None]]
    clock: Clock = utc_now
    interval: float = 15.0
    #: At most one edit of a town hall's list this often, however fast votes come.
    edit_interval: float = 2.0
    ticks: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.store = TownHallStore(self.sessions)
        #: Rooms with a live town hall: the sync's events elsewhere are not looked at.
        self.live_rooms: set[str] = set()
        self._wakes: dict[int, asyncio.Event] = {}
        self._editors: dict[int, asyncio.Task[None]] = {}
        self._locks: dict[int, asyncio.Lock] = {}

    @property
    def bot(self) -> str:
        return str(self.client.user_id)

    # --- commands ------------------------------------------------------------------------------

    async def plan_or_start(self, request: Request, words: str | None) -> str:
        channel = await self._channel(request.room_id)
        if request.sender not in channel.posters:
            raise UsageError(f"Only the posters of {channel.name} can hold a town hall in it.")
        plan = read_plan(words)
        title = (plan.title or channel.name)[:200]
        now = self.clock()
        moment: datetime | None = None
        tz_name = self.meetings.default_tz
        if plan.when is not None:
            day, clock_time, tz_given = plan.when
            chosen = tz_given or await self.meetings.store.person_timezone(request.sender)
            tz_name = zone(chosen).key if chosen else tz_name
            moment = check_ahead(parse_local_time(day, clock_time, zone(tz_name), now), now)
        else:
            live = await self.store.live(request.room_id)
            if live is not None and live.command_event_id != request.event_id:
                raise UsageError(
                    f"The town hall **{live.title}** is on here already; `!townhall end` closes it."
                )
        town_hall, _ = await self.store.plan(
            room_id=request.room_id,
            title=title,
            created_by=request.sender,
            timezone=tz_name,
            command_event_id=request.event_id,
            scheduled_for=moment,
            now=now,
        )
        if moment is not None:
            return (
                f"Town hall #{town_hall.id} **{town_hall.title}** is set for "
                f"{show_time(moment, tz_name)}. Then I will add the meeting and open the "
                f"question thread. `!townhall cancel {town_hall.id}` calls it off."
            )
        await self._open(town_hall)
        return (
            f"The town hall **{town_hall.title}** has started: the meeting is at the top of "
            "the room and the pinned message takes questions."
        )

    async def end(self, request: Request) -> str:
        live = await self.store.live(request.room_id)
        if live is None:
            raise UsageError("There is no town hall on in this room.")
        await self._check_moderator(request.room_id, request.sender, live)
        await self._end(live)
        return f"The town hall **{live.title}** has ended; its summary is in the channel."

    async def cancel(self, request: Request, number: int) -> str:
        town_hall = await self.store.get(number)
        if town_hall is None or town_hall.room_id != request.room_id:
            raise UsageError(f"There is no town hall #{number} in this room.")
        await self._check_moderator(request.room_id, request.sender, town_hall)
        if not await self.store.cancel(request.room_id, number, self.clock()):
            raise UsageError(f"Town hall #{number} has started or was already called off.")
        return f"Town hall #{number} **{town_hall.title}** is called off."

    async def ask(self, request: Request, words: str) -> str:
        room = self.client.rooms.get(request.room_id)
        if room is None or set(room.users) - {request.sender, self.bot}:
            raise UsageError(
                "Send `!q` to me in a direct message: everyone here can see who typed it."
            )
        town_hall, text = await self._chosen(request.sender, words)
        async with self.sessions() as session:
            channel = await session.get(ChannelRow, town_hall.room_id)
        assert channel is not None and town_hall.root_event_id is not None
        label = await self.store.anonymous_label(request.sender)
        room_for_text = channel.max_length - len(f"{label} asks: ")
        if len(text) > room_for_text:
            raise UsageError(
                f"Questions in {channel.name} can be {room_for_text} characters long; "
                f"yours has {len(text)}."
            )

        async def audited(session: AsyncSession, question: TownHallQuestion) -> None:
            await audit.record(
                session,
                actor=request.sender,
                action="townhall.anonymous_question",
                target_ids=[town_hall.room_id],
                details={"town_hall": town_hall.id, "question": question.number},
            )

        question = await self.store.ask_anonymously(
            town_hall,
            asker=request.sender,
            body=text,
            source_event_id=request.event_id,
            now=self.clock(),
            audit=audited,
        )
        if question.event_id is None:
            content = in_thread(
                town_hall.root_event_id, _message(f"**{question.label}** asks: {text}")
            )
            try:
                sent = checked(
                    await self.client.room_send(
                        town_hall.room_id,
                        "m.room.message",
                        content,
                        tx_id=f"townhall-q-{question.id}",
                    ),
                    RoomSendResponse,
                    "posting your question",
                )
            except HomeserverRefused:
                await self.store.forget(question.id)
                raise
            await self.store.posted(question.id, sent.event_id)
            self._touch(town_hall.id)
        return (
            f"Your question is #{question.number} in **{town_hall.title}**, shown as "
            f"“{question.label}”. Nobody there can see that it was you. "
            f"`!q withdraw {question.number}` takes it back."
        )

    async def withdraw(self, request: Request, number: int) -> str:
        mine = await self.store.own_questions(request.sender, number)
        if not mine:
            raise UsageError(f"You have no question #{number} in a town hall that is on.")
        if len(mine) > 1:
            raise UsageError(
                f"You have a question #{number} in several town halls; delete the one you "
                "mean from its thread."
            )
        question = mine[0]
        await self.store.mark(question.id, "withdrawn", self.clock())
        if question.is_anonymous and question.event_id is not None:
            town_hall = await self.store.get(question.town_hall_id)
            assert town_hall is not None
            try:
                checked(
                    await self.client.room_redact(town_hall.room_id, question.event_id),
                    RoomRedactResponse,
                    "removing your question",
                )
            except HomeserverRefused as refused:
                logger.warning("%s", refused)
        self._touch(question.town_hall_id)
        return f"Question #{number} is withdrawn."

    async def mark(self, request: Request, number: int, mark: str) -> str:
        live = await self.store.live(request.room_id)
        if live is None:
            raise UsageError("There is no town hall on in this room.")
        await self._check_moderator(request.room_id, request.sender, live)
        question = await self.store.question(live.id, number)
        if question is None or question.withdrawn_at is not None:
            raise UsageError(f"The town hall has no question #{number}.")
        kind: Mark = "answered" if mark == "answered" else "hidden"
        if not await self.store.mark(question.id, kind, self.clock()):
            return f"Question #{number} was already {kind}."
        self._touch(live.id)
        return f"Question #{number} is marked {kind}."

    # --- what the sync tells us ------------------------------------------------------------

    async def observe(self, room_id: str, sources: Sequence[dict[str, Any]]) -> None:
        if room_id not in self.live_rooms:
            return
        happenings = [
            h
            for source in sources
            if source.get("sender") != self.bot and (h := happening(source)) is not None
        ]
        if not happenings:
            return
        for town_hall_id in await self.store.apply(room_id, happenings, self.confirm):
            self._touch(town_hall_id)

    # --- the schedule loop and the list's editor -----------------------------------------------

    async def run(self, stopping: asyncio.Event) -> None:
        live = await self.store.all_live()
        self.live_rooms = {t.room_id for t in live}
        for town_hall in live:
            self._touch(town_hall.id)  # votes may have come while the bot was away
        try:
            await run_ticks(self, stopping, "the town hall schedule loop")
        finally:
            for task in self._editors.values():
                task.cancel()
            await asyncio.gather(*self._editors.values(), return_exceptions=True)

    async def tick(self) -> None:
        for town_hall in await self.store.half_open():
            await self._open(town_hall)
        for town_hall in await self.store.claim_starts(self.clock()):
            await self._open(town_hall)
        for town_hall in await self.store.all_live():
            if town_hall.meeting_id is not None:
                meeting = await self.meetings.store.get(town_hall.meeting_id)
                if meeting is not None and meeting.ended_at is not None:
                    await self._end(town_hall)
        for town_hall in await self.store.unsummarised():
            await self._summarise(town_hall)

    def _touch(self, town_hall_id: int) -> None:
        """The list of this town hall may be out of date: edit it soon."""
        self._wakes.setdefault(town_hall_id, asyncio.Event()).set()
        editor = self._editors.get(town_hall_id)
        if editor is None or editor.done():
            self._editors[town_hall_id] = asyncio.create_task(self._edit_loop(town_hall_id))

    async def _edit_loop(self, town_hall_id: int) -> None:
        """Edit at once when woken, then rest `edit_interval`: a burst of votes costs one edit
        at its start and one after it, never one per vote."""
        wake = self._wakes[town_hall_id]
        while True:
            await wake.wait()
            wake.clear()
            try:
                await self._refresh(town_hall_id)
            except Exception:
                logger.exception("could not edit the list of town hall %d", town_hall_id)
            await asyncio.sleep(self.edit_interval)

    async def _refresh(self, town_hall_id: int) -> None:
        async with self._locks.setdefault(town_hall_id, asyncio.Lock()):
            town_hall = await self.store.get(town_hall_id)
            if town_hall is None or town_hall.root_event_id is None:
                return
            text = await self._list(town_hall)
            if text == town_hall.list_text:
                return
            digest = hashlib.sha256(text.encode()).hexdigest()[:12]
            checked(
                await self.client.room_send(
                    town_hall.room_id,
                    "m.room.message",
                    edit_content(town_hall.root_event_id, text),
                    tx_id=f"townhall-{town_hall.id}-edit-{town_hall.edits_sent + 1}-{digest}",
                ),
                RoomSendResponse,
                "editing the town hall's questions",
            )
            await self.store.listed(town_hall.id, text)

    async def _list(self, town_hall: TownHall) -> str:
        questions = await self.store.ranking(town_hall.id)
        meeting = (
            await self.meetings.store.get(town_hall.meeting_id) if town_hall.meeting_id else None
        )
        return list_text(
            town_hall.title,
            questions,
            bot=self.bot,
            join_link=self.meetings.join_link(meeting) if meeting is not None else None,
            is_over=town_hall.ended_at is not None,
            budget=MAX_LIST,
        )

    # --- opening and closing -------------------------------------------------------------------

    async def _open(self, town_hall: TownHall) -> None:
        """Add the meeting, post the pinned list (the question thread's root), pin it. Each
        step can be repeated: the meeting is the room's live one, the post has a fixed
        transaction id."""
        if town_hall.root_event_id is not None:
            return
        meeting_id = town_hall.meeting_id
        if meeting_id is None:
            try:
                meeting, _ = await self.meetings.open_now(
                    town_hall.room_id, town_hall.created_by, town_hall.title
                )
                meeting_id = meeting.id
            except UsageError as exc:
                logger.warning("town hall %d has no meeting: %s", town_hall.id, exc)
        town_hall.meeting_id = meeting_id
        text = await self._list(town_hall)
        try:
            sent = checked(
                await self.client.room_send(
                    town_hall.room_id,
                    "m.room.message",
                    notice(text),
                    tx_id=f"townhall-{town_hall.id}-root",
                ),
                RoomSendResponse,
                "opening the town hall's questions",
            )
        except HomeserverRefused as refused:
            logger.warning("could not open town hall %d: %s", town_hall.id, refused)
            await self.store.claim_end(town_hall.id, self.clock())
            return
        # Pinned before it is recorded as open: an open town hall's list is pinned (a restart
        # in between sends the same list again, by its transaction id, and pins it once).
        await self._pin(town_hall.room_id, sent.event_id, pin=True)
        await self.store.opened(town_hall.id, meeting_id=meeting_id, root=sent.event_id, text=text)
        self.live_rooms.add(town_hall.room_id)

    async def _end(self, town_hall: TownHall) -> None:
        if not await self.store.claim_end(town_hall.id, self.clock()):
            return
        if await self.store.live(town_hall.room_id) is None:
            self.live_rooms.discard(town_hall.room_id)
        try:
            await self._refresh(town_hall.id)
        except HomeserverRefused as refused:
            logger.warning("%s", refused)
        if town_hall.meeting_id is not None:
            meeting = await self.meetings.store.get(town_hall.meeting_id)
            if meeting is not None and meeting.ended_at is None:
                try:
                    await self.meetings.finish(meeting)
                except HomeserverRefused as refused:
                    logger.warning("%s", refused)
        if town_hall.root_event_id is not None:
            await self._pin(town_hall.room_id, town_hall.root_event_id, pin=False)
        ended = await self.store.get(town_hall.id)
        if ended is not None:
            await self._summarise(ended)

    async def _summarise(self, town_hall: TownHall) -> None:
        if town_hall.summary_event_id is not None:
            return
        text = summary_text(
            town_hall.title,
            await self.store.ranking(town_hall.id),
            await self.store.joined(town_hall),
            MAX_LIST,
        )
        try:
            sent = checked(
                await self.client.room_send(
                    town_hall.room_id,
                    "m.room.message",
                    notice(text),
                    tx_id=f"townhall-{town_hall.id}-summary",
                ),
                RoomSendResponse,
                "posting the town hall's summary",
            )
        except HomeserverRefused as refused:
            logger.warning("%s", refused)
            return
        await self.store.summarised(town_hall.id, sent.event_id)

    async def _pin(self, room_id: str, event_id: str, *, pin: bool) -> None:
        """Pin or unpin the list; a room where the bot may not pin keeps it unpinned."""
        try:
            current = await state_content(self.client, room_id, PINNED) or {}
            pinned = [p for p in current.get("pinned", []) if isinstance(p, str)]
            wanted = [*pinned, event_id] if pin else [p for p in pinned if p != event_id]
            if wanted != pinned:
                checked(
                    await self.client.room_put_state(room_id, PINNED, {"pinned": wanted}),
                    RoomPutStateResponse,
                    "pinning the town hall's questions",
                )
        except HomeserverRefused as refused:
            logger.warning("%s", refused)

    # --- checks ------------------------------------------------------------------------------

    async def _channel(self, room_id: str) -> ChannelRow:
        async with self.sessions() as session:
            channel = await session.get(ChannelRow, room_id)
        if channel is None:
            raise UsageError("Town halls are held in channels: type `!townhall` in one.")
        return channel

    async def _check_moderator(self, room_id: str, sender: str, town_hall: TownHall) -> None:
        channel = await self._channel(room_id)
        if sender in channel.posters or sender == town_hall.created_by:
            return
        if not (await room_power(self.client, room_id)).is_moderator(sender):
            raise UsageError(
                f"Only the posters and moderators of {channel.name} can run its town hall."
            )

    async def _chosen(self, asker: str, words: str) -> tuple[TownHall, str]:
        """The live town hall a `!q` is for (the only one the asker may join, or the channel
        it starts with) and the question."""
        first, _, rest = words.strip().partition(" ")
        async with self.sessions() as session:
            if first.startswith(("#", "!")) and rest.strip():
                channel = await readers.find_channel(session, first, self.server_name, asker)
                if channel is not None:
                    live = await self.store.live(channel.room_id)
                    if live is None or live.root_event_id is None:
                        raise UsageError(f"There is no town hall on in {channel.name}.")
                    return live, rest.strip()
            readable = await readers.readable_channel_ids(session, asker)
        live_ones = [t for t in await self.store.live_in(readable) if t.root_event_id]
        if not live_ones:
            raise UsageError("No town hall that you can join is on now.")
        if len(live_ones) > 1:
            names = ", ".join(f"**{t.title}**" for t in live_ones)
            raise UsageError(
                f"Several town halls are on ({names}): start with the channel, "
                "e.g. `!q #news Will the depot close?`."
            )
        return live_ones[0], words.strip()


def _message(text: str) -> dict[str, Any]:
    """A question as an ordinary message (not a notice): people react to it like any other."""
    return {
        "msgtype": "m.text",
        "body": text,
        "format": "org.matrix.custom.html",
        "formatted_body": render_html(text),
    }


# --- commands ------------------------------------------------------------------------------------

COMMANDS = Commands(TownHalls)
NUMBER = Arg("number", "the question's number, from the pinned list", convert=question_number)


@COMMANDS.command(
    "townhall",
    Arg(
        "title",
        "what it is about, then optionally `at DATE HH:MM [TIMEZONE]` to plan it",
        is_optional=True,
        is_rest=True,
        max_length=300,
    ),
    help="Hold a town hall in this channel now, or plan one: a meeting with questions that "
    "people rank with 👍 (posters).",
)
async def townhall(town_halls: TownHalls, request: Request, title: str | None) -> str:
    return await town_halls.plan_or_start(request, title)


@COMMANDS.command("townhall end", help="End this channel's town hall and post its summary.")
async def townhall_end(town_halls: TownHalls, request: Request) -> str:
    return await town_halls.end(request)


@COMMANDS.command(
    "townhall cancel",
    Arg("number", "the town hall's number", convert=question_number),
    help="Call off a planned town hall.",
)
async def townhall_cancel(town_halls: TownHalls, request: Request, number: int) -> str:
    return await town_halls.cancel(request, number)


@COMMANDS.command(
    "q",
    Arg(
        "question",
        "your question; start with the channel (#news) if several town halls are on",
        is_rest=True,
        max_length=2000,
    ),
    help="Ask the town hall that is on a question anonymously (in a direct message to me).",
)
async def q(town_halls: TownHalls, request: Request, question: str) -> str:
    return await town_halls.ask(request, question)


@COMMANDS.command("q withdraw", NUMBER, help="Take back a question you asked in a town hall.")
async def q_withdraw(town_halls: TownHalls, request: Request, number: int) -> str:
    return await town_halls.withdraw(request, number)


@COMMANDS.command("answered", NUMBER, help="Mark a town hall question answered (moderators).")
async def answered(town_halls: TownHalls, request: Request, number: int) -> str:
    return await town_halls.mark(request, number, "answered")


@COMMANDS.command("hide", NUMBER, help="Hide a town hall question from the list (moderators).")
async def hide(town_halls: TownHalls, request: Request, number: int) -> str:
    return await town_halls.mark(request, number, "hidden")
