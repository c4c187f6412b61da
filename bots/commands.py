"""A registry of `!commands`: typed arguments, usage errors and help generated from it.

Handlers register with `@registry.command("profile set", Arg("field", choices=...), ...)`.
`parse` turns a message body into a call or a `UsageError` whose text is the answer.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

PREFIX = "!"


class UsageError(Exception):
    """The person typed something the registry cannot run; the message says how to fix it."""


@dataclass(frozen=True)
class Arg:
    name: str
    help: str = ""
    choices: tuple[str, ...] = ()
    is_optional: bool = False
    is_rest: bool = False  # takes the rest of the line, spaces and all
    keeps_quotes: bool = False  # the rest of the line, re-quoted so the handler can split it
    max_length: int = 1000

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
    arguments: dict[str, str | None]


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
        if not text.startswith(PREFIX) or len(text) == 1:
            return None
        try:
            words = shlex.split(text[len(PREFIX) :])
        except ValueError:
            raise UsageError("I could not read that: a quote is not closed.") from None
        command, rest = self._match(words)
        if command is None:
            known = sorted({n.split()[0] for n in self.commands})
            raise UsageError(
                f"Unknown command `{PREFIX}{words[0] if words else ''}`. "
                f"Try {', '.join(f'`{PREFIX}{k}`' for k in known)}, or `{PREFIX}help`."
            )
        return Invocation(command, self._bind(command, rest, text))

    def _match(self, words: Sequence[str]) -> tuple[Command | None, list[str]]:
        for length in range(min(len(words), 3), 0, -1):
            name = " ".join(words[:length]).lower()
            if name in self.commands:
                return self.commands[name], list(words[length:])
        return None, list(words)

    def _bind(self, command: Command, words: list[str], text: str) -> dict[str, str | None]:
        bound: dict[str, str | None] = {}
        for i, arg in enumerate(command.args):
            if arg.is_rest:
                rest = words[i:]
                value = (shlex.join(rest) if arg.keeps_quotes else " ".join(rest)) if rest else None
            else:
                value = words[i] if len(words) > i else None
            if value is None and not arg.is_optional:
                raise UsageError(f"`{arg.name}` is missing. Usage: `{command.usage()}`")
            if value is not None and arg.choices and value.lower() not in arg.choices:
                raise UsageError(
                    f"`{value}` is not a valid {arg.name}: choose one of {', '.join(arg.choices)}. "
                    f"Usage: `{command.usage()}`"
                )
            if value is not None and len(value) > arg.max_length:
                raise UsageError(f"`{arg.name}` is too long: at most {arg.max_length} characters.")
            bound[arg.name] = value.lower() if value is not None and arg.choices else value
        extra = len(words) - len(command.args)
        if extra > 0 and not any(a.is_rest for a in command.args):
            raise UsageError(f"Too many words. Usage: `{command.usage()}`")
        return bound

    def help(self, topic: str | None = None) -> str:
        """Markdown help, generated from the registrations."""
        if topic:
            matches = [
                c
                for n, c in sorted(self.commands.items())
                if n.split()[0] == topic.lstrip(PREFIX).lower()
            ]
            if not matches:
                raise UsageError(
                    f"There is no `{PREFIX}{topic.lstrip(PREFIX)}` command. Try `{PREFIX}help`."
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
