"""The bot's life: log in, sync, answer commands, survive restarts and outages.

The sync position is stored in the app database only after the events of a batch are
handled, and each handled event id is recorded, so a restart neither replays nor misses a
command. Several processes may run the bot on one database: only the holder of the bot's
lease (borough.bot_lease) syncs and acts, each of its writes checks the lease first, and a
standby that takes over starts from the position the last holder committed. The first start skips the backlog. Replies use a transaction id derived from the
command's event id, so a retry never posts twice. A command typed in a room that publishes
(a channel or a blog) is answered by direct message: its readers, partners included, must
not see an answer meant for one person, and the answer must never become a post.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import quote

from nio import (
    AsyncClient,
    AsyncClientConfig,
    JoinResponse,
    LoginResponse,
    MessageDirection,
    RoomMessagesResponse,
    RoomSendResponse,
    SyncResponse,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import events
from borough.bot_lease import BotLease
from borough.db import BotState, DirectRoom, HandledEvent
from borough.profile_mirror import ProfileMirror
from borough.settings import BotSettings, JitsiSettings
from bots.admin import PartnerAdmin
from bots.ask import AskTheNetwork
from bots.assembly import BotServices, command_registry
from bots.blogs import BlogIndexer, Blogs
from bots.commands import Help, Request, UnknownCommand, UsageError
from bots.digest import Digests
from bots.direct import DirectMessages
from bots.heartbeat import Heartbeat
from bots.homeserver import HomeserverRefused, checked
from bots.identity import BotIdentity
from bots.index import Indexer
from bots.meet import Clock, Meetings, utc_now
from bots.microblog import Microblog
from bots.profiles import ProfileDirectory
from bots.replies import in_thread, notice, thread_root
from bots.sharing import Reposts
from bots.townhall import TownHalls
from bots.welcome import Welcomes
from bots.widgets_cmd import RoomWidgets

logger = logging.getLogger(__name__)

T = TypeVar("T")

SYNC_TIMEOUT_MS = 30_000
#: How long a stopping bot lets the batch or tick it is in finish before cancelling it.
STOP_GRACE_SECONDS = 10.0
# Members are not lazy-loaded: the bot needs every channel's members to know who may read.
SYNC_FILTER = {"room": {"timeline": {"limit": 100}}, "presence": {"types": []}}


class BotLoginError(Exception):
    pass


@dataclass
class BoroughBot:
    homeserver_url: str
    server_name: str
    settings: BotSettings
    sessions: async_sessionmaker[AsyncSession]
    #: The schedule loops' clock; tests move it instead of waiting.
    clock: Clock = field(default=utc_now)
    digest_interval: float = 30.0
    #: The service account's token, for `!admin` (bots.admin); those commands are off without.
    service_token: str | None = None
    #: Jitsi settings and the widget server's public URL, for `!meet` (bots.meet).
    jitsi: JitsiSettings = field(default_factory=JitsiSettings)
    public_url: str = "http://localhost:8090"
    meeting_interval: float = 15.0
    #: Seconds between looks for welcomes to send (bots.welcome).
    welcome_interval: float = 5.0
    #: At most one edit of a town hall's pinned list this often (bots.townhall).
    townhall_edit_interval: float = 2.0

    def __post_init__(self) -> None:
        self.client = AsyncClient(
            self.homeserver_url,
            self.settings.user_id,
            device_id=self.settings.device_id,
            config=AsyncClientConfig(
                max_limit_exceeded=None, max_timeouts=None, request_timeout=60
            ),
        )
        mirror = (
            ProfileMirror(self.sessions, self.homeserver_url, self.service_token)
            if self.service_token
            else None
        )
        self.profiles = ProfileDirectory(self.sessions, self.server_name, mirror, self.public_url)
        self.blog_index = BlogIndexer()
        self.indexer = Indexer(
            self.settings.user_id, is_blog=lambda room: room in self.blog_index.rooms
        )
        self.microblog = Microblog(self.sessions, self.indexer, self.server_name)
        self.blogs = Blogs(self.sessions)
        self.reposts = Reposts(self.sessions, self.client, self.server_name)
        self.digests = Digests(
            self.sessions, self.client, self.settings.timezone, self.clock, self.digest_interval
        )
        self.admin = PartnerAdmin(
            self.sessions, self.server_name, self.homeserver_url, self.service_token
        )
        self.meetings = Meetings(
            self.sessions,
            self.client,
            self.jitsi,
            self.settings.timezone,
            self.public_url,
            self.clock,
            self.meeting_interval,
        )
        self.room_widgets = RoomWidgets(self.client, self.public_url, self.microblog)
        self.direct = DirectMessages(self.sessions, self.client)
        self.asking = AskTheNetwork(
            self.sessions, self.client, self.direct, self.server_name, self.clock
        )
        self.heartbeat = Heartbeat(self.sessions, self.settings.user_id)
        self.identity = BotIdentity(self.sessions, self.client)
        self.welcomes = Welcomes(
            self.sessions,
            self.direct,
            self.server_name,
            self.settings.user_id,
            self.welcome_interval,
        )
        self.lease = BotLease(self.sessions, self.settings.user_id)
        self.town_halls = TownHalls(
            self.sessions,
            self.client,
            self.meetings,
            self.server_name,
            self.lease.confirm,
            self.clock,
            self.meeting_interval,
            self.townhall_edit_interval,
        )
        self.commands = command_registry()
        self.services = BotServices(
            help=Help(self.commands, self.admin.administers),
            profiles=self.profiles,
            microblog=self.microblog,
            blogs=self.blogs,
            reposts=self.reposts,
            digests=self.digests,
            admin=self.admin,
            meetings=self.meetings,
            room_widgets=self.room_widgets,
            asking=self.asking,
            town_halls=self.town_halls,
        )
        self.commands.check_served_by(self.services)
        self._stopping = asyncio.Event()

    async def login(self) -> None:
        if self.settings.access_token is not None:
            self.client.restore_login(
                self.settings.user_id,
                self.settings.device_id,
                self.settings.access_token.get_secret_value(),
            )
            whoami = await self.client.whoami()
            if getattr(whoami, "user_id", None) != self.settings.user_id:
                raise BotLoginError(
                    f"the bot's access token was refused ({getattr(whoami, 'message', whoami)})"
                )
            return
        if self.settings.password is None:
            raise BotLoginError(
                "set bot.access_token or bot.password (or BOROUGH_BOT_TOKEN / BOROUGH_BOT_PASSWORD)"
            )
        response = await self.client.login(
            self.settings.password.get_secret_value(), device_name="Borough bot"
        )
        try:
            checked(response, LoginResponse, "logging in")
        except HomeserverRefused as refused:
            raise BotLoginError(f"the bot could not log in: {refused.reason}") from None

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Log in, stand by until this process holds the bot's lease, then act until stopped.
        Raises LeaseLost if another process takes the lease over meanwhile."""
        await self.login()
        if not await self.lease.acquire(self._stopping):
            return
        beating = asyncio.create_task(self.heartbeat.run(self._stopping))
        keeping = asyncio.create_task(self.lease.keep())
        acting = asyncio.create_task(self._run())
        try:
            done, _ = await asyncio.wait({keeping, acting}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
        finally:
            # Stopping (or cancelled, as by SIGTERM): let the sync loop end by itself, so the
            # batch it is writing commits or rolls back first. A task cancelled inside a
            # transaction can leave a SQLite statement unfinalised, and its connection then
            # keeps the database's write lock: the writes below, and a bot started again on
            # the same file, would find the database locked.
            self._stopping.set()
            await asyncio.wait({acting}, timeout=STOP_GRACE_SECONDS)
            for task in (acting, keeping, beating):
                task.cancel()
            await asyncio.gather(acting, keeping, beating, return_exceptions=True)
            await self.heartbeat.stopped()
            await self.lease.release()

    async def _run(self) -> None:
        async with self.sessions() as session:
            await self.indexer.load(session)
            await self.blog_index.load(session)
        since = await self._load_since()
        if since is None:
            # First start: everything before now is backlog, not commands.
            first = await self._sync(since=None, wait_ms=0)
            await self._index_state(first)
            since = first.next_batch
            await self._save_since(since)
        # In the background: a new name is written into every room the bot is in, which
        # must not hold up the first answers.
        identity = asyncio.create_task(self.identity.ensure())
        digests = asyncio.create_task(self.digests.run(self._stopping))
        meetings = asyncio.create_task(self.meetings.run(self._stopping))
        welcomes = asyncio.create_task(self.welcomes.run(self._stopping))
        town_halls = asyncio.create_task(self.town_halls.run(self._stopping))
        try:
            full_state = True
            failures = 0
            while not self._stopping.is_set():
                try:
                    response = await self._unless_stopping(
                        self._sync(since=since, wait_ms=SYNC_TIMEOUT_MS, full_state=full_state)
                    )
                except (TimeoutError, OSError, ConnectionError, HomeserverRefused) as exc:
                    failures += 1
                    delay = min(30.0, 0.5 * 2**failures) * (0.8 + 0.4 * random.random())
                    logger.warning("sync failed (%s); retrying in %.1fs", exc, delay)
                    await self._sleep(delay)
                    continue
                if response is None:  # stopping
                    break
                failures = 0
                full_state = False
                await self._handle(response, since)
                since = response.next_batch
                await self._save_since(since)
        finally:
            # The schedule loops end by themselves once `_stopping` is set, after the tick
            # they are in; only one that overruns the grace is cancelled.
            self._stopping.set()
            loops = (digests, meetings, welcomes, town_halls)
            await asyncio.wait(loops, timeout=STOP_GRACE_SECONDS)
            for task in (identity, *loops):
                task.cancel()
            await asyncio.gather(identity, *loops, return_exceptions=True)

    async def _unless_stopping(self, call: Awaitable[T]) -> T | None:
        """`call`'s result, or None when the bot is stopping first; then `call` (a read, such
        as a sync's long poll) is cancelled."""
        doing = asyncio.ensure_future(call)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({doing, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            doing.cancel()
            raise
        finally:
            stopping.cancel()
        if doing.done():
            return doing.result()
        doing.cancel()
        await asyncio.gather(doing, return_exceptions=True)
        return None

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=seconds)
        except TimeoutError:
            pass

    async def _sync(
        self, since: str | None, wait_ms: int, full_state: bool = False
    ) -> SyncResponse:
        response = await self.client.sync(
            timeout=wait_ms, since=since, full_state=full_state, sync_filter=SYNC_FILTER
        )
        return checked(response, SyncResponse, "syncing")

    async def _index_state(self, response: SyncResponse) -> None:
        """Learn channels and members from a sync without taking its timeline as new."""
        async with self.sessions.begin() as session:
            await self.lease.confirm(session)
            for room_id, room in response.rooms.join.items():
                state = [e.source for e in room.state]
                state += [e.source for e in room.timeline.events if "state_key" in e.source]
                await self.indexer.state(session, room_id, state)
                await self.blog_index.state(session, room_id, state)

    async def _handle(self, response: SyncResponse, since: str) -> None:
        for room_id, invite in response.rooms.invite.items():
            await self._on_invite(room_id, invite)
        # Read any gap before the transaction, so no write lock waits on the homeserver. Only
        # the rooms the bot indexes need it: in a room where people talk, a missed command
        # is stale and goes unanswered anyway, so a restart asks nothing of those rooms.
        gaps = {
            room_id: await self._missed(room_id, room.timeline, since)
            if self._indexes(room_id, room.state)
            else []
            for room_id, room in response.rooms.join.items()
        }
        # Index first, in one transaction; the sync position moves only after it commits.
        async with self.sessions.begin() as session:
            await self.lease.confirm(session)
            for room_id, room in response.rooms.join.items():
                state = [e.source for e in room.state]
                await self.indexer.state(session, room_id, state)
                await self.blog_index.state(session, room_id, state)
                for source in [*gaps[room_id], *(e.source for e in room.timeline.events)]:
                    await self.indexer.timeline(session, room_id, source)
                    await self.blog_index.timeline(session, room_id, source)
            # A sign-in (a new device) or a join where the bot is: welcome those placed.
            await self.welcomes.note(session, response.device_list.changed)
        for room_id, room in response.rooms.join.items():
            changed = [e.source for e in room.state]
            changed += [e.source for e in room.timeline.events if "state_key" in e.source]
            await self.meetings.observe_state(room_id, changed)
            await self.town_halls.observe(
                room_id, [*gaps[room_id], *(e.source for e in room.timeline.events)]
            )
            for event in room.timeline.events:
                source = event.source
                await self.asking.observe(room_id, source)
                if (
                    source.get("type") != "m.room.message"
                    or source.get("sender") == self.client.user_id
                ):
                    continue
                content = source.get("content", {})
                body = content.get("body")
                if isinstance(body, str):
                    await self._on_message(
                        room_id, source["event_id"], source["sender"], body, thread_root(content)
                    )

    async def _missed(self, room_id: str, timeline: Any, since: str) -> list[dict[str, Any]]:
        """What a limited timeline left out (the bot was away long), oldest first, to index.

        Commands in the gap are not answered: they are stale by now, as on a first start."""
        if not timeline.limited or not timeline.prev_batch:
            return []
        sources: list[dict[str, Any]] = []
        start = timeline.prev_batch
        while True:
            response = await self.client.room_messages(
                room_id, start=start, end=since, direction=MessageDirection.back, limit=100
            )
            try:
                page = checked(response, RoomMessagesResponse, f"reading the gap in {room_id}")
            except HomeserverRefused as refused:
                logger.warning("%s", refused)
                break
            sources += [e.source for e in page.chunk]
            if not page.chunk or not page.end or page.end == start:
                break
            start = page.end
        return sources[::-1]

    async def _on_invite(self, room_id: str, invite: Any) -> None:
        own = next(
            (
                e
                for e in invite.invite_state
                if getattr(e, "state_key", None) == self.client.user_id
            ),
            None,
        )
        inviter = own.sender if own is not None else None
        if inviter is None or not inviter.endswith(f":{self.server_name}"):
            logger.info("ignoring an invite to %s from %s", room_id, inviter)
            return
        try:
            checked(await self.client.join(room_id), JoinResponse, f"joining {room_id}")
        except HomeserverRefused as refused:
            logger.warning("%s", refused)
            return
        if (getattr(own, "content", None) or {}).get("is_direct") is True:
            # The person opened a direct chat with the bot: answers meant for them alone
            # (commands typed in channels, digests) go here rather than into a new room.
            async with self.sessions.begin() as session:
                await session.merge(DirectRoom(user_id=inviter, room_id=room_id))

    def _indexes(self, room_id: str, state: list[Any]) -> bool:
        """Whether the bot indexes this room: a channel or blog it knows, or one this sync's
        state makes one (a room it has just joined)."""
        if room_id in self.indexer.channels or room_id in self.blog_index.rooms:
            return True
        return any(e.source.get("type") in (events.CHANNEL, events.BLOG) for e in state)

    def _publishes(self, room_id: str) -> str | None:
        """The name of the channel or blog this room is, or None for a room where people talk."""
        if room_id in self.indexer.channels:
            return str(self.indexer.channels[room_id].get("name") or "a channel")
        if room_id in self.blog_index.rooms:
            return self.blog_index.rooms[room_id].name
        return None

    async def _on_message(
        self, room_id: str, event_id: str, sender: str, body: str, thread: str | None = None
    ) -> None:
        answer: str | None = None
        try:
            invocation = self.commands.parse(body)
        except UnknownCommand as exc:
            if self._publishes(room_id) is not None:
                return  # "!!! Road closed" in a channel is a post, not a command
            invocation, answer = None, str(exc)
        except UsageError as exc:
            invocation, answer = None, str(exc)
        if invocation is None and answer is None:
            return  # ordinary chat
        async with self.sessions() as session:
            if await session.get(HandledEvent, event_id) is not None:
                return
        if invocation is not None:
            try:
                answer = await invocation.run(self.services, Request(sender, room_id, event_id))
            except UsageError as exc:
                answer = str(exc)
            except Exception:
                logger.exception("command %s failed", invocation.command.name)
                answer = (
                    "Sorry, that went wrong on my side. The team has the details in the bot's log."
                )
        await self._reply(room_id, event_id, sender, str(answer), thread)
        async with self.sessions.begin() as session:
            await self.lease.confirm(session)
            session.add(HandledEvent(event_id=event_id, room_id=room_id))

    async def _reply(
        self, room_id: str, event_id: str, sender: str, text: str, thread: str | None = None
    ) -> None:
        """The one way an answer leaves the bot: in the room, as a reply, where people talk
        (in the thread, if the command was typed in one); by direct message to the asker
        where the room publishes."""
        tx_id = f"reply-{event_id}"
        publication = self._publishes(room_id)
        if publication is None:
            content = (
                notice(text, reply_to=event_id)
                if thread is None
                else in_thread(thread, notice(text), reply_to=event_id)
            )
            response = await self.client.room_send(room_id, "m.room.message", content, tx_id=tx_id)
            try:
                checked(response, RoomSendResponse, f"answering in {room_id}")
            except HomeserverRefused as refused:
                logger.warning("%s", refused)
            return
        asked = f"https://matrix.to/#/{quote(room_id)}/{quote(event_id)}"
        text = (
            f"You asked in **{publication}** ([your message]({asked})); I answer here, "
            f"so that the room holds only its posts.\n\n{text}"
        )
        if await self.direct.send(sender, text, tx_id) is None:
            logger.warning("could not answer %s's command in %s by direct message", sender, room_id)

    async def _load_since(self) -> str | None:
        async with self.sessions() as session:
            state = await session.get(BotState, self.settings.user_id)
            return state.next_batch if state else None

    async def _save_since(self, next_batch: str) -> None:
        async with self.sessions.begin() as session:
            await self.lease.confirm(session)
            state = await session.get(BotState, self.settings.user_id)
            if state is None:
                session.add(BotState(bot=self.settings.user_id, next_batch=next_batch))
            else:
                state.next_batch = next_batch

    async def close(self) -> None:
        await self.client.close()
