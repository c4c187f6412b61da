"""`borough validate | plan | apply | export`: the org chart as desired state."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

import click
from rich.console import Console

from borough.cli import err_console, output_path
from borough.errors import EXIT_FAILED

if TYPE_CHECKING:
    from borough.connection import Connection
    from borough.live import LiveNetwork
    from borough.org import OrgChart
    from provisioning.apply import ApplyResult
    from provisioning.plan import Plan, PlanOptions

# This module is imported for `borough --help`, so what the commands need (pydantic,
# SQLAlchemy, aiohttp, the planner) is imported inside them.

console = Console(highlight=False, soft_wrap=True)


ORG_DIR = "borough.org_dir"


def _org_file(ctx: click.Context, param: click.Parameter, value: str) -> OrgChart:
    from borough.org import load_org_chart

    ctx.meta[ORG_DIR] = Path(value).parent
    return load_org_chart(value, images=True)


org_argument = click.argument("org_file", metavar="ORG.yaml", callback=_org_file)


@click.command()
@org_argument
def validate(org_file: OrgChart) -> None:
    """Check an org chart: shape, references, cycles and sealed-channel posters."""
    chart = org_file
    console.print(
        f"OK: {len(chart.organisations)} organisations, {len(chart.units)} units, "
        f"{len(chart.people)} people, {len(chart.partnerships)} partnerships, "
        f"{len(chart.channels)} channels"
    )


def options(prune: bool, deactivate_leavers: bool) -> PlanOptions:
    from provisioning.plan import PlanOptions

    return PlanOptions(prune=prune, deactivate_leavers=deactivate_leavers)


prune_option = click.option(
    "--prune", is_flag=True, help="Also remove and demote what the YAML no longer has."
)
leavers_option = click.option(
    "--deactivate-leavers", is_flag=True, help="Deactivate managed people who left the YAML."
)
REFRESH = "borough.refresh"
refresh_option = click.option(
    "--refresh",
    is_flag=True,
    expose_value=False,
    callback=lambda ctx, _, value: ctx.meta.__setitem__(REFRESH, value),
    help="Read the whole live state, not only what changed since the last plan or apply.",
)


@click.command()
@org_argument
@prune_option
@leavers_option
@refresh_option
@click.pass_context
def plan(ctx: click.Context, org_file: OrgChart, prune: bool, deactivate_leavers: bool) -> None:
    """Show what `apply` would change on the homeserver. Changes nothing."""
    from borough.connection import connect
    from provisioning.pipeline import plan_against_live
    from provisioning.render import render_plan

    async def run() -> Plan:
        async with connect(ctx.obj["settings_path"]) as conn:
            result, _ = await plan_against_live(
                conn,
                org_file,
                options(prune, deactivate_leavers),
                ctx.meta.get(ORG_DIR),
                refresh=ctx.meta.get(REFRESH, False),
            )
            return result

    render_plan(asyncio.run(run()), console)


@click.command()
@org_argument
@prune_option
@leavers_option
@refresh_option
@click.option("--force", is_flag=True, help="Allow more destructive changes than the threshold.")
@click.option("--demo-passwords", is_flag=True, help="Give new users a password, printed once.")
@click.option("--quiet", "-q", is_flag=True, help="Print the summary, not every change.")
@click.pass_context
def apply(
    ctx: click.Context,
    org_file: OrgChart,
    prune: bool,
    deactivate_leavers: bool,
    force: bool,
    demo_passwords: bool,
    quiet: bool,
) -> None:
    """Make the homeserver match the org chart."""
    from borough.connection import connect
    from provisioning.apply_lock import apply_turn
    from provisioning.pipeline import plan_against_live
    from provisioning.render import render_plan

    def waiting() -> None:
        if not quiet:
            err_console.print("Waiting for other applies to finish…")

    async def run() -> int:
        async with connect(ctx.obj["settings_path"]) as conn:
            # Every organisation's: a partner apply waits for this one, and this one for them.
            async with apply_turn(conn.sessions, None, waiting):
                the_plan, live = await plan_against_live(
                    conn,
                    org_file,
                    options(prune, deactivate_leavers),
                    ctx.meta.get(ORG_DIR),
                    refresh=ctx.meta.get(REFRESH, False),
                )
                render_plan(the_plan, console, summary_only=quiet)
                the_plan.raise_if_unsafe(
                    conn.settings.provisioning.destructive_threshold,
                    force=force,
                    remedy=". Read the plan, then run again with --force.",
                )
                if not the_plan.changes:
                    return 0
                result = await execute(
                    conn, the_plan, live, actor=conn.actor, demo_passwords=demo_passwords
                )
                return EXIT_FAILED if result.failures else 0

    code = asyncio.run(run())
    if code:
        ctx.exit(code)


async def execute(
    conn: Connection,
    the_plan: Plan,
    live: LiveNetwork,
    *,
    actor: str,
    demo_passwords: bool = False,
    what: str = "",
) -> ApplyResult:
    """Apply a plan with a progress bar, then say what was done and what failed. `what`
    names the part of the network applied, after the count."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from provisioning.apply import Applier

    applier = Applier(
        conn.client,
        conn.sessions,
        conn.settings.homeserver.server_name,
        {key: room.room_id for key, room in live.rooms.items()},
        actor=actor,
        demo_passwords=demo_passwords,
        password_length=conn.settings.provisioning.password_length,
    )
    with Progress(
        TextColumn("[bold]applying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as progress:
        task = progress.add_task("apply", total=len(the_plan.changes))
        result = await applier.apply(the_plan, lambda _: progress.advance(task))
    if result.passwords:
        table = Table(title="Demo passwords (shown once, stored nowhere)")
        table.add_column("user")
        table.add_column("password")
        for user_id, password in sorted(result.passwords.items()):
            table.add_row(user_id, password)
        console.print(table)
    console.print(f"Applied {result.done} of {len(the_plan.changes)} changes{what}.")
    for change, reason in result.failures:
        err_console.print(
            f"failed: {change.group} {change.target} ({change.detail}): {reason}",
            markup=False,
        )
    if result.failures:
        err_console.print("Some changes failed; run apply again once the cause is fixed.")
    return result


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=output_path,
    help="Write here, not stdout.",
)
@click.pass_context
def export(ctx: click.Context, output: Path | None) -> None:
    """Write the live managed network back out as org YAML."""
    import yaml

    from borough.connection import connect
    from borough.live import read_live
    from provisioning.export import export_org_chart

    async def run() -> str:
        async with connect(ctx.obj["settings_path"]) as conn:
            live = await read_live(conn.client, conn.sessions)
            data = export_org_chart(live, conn.settings.homeserver.server_name, conn.actor)
            return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)

    text = asyncio.run(run())
    if output:
        output.write_text(text, encoding="utf-8")
        err_console.print(f"wrote {output}")
    else:
        click.echo(text, nl=False)
