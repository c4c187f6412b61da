"""`!commands`: how features declare them, the registry the bot is assembled from, and help.

Each feature module declares its commands on its own `Commands`, one decorated async
function per command (maubot-style), with typed arguments and aliases:

    COMMANDS = Commands(Meetings)

    @COMMANDS.command("meet cancel", Arg("number", convert=meeting_number), help="…")
    async def meet_cancel(meetings: Meetings, request: Request, number: int) -> str: ...

A handler is given the feature's service (found by its type in the bot's `Services`), the
`Request` (who, where, which event) and its arguments, already converted. Importing a
feature registers nothing anywhere: the bot's composition root (`bots.assembly`) builds the
`CommandRegistry` from its list of features, so `!help` is the same whatever was imported.

`parse` turns a message body into a call or a `UsageError` whose text is the answer. An
answer quotes what was typed only as a short prefix (`borough.wording.quoted`), so a huge
message still gets an answer small enough to send.
"""

from __future__ import annotations

import shlex
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Concatenate, Generic, TypeVar

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
    keeps_quotes: bool = False  # the rest of the line, re-quoted so `convert` can split it
    max_length: int = 1000
    #: Turns the typed text into the handler's value (a page number, a duration); a
    #: ValueError or UsageError it raises is the answer.
    convert: Callable[[str], object] | None = None

    def usage(self) -> str:
        shown = "|".join(self.choices) if self.choices else self.name.upper()
        shown += "…" if self.is_rest else ""
        return f"[{shown}]" if self.is_optional else shown


@dataclass(frozen=True)
class Request:
    """Who asked, in which room, with which event. What a command needs besides comes from
    its feature's service."""

    sender: str
    room_id: str
    event_id: str


S = TypeVar("S")
T = TypeVar("T")
#: A command's handler: its feature's service, the request, then its arguments by name.
Handler = Callable[Concatenate[S, Request, ...], Awaitable[str]]


@dataclass(frozen=True)
class Command(Generic[S]):
    name: str
    help: str
    args: tuple[Arg, ...]
    handler: Handler[S]
    #: The type of the service the handler is given; the bot's `Services` holds one.
    service: type[S]
    aliases: tuple[str, ...] = ()
    #: Shown by `!help` only to organisation admins; anyone may still type it and be refused.
    is_for_admins: bool = False

    def usage(self) -> str:
        return " ".join([f"{PREFIX}{self.name}", *(a.usage() for a in self.args)])


@dataclass
class Commands(Generic[S]):
    """One feature's commands, declared in its own module, all served by one service type."""

    service: type[S]
    #: The feature's commands are for organisation admins (`!admin …`).
    is_for_admins: bool = False
    declared: list[Command[S]] = field(default_factory=list)

    def command(
        self, name: str, *args: Arg, help: str, aliases: Sequence[str] = ()
    ) -> Callable[[Handler[S]], Handler[S]]:
        def declare(handler: Handler[S]) -> Handler[S]:
            self.declared.append(
                Command(
                    name,
                    help,
                    tuple(args),
                    handler,
                    self.service,
                    tuple(aliases),
                    self.is_for_admins,
                )
            )
            return handler

        return declare


class Services:
    """The services the bot's commands are given, one of each type. The composition root
    subclasses it as a dataclass with one required field per service."""

    def get(self, kind: type[T]) -> T:
        found = [value for value in vars(self).values() if isinstance(value, kind)]
        if len(found) != 1:
            raise LookupError(f"the bot has {len(found)} services of type {kind.__name__}, not 1")
        return found[0]


@dataclass
class Invocation:
    command: Command[Any]
    arguments: dict[str, object]

    async def run(self, services: Services, request: Request) -> str:
        service = services.get(self.command.service)
        return await self.command.handler(service, request, **self.arguments)


class CommandRegistry:
    """The bot's commands, built from its features' declarations; names and aliases are
    unique across them."""

    def __init__(self, features: Iterable[Commands[Any]]) -> None:
        #: Every name and alias, to its command.
        self.names: dict[str, Command[Any]] = {}
        #: Each command once, by its name.
        self.commands: dict[str, Command[Any]] = {}
        for feature in features:
            for command in feature.declared:
                self.commands[command.name] = command
                for name in (command.name, *command.aliases):
                    if name in self.names:
                        raise ValueError(f"two commands are called `{PREFIX}{name}`")
                    self.names[name] = command

    def check_served_by(self, services: Services) -> None:
        """Raise LookupError at start-up if some command's service is missing."""
        for command in self.commands.values():
            services.get(command.service)

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
            known = sorted({n.split()[0] for n, c in self.commands.items() if not c.is_for_admins})
            raise UnknownCommand(
                f"Unknown command {quoted(PREFIX + (words[0] if words else ''))}. "
                f"Try {', '.join(f'`{PREFIX}{k}`' for k in known)}, or `{PREFIX}help`."
            )
        return Invocation(command, self._bind(command, rest))

    def _match(self, words: Sequence[str]) -> tuple[Command[Any] | None, list[str]]:
        for length in range(min(len(words), 3), 0, -1):
            name = " ".join(words[:length]).lower()
            if name in self.names:
                return self.names[name], list(words[length:])
        return None, list(words)

    def _bind(self, command: Command[Any], words: list[str]) -> dict[str, object]:
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

    def help(self, topic: str | None = None, is_admin: bool = False) -> str:
        """Markdown help, generated from the registrations; a topic is a command's first
        words (`profile` explains every `!profile` command, `profile set` that one). Admin
        commands are listed only to admins (`is_admin`)."""
        shown = {n: c for n, c in self.commands.items() if is_admin or not c.is_for_admins}
        if topic:
            wanted = topic.lstrip(PREFIX).lower().split()
            matches = [
                c
                for n, c in sorted(shown.items())
                if any(name.split()[: len(wanted)] == wanted for name in (n, *c.aliases))
            ]
            if not matches:
                raise UsageError(
                    f"There is no {quoted(PREFIX + ' '.join(wanted))} command. Try `{PREFIX}help`."
                )
            lines = []
            for command in matches:
                lines.append(_line(command))
                lines += [f"  - `{a.name}`: {a.help}" for a in command.args if a.help]
            return "\n".join(lines)
        lines = ["**Borough commands**", ""]
        lines += [_line(c) for _, c in sorted(shown.items())]
        lines += ["", f"`{PREFIX}help COMMAND` explains one command.", "", WHERE_I_LISTEN]
        return "\n".join(lines)


#: Where commands are heard. A command typed where the bot is not a member gets no answer at
#: all, so the help says in advance where that is (the bot's rooms: `borough.network.bot_hears`).
WHERE_I_LISTEN = (
    "I answer in our direct chat and in every room of your teams, channels and partnerships; "
    f"`{PREFIX}meet` and `{PREFIX}widget` act on the room you type them in. Spaces have no "
    "chat, so I cannot hear you there, nor in a room I have not been invited to: invite me first."
)


def _line(command: Command[Any]) -> str:
    aliases = ", ".join(f"`{PREFIX}{a}`" for a in command.aliases)
    return f"- `{command.usage()}`{f' (also {aliases})' if aliases else ''}: {command.help}"


@dataclass(frozen=True)
class Help:
    """What `!help` needs: the registry, and whether the asker administers an organisation,
    since only admins are shown the `!admin` commands."""

    commands: CommandRegistry
    is_admin: Callable[[str], Awaitable[bool]]


HELP = Commands(Help)


@HELP.command(
    "help",
    Arg("command", "a command to explain, e.g. `profile set`", is_optional=True, is_rest=True),
    help="List the commands, or explain one.",
)
async def help_(help: Help, request: Request, command: str | None) -> str:
    return help.commands.help(command, is_admin=await help.is_admin(request.sender))


def _either(choices: Sequence[str]) -> str:
    """`a`, `b` or `c`."""
    shown = [f"`{c}`" for c in choices]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"
