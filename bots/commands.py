"""A registry of `!commands`: typed arguments, usage errors and help generated from it.

Handlers register with `@registry.command("profile set", Arg("field", choices=...), ...)`.
`parse` turns a message body into a call or a `UsageError` whose text is the answer. An
answer quotes what was typed only as a short prefix (`borough.wording.quoted`), so a huge
message still gets an answer small enough to send.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from borough.wording import quoted

PREFIX = "!"


class UsageError(Exception):
    """The person typed something the registry cannot run; the message says how to fix it."""


class UnknownCommand(UsageError):
    """The message starts with the prefix but names no command. Where people post rather
    than talk to the bot (a channel), that is an ordinary post, not a command."""


@dataclass(frozen=True)
class Arg:
    name: str
    help: str = ""
    choices: tuple[str, ...] = ()
    is_optional: bool = False
    is_rest: bool = False  # takes the rest of the line, spaces and all
    keeps_quotes: bool = False  # the rest of the line, re-quoted so the handler can split it
    max_length: int = 1000
    #: Turns the typed text into the handler's value (a page number, a duration); a
    #: ValueError or UsageError it raises is the answer.
    convert: Callable[[str], object] | None = None

    def usage(self) -> str:
        shown = "|".join(self.choices) if self.choices else self.name.upper()
        shown += "…" if self.is_rest else ""
        return f"[{shown}]" if self.is_optional else shown


Handler = Callable[..., Awaitable[Any]]


@dataclass
class Command:
    name: str
    help: str
    args: tuple[Arg, ...]
    handler: Handler

    def usage(self) -> str:
        return " ".join([f"{PREFIX}{self.name}", *(a.usage() for a in self.args)])


@dataclass
class Invocation:
    command: Command
    arguments: dict[str, object]


@dataclass
class CommandRegistry:
    commands: dict[str, Command] = field(default_factory=dict)

    def command(self, name: str, *args: Arg, help: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.commands[name] = Command(name, help, tuple(args), handler)
            return handler

        return register

    def parse(self, body: str) -> Invocation | None:
        """None if the body is not a command at all (ordinary chat)."""
        text = body.strip()
        if not text.startswith(PREFIX):
            return None
        if text == PREFIX:
            raise UnknownCommand(f"`{PREFIX}help` lists the commands.")
        try:
            words = shlex.split(text[len(PREFIX) :])
        except ValueError:
            raise UsageError("I could not read that: a quote is not closed.") from None
        command, rest = self._match(words)
        if command is None:
            known = sorted({n.split()[0] for n in self.commands})
            raise UnknownCommand(
                f"Unknown command {quoted(PREFIX + (words[0] if words else ''))}. "
                f"Try {', '.join(f'`{PREFIX}{k}`' for k in known)}, or `{PREFIX}help`."
            )
        return Invocation(command, self._bind(command, rest))

    def _match(self, words: Sequence[str]) -> tuple[Command | None, list[str]]:
        for length in range(min(len(words), 3), 0, -1):
            name = " ".join(words[:length]).lower()
            if name in self.commands:
                return self.commands[name], list(words[length:])
        return None, list(words)

    def _bind(self, command: Command, words: list[str]) -> dict[str, object]:
        bound: dict[str, object] = {}
        for i, arg in enumerate(command.args):
            if arg.is_rest:
                rest = words[i:]
                value = (shlex.join(rest) if arg.keeps_quotes else " ".join(rest)) if rest else None
            else:
                value = words[i] if len(words) > i else None
            if value is None:
                if not arg.is_optional:
                    raise UsageError(f"`{arg.name}` is missing. Usage: `{command.usage()}`")
                bound[arg.name] = None
                continue
            if len(value) > arg.max_length:
                raise UsageError(f"`{arg.name}` is too long: at most {arg.max_length} characters.")
            if arg.choices:
                if value.lower() not in arg.choices:
                    raise UsageError(
                        f"{quoted(value)} is not a valid {arg.name}: choose "
                        f"{_either(arg.choices)}. Usage: `{command.usage()}`"
                    )
                bound[arg.name] = value.lower()
            elif arg.convert is not None:
                try:
                    bound[arg.name] = arg.convert(value)
                except ValueError as exc:
                    raise UsageError(f"{exc} Usage: `{command.usage()}`") from None
            else:
                bound[arg.name] = value
        extra = len(words) - len(command.args)
        if extra > 0 and not any(a.is_rest for a in command.args):
            raise UsageError(f"Too many words. Usage: `{command.usage()}`")
        return bound

    def help(self, topic: str | None = None) -> str:
        """Markdown help, generated from the registrations; a topic is a command's first
        words (`profile` explains every `!profile` command, `profile set` that one)."""
        if topic:
            wanted = topic.lstrip(PREFIX).lower().split()
            matches = [
                c for n, c in sorted(self.commands.items()) if n.split()[: len(wanted)] == wanted
            ]
            if not matches:
                raise UsageError(
                    f"There is no {quoted(PREFIX + ' '.join(wanted))} command. Try `{PREFIX}help`."
                )
            lines = []
            for command in matches:
                lines.append(f"- `{command.usage()}`: {command.help}")
                lines += [f"  - `{a.name}`: {a.help}" for a in command.args if a.help]
            return "\n".join(lines)
        lines = ["**Borough commands**", ""]
        lines += [f"- `{c.usage()}`: {c.help}" for _, c in sorted(self.commands.items())]
        lines += ["", f"`{PREFIX}help COMMAND` explains one command."]
        return "\n".join(lines)


def _either(choices: Sequence[str]) -> str:
    """`a`, `b` or `c`."""
    shown = [f"`{c}`" for c in choices]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
