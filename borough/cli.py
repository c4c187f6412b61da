"""The `borough` command. Components add subcommands through the `borough.commands`
entry-point group, so the kernel never imports a component.

Every error a person can cause ends here as one clear paragraph and a non-zero exit.
"""

from __future__ import annotations

import logging
import sys
from importlib.metadata import entry_points
from typing import Any

import click
from rich.console import Console

from borough.matrix import HomeserverUnreachable, MatrixError
from borough.yamlsource import SourceError

err_console = Console(stderr=True, highlight=False, soft_wrap=True)

#: Exit codes: 1 a failure while working, 2 bad input (file or arguments), 3 refused for safety.
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_REFUSED = 1, 2, 3


class Refused(click.ClickException):
    """The command would be unsafe without an explicit flag."""

    exit_code = EXIT_REFUSED


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


class BoroughGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SourceError as exc:
            err_console.print(exc.render(), markup=False)
            count = len(exc.problems)
            err_console.print(f"{count} problem{'s' if count != 1 else ''} in {exc.filename}")
            sys.exit(EXIT_BAD_INPUT)
        except HomeserverUnreachable as exc:
            err_console.print(
                f"Error: {exc}. Is Synapse running, and is homeserver.url right in the settings?",
                markup=False,
            )
            sys.exit(EXIT_FAILED)
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


def _load_components() -> None:
    for entry in sorted(entry_points(group="borough.commands"), key=lambda e: e.name):
        commands = entry.load()
        for command in (
            commands()
            if callable(commands) and not isinstance(commands, click.Command)
            else [commands]
        ):
            main.add_command(command)


_load_components()
