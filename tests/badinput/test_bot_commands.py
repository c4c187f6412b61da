"""Bad commands sent to the running bot through a real Synapse: huge numbers, huge and empty
commands, unknown subcommands, bad dates and timezones, markup and unicode oddities, and
commands typed in a channel, whose answer goes by direct message and never into the channel.
Each gets one answer that says what is wrong; none says "went wrong on my side", and the
bot's log carries no traceback, per case and over the whole run.

One Synapse, one bot and one log tap serve the whole module. The `borough` arguments that
only the homeserver can judge (a person or an event that is not there) are tried here too.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.badinput.corpus import (
    HANG_GUARD_SECONDS,
    Case,
    LogTap,
    Stopwatch,
    answered,
    run_borough,
    tapped_logs,
)
from tests.conftest import Homeserver, HttpError, borough, write_settings
from tests.integration.running_bot import ThreadedBot, running_bot
from tests.integration.test_bot import Person, post

pytestmark = [pytest.mark.integration, pytest.mark.timeout(HANG_GUARD_SECONDS, func_only=True)]

ORG_FILE = Path(__file__).parents[1] / "fixtures" / "org" / "small.yaml"
HUGE = "99999999999999999999"


@dataclass(frozen=True)
class BotCase(Case):
    body: str = ""


USAGE = r"Usage: `!"
CASES = [
    # --- Huge numbers ---
    BotCase("find-page-huge", r"page", "!find a page:" + HUGE),
    BotCase("find-page-negative", r"page", "!find a page:-1"),
    BotCase("find-page-zero", r"page", "!find a page:0"),
    BotCase("find-page-float", r"page", "!find a page:1.5"),
    BotCase("find-page-exponent", r"page", "!find a page:1e400"),
    BotCase("tag-page-huge", r"page|PAGE", "!tag #x " + HUGE),
    BotCase("tag-page-negative", r"page|PAGE", "!tag #x -1"),
    BotCase("tag-page-words", r"page|PAGE", "!tag #x two"),
    BotCase("tag-not-a-word", r"a hashtag is one word", "!tag #<b>x</b>"),
    BotCase("tag-too-long", r"(a hashtag is one word|too long)", "!tag #" + "t" * 150),
    BotCase("feed-page-huge", r"page|PAGE", "!feed " + HUGE),
    BotCase("feed-page-unicode-digits", r"page|PAGE", "!feed \u0663"),
    BotCase("meet-in-huge-hours", r"(ahead|delay|DELAY|year|too)", "!meet in 99999999999h"),
    BotCase("meet-in-huge-days", r"(ahead|delay|DELAY|year|too)", "!meet in " + HUGE + "d"),
    BotCase("meet-in-negative", r"`-5m` is not a duration", "!meet in -5m"),
    BotCase("meet-in-zero", r"from a minute to a year ahead", "!meet in 0m"),
    BotCase("meet-in-words", r"`soon` is not a duration", "!meet in soon"),
    BotCase("meet-cancel-huge", r"(meeting number|no meeting)", "!meet cancel " + HUGE),
    BotCase("meet-cancel-words", r"(meeting number|no meeting)", "!meet cancel first"),
    # --- Huge, empty and unknown commands ---
    BotCase("bare-bang", r"!help", "!"),
    BotCase("bang-and-spaces", r"!help", "!   "),
    BotCase("unknown-60kb", r"Unknown command", "!" + "x" * 60_000),
    BotCase("unknown-60kb-words", r"Unknown command", "!zz " + "word " * 12_000),
    BotCase("known-60kb-argument", r"(too long|at most)", "!whois " + "n" * 60_000),
    BotCase("find-60kb", r"(too long|at most)", "!find " + "q" * 60_000),
    BotCase("unknown-command", r"Unknown command `!frobnicate`", "!frobnicate"),
    BotCase(
        "unknown-profile-subcommand", r"(not a valid|Unknown|Usage|Too many)", "!profile delete"
    ),
    BotCase("meet-cancel-no-number", r"`number` is missing", "!meet cancel"),
    BotCase("unknown-admin-subcommand", r"(Unknown|Usage|admin)", "!admin promote @tstaff"),
    BotCase("unknown-blog-subcommand", r"(Unknown|Usage|blog)", "!blog oldest tteam"),
    BotCase("help-unknown-topic", r"There is no `!nothing` command", "!help nothing"),
    BotCase("help-profile-set", r"!profile set", "!help profile set"),
    BotCase("profile-set-no-field", r"`field` is missing", "!profile set"),
    BotCase("profile-set-unknown-field", r"is not a valid field", "!profile set colour red"),
    BotCase("profile-set-huge-value", r"(at most|too long)", "!profile set bio " + "b" * 5000),
    BotCase(
        "profile-visibility-bad",
        r"is not a valid (visibility|audience|level)|choose",
        "!profile visibility bio everyone",
    ),
    BotCase("unclosed-quote", r"quote is not closed", '!whois "Tara'),
    BotCase("too-many-words", r"Too many words", "!follow #a #b #c"),
    BotCase("digest-bad-period", r"is not a valid", "!digest hourly"),
    BotCase("digest-bad-time", r"(time|TIME|HH:MM)", "!digest daily 25:99"),
    BotCase("digest-bad-timezone", r"(timezone|TIMEZONE)", "!digest daily 08:00 Mars/Olympus"),
    BotCase(
        "digest-timezone-path", r"(timezone|TIMEZONE)", "!digest daily 08:00 ../../../etc/passwd"
    ),
    BotCase("digest-time-huge", r"(time|TIME|HH:MM)", "!digest daily " + HUGE + ":00"),
    BotCase("meet-at-bad-date", r"(date|DATE)", "!meet at 2026-02-30 10:00"),
    BotCase("meet-at-bad-time", r"(time|TIME)", "!meet at 2027-01-10 27:00"),
    BotCase("meet-at-past", r"already passed|past", "!meet at 2001-01-01 10:00"),
    BotCase("meet-at-far-future", r"(year ahead|too far)", "!meet at 9999-12-31 10:00"),
    BotCase("meet-at-words", r"is not a (date|time)", "!meet at tomorrow noon"),
    BotCase("meet-guest-no-name", r"`name` is missing", "!meet guest"),
    # --- People, channels and links that do not exist ---
    BotCase("whois-nobody", r"Nobody matches", "!whois Nobody Atall"),
    BotCase("whois-bad-user-id", r"(Nobody|no one|not a)", "!whois @@@:::"),
    BotCase("whois-other-server", r"(Nobody|no one|not)", "!whois @tstaff:evil.example"),
    BotCase("team-unknown", r"I know no unit", "!team Nowhere"),
    BotCase("follow-unknown", r"(no channel|know no|not find|cannot)", "!follow #nowhere"),
    BotCase(
        "unfollow-not-followed",
        r"(not following|weren't following|nothing changed|no channel|know no)",
        "!unfollow #tsealed",
    ),
    BotCase("tag-empty", r"Give a hashtag", "!tag #"),
    BotCase("tag-with-space", r"a hashtag is one word", '!tag "#a b"'),
    BotCase("repost-bad-link", r"(link|LINK)", "!repost notalink #tsealed"),
    BotCase(
        "repost-other-server-link",
        r"(link|post|not find|cannot)",
        "!repost https://matrix.to/#/!x:evil.example/$y #tsealed",
    ),
    BotCase("blog-unknown-unit", r"(no unit|know no|no blog|not find)", "!blog latest nowhere"),
    BotCase("widget-unknown-kind", r"is not a valid", "!widget clock"),
    BotCase(
        "widget-timeline-unknown-channel",
        r"(no channel|know no|not find|cannot)",
        "!widget timeline #nowhere",
    ),
    BotCase("admin-not-an-admin", r"(admin|not allowed|only)", "!admin people"),
    BotCase("admin-suspend-not-an-admin", r"(admin|not allowed|only)", "!admin suspend @tnew spam"),
    BotCase("meet-end-nothing", r"(no meeting|nothing|not)", "!meet end"),
    # --- Ask the network ---
    BotCase("ask-nothing", r"`question` is missing", "!ask"),
    BotCase("ask-only-filters", r"Say what you want to know", '!ask skill:"damp"'),
    BotCase("ask-empty-skill", r"`skill:` needs a value", "!ask why? skill:"),
    BotCase("ask-unknown-org", r"I know no organisation `nowhere`", "!ask why? org:nowhere"),
    BotCase("ask-huge", r"too long", "!ask " + "why " * 400),
    BotCase("accept-outside-a-thread", r"Type this in your question's thread", "!accept"),
    BotCase("public-outside-a-thread", r"Type this in your question's thread", "!public"),
    BotCase("answers-nothing", r"`words` is missing", "!answers"),
    BotCase("available-maybe", r"Available is `yes`", "!profile set available maybe"),
    # --- Markup and unicode ---
    BotCase("html-in-unknown-command", r"Unknown command", "!<script>alert(1)</script>"),
    BotCase("html-in-whois", r"Nobody matches", "!whois <img src=x onerror=alert(1)>"),
    BotCase(
        "markdown-in-find",
        r"(Nobody matches|no one)",
        "!find [click](https://evil.example) **bold**",
    ),
    BotCase("right-to-left-override", r"(Nobody matches|Unknown command)", "!whois \u202eevil"),
    BotCase("zero-width-command", r"(Unknown command|!help)", "!\u200bhelp"),
    BotCase("emoji-command", r"Unknown command", "!\U0001f4a9"),
    BotCase("combining-marks", r"`person` is too long", "!whois " + "a\u0301" * 300),
    BotCase("nul-character", r"(Unknown command|Nobody|character)", "!whois a\x00b"),
    BotCase("newlines-in-command", r"(Nobody|Too many|Unknown|Usage|help)", "!help\n\n\n!whois x"),
    BotCase("uppercase-command", r"(Unknown command|Usage|!help)", "!HELP"),
]

#: Commands typed in a channel the person may post in: the answer comes by direct message,
#: linking the command, and nothing of the bot's appears in the channel.
CHANNEL_CASES = [
    BotCase("channel-whois", r"You asked in .*Tara Staff", "!whois @tstaff"),
    BotCase("channel-find-page-huge", r"You asked in .*page", "!find a page:" + HUGE),
    BotCase("channel-tag-page-huge", r"You asked in .*(page|PAGE)", "!tag #x " + HUGE),
    BotCase(
        "channel-meet-in-huge",
        r"You asked in .*(ahead|delay|DELAY|year|too)",
        "!meet in 99999999999h",
    ),
    BotCase("channel-help", r"You asked in .*!profile", "!help"),
    BotCase("channel-profile", r"You asked in .*Tess Admin", "!profile"),
    # Over the channel's length limit: Synapse's channel rules refuse it, saying so.
    BotCase("channel-find-60kb", r"limited to 500 characters", "!find " + "q" * 60_000),
    BotCase(
        "channel-digest-bad-timezone",
        r"You asked in .*(timezone|TIMEZONE)",
        "!digest daily 08:00 Mars/Olympus",
    ),
    BotCase("channel-widget", r"You asked in .*(widget|channel|not)", "!widget people"),
    BotCase("channel-unclosed-quote", r"You asked in .*quote is not closed", '!whois "Tara'),
]


@dataclass(frozen=True)
class LiveCliCase(Case):
    """`borough ARGV` against this module's homeserver, with the chart applied; `{server}`
    in an argument is its server name."""

    argv: tuple[str, ...] = ()


LIVE_CLI_CASES = [
    LiveCliCase(
        "suspend-not-a-user-id",
        r"'?@?not a user",
        ("moderate", "suspend", "not a user", "--reason", "x"),
    ),
    LiveCliCase(
        "suspend-unknown-person",
        r"no user @nobody:\S+ on this homeserver",
        ("moderate", "suspend", "@nobody:{server}", "--reason", "x"),
    ),
    LiveCliCase(
        "suspend-huge-user-id",
        r"no user @x+:\S+ on this homeserver",
        ("moderate", "suspend", "@" + "x" * 5000 + ":{server}", "--reason", "x"),
    ),
    LiveCliCase(
        "unsuspend-other-server",
        r"(other|another|not on|this server|{server}|evil\.example)",
        ("moderate", "unsuspend", "@x:evil.example"),
    ),
    LiveCliCase(
        "remove-post-garbage",
        r"(link|event id|event ID)",
        ("moderate", "remove-post", "garbage", "--reason", "x"),
    ),
    LiveCliCase(
        "remove-post-unknown-event",
        r"no event \$nothing on this homeserver",
        ("moderate", "remove-post", "$nothing", "--reason", "x"),
    ),
    LiveCliCase(
        "lock-unknown-channel", r"nowhere", ("moderate", "lock", "#nowhere", "--reason", "x")
    ),
    LiveCliCase(
        "person-export-not-a-user-id",
        r"'?@@@'?",
        ("person", "export", "@@@", "--yes", "--out", "-"),
    ),
    LiveCliCase(
        "person-export-unknown-person",
        r"@nobody:\S+",
        ("person", "export", "@nobody:{server}", "--yes", "--out", "-"),
    ),
    LiveCliCase(
        "report-unknown-org", r"(organisation|--org).*'?nowhere'?", ("report", "--org", "nowhere")
    ),
    LiveCliCase(
        "report-unknown-unit", r"(unit|--unit).*'?nowhere'?", ("report", "--unit", "nowhere")
    ),
    LiveCliCase(
        "partner-plan-unknown-org",
        r"'?nowhere'?",
        ("partner", "plan", str(ORG_FILE), "--org", "nowhere"),
    ),
]


@pytest.fixture(scope="module")
def bot_log() -> Iterator[LogTap]:
    with tapped_logs() as tap:
        yield tap


@pytest.fixture(scope="module")
def bot_account(homeserver: Homeserver) -> tuple[str, str]:
    return homeserver.synapse.register_user("boroughbot", secrets.token_hex(8))


@pytest.fixture(scope="module")
def applied(
    homeserver: Homeserver,
    app_database_url: str,
    tmp_path_factory: pytest.TempPathFactory,
    bot_account: tuple[str, str],
) -> Path:
    """The settings, with the bot, once the chart is applied (which joins the bot to every
    channel, sealed ones too)."""
    user_id, token = bot_account
    settings = write_settings(
        tmp_path_factory.mktemp("bot") / "borough.yaml",
        homeserver,
        app_database_url,
        bot={"user_id": user_id, "access_token": token},
    )
    result = borough("apply", "-q", str(ORG_FILE), settings=settings)
    assert result.exit_code == 0, result.output
    return settings


@pytest.fixture(scope="module")
def bot(
    homeserver: Homeserver,
    app_database_url: str,
    applied: Path,
    bot_account: tuple[str, str],
    bot_log: LogTap,
) -> Iterator[ThreadedBot]:
    user_id, token = bot_account
    with running_bot(
        homeserver, app_database_url, user_id, token, service_token=homeserver.service_token
    ) as running:
        yield running


@pytest.fixture(scope="module")
def tara(homeserver: Homeserver, bot: ThreadedBot) -> Person:
    return Person(homeserver, "tstaff", bot.user_id)


@pytest.fixture(scope="module")
def tess(homeserver: Homeserver, bot: ThreadedBot) -> Person:
    """A senior manager, who posts in the sealed channel."""
    return Person(homeserver, "tadmin", bot.user_id)


def _bot_said_nothing_here(hs: Homeserver, person: Person, room_id: str, bot_id: str) -> None:
    chunk = hs.call(
        "GET", f"/_matrix/client/v3/rooms/{quote(room_id)}/messages?dir=b&limit=50", person.token
    )["chunk"]
    said = [m for m in chunk if m["sender"] == bot_id and m["type"] == "m.room.message"]
    assert said == [], [m["content"].get("body", "")[:200] for m in said]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_command(case: BotCase, tara: Person, bot_log: LogTap) -> None:
    start = len(bot_log.records)
    with Stopwatch() as watch:
        answer = tara.ask(case.body)
    answered(case, answer, watch.elapsed, bot_log.tracebacks(start))
    assert "went wrong on my side" not in answer
    assert len(answer) < 20_000, "the answer quotes the command whole"


@pytest.mark.parametrize("case", CHANNEL_CASES, ids=lambda c: c.id)
def test_bad_command_in_a_channel(
    case: BotCase, homeserver: Homeserver, bot: ThreadedBot, tess: Person, bot_log: LogTap
) -> None:
    sealed = homeserver.room_id("tsealed")
    start = len(bot_log.records)
    with Stopwatch() as watch:
        try:
            asked = post(homeserver, tess.token, sealed, {"msgtype": "m.text", "body": case.body})
        except HttpError as refused:
            answer = str(refused.body.get("error"))
        else:
            reply = tess.wait_for(
                lambda ev: quote(asked) in str(ev.get("content", {}).get("body", ""))
            )
            answer = str(reply["content"]["body"])
    answered(case, answer, watch.elapsed, bot_log.tracebacks(start))
    assert "went wrong on my side" not in answer
    _bot_said_nothing_here(homeserver, tess, sealed, bot.user_id)


@pytest.mark.parametrize("case", LIVE_CLI_CASES, ids=lambda c: c.id)
def test_bad_cli_argument_against_the_homeserver(
    case: LiveCliCase, homeserver: Homeserver, applied: Path
) -> None:
    argv = [arg.replace("{server}", homeserver.server_name) for arg in case.argv]
    answer = run_borough("--settings", str(applied), *argv)
    answered(case, answer.text, answer.elapsed, answer.logs)
    assert answer.exit_code != 0, answer.text[:2000]


def test_no_traceback_in_the_bot_log_over_the_whole_run(bot_log: LogTap, tara: Person) -> None:
    """Last in the module: whatever the bot logged between cases, too."""
    tara.ask("!help")
    assert bot_log.tracebacks() == []
