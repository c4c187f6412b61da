"""`borough moderate` and `borough audit` against a real Synapse, with the bot indexing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from borough import events
from borough.db import Post, PostTag, Reaction, Repost
from borough.testing.waiting import wait_until
from tests.conftest import Homeserver, HttpError, borough
from tests.integration.management_support import (
    ORG_FILE,
    Member,
    query,
    start_bot,
)
from tests.integration.running_bot import ThreadedBot

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def running(
    homeserver: Homeserver, app_database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ThreadedBot, Path]]:
    yield from start_bot(homeserver, app_database_url, tmp_path_factory)


@pytest.fixture(scope="module")
def settings(running: tuple[ThreadedBot, Path]) -> Path:
    return running[1]


@pytest.fixture(scope="module")
def members(homeserver: Homeserver, running: Any) -> dict[str, Member]:
    return {n: Member(homeserver, n) for n in ("madmin", "mstaff", "mpeer", "mcop", "mpc")}


def moderate(settings: Path, *args: str, operator: str = "@madmin") -> Any:
    return borough("moderate", "--as", operator, *args, settings=settings)


def audit_json(settings: Path, *args: str) -> list[dict[str, Any]]:
    result = borough("audit", "--json", *args, settings=settings)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.output.splitlines() if line.strip()]


def count(database_url: str, model: Any, *where: Any) -> int:
    return query(
        database_url, lambda s: s.scalar(select(func.count()).select_from(model).where(*where))
    )


def test_remove_post_redacts_and_drops_it_from_the_index(
    homeserver: Homeserver, settings: Path, members: dict[str, Member], app_database_url: str
) -> None:
    news = homeserver.room_id("mnews")
    post = members["mstaff"].post(news, "Buy cheap watches #spam")
    reply = members["mpeer"].reply(news, post, "is this real?")
    members["mpeer"].react(news, post)
    wait_until(
        lambda: (
            count(app_database_url, Reaction, Reaction.post_id == post) == 1
            and count(app_database_url, Post, Post.event_id == reply) == 1
        ),
        60,
        "the bot to index the post, its reply and reaction",
    )
    # A boost of it elsewhere, as `!repost` records one: it quotes the post, so it goes too.
    bulletin = homeserver.room_id("mbulletin")
    boost = members["mstaff"].post(bulletin, "Mia Staff in Directorate news: Buy cheap watches")

    async def record_boost(session: Any) -> None:
        session.add(
            Repost(
                source_event_id=post,
                source_room_id=news,
                target_room_id=bulletin,
                reposter=members["mstaff"].user_id,
                txn_id="boost-1",
                event_id=boost,
            )
        )
        await session.commit()

    query(app_database_url, record_boost)
    link = f"https://matrix.to/#/{quote(news)}/{quote(post)}?via={homeserver.server_name}"
    result = moderate(settings, "remove-post", link, "--reason", "spam")
    assert result.exit_code == 0, result.output
    assert f"Redacted {post}" in result.output and "dropped it from the index" in result.output
    assert "Its 1 repost went with it." in result.output
    shown = f"/_matrix/client/v3/rooms/{quote(bulletin)}/event/{quote(boost)}"
    assert homeserver.call("GET", shown, members["mpeer"].token)["content"] == {}
    assert count(app_database_url, Repost, Repost.source_event_id == post) == 0
    assert count(app_database_url, Post, Post.event_id == boost) == 0

    seen = f"/_matrix/client/v3/rooms/{quote(news)}/event/{quote(post)}"
    assert homeserver.call("GET", seen, members["mpeer"].token)["content"] == {}  # redacted
    assert count(app_database_url, Post, Post.event_id == post) == 0
    assert count(app_database_url, PostTag, PostTag.event_id == post) == 0
    assert count(app_database_url, Reaction, Reaction.post_id == post) == 0
    [entry] = audit_json(settings, "--action", "moderate.remove_post")
    assert entry["actor"] == "@madmin" and entry["reason"] == "spam"
    assert entry["target_ids"] == [post, news, members["mstaff"].user_id]
    assert entry["details"]["reposts"] == [boost]

    # A bare event id works too; the reply goes, and its root's count with it.
    result = moderate(settings, "remove-post", reply, "--reason", "follow-up to spam")
    assert result.exit_code == 0, result.output
    assert count(app_database_url, Post, Post.event_id == reply) == 0


def test_suspend_then_unsuspend(
    homeserver: Homeserver, settings: Path, members: dict[str, Member]
) -> None:
    team = homeserver.room_id("mteam-general")
    peer = members["mpeer"]
    result = moderate(settings, "suspend", "mpeer", "--reason", "cooling off")
    assert result.exit_code == 0, result.output
    assert "Suspended @mpeer" in result.output and "suspension" in result.output
    with pytest.raises(HttpError) as refused:
        peer.post(team, "can I still talk?")
    assert refused.value.status == 403
    account = homeserver.admin("GET", f"/_synapse/admin/v2/users/{quote(peer.user_id)}")
    assert account["suspended"] is True and account["deactivated"] is False

    # Out of a room they belong in while suspended: Synapse would refuse the join, so plan
    # and apply hold it back, saying why, instead of failing on it.
    kick = f"/_matrix/client/v3/rooms/{quote(team)}/kick"
    homeserver.admin("POST", kick, {"user_id": peer.user_id, "reason": "test"})
    rejoin = f"+ {peer.user_id}  join unit/mteam/general"
    plan = borough("plan", str(ORG_FILE), settings=settings)
    assert f"{rejoin}  [needs borough moderate unsuspend]" in plan.output, plan.output
    applied = borough("apply", "-q", str(ORG_FILE), settings=settings)
    assert applied.exit_code == 0 and "failed" not in applied.output.lower(), applied.output

    result = moderate(settings, "unsuspend", peer.user_id, "--reason", "talked it through")
    assert result.exit_code == 0, result.output
    plan = borough("plan", str(ORG_FILE), settings=settings)
    assert rejoin in plan.output and "needs borough moderate unsuspend" not in plan.output
    assert borough("apply", "-q", str(ORG_FILE), settings=settings).exit_code == 0
    peer.post(team, "back again")
    actions = [
        (e["action"], e["target_ids"]) for e in audit_json(settings, "--action", "moderate.*")
    ]
    assert ("moderate.suspend", [peer.user_id]) in actions
    assert ("moderate.unsuspend", [peer.user_id]) in actions

    again = moderate(settings, "unsuspend", "mpeer")
    assert again.exit_code == 2 and "is not suspended" in again.output


def test_deactivate_only_when_asked_and_said_plainly(
    homeserver: Homeserver, settings: Path, members: dict[str, Member]
) -> None:
    result = moderate(settings, "suspend", "mpc", "--deactivate", "--reason", "left the force")
    assert result.exit_code == 0, result.output
    assert "Deactivated @mpc" in result.output and "(not suspended)" in result.output
    account = homeserver.admin("GET", f"/_synapse/admin/v2/users/{quote(members['mpc'].user_id)}")
    assert account["deactivated"] is True
    undo = moderate(settings, "unsuspend", "mpc")
    assert undo.exit_code == 2 and "cannot undo a deactivation" in undo.output
    [entry] = audit_json(settings, "--action", "moderate.deactivate")
    assert entry["details"]["method"] == "deactivated"


def power_levels(hs: Homeserver, room_id: str) -> dict[str, Any]:
    return dict(hs.state(room_id, "m.room.power_levels"))


def test_lock_makes_a_channel_read_only_and_unlock_restores_exactly(
    homeserver: Homeserver, settings: Path, members: dict[str, Member]
) -> None:
    news = homeserver.room_id("mnews")
    before = power_levels(homeserver, news)
    root = members["mstaff"].post(news, "before the lock")

    result = moderate(settings, "lock", "mnews", "--reason", "heated thread")
    assert result.exit_code == 0, result.output
    assert "Locked channel mnews" in result.output
    locked = power_levels(homeserver, news)
    assert locked["events_default"] == 50 and locked["users"] == before["users"]
    # Only admins may touch the lock: a moderator cannot drop the levels it will restore.
    assert before["events"][events.LOCK] == locked["events"][events.LOCK] == events.ADMIN
    for attempt in (
        lambda: members["mstaff"].post(news, "during the lock"),  # a poster
        lambda: members["mpeer"].reply(news, root, "a reply"),
        lambda: members["mpeer"].react(news, root),
    ):
        with pytest.raises(HttpError) as refused:
            attempt()
        assert refused.value.status == 403

    # Provisioning leaves the lock alone: no change planned, and apply keeps it.
    # (The plan does show @mpc's reactivation: a deactivated person still in the chart.)
    plan = borough("plan", str(ORG_FILE), settings=settings)
    assert plan.exit_code == 0 and "power" not in plan.output, plan.output
    assert borough("apply", "-q", str(ORG_FILE), settings=settings).exit_code == 0
    assert power_levels(homeserver, news)["events_default"] == 50

    twice = moderate(settings, "lock", "#mnews:" + homeserver.server_name, "--reason", "again")
    assert twice.exit_code == 0 and "already locked" in twice.output

    result = moderate(settings, "unlock", news, "--reason", "calmer now")
    assert result.exit_code == 0, result.output
    assert power_levels(homeserver, news) == before
    assert homeserver.state(news, events.LOCK) == {}
    members["mstaff"].post(news, "after the lock")

    entries = audit_json(settings, "--action", "moderate.*")
    lock = next(e for e in entries if e["action"] == "moderate.lock")
    assert lock["reason"] == "heated thread" and lock["target_ids"] == [news]
    assert lock["details"]["previous"] == {"events_default": 0, "events": {}}
    assert any(e["action"] == "moderate.unlock" for e in entries)
    not_locked = moderate(settings, "unlock", "mnews")
    assert not_locked.exit_code == 2 and "is not locked" in not_locked.output


def test_reports_lists_what_people_reported(
    homeserver: Homeserver, settings: Path, members: dict[str, Member]
) -> None:
    team = homeserver.room_id("mteam-general")
    rude = members["mstaff"].post(team, "something rude")
    path = f"/_matrix/client/v3/rooms/{quote(team)}/report/{quote(rude)}"
    homeserver.call("POST", path, members["mpeer"].token, {"reason": "rude", "score": -100})

    result = moderate(settings, "reports", "--since", "1h", "--json")
    assert result.exit_code == 0, result.output
    [report] = [json.loads(line) for line in result.output.splitlines()]
    assert report["event_id"] == rude and report["reason"] == "rude"
    assert report["user_id"] == members["mpeer"].user_id
    table = moderate(settings, "reports")
    assert table.exit_code == 0 and "rude" in table.output and "something rude" not in table.output
    future = moderate(settings, "reports", "--since", "2099-01-01")
    assert future.exit_code == 2 and "in the future" in future.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("suspend", "nobody", "--reason", "x"), "no user @nobody:"),
        (("suspend", "bad:name", "--reason", "x"), "is not a user"),
        (("lock", "nochannel", "--reason", "x"), "no channel 'nochannel'"),
        (("lock", "mteam-general", "--reason", "x"), "is a room but not a Borough channel"),
        (("remove-post", "https://example.org/hello", "--reason", "x"), "is not an event link"),
        (("remove-post", "$doesnotexist", "--reason", "x"), "no event $doesnotexist"),
        (("suspend", "mstaff"), "Missing option '--reason'"),
        (("reports", "--since", "soon"), "'soon' is neither a span"),
    ],
)
def test_bad_input_is_exit_2_with_a_clear_message(
    settings: Path, args: tuple[str, ...], message: str
) -> None:
    result = moderate(settings, *args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_audit_reads_filters_and_refuses_bad_input(settings: Path) -> None:
    everything = audit_json(settings)
    assert {"org.apply", "moderate.lock"} <= {e["action"] for e in everything}
    mine = audit_json(settings, "--actor", "@madmin", "--since", "1d")
    assert mine and all(e["actor"] == "@madmin" for e in mine)
    assert audit_json(settings, "--actor", "@nobody") == []
    assert len(audit_json(settings, "--limit", "2")) == 2
    table = borough("audit", "--action", "moderate.lock", settings=settings)
    assert table.exit_code == 0 and "moderate.lock" in table.output and "heated" in table.output
    bad = borough("audit", "--since", "last tuesday", settings=settings)
    assert bad.exit_code == 2 and "neither a span like 7d" in bad.output
