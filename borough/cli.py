"""The `borough` command. Components add subcommands through the `borough.commands`
entry-point group, so the kernel never imports a component, and a command's module is
imported only when that command runs (or its help is asked for): `borough --help` and
`borough validate` do not pay for matplotlib, matrix-nio or SQLAlchemy.

Every error a person can cause ends here as one clear paragraph and a non-zero exit.
"""

from __future__ import annotations

import logging
import sys
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from borough.errors import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    BadInput,
    DatabaseUnreachable,
    DatabaseUrlError,
    HomeserverUnreachable,
    MatrixError,
    NotAHomeserver,
    WrongServerName,
)
from borough.yamlsource import SourceError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def output_path(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path | None:
    """A click callback for options that name a file or folder to write: its folder must
    exist. Creating missing folders would hide a typo behind a file nobody finds."""
    if value is not None and not value.parent.is_dir():
        raise BadInput(f"{param.opts[-1]} {value}: the folder {value.parent} does not exist")
    return value


def explain_matrix_error(exc: MatrixError) -> str:
    if exc.errcode == "M_UNKNOWN_TOKEN" or exc.status == 401:
        return (
            f"the homeserver refused the service account's access token ({exc.errcode}: {exc.error}). "
            "Check service_account.access_token in the settings, or BOROUGH_ACCESS_TOKEN."
        )
    if exc.status == 403 and "/_synapse/admin/" in exc.path:
        return (
            f"the service account is not a server admin ({exc.errcode}: {exc.error}). "
            "Borough's service account needs admin rights: make it an admin with "
            "'register_new_matrix_user --admin' or the admin API."
        )
    return f"the homeserver refused a request: {exc}"


@cache
def _commands() -> dict[str, EntryPoint]:
    """The `borough.commands` entry points: each names one top-level command and where it is."""
    return {entry.name: entry for entry in entry_points(group="borough.commands")}


class BoroughGroup(click.Group):
    """Finds its subcommands in the entry-point table and imports each one only when asked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *_commands()})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands or cmd_name not in _commands():
            return self.commands.get(cmd_name)
        command = _commands()[cmd_name].load()
        if not isinstance(command, click.Command):
            raise TypeError(f"the entry point {cmd_name!r} names {command!r}, not a click command")
        self.add_command(command, cmd_name)
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        # click suggests only among commands already loaded; ours load when asked, so a
        # misspelt one is compared with every name in the entry-point table.
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:
            raise click.exceptions.NoSuchCommand(
                exc.command_name, possibilities=self.list_commands(ctx), ctx=ctx
            ) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SourceError as exc:
            err_console.print(exc.render(), markup=False)
            count = len(exc.problems)
            err_console.print(f"{count} problem{'s' if count != 1 else ''} in {exc.filename}")
            sys.exit(EXIT_BAD_INPUT)
        except (HomeserverUnreachable, NotAHomeserver) as exc:
            err_console.print(
                f"Error: {exc}. Is Synapse running, and is homeserver.url right in the settings?",
                markup=False,
            )
            sys.exit(EXIT_FAILED)
        except DatabaseUnreachable as exc:
            err_console.print(
                f"Error: {exc}. Is the database running, and is database.url right in "
                f"{ctx.obj['settings_path']}?",
                markup=False,
            )
            sys.exit(EXIT_FAILED)
        except (WrongServerName, DatabaseUrlError) as exc:
            # Found once connected or opened, after the settings loaded: named by file and key.
            key = "homeserver.server_name" if isinstance(exc, WrongServerName) else "database.url"
            err_console.print(f"Error: {ctx.obj['settings_path']} {key}: {exc}", markup=False)
            sys.exit(EXIT_BAD_INPUT)
        except MatrixError as exc:
            err_console.print(f"Error: {explain_matrix_error(exc)}", markup=False)
            sys.exit(EXIT_FAILED)
        except KeyboardInterrupt:
            err_console.print("Interrupted. Run the same command again to finish: it converges.")
            sys.exit(130)


@click.group(cls=BoroughGroup)
@click.option(
    "--settings",
    "-c",
    "settings_path",
    type=click.Path(dir_okay=False),
    envvar="BOROUGH_SETTINGS",
    default="config/borough.yaml",
    show_default=True,
    help="Borough's settings file.",
)
@click.option("-v", "--verbose", count=True, help="More logging (-vv for debug).")
@click.version_option(package_name="borough")
@click.pass_context
def main(ctx: click.Context, settings_path: str, verbose: int) -> None:
    """Borough: the council's own network on Matrix."""
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"settings_path": settings_path}
