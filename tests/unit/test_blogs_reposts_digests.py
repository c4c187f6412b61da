"""The pure decisions behind blogs, reposts and digests, with plain data."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest

from borough.blogs import SUMMARY_LENGTH, media_of, render_post
from borough.digests import Schedule, due, parse_time
from borough.org.loader import load_org_chart
from borough.org.model import Channel, RoomTemplate, TemplateChannel
from borough.reposts import (
    ChannelAudience,
    PostLink,
    attribution,
    parse_post_link,
    repost_refusal,
)
from borough.yamlsource import SourceError

EXAMPLE = Path(__file__).parents[2] / "config" / "org.example.yaml"

# --- blogs ------------------------------------------------------------------------------------


def test_a_post_starts_with_a_heading_and_is_sanitised() -> None:
    post = render_post(
        "# Our new hub\n\nWe opened **today**. <script>alert(1)</script> "
        "[map](javascript:alert(1)) <img src=x onerror=alert(1)>"
    )
    assert post is not None
    assert post.title == "Our new hub"
    assert "<strong>today</strong>" in post.html
    assert "script" not in post.html and "javascript" not in post.html and "<img" not in post.html
    assert post.summary.startswith("We opened today.")


@pytest.mark.parametrize(
    "body", ["#housing is busy", "Hello\n# later heading", "#   ", "plain text", ""]
)
def test_anything_else_is_not_a_post(body: str) -> None:
    assert render_post(body) is None


def test_a_long_summary_is_cut_at_300() -> None:
    post = render_post("## Long\n\n" + "word " * 200)
    assert post is not None and len(post.summary) == SUMMARY_LENGTH and post.summary.endswith("…")


def test_media_references() -> None:
    image = {
        "msgtype": "m.image",
        "url": "mxc://hs/abc",
        "body": "The hub",
        "info": {"mimetype": "image/png"},
    }
    assert media_of(image) is not None and media_of(image).as_json() == {  # type: ignore[union-attr]
        "url": "mxc://hs/abc",
        "mimetype": "image/png",
        "alt": "The hub",
    }
    assert media_of({"msgtype": "m.text", "body": "x"}) is None
    assert media_of({"msgtype": "m.video", "url": "https://evil.example/x"}) is None


# --- the org model ----------------------------------------------------------------------------


def test_a_sealed_channel_cannot_be_public() -> None:
    with pytest.raises(ValueError, match="sealed channel cannot be public"):
        TemplateChannel(sealed=True, public=True)
    with pytest.raises(ValueError, match="sealed channel cannot be public"):
        Channel.model_validate(
            {"key": "x", "name": "X", "owner": {"unit": "u"}, "sealed": True, "public": True}
        )
    with pytest.raises(ValueError, match="a channel or a blog"):
        RoomTemplate(name="x", channel=TemplateChannel(), blog={"public": True})  # type: ignore[arg-type]


def test_sealed_and_public_in_yaml_is_reported_with_its_place(tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        "    sealed: true\n    posters:\n      roles: [senior_manager]\n",
        "    sealed: true\n    public: true\n    posters:\n      roles: [senior_manager]\n",
        1,
    )
    bad = tmp_path / "org.yaml"
    bad.write_text(text, encoding="utf-8")
    with pytest.raises(SourceError) as caught:
        load_org_chart(bad)
    assert "sealed channel cannot be public" in str(caught.value)
    assert "org.yaml:" in str(caught.value)


def test_the_example_has_a_public_and_a_members_only_blog() -> None:
    from borough.network import desired_network

    network = desired_network(load_org_chart(EXAMPLE), "hs", "@svc:hs", "@bot:hs")
    blogs = {key: room for key, room in network.rooms.items() if room.blog is not None}
    assert {(r.blog.unit, r.blog.public) for r in blogs.values()} == {  # type: ignore[union-attr]
        ("comms", True),
        ("early-help", False),
    }
    assert all("@bot:hs" in room.members for room in blogs.values())


# --- reposts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://matrix.to/#/!abc:hs/$ev1?via=hs", PostLink("$ev1", "!abc:hs")),
        ("https://matrix.to/#/%21abc%3Ahs/%24ev1", PostLink("$ev1", "!abc:hs")),
        ("https://matrix.to/#/#news:hs/$ev1", PostLink("$ev1", "#news:hs")),
        ("matrix:roomid/abc:hs/e/ev1?via=hs", PostLink("$ev1", "!abc:hs")),
        ("$ev1", PostLink("$ev1")),
        ("https://matrix.to/#/!abc:hs", None),
        ("https://example.org/#/!abc:hs/$ev1", None),
        ("hello", None),
    ],
)
def test_post_links(link: str, expected: PostLink | None) -> None:
    assert parse_post_link(link) == expected


PARENTS = {"dir": None, "team": "dir", "sub": "team", "other": None}


def sealed(owner: str, *organisations: str) -> ChannelAudience:
    orgs = frozenset(organisations or ("council",))
    return ChannelAudience(owner, is_sealed=True, is_public=False, owner=owner, organisations=orgs)


def open_to(*organisations: str) -> ChannelAudience:
    """An open channel, read by every person of these organisations."""
    orgs = frozenset(organisations)
    return ChannelAudience("Open", is_sealed=False, is_public=False, organisations=orgs)


OPEN = open_to("council")
#: Applied before channels recorded their organisations: nothing can be proved about it.
OPEN_UNKNOWN = ChannelAudience("Open", is_sealed=False, is_public=False)
PUBLIC = ChannelAudience("Public", is_sealed=False, is_public=True)


@pytest.mark.parametrize(
    ("source", "target", "allowed"),
    [
        (PUBLIC, OPEN, True),
        (PUBLIC, sealed("unit/dir"), True),
        (OPEN, PUBLIC, False),
        (OPEN, sealed("unit/dir"), True),
        (OPEN, open_to("council"), True),  # the same organisation
        (OPEN, open_to("charity"), False),  # another organisation's
        (OPEN, open_to("council", "charity"), False),  # a partnership's reaches beyond
        (open_to("council", "charity"), OPEN, True),  # narrower
        (OPEN, sealed("partnership/p", "council", "charity"), False),
        (OPEN_UNKNOWN, OPEN, False),
        (OPEN, OPEN_UNKNOWN, False),
        (PUBLIC, OPEN_UNKNOWN, True),
        (sealed("unit/dir"), OPEN, False),
        (sealed("unit/dir"), PUBLIC, False),
        (sealed("unit/dir"), sealed("unit/dir"), True),
        (sealed("unit/dir"), sealed("unit/sub"), True),  # a unit below: narrower
        (sealed("unit/sub"), sealed("unit/dir"), False),  # wider
        (sealed("unit/dir"), sealed("unit/other"), False),
        (sealed("partnership/p"), sealed("partnership/p"), True),
        (sealed("partnership/p"), sealed("unit/team"), False),  # not provable: refused
        (ChannelAudience("S", True, False, None), sealed("unit/dir"), False),
    ],
)
def test_reposts_go_only_to_the_same_or_a_narrower_audience(
    source: ChannelAudience, target: ChannelAudience, allowed: bool
) -> None:
    refusal = repost_refusal(source, target, PARENTS)
    assert (refusal is None) is allowed
    if refusal is not None:
        assert refusal.count(".") == 1 and refusal.endswith(".")  # one sentence


def test_a_refused_cross_organisation_repost_names_both_channels() -> None:
    source = ChannelAudience("Council news", False, False, organisations=frozenset({"council"}))
    target = ChannelAudience("Charity news", False, False, organisations=frozenset({"charity"}))
    assert repost_refusal(source, target, PARENTS) == (
        "**Council news** is open only to its organisation, and **Charity news** reaches "
        "people outside it, so that post cannot be reposted there."
    )


def test_attribution_quotes_and_fits_the_channel() -> None:
    text = attribution("Tess", "Tom", "Leadership", "https://matrix.to/#/!r/$e", "x" * 2000, 500)
    assert text.startswith("🔁 **Tess** reposted **Tom** from **Leadership**:")
    assert "[Open the original](https://matrix.to/#/!r/$e)" in text
    assert len(text) <= 500


# --- digests ----------------------------------------------------------------------------------


def test_times() -> None:
    assert parse_time("8:05") == time(8, 5) and parse_time("23:59") == time(23, 59)
    assert parse_time("24:00") is None and parse_time("noon") is None


def test_a_daily_digest_is_due_once_a_day_at_local_time() -> None:
    schedule = Schedule("daily", time(9, 0), "Europe/London")
    since = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    # 08:30 UTC on 2 June is 09:30 in London (summer time): due, for 2 June.
    digest = due(schedule, since, datetime(2026, 6, 2, 8, 30, tzinfo=UTC))
    assert digest is not None and digest.period == "daily:2026-06-02"
    assert digest.end == datetime(2026, 6, 2, 8, 0, tzinfo=UTC)
    assert digest.start == digest.end - timedelta(days=1)
    # 07:30 UTC is 08:30 in London: the latest time was 1 June 09:00, before the subscription.
    assert due(schedule, since, datetime(2026, 6, 2, 7, 30, tzinfo=UTC)) is None


def test_a_weekly_digest_is_on_mondays() -> None:
    schedule = Schedule("weekly", time(8, 0), "UTC")
    since = datetime(2026, 11, 20, tzinfo=UTC)  # a Friday
    assert due(schedule, since, datetime(2026, 11, 22, 23, 0, tzinfo=UTC)) is None  # Sunday
    digest = due(schedule, since, datetime(2026, 11, 25, 10, 0, tzinfo=UTC))  # Wednesday
    assert digest is not None and digest.period == "weekly:2026-W48"
    assert digest.end == datetime(2026, 11, 23, 8, 0, tzinfo=UTC)  # Monday 08:00
    assert digest.end - digest.start == timedelta(days=7)
