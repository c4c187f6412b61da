"""The bot is assembled in one place: `!help` lists every command, whatever was imported first."""

from __future__ import annotations

import json
import subprocess
import sys

EVERY_COMMAND = [
    "accept",
    "admin people",
    "admin suspend",
    "admin unsuspend",
    "answered",
    "answers",
    "ask",
    "blog latest",
    "digest",
    "feed",
    "find",
    "follow",
    "help",
    "hide",
    "meet",
    "meet at",
    "meet cancel",
    "meet end",
    "meet guest",
    "meet in",
    "meet list",
    "profile",
    "profile set",
    "profile visibility",
    "public",
    "q",
    "q withdraw",
    "repost",
    "tag",
    "team",
    "townhall",
    "townhall cancel",
    "townhall end",
    "trending",
    "unfollow",
    "whois",
    "widget",
]
#: The registry's module, the bot's runner and two features. Before the bot was assembled in one
#: place, `bots.handlers.registry` then held 12, 26, 19 and 12 commands.
FIRST_IMPORTS = ("bots.commands", "bots.runner", "bots.meet", "bots.profiles")

SCRIPT = """
import importlib, json, sys
importlib.import_module(sys.argv[1])
from bots.assembly import command_registry
registry = command_registry()
print(json.dumps({"names": sorted(registry.commands), "help": registry.help(is_admin=True)}))
"""


def help_in_a_fresh_interpreter(first: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, first], capture_output=True, text=True, check=True
    )
    answer: dict[str, object] = json.loads(done.stdout)
    return answer


def test_help_is_the_same_whichever_bot_module_is_imported_first() -> None:
    answers = {first: help_in_a_fresh_interpreter(first) for first in FIRST_IMPORTS}
    for first, answer in answers.items():
        assert answer["names"] == EVERY_COMMAND, first
        assert all(f"- `!{name}" in str(answer["help"]) for name in EVERY_COMMAND), first
    assert len({str(answer["help"]) for answer in answers.values()}) == 1
