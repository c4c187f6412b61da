"""`borough import people`, `borough person export|erase`.

Who is acting is the kernel's operator check (`borough.operator`: `--as`, BOROUGH_OPERATOR,
BOROUGH_OPERATOR_TOKEN). Every action lands in the audit log under the operator.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from borough.cli import err_console, output_path
from borough.errors import BadInput, Refused
from borough.operator import (
    confirmed_operator,
    operator_option,
    org_option,
    qualified_user_id,
    refuse_unless_admin,
)

if TYPE_CHECKING:
    from borough.people_import import ImportPreview
    from borough.settings import Settings
    from management.data_rights import ErasureResult

# This module is imported for `borough --help`, so what the commands need (pydantic,
# SQLAlchemy, aiohttp, the planner) is imported inside them.

console = Console(highlight=False, soft_wrap=True)


# --- borough import people ---------------------------------------------------------------


@click.group("import")
def import_() -> None:
    """Bring data from other systems into the org chart."""


def _show_preview(preview: ImportPreview, shown: int) -> None:
    from rich.table import Table

    table = Table(title=f"HR import for {preview.organisation}: {preview.summary()}")
    for column in ("", "person", "name", "what changes"):
        table.add_column(column)
    kinds: list[tuple[str, str, list[tuple[str, str, str]]]] = [
        ("+", "green", [(p["username"], p["display_name"], "joins") for p in preview.joiners]),
        (
            "~",
            "yellow",
            [(m.username, m.display_name, "; ".join(m.changes)) for m in preview.movers],
        ),
        (
            "-",
            "red",
            [
                (str(p.get("username")), str(p.get("display_name")), "leaves the fragment")
                for p in preview.leavers
            ],
        ),
    ]
    for mark, style, rows in kinds:
        for username, name, what in rows[:shown]:
            table.add_row(f"[{style}]{mark}[/]", username, name, what)
        if len(rows) > shown:
            table.add_row(f"[{style}]{mark}[/]", f"… and {len(rows) - shown} more", "", "")
    console.print(table)
    if preview.admins_changed:
        added = [a for a in preview.admins if a not in preview.admins_before]
        removed = [a for a in preview.admins_before if a not in preview.admins]
        console.print(
            f"Admins in the fragment: {', '.join(preview.admins) or '(none)'} "
            f"(added: {', '.join(added) or 'none'}; removed: {', '.join(removed) or 'none'})."
        )
    if preview.admins_held:
        err_console.print(
            f"Not made admins ({', '.join(preview.admins_held[:shown])}): the main org file "
            f"keeps {preview.organisation}'s admins. List them under its 'admins:' there, or "
            "let the fragment name them with 'fragment_may_add_admins: true' on its entry."
        )
    if preview.bad_rows:
        bad = Table(title=f"{len(preview.bad_rows)} rows not imported")
        bad.add_column("row", justify="right")
        bad.add_column("person")
        bad.add_column("why")
        for row in preview.bad_rows[: max(shown, 100)]:
            bad.add_row(str(row.row), row.username or "", row.reason)
        if len(preview.bad_rows) > max(shown, 100):
            bad.add_row("…", f"and {len(preview.bad_rows) - max(shown, 100)} more", "")
        err_console.print(bad)


@import_.command("people")
@click.argument("csv_file", metavar="HR.csv", type=click.Path(dir_okay=False))
@org_option
@click.option(
    "--mapping",
    "mapping_file",
    required=True,
    type=click.Path(dir_okay=False),
    help="Which HR column fills which person field (see config/hr-mapping.example.yaml).",
)
@click.option(
    "--chart",
    "org_file",
    default="config/org.yaml",
    show_default=True,
    envvar="BOROUGH_ORG_FILE",
    help="The main org file, which includes the organisation's fragment.",
)
@operator_option
@click.option("--yes", is_flag=True, help="Write the fragment without asking.")
@click.option("--dry-run", is_flag=True, help="Show the preview; write nothing.")
@click.option("--show", default=50, show_default=True, help="Rows of each kind to list.")
@click.pass_context
def import_people(
    ctx: click.Context,
    csv_file: str,
    organisation: str,
    mapping_file: str,
    org_file: str,
    operator: str | None,
    yes: bool,
    dry_run: bool,
    show: int,
) -> None:
    """Preview joiners, movers and leavers from an HR export, then write the org's fragment."""
    from borough.org import OrgChartError
    from borough.org.loader import load_org_chart_with_fragments
    from borough.people_import import (
        HrImportError,
        NoFragment,
        import_people,
        load_mapping,
        organisation_fragment,
        read_hr_rows,
    )
    from borough.settings import load_settings

    settings = load_settings(ctx.obj["settings_path"])
    if not Path(org_file).exists():
        raise BadInput(f"no org chart at {org_file}: pass --chart ORG.yaml or set BOROUGH_ORG_FILE")
    chart, fragments = load_org_chart_with_fragments(org_file)
    who = asyncio.run(confirmed_operator(settings, operator))
    refuse_unless_admin(chart, organisation, who, settings)
    try:
        path = Path(organisation_fragment(org_file, fragments, organisation).filename)
        mapping = load_mapping(mapping_file)
        result = import_people(
            org_file, fragments, chart, organisation, read_hr_rows(csv_file, mapping), mapping
        )
    except (NoFragment, HrImportError) as exc:
        raise BadInput(str(exc)) from None
    except OrgChartError as exc:
        err_console.print(exc.render(), markup=False)
        raise BadInput(
            f"the import would leave the org chart invalid (above), so {path} is unchanged"
        ) from None
    preview = result.preview
    _show_preview(preview, show)
    if not preview.has_changes:
        console.print(f"No changes to {path}.")
        return
    if dry_run:
        console.print(f"Dry run: {path} was not written.")
        return
    if not yes and not click.confirm(f"Write these changes into {path}?", default=False):
        raise Refused("nothing was written")
    path.write_text(result.text, encoding="utf-8")
    asyncio.run(_audit_import(settings, who, organisation, csv_file, preview))
    leavers = " --deactivate-leavers" if preview.leavers else ""
    console.print(
        f"Wrote {path}: {preview.summary()}. Run `borough partner plan {org_file} --org "
        f"{organisation}{leavers}` to see what apply will do."
    )


async def _audit_import(
    settings: Settings, who: str, organisation: str, csv_file: str, preview: ImportPreview
) -> None:
    from borough import audit
    from borough.db import create_engine, migrate, session_factory

    await migrate(settings.database.url)
    engine = create_engine(settings.database.url)
    try:
        async with session_factory(engine).begin() as session:
            await audit.record(
                session,
                actor=who,
                action="people.import",
                target_ids=[organisation],
                details={
                    "file": Path(csv_file).name,
                    "joiners": len(preview.joiners),
                    "movers": len(preview.movers),
                    "leavers": len(preview.leavers),
                    "unchanged": preview.unchanged,
                    "bad_rows": len(preview.bad_rows),
                },
            )
    finally:
        await engine.dispose()


# --- borough person export | erase -------------------------------------------------------


@click.group()
def person() -> None:
    """Data rights (UK GDPR): export or erase everything Borough and Synapse hold on a person."""


@person.command("export")
@click.argument("user")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    callback=output_path,
    help="The JSON archive to write (default: <username>-export.json; '-' for stdout).",
)
@operator_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def person_export(
    ctx: click.Context, user: str, out: Path | None, operator: str | None, yes: bool
) -> None:
    """Write everything Borough and Synapse hold about USER into a JSON archive."""
    from borough.connection import connect
    from borough.settings import load_settings
    from management.data_rights import PersonNotFound, export_person

    settings = load_settings(ctx.obj["settings_path"])
    user_id = qualified_user_id(user, settings.homeserver.server_name)
    target = out or Path(f"{user_id[1:].split(':')[0]}-export.json")
    if not yes and not click.confirm(
        f"Export everything held about {user_id} to {target}? It is personal data.",
        default=False,
        err=True,
    ):
        raise Refused("nothing was exported")

    async def run() -> dict[str, Any]:
        who = await confirmed_operator(settings, operator)
        async with connect(ctx.obj["settings_path"]) as conn:
            try:
                return await export_person(conn.client, conn.sessions, user_id, who)
            except PersonNotFound as exc:
                raise BadInput(str(exc)) from None

    archive = asyncio.run(run())
    text = json.dumps(archive, indent=2, ensure_ascii=False, default=str) + "\n"
    if str(target) == "-":
        click.echo(text, nl=False)
        return
    # Personal data: readable by the operator only.
    target.touch(mode=0o600, exist_ok=True)
    target.chmod(0o600)
    target.write_text(text, encoding="utf-8")
    tables = archive["borough"]["tables"]
    held = sum(len(t["rows"]) for t in tables.values())
    err_console.print(f"Wrote {target}: {held} rows from Borough, and Synapse's account data.")


@person.command("erase")
@click.argument("user")
@click.option("--reason", help="Why (the request's reference), for the audit log.")
@click.option(
    "--chart",
    "org_file",
    default="config/org.yaml",
    show_default=True,
    envvar="BOROUGH_ORG_FILE",
    help="The org chart; a person still in it is not erased (apply would bring them back).",
)
@operator_option
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def person_erase(
    ctx: click.Context,
    user: str,
    reason: str | None,
    org_file: str,
    operator: str | None,
    yes: bool,
) -> None:
    """Erase USER: deactivate with erase in Synapse, delete their media and Borough's rows."""
    from borough.connection import connect
    from borough.settings import load_settings
    from management.data_rights import ErasureRefused, PersonNotFound, erase_person

    settings = load_settings(ctx.obj["settings_path"])
    user_id = qualified_user_id(user, settings.homeserver.server_name)
    _refuse_if_charted(org_file, user_id, settings.homeserver.server_name)
    if not yes and not click.confirm(
        f"Erase {user_id}? Their account is deactivated for good, their media deleted, and "
        "their profile, posts, reactions, follows and memberships removed from Borough. "
        "This cannot be undone.",
        default=False,
        err=True,
    ):
        raise Refused("nothing was erased")
    protected = {settings.service_account.user_id}
    if settings.bot is not None:
        protected.add(settings.bot.user_id)

    async def run() -> ErasureResult:
        who = await confirmed_operator(settings, operator)
        async with connect(ctx.obj["settings_path"]) as conn:
            try:
                return await erase_person(
                    conn.client, conn.sessions, user_id, who, protected, reason
                )
            except PersonNotFound as exc:
                raise BadInput(str(exc)) from None
            except ErasureRefused as exc:
                raise Refused(str(exc)) from None

    result = asyncio.run(run())
    rows = ", ".join(f"{n} {table}" for table, n in sorted(result.rows.items())) or "no rows"
    console.print(
        f"Erased {result.user_id}: "
        f"{'deactivated with erase in Synapse' if result.deactivated else 'no Synapse account'}, "
        f"{result.media_deleted} media deleted; removed from Borough: {rows}."
    )


def _refuse_if_charted(org_file: str, user_id: str, server_name: str) -> None:
    from borough.org.loader import load_org_chart_with_fragments

    if not Path(org_file).exists():
        err_console.print(
            f"note: no org chart at {org_file} (--chart) to check that {user_id} has left it; "
            "a person still in the chart would get a profile again at the next apply",
            markup=False,
        )
        return
    chart, fragments = load_org_chart_with_fragments(org_file)
    for i, person in enumerate(chart.people):
        if f"@{person.username}:{server_name}" == user_id:
            where = next((f.filename for f in fragments if ("people", i) in f.paths), org_file)
            raise Refused(
                f"{user_id} is still in the org chart ({where}), so the next apply would bring "
                "them back. Take them out, apply with --deactivate-leavers, then erase."
            )
