"""How apply takes a plan's joins: every room at once, one join at a time in each room, and
each person's rooms in depth order (a space before the rooms in it)."""

from __future__ import annotations

import asyncio
from collections import Counter
from itertools import pairwise
from pathlib import Path
from typing import Any

from borough.db import create_engine, migrate, session_factory
from borough.errors import MatrixError
from provisioning.apply import Applier
from provisioning.plan import (
    PHASE_JOINS,
    PHASE_REMOVALS,
    PHASE_STATE,
    Change,
    Join,
    Kick,
    Plan,
    SetState,
)

#: room -> depth: the community space, an organisation's space, a unit's space, its room.
ROOMS = {"community": 0, "org": 1, "unit": 2, "unit/general": 3}
PEOPLE = [f"@p{i}:test" for i in range(6)]


class FakeClient:
    base_url = "http://synapse.invalid"


class RecordingApplier(Applier):
    """Synapse stood in by its one rule that matters here: a room takes one membership change
    at a time (a second at once is an error the test sees)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.log: list[tuple[str, str, str]] = []  # ("start"|"end", person, room)
        self.busy: Counter[str] = Counter()
        self.most_rooms_at_once = 0
        self.fail: set[tuple[str, str]] = set()

    async def execute(self, op: Any) -> None:
        if not isinstance(op, Join):
            return
        self.busy[op.room_key] += 1
        assert self.busy[op.room_key] == 1, f"two joins at once in {op.room_key}"
        self.most_rooms_at_once = max(self.most_rooms_at_once, sum(self.busy.values()))
        self.log.append(("start", op.user_id, op.room_key))
        try:
            await asyncio.sleep(0.002)
            if (op.user_id, op.room_key) in self.fail:
                raise MatrixError("POST", "/join", 403, "M_FORBIDDEN", "refused")
        finally:
            self.busy[op.room_key] -= 1
            self.log.append(("end", op.user_id, op.room_key))


def joins(people: list[str], rooms: dict[str, int]) -> list[Change]:
    return [
        Change(PHASE_JOINS + depth, "members", "+", uid, f"join {room}", Join(uid, room))
        for room, depth in rooms.items()
        for uid in people
    ]


async def applier(tmp_path: Path) -> RecordingApplier:
    url = f"sqlite+aiosqlite:///{tmp_path / 'app.db'}"
    await migrate(url)
    return RecordingApplier(
        client=FakeClient(),
        sessions=session_factory(create_engine(url)),
        server_name="test",
        room_ids={},
        actor="@admin:test",
    )


def position(log: list[tuple[str, str, str]], event: str, person: str, room: str) -> int:
    return log.index((event, person, room))


async def test_each_person_joins_their_rooms_in_depth_order(tmp_path: Path) -> None:
    apply = await applier(tmp_path)
    result = await apply.apply(Plan(changes=tuple(joins(PEOPLE, ROOMS))))
    assert result.done == len(PEOPLE) * len(ROOMS) and not result.failures
    rooms_by_depth = sorted(ROOMS, key=ROOMS.__getitem__)
    for person in PEOPLE:
        for above, below in pairwise(rooms_by_depth):
            assert position(apply.log, "end", person, above) < position(
                apply.log, "start", person, below
            ), f"{person} joined {below} before {above}"


async def test_rooms_take_joins_side_by_side(tmp_path: Path) -> None:
    """The first person is in the organisation's space before the last is in the community:
    with a phase per depth, the community took everyone's join before any other room took
    one."""
    apply = await applier(tmp_path)
    await apply.apply(Plan(changes=tuple(joins(PEOPLE, ROOMS))))
    assert position(apply.log, "end", PEOPLE[0], "org") < position(
        apply.log, "start", PEOPLE[-1], "community"
    )
    assert apply.most_rooms_at_once == len(ROOMS)


async def test_a_failed_join_is_recorded_and_holds_nobody_up(tmp_path: Path) -> None:
    apply = await applier(tmp_path)
    apply.fail = {(PEOPLE[2], "org")}
    result = await apply.apply(Plan(changes=tuple(joins(PEOPLE, ROOMS))))
    assert [(c.target, c.op.room_key) for c, _ in result.failures] == [(PEOPLE[2], "org")]  # type: ignore[union-attr]
    assert result.done == len(PEOPLE) * len(ROOMS) - 1
    joined = {(person, room) for event, person, room in apply.log if event == "end"}
    assert joined == {(p, r) for p in PEOPLE for r in ROOMS}


async def test_joins_come_after_room_state_and_before_removals(tmp_path: Path) -> None:
    apply = await applier(tmp_path)
    seen: list[str] = []
    original = apply.execute

    async def execute(op: Any) -> None:
        seen.append(type(op).__name__)
        await original(op)

    apply.execute = execute  # type: ignore[method-assign]
    state = Change(
        PHASE_STATE, "rooms", "~", "org", "topic", SetState("org", "m.room.topic", "", {})
    )
    kick = Change(PHASE_REMOVALS, "members", "-", "@gone:test", "remove", Kick("@gone:test", "org"))
    await apply.apply(Plan(changes=(kick, *joins(PEOPLE[:2], ROOMS), state)))
    assert seen == ["SetState", *["Join"] * 2 * len(ROOMS), "Kick"]
