"""`borough doctor`: one command that checks a deployment (see management.doctor)."""

from __future__ import annotations

import sys

import click


@click.command()
@click.option("--quiet", "-q", is_flag=True, help="Print only the problems.")
@click.pass_context
def doctor(ctx: click.Context, quiet: bool) -> None:
    """Check Synapse, its Borough modules, the bot, the widget server, the app database and
    the Jitsi settings; say what is wrong, one line per problem, and exit 1 if anything is."""
    # Here, not at the top: `borough --help` imports this module.
    from borough.settings import load_settings
    from management.doctor import run

    findings = run(load_settings(ctx.obj["settings_path"]))
    problems = [finding for finding in findings if finding.problem]
    for finding in findings:
        if finding.problem:
            click.echo(f"problem: {finding.part} {finding.said}")
        elif not quiet:
            mark = "skipped" if finding.skipped else "ok"
            click.echo(f"{mark}: {finding.part} {finding.said}")
    if problems:
        count = len(problems)
        click.echo(f"{count} problem{'s' if count != 1 else ''} found", err=True)
        sys.exit(1)
