"""What Borough tells a person whose post a channel refused, and how often; and the rule
that a channel's topic states beforehand."""

from __future__ import annotations

from borough.network import UNENCRYPTED_INDEXED, ChannelRules, chart_topic
from synapse_modules.refusal_notice import (
    NOTICES_PER_WINDOW,
    WINDOW_MS,
    NoticeAllowance,
    RefusedPost,
    next_allowance,
    notice_content,
)
from synapse_modules.unseen import Asker, is_outsider

POST = RefusedPost(
    "!room:test", "Posts in News are limited to 5 characters; this one has 7.", "a <b>&c"
)


def test_a_window_allows_a_few_notices_then_none() -> None:
    allowance = next_allowance(None, 1_000)
    assert allowance == NoticeAllowance(1_000, 1)
    for n in range(2, NOTICES_PER_WINDOW + 1):
        allowance = next_allowance(allowance, 1_000 + n)
        assert allowance is not None and allowance.sent == n
    assert next_allowance(allowance, 1_000 + WINDOW_MS - 1) is None


def test_a_new_window_starts_after_the_last_one_ends_or_the_clock_goes_back() -> None:
    used_up = NoticeAllowance(1_000, NOTICES_PER_WINDOW)
    assert next_allowance(used_up, 1_000 + WINDOW_MS) == NoticeAllowance(1_000 + WINDOW_MS, 1)
    assert next_allowance(used_up, 999) == NoticeAllowance(999, 1)


def test_the_notice_keeps_the_text_whole_and_escapes_it() -> None:
    content = notice_content(POST, is_last_in_window=False)
    assert content["msgtype"] == "m.notice"
    assert POST.reason in content["body"] and "a <b>&c" in content["body"]
    assert "<pre><code>a &lt;b&gt;&amp;c</code></pre>" in content["formatted_body"]
    assert "https://matrix.to/#/!room:test" in content["formatted_body"]
    assert "not repeated" not in content["body"]


def test_the_last_notice_of_a_window_says_more_will_not_follow() -> None:
    assert "not repeated here" in notice_content(POST, is_last_in_window=True)["body"]


def test_a_post_without_text_is_still_explained() -> None:
    body = notice_content(RefusedPost("!r:test", "No.", None), False)["body"]
    assert body.startswith("Your message was not sent: No.") and "nothing is lost" not in body


def test_a_channel_topic_ends_with_its_rule() -> None:
    rules = ChannelRules(posters=("@a:test",), max_length=280, sealed=False)
    line = "Only the posters start posts; reply in threads; 280 characters at most."
    assert rules.topic("Service news") == f"Service news\n{line}\n{UNENCRYPTED_INDEXED}"
    assert rules.topic(None) == f"{line}\n{UNENCRYPTED_INDEXED}"
    assert chart_topic(rules.topic("Service news"), 280) == "Service news"
    assert chart_topic(rules.topic(None), 280) is None
    assert chart_topic("Set by hand", 280) == "Set by hand"


def test_only_those_who_cannot_know_of_a_sealed_room_are_outsiders() -> None:
    assert is_outsider(
        Asker(is_borough=False, has_membership=False, is_owner_member_by_chart=False)
    )
    assert not is_outsider(Asker(True, False, False))
    assert not is_outsider(Asker(False, True, False))
    assert not is_outsider(Asker(False, False, True))
