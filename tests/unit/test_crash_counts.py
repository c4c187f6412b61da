"""The crash suite's yardstick (bench/crash.py): what a channel's index should hold, worked out
from its history, and every way an index can differ from it."""

from __future__ import annotations

import random
from typing import Any

from bench.crash import (
    CHANNELS,
    Crowd,
    answer_problems,
    expected_index,
    index_problems,
    workload,
)
from borough.db import Post

ANN, BEN = "@ann:example.org", "@ben:example.org"


def event(event_id: str, sender: str, content: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "sender": sender, "content": content, **extra}


def message(event_id: str, sender: str, body: str, thread: str | None = None) -> dict[str, Any]:
    content: dict[str, Any] = {"msgtype": "m.text", "body": body}
    if thread:
        content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread}
    return event(event_id, sender, content, type="m.room.message")


HISTORY = [
    event("$state", ANN, {"name": "News"}, type="m.room.name", state_key=""),
    message("$root", ANN, "First"),
    message("$reply", BEN, "Thanks", thread="$root"),
    event(
        "$edit",
        ANN,
        {
            "msgtype": "m.text",
            "body": "* First, edited",
            "m.new_content": {"msgtype": "m.text", "body": "First, edited"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$root"},
        },
        type="m.room.message",
    ),
    event(
        "$forged",
        BEN,
        {
            "msgtype": "m.text",
            "body": "* not yours",
            "m.new_content": {"msgtype": "m.text", "body": "not yours"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": "$root"},
        },
        type="m.room.message",
    ),
    event(
        "$like",
        BEN,
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": "$root", "key": "👍"}},
        type="m.reaction",
    ),
    # Redacted events come back stripped, with what redacted them.
    event("$gone", ANN, {}, type="m.room.message", unsigned={"redacted_because": {}}),
    event("$unliked", BEN, {}, type="m.reaction", unsigned={"redacted_because": {}}),
    event("$redaction", ANN, {}, type="m.room.redaction", redacts="$gone"),
]


def row(event_id: str, body: str, replies: int = 0, reactions: int = 0) -> Post:
    return Post(event_id=event_id, body=body, reply_count=replies, reaction_count=reactions)


def test_the_history_says_what_the_index_should_hold() -> None:
    expected = expected_index(HISTORY)
    assert {k: (p.body, p.replies, p.reactions) for k, p in expected.posts.items()} == {
        "$root": ("First, edited", 1, 1),
        "$reply": ("Thanks", 0, 0),
    }
    assert expected.reactions == {"$like": "$root"}
    assert expected.redacted == {"$gone", "$unliked"}


def test_an_index_that_matches_has_no_problems() -> None:
    posts = {"$root": row("$root", "First, edited", 1, 1), "$reply": row("$reply", "Thanks")}
    assert index_problems(expected_index(HISTORY), posts, {"$like"}) == []


def test_every_difference_is_counted() -> None:
    posts = {
        "$root": row("$root", "First", 2, 0),  # edit missed, a reply counted twice, like lost
        "$gone": row("$gone", "Oops"),  # redaction missed
        "$ghost": row("$ghost", "Never sent"),
    }
    kinds = [kind for kind, _ in index_problems(expected_index(HISTORY), posts, {"$unliked"})]
    assert sorted(kinds) == sorted(
        ["lost", "lost", "lost", "stale", "stale", "stale", "duplicated", "duplicated"]
    )


def test_each_command_needs_exactly_one_answer() -> None:
    bot = "@boroughbot:example.org"

    def answer(event_id: str, to: str) -> dict[str, Any]:
        content = {
            "msgtype": "m.notice",
            "body": "…",
            "m.relates_to": {"m.in_reply_to": {"event_id": to}},
        }
        return event(event_id, bot, content, type="m.room.message")

    history = [
        message("$feed", ANN, "!feed"),
        message("$chat", ANN, "thanks"),  # not a command
        message("$whois", ANN, "!whois Ben"),
        message("$help", ANN, "!help"),
        answer("$a1", "$feed"),
        answer("$a2", "$whois"),
        answer("$a3", "$whois"),
        answer("$a4", "$chat"),
    ]
    problems = answer_problems(history, ANN, bot)
    assert [kind for kind, _ in problems] == ["answered_twice", "unanswered"]
    assert "!whois Ben" in problems[0][1] and "!help" in problems[1][1]


def test_a_workload_is_the_same_for_a_seed_and_refers_only_back() -> None:
    crowd = Crowd(
        readers={key: [ANN, BEN] for key in CHANNELS},
        posters={key: [ANN] for key in CHANNELS},
        names={ANN: "Ann", BEN: "Ben"},
    )
    first = workload(random.Random(5), crowd, posts=200, commands=40)
    assert first == workload(random.Random(5), crowd, posts=200, commands=40)
    assert sum(a.kind == "command" for a in first) == 40
    assert {a.kind for a in first} == {"post", "reply", "react", "edit", "redact", "command"}
    redacted: set[int] = set()
    for index, action in enumerate(first):
        if action.target is not None:
            assert action.target < index and action.target not in redacted
            assert first[action.target].channel == action.channel
        if action.kind == "redact":
            assert action.target is not None
            redacted.add(action.target)
        if action.kind == "post":
            assert action.actor == ANN  # only posters post
        if action.kind in ("edit", "redact"):
            assert action.target is not None
            assert action.actor == first[action.target].actor  # only authors edit or redact
