"""`borough partner plan|apply`: a partner admin's own organisation, planned and applied
through the same pipeline as `borough plan|apply`, cut to that organisation's part.

Who is acting is the kernel's operator check (`borough.operator`); every apply lands in the
audit log under the operator.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

import click

from borough.errors import EXIT_FAILED
from borough.operator import operator_option, org_option
from provisioning.cli import ORG_DIR, REFRESH, console, options, org_argument, refresh_option

if TYPE_CHECKING:
    from borough.connection import Connection
    from borough.live import LiveNetwork
    from borough.org import OrgChart
    from provisioning.plan import Plan

# This module is imported for `borough --help`, so what the commands need (pydantic,
# SQLAlchemy, aiohttp, the planner) is imported inside them.

prune_option = click.option(
    "--prune", is_flag=True, help="Also remove and demote what your part no longer has."
)
leavers_option = click.option(
    "--deactivate-leavers", is_flag=True, help="Deactivate your people who left."
)


def partner_options(command: Callable[..., None]) -> Callable[..., None]:
    """The chart, the organisation, who is acting, and the planning options, as `plan` and
    `apply` take them."""
    options = (org_argument, org_option, operator_option, prune_option, leavers_option)
    for option in reversed((*options, refresh_option)):
        command = option(command)
    return command


@click.group()
def partner() -> None:
    """A partner admin's own organisation: plan and apply only its part of the network."""


async def _admin(
    ctx: click.Context, chart: OrgChart, organisation: str, operator: str | None
) -> str:
    """Who is acting; refused, before anything is read or written, unless they administer
    `organisation`."""
    from borough.operator import confirmed_operator, refuse_unless_admin
    from borough.settings import load_settings

    settings = load_settings(ctx.obj["settings_path"])
    who = await confirmed_operator(settings, operator)
    refuse_unless_admin(chart, organisation, who, settings)
    return who


async def _plan(
    ctx: click.Context,
    conn: Connection,
    chart: OrgChart,
    organisation: str,
    prune: bool,
    deactivate_leavers: bool,
) -> tuple[Plan, LiveNetwork]:
    from provisioning.pipeline import plan_against_live

    return await plan_against_live(
        conn,
        chart,
        options(prune, deactivate_leavers),
        ctx.meta.get(ORG_DIR),
        refresh=ctx.meta.get(REFRESH, False),
        organisation=organisation,
    )


@partner.command("plan")
@partner_options
@click.pass_context
def partner_plan(
    ctx: click.Context,
    org_file: OrgChart,
    organisation: str,
    operator: str | None,
    prune: bool,
    deactivate_leavers: bool,
) -> None:
    """What `partner apply` would change for one organisation. Changes nothing."""
    from borough.connection import connect
    from provisioning.render import render_plan

    async def run() -> Plan:
        await _admin(ctx, org_file, organisation, operator)
        async with connect(ctx.obj["settings_path"]) as conn:
            the_plan, _ = await _plan(ctx, conn, org_file, organisation, prune, deactivate_leavers)
            return the_plan

    render_plan(asyncio.run(run()), console)


@partner.command("apply")
@partner_options
@click.option("--quiet", "-q", is_flag=True, help="Print the summary, not every change.")
@click.pass_context
def partner_apply(
    ctx: click.Context,
    org_file: OrgChart,
    organisation: str,
    operator: str | None,
    prune: bool,
    deactivate_leavers: bool,
    quiet: bool,
) -> None:
    """Make the homeserver match one organisation's part of the org chart."""
    from borough import audit
    from borough.cli import err_console
    from borough.connection import connect
    from provisioning.apply_lock import apply_turn
    from provisioning.cli import execute
    from provisioning.render import render_plan

    def waiting() -> None:
        if not quiet:  # the widget server's auto apply runs quiet, and logs what it prints
            err_console.print(f"Waiting for another apply of {organisation} to finish…")

    async def run() -> int:
        who = await _admin(ctx, org_file, organisation, operator)
        async with connect(ctx.obj["settings_path"]) as conn:
            # Held from before the plan until the audit entry: a second apply of the
            # organisation waits, then plans what this one left.
            async with apply_turn(conn.sessions, organisation, waiting):
                the_plan, live = await _plan(
                    ctx, conn, org_file, organisation, prune, deactivate_leavers
                )
                render_plan(the_plan, console, summary_only=quiet)
                # A partner admin cannot force: more than the threshold is the main file's call.
                the_plan.raise_if_unsafe(
                    conn.settings.provisioning.destructive_threshold,
                    remedy="; ask the main file's admins to apply it",
                )
                if not the_plan.changes:
                    return 0
                result = await execute(conn, the_plan, live, actor=who, what=f" for {organisation}")
                async with conn.sessions.begin() as session:
                    await audit.record(
                        session,
                        actor=who,
                        action="partner.apply",
                        target_ids=[organisation],
                        details={
                            "organisation": organisation,
                            "planned": len(the_plan.changes),
                            "done": result.done,
                            "failed": len(result.failures),
                        },
                    )
                return EXIT_FAILED if result.failures else 0

    code = asyncio.run(run())
    if code:
        ctx.exit(code)
