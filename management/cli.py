"""`borough audit`, `borough moderate …` and `borough report`: running the network.

Moderation acts through the service account; the audit entry names the operator: `--as USER`
(or BOROUGH_OPERATOR), else the operating-system user as `unix:NAME`.
"""

from __future__ import annotations

import asyncio
import difflib
import getpass
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console

from borough.cli import output_path
from borough.errors import BadInput
from management.timespan import Since

if TYPE_CHECKING:
    from borough.db import AuditEntry
    from management.engagement import Network
    from management.moderation import Moderator

# This module is imported for `borough --help`, so what the commands need (SQLAlchemy,
# aiohttp, matplotlib) is imported inside them.

console = Console(highlight=False, soft_wrap=True)
T = TypeVar("T")


def _run(coroutine: Awaitable[T]) -> T:
    from management.moderation import ModerationError

    async def wrapped() -> T:
        try:
            return await coroutine
        except ModerationError as exc:
            raise BadInput(str(exc)) from None

    return asyncio.run(wrapped())


# --- audit ------------------------------------------------------------------------------------


def entry_json(entry: AuditEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "at": _utc(entry.at).isoformat(),
        "actor": entry.actor,
        "action": entry.action,
        "target_ids": entry.target_ids,
        "reason": entry.reason,
        "details": entry.details,
    }


def _utc(moment: datetime) -> datetime:
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command()
@click.option("--since", type=Since(), help="Only entries since: 7d, 12h, 2w or a date.")
@click.option("--actor", help="Only this actor, e.g. @ann:example.org or unix:ann.")
@click.option("--action", help="Only this action, e.g. moderate.lock, or a prefix: moderate.*")
# The database takes a 64-bit LIMIT at most; a million entries is past any page a person reads.
@click.option("--limit", type=click.IntRange(1, 1_000_000), help="Only the newest N entries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def audit(
    ctx: click.Context,
    since: datetime | None,
    actor: str | None,
    action: str | None,
    limit: int | None,
    as_json: bool,
) -> None:
    """Read the append-only audit log: who did what, when, why, to which ids."""
    from rich.table import Table

    from borough import audit as audit_log
    from borough.db import create_engine, migrate, session_factory
    from borough.settings import load_settings

    settings = load_settings(ctx.obj["settings_path"])

    async def read() -> list[AuditEntry]:
        await migrate(settings.database.url)
        engine = create_engine(settings.database.url)
        try:
            async with session_factory(engine)() as session:
                return await audit_log.entries(
                    session, since=since, actor=actor, action=action, limit=limit
                )
        finally:
            await engine.dispose()

    rows = asyncio.run(read())
    if as_json:
        for entry in rows:
            click.echo(json.dumps(entry_json(entry), sort_keys=True, default=str))
        return
    if not rows:
        console.print("No audit entries match.")
        return
    table = Table(title=f"Audit log ({len(rows)} entries)")
    table.add_column("when (UTC)", no_wrap=True)
    table.add_column("action", no_wrap=True)
    for column in ("actor", "targets", "reason", "details"):
        table.add_column(column, overflow="fold")
    for entry in rows:
        table.add_row(
            _utc(entry.at).strftime("%Y-%m-%d %H:%M"),
            entry.action,
            entry.actor,
            "\n".join(entry.target_ids),
            entry.reason or "",
            json.dumps(entry.details, sort_keys=True, default=str) if entry.details else "",
            end_section=False,
        )
    console.print(table)


# --- moderate ---------------------------------------------------------------------------------


@click.group()
@click.option(
    "--as",
    "operator",
    envvar="BOROUGH_OPERATOR",
    help="Who is acting, for the audit log (default: unix:<your login>).",
)
@click.pass_context
def moderate(ctx: click.Context, operator: str | None) -> None:
    """Moderate the network through Borough's service account; every action is audited."""
    ctx.obj["operator"] = operator or f"unix:{_login()}"


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user with no passwd entry and no $USER
        return "unknown"


def _moderate(ctx: click.Context, act: Callable[[Moderator], Awaitable[T]]) -> T:
    from borough.connection import connect
    from management.moderation import Moderator, Operator

    async def run() -> T:
        async with connect(ctx.obj["settings_path"]) as conn:
            moderator = Moderator(
                conn.client,
                conn.sessions,
                conn.settings.homeserver.server_name,
                Operator(actor=ctx.obj["operator"], via=conn.actor),
            )
            return await act(moderator)

    return _run(run())


reason_option = click.option("--reason", required=True, help="Why: kept in the audit log.")
optional_reason = click.option("--reason", help="Why: kept in the audit log.")


@moderate.command("remove-post")
@click.argument("event", metavar="EVENT_LINK_OR_ID")
@reason_option
@click.pass_context
def remove_post(ctx: click.Context, event: str, reason: str) -> None:
    """Redact a post (or reply, or reaction) and drop it from Borough's index."""
    removed = _moderate(ctx, lambda m: m.remove_post(event, reason))
    indexed = "and dropped it from the index" if removed.was_indexed else "(it was not indexed)"
    reposts = (
        f" Its {removed.reposts_removed} repost{'s' if removed.reposts_removed > 1 else ''} "
        "went with it."
        if removed.reposts_removed
        else ""
    )
    console.print(f"Redacted {removed.event_id} in {removed.room_id} {indexed}.{reposts}")


@moderate.command()
@click.argument("user")
@reason_option
@click.option(
    "--deactivate",
    is_flag=True,
    help="Deactivate the account instead of suspending it (cannot be undone by unsuspend).",
)
@click.pass_context
def suspend(ctx: click.Context, user: str, reason: str, deactivate: bool) -> None:
    """Suspend a person: they can read and leave rooms but not post, join or edit."""
    done = _moderate(ctx, lambda m: m.suspend(user, reason, deactivate))
    if done.method == "deactivated":
        console.print(
            f"Deactivated {done.user_id} (not suspended): they are signed out, removed from "
            "their rooms and cannot sign in again. 'unsuspend' cannot undo this."
        )
    else:
        console.print(
            f"Suspended {done.user_id} with Synapse's account suspension: they can still sign "
            "in and read, but cannot send messages, join rooms or change their profile. "
            f"Undo with: borough moderate unsuspend {done.user_id}"
        )


@moderate.command()
@click.argument("user")
@optional_reason
@click.pass_context
def unsuspend(ctx: click.Context, user: str, reason: str | None) -> None:
    """Lift a suspension."""
    done = _moderate(ctx, lambda m: m.unsuspend(user, reason))
    console.print(f"Unsuspended {done.user_id}: they can post again.")


@moderate.command()
@click.argument("channel")
@reason_option
@click.pass_context
def lock(ctx: click.Context, channel: str, reason: str) -> None:
    """Make a channel read-only (moderators can still post)."""
    result = _moderate(ctx, lambda m: m.lock(channel, reason))
    verb = "Locked" if result.changed else "Unchanged:"
    console.print(f"{verb} channel {result.channel} ({result.room_id}): {result.detail}.")


@moderate.command()
@click.argument("channel")
@optional_reason
@click.pass_context
def unlock(ctx: click.Context, channel: str, reason: str | None) -> None:
    """Undo a lock, restoring exactly the power levels the lock changed."""
    result = _moderate(ctx, lambda m: m.unlock(channel, reason))
    console.print(f"Unlocked channel {result.channel} ({result.room_id}): {result.detail}.")


@moderate.command()
@click.option("--since", type=Since(), help="Only reports since: 7d, 12h, 2w or a date.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def reports(ctx: click.Context, since: datetime | None, as_json: bool) -> None:
    """List content people reported in Element (Report content), newest first."""
    from rich.table import Table

    found = _moderate(ctx, lambda m: m.reports(since))
    if as_json:
        for report in found:
            click.echo(json.dumps(report, sort_keys=True))
        return
    if not found:
        console.print("No reports.")
        return
    table = Table(title=f"Reported content ({len(found)})")
    for column in ("received (UTC)", "room", "event", "sender", "reported by", "reason", "score"):
        table.add_column(column, overflow="fold")
    for report in found:
        received = datetime.fromtimestamp(int(report.get("received_ts", 0)) / 1000, UTC)
        table.add_row(
            received.strftime("%Y-%m-%d %H:%M"),
            str(report.get("canonical_alias") or report.get("name") or report.get("room_id")),
            str(report.get("event_id")),
            str(report.get("sender") or ""),
            str(report.get("user_id")),
            str(report.get("reason") or ""),
            "" if report.get("score") is None else str(report.get("score")),
        )
    console.print(table)
    console.print("Act on one with: borough moderate remove-post EVENT --reason …")


# --- report -----------------------------------------------------------------------------------


def _check_scope(network: Network, organisation: str | None, unit: str | None) -> None:
    if organisation is not None and unit is not None:
        raise BadInput("give --org or --unit, not both (a unit already names its organisation)")
    orgs = sorted(set(network.unit_org.values()) | set(network.person_org.values()))
    if organisation is not None and organisation not in orgs:
        raise BadInput(f"unknown organisation '{organisation}' (known: {', '.join(orgs)})")
    if unit is not None and unit not in network.unit_parent:
        close = difflib.get_close_matches(unit, list(network.unit_parent), n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise BadInput(f"unknown unit '{unit}'{hint}")


@click.command()
@click.option(
    "--since", type=Since(), default="30d", show_default=True, help="7d, 12h, 2w or a date."
)
@click.option("--org", "organisation", metavar="KEY", help="Only this organisation's rows.")
@click.option("--unit", metavar="KEY", help="Only this unit, its sub-units and their channels.")
@click.option(
    "--html",
    "html_file",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=output_path,
    help="Also write a self-contained HTML report with charts.",
)
@click.option(
    "--csv",
    "csv_dir",
    type=click.Path(file_okay=False, path_type=Path),
    callback=output_path,
    help="Also write CSV files into this folder.",
)
@click.pass_context
def report(
    ctx: click.Context,
    since: datetime,
    organisation: str | None,
    unit: str | None,
    html_file: Path | None,
    csv_dir: Path | None,
) -> None:
    """Engagement per organisation, unit, partnership and channel, and the virtuous circle."""
    from borough.connection import connect
    from management.engagement import engagement, select_rows, virtuous_circle, weekly_activity
    from management.questions import answers_by_week, question_rows, select_question_rows
    from management.report_data import ReportFacts, gather
    from management.report_render import Report, print_tables, render_html, write_csv

    until = datetime.now(UTC)

    async def run() -> ReportFacts:
        async with connect(ctx.obj["settings_path"]) as conn:
            return await gather(conn.client, conn.sessions, since, until)

    facts = _run(run())
    _check_scope(facts.network, organisation, unit)
    rows = engagement(
        facts.network, facts.activities, facts.meetings, facts.new_accounts, facts.room_joins
    )
    circle = virtuous_circle(
        facts.network, facts.interactions, facts.meetings, since.date(), until.date()
    )
    shown = select_rows(rows, facts.network, organisation, unit)
    if organisation is not None:
        partnerships = {r.scope.key for r in shown if r.scope.kind == "partnership"}
        circle = [w for w in circle if w.partnership in partnerships]
    elif unit is not None:
        circle = []
    filters = f", organisation {organisation}" if organisation else ""
    filters += f", unit {unit}" if unit else ""
    result = Report(
        since=since,
        until=until,
        rows=shown,
        circle=circle,
        weekly=weekly_activity(facts.interactions, facts.meetings, since.date(), until.date()),
        filters=filters,
        # Asking is counted per organisation and partnership: a unit's report has none.
        questions=[]
        if unit is not None
        else select_question_rows(
            question_rows(facts.network, facts.questions, facts.answers),
            facts.network,
            organisation,
        ),
        answer_weeks=[]
        if unit is not None or organisation is not None
        else answers_by_week(facts.network, facts.answers, since.date(), until.date()),
    )
    print_tables(result, console)
    if csv_dir is not None:
        for path in write_csv(result, csv_dir):
            console.print(f"Wrote {path}")
    if html_file is not None:
        html_file.write_text(render_html(result), encoding="utf-8")
        console.print(f"Wrote {html_file}")
