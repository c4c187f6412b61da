"""The record of who joined which meeting, written off the response path.

Prosody waits on /verify/user_in_room while the person waits to join; a database commit need
not be part of that wait. One writer also keeps SQLite free of write contention.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from borough.jitsi import STANDING_WIDGET_ID, room_conference_id
from borough.meetings import MeetingStore
from widgets.admission import Admission, RoomSnapshot

logger = logging.getLogger(__name__)

#: A standing meeting's session with no one joining for this long is over.
SESSION_IDLE = timedelta(hours=2)


class AdmissionLog:
    """Records admissions in the app database in the background, one at a time."""

    def __init__(
        self, store: MeetingStore, snapshot_of: Callable[[str], Awaitable[RoomSnapshot | None]]
    ) -> None:
        self.store = store
        self.snapshot_of = snapshot_of
        self._queue: asyncio.Queue[tuple[str, Admission]] = asyncio.Queue()
        self._seen: set[tuple[int, str]] = set()
        self._task: asyncio.Task[None] | None = None

    def note(self, room_id: str, admission: Admission) -> None:
        self._queue.put_nowait((room_id, admission))

    async def drain(self) -> None:
        """Wait until every admission noted so far is written."""
        await self._queue.join()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await self.drain()
        if self._task is not None:
            self._task.cancel()

    async def _run(self) -> None:
        while True:
            room_id, admission = await self._queue.get()
            try:
                await self._record(room_id, admission)
            except Exception:
                logger.exception("could not record an admission to the meeting in %s", room_id)
            finally:
                self._queue.task_done()

    async def _record(self, room_id: str, admission: Admission) -> None:
        """Count the person in the room's live meeting; a widget nobody scheduled gets a row."""
        now = datetime.now(UTC)
        meeting = await self.store.live(room_id)
        if meeting is not None and meeting.widget_id in ("", STANDING_WIDGET_ID):
            # Nobody ends a standing meeting's session: an idle one is over, the next is new.
            last = await self.store.last_activity(meeting)
            if now - last > SESSION_IDLE:
                await self.store.end(meeting.id, last)
                meeting = None
        if meeting is None:
            full = await self.snapshot_of(room_id)
            widgets = full.jitsi_widgets if full is not None else ()
            widget_id, sender, content = widgets[-1] if widgets else ("", admission.user_id, {})
            data = content.get("data") or {}
            # Another widget server may be opening it too: one meeting comes of it.
            meeting, _ = await self.store.live_or_open(
                room_id=room_id,
                started_at=now,
                widget_id=widget_id,
                conference_id=str(data.get("conferenceId") or room_conference_id(room_id)),
                title=str(content.get("name") or "Meeting")[:255],
                is_audio_only=bool(data.get("isAudioOnly", False)),
                created_by=sender,
                timezone="UTC",
            )
        key = (meeting.id, admission.user_id)
        if key not in self._seen:
            await self.store.record_participant(meeting.id, admission.user_id, now)
            self._seen.add(key)
