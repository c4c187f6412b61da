"""The command registry and profile visibility, with plain data."""

from __future__ import annotations

import pytest

from borough.visibility import Viewer, may_see
from bots.commands import Arg, CommandRegistry, UsageError
from bots.handlers import registry
from bots.replies import notice


def test_parsing_binds_typed_arguments_and_longest_names() -> None:
    invocation = registry.parse('!profile set skills "family support, safeguarding"')
    assert invocation is not None
    assert invocation.command.name == "profile set"
    assert invocation.arguments == {"field": "skills", "value": "family support, safeguarding"}
    assert registry.parse("just chatting") is None
    assert registry.parse("!PROFILE") is not None


@pytest.mark.parametrize(
    ("body", "answer"),
    [
        ("!nope", "Unknown command `!nope`"),
        ("!profile set", "`field` is missing"),
        ("!profile set shoe 9", "`shoe` is not a valid field"),
        ("!profile visibility bio everyone", "`everyone` is not a valid audience"),
        ('!whois "open', "a quote is not closed"),
        ("!help profile extra words", "Too many words"),
    ],
)
def test_bad_commands_get_usage_answers(body: str, answer: str) -> None:
    with pytest.raises(UsageError, match=answer.replace("`", "`")):
        registry.parse(body)


def test_help_comes_from_the_registrations() -> None:
    local = CommandRegistry()

    @local.command("ping", Arg("target", "who to ping", is_optional=True), help="Say hello.")
    async def ping(request: object, target: str | None) -> str:
        return "pong"

    assert "- `!ping [TARGET]`: Say hello." in local.help()
    assert "`target`: who to ping" in local.help("ping")
    with pytest.raises(UsageError, match="There is no `!pong` command"):
        local.help("pong")


def test_replies_are_sanitised_notices() -> None:
    content = notice("**hi** <script>alert(1)</script> [x](javascript:alert(1))", reply_to="$e")
    assert content["msgtype"] == "m.notice"
    assert "<strong>hi</strong>" in content["formatted_body"]
    assert (
        "<script>" not in content["formatted_body"]
        and "javascript:" not in content["formatted_body"]
    )
    assert content["m.relates_to"] == {"m.in_reply_to": {"event_id": "$e"}}


def test_visibility_levels() -> None:
    colleague = Viewer("@a:hs", "council", "staff")
    partner = Viewer("@b:hs", "police", "partner")
    resident = Viewer("@c:hs", None, None)
    owner = ("@o:hs", "council")
    assert may_see(colleague, *owner, "staff") and may_see(partner, *owner, "partners")
    assert not may_see(partner, *owner, "staff")
    assert may_see(resident, *owner, "public") and not may_see(resident, *owner, "partners")
    assert may_see(Viewer("@o:hs", None, None), *owner, "staff")  # one's own fields


def test_posts_yield_hashtags_mentions_and_links_but_not_aliases() -> None:
    from bots.index import parse_text

    parsed = parse_text(
        "Budget for #Budget and #housing: ask @tmgr:hs, see #council-news:hs and https://a.example/x?y=1)."
    )
    assert parsed.tags == {"budget", "housing"}
    assert parsed.mentions == {"@tmgr:hs"}
    assert parsed.links == ("https://a.example/x?y=1",)
