"""`borough scim token create|revoke|list`: each organisation's SCIM tokens.

Only an admin of the organisation (the kernel's operator check) creates or revokes its
tokens; every creation and revocation lands in the audit log.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from borough.errors import BadInput
from borough.operator import operator_option, org_option

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from sqlalchemy.ext.asyncio import AsyncSession

# Imported for `borough --help`: SQLAlchemy and the org model are imported inside commands.

console = Console(highlight=False, soft_wrap=True)

chart_option = click.option(
    "--chart",
    "org_file",
    default="config/org.yaml",
    show_default=True,
    envvar="BOROUGH_ORG_FILE",
    help="The main org file: it names the organisation and its admins.",
)


@click.group()
def scim() -> None:
    """Identity sync: an identity provider (Entra ID, Okta, …) keeps an organisation's people."""


@scim.group()
def token() -> None:
    """The bearer tokens identity providers send; each is one organisation's."""


def _in_session(ctx: click.Context, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    from borough.db import create_engine, migrate, session_factory
    from borough.settings import load_settings

    settings = load_settings(ctx.obj["settings_path"])

    async def run() -> Any:
        await migrate(settings.database.url)
        engine = create_engine(settings.database.url)
        try:
            async with session_factory(engine).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def _admin(ctx: click.Context, org_file: str, organisation: str, operator: str | None) -> str:
    from borough.operator import confirmed_operator, refuse_unless_admin
    from borough.org.loader import load_org_chart
    from borough.settings import load_settings

    settings = load_settings(ctx.obj["settings_path"])
    if not Path(org_file).exists():
        raise BadInput(f"no org chart at {org_file}: pass --chart ORG.yaml or set BOROUGH_ORG_FILE")
    who = asyncio.run(confirmed_operator(settings, operator))
    refuse_unless_admin(load_org_chart(org_file), organisation, who, settings)
    return who


@token.command("create")
@org_option
@chart_option
@operator_option
@click.pass_context
def token_create(
    ctx: click.Context, organisation: str, org_file: str, operator: str | None
) -> None:
    """Create a token for one organisation; it is shown once, here."""
    from borough import audit
    from widgets.scim_tokens import create_token

    who = _admin(ctx, org_file, organisation, operator)

    async def work(session: AsyncSession) -> tuple[str, str]:
        token_id, secret = await create_token(session, organisation, who)
        await audit.record(
            session,
            actor=who,
            action="scim.token.create",
            target_ids=[organisation],
            details={"organisation": organisation, "id": token_id},
        )
        return token_id, secret

    token_id, secret = _in_session(ctx, work)
    console.print(
        f"SCIM token {token_id} for {organisation} (shown once; Borough keeps only its hash):"
    )
    click.echo(secret)


@token.command("revoke")
@click.argument("token_id", metavar="ID")
@org_option
@chart_option
@operator_option
@click.pass_context
def token_revoke(
    ctx: click.Context, token_id: str, organisation: str, org_file: str, operator: str | None
) -> None:
    """Revoke the token ID of an organisation: its next request is refused."""
    from borough import audit
    from borough.db import ScimToken
    from widgets.scim_tokens import revoke_token

    who = _admin(ctx, org_file, organisation, operator)

    async def work(session: AsyncSession) -> bool:
        row = await session.get(ScimToken, token_id)
        if row is None or row.organisation != organisation:
            return False
        if await revoke_token(session, token_id) is None:
            return False
        await audit.record(
            session,
            actor=who,
            action="scim.token.revoke",
            target_ids=[organisation],
            details={"organisation": organisation, "id": token_id},
        )
        return True

    if not _in_session(ctx, work):
        raise BadInput(
            f"{organisation} has no live SCIM token {token_id}; "
            f"`borough scim token list --org {organisation}` shows its tokens"
        )
    console.print(f"Revoked SCIM token {token_id} of {organisation}.")


@token.command("list")
@click.option("--org", "organisation", help="Only this organisation's tokens.")
@click.pass_context
def token_list(ctx: click.Context, organisation: str | None) -> None:
    """Every SCIM token: its id, organisation, who created it and when, and if revoked."""
    from rich.table import Table

    from widgets.scim_tokens import list_tokens

    async def work(session: AsyncSession) -> list[tuple[str, ...]]:
        return [
            (
                t.id,
                t.organisation,
                t.created_by,
                f"{t.created_at:%Y-%m-%d %H:%M}",
                f"revoked {t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "live",
            )
            for t in await list_tokens(session, organisation)
        ]

    rows = _in_session(ctx, work)
    table = Table(title="SCIM tokens")
    for column in ("id", "organisation", "created by", "created", "state"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)


@scim.command("unmapped")
@org_option
@click.pass_context
def unmapped(ctx: click.Context, organisation: str) -> None:
    """What the organisation's identity provider sent that its mapping does not say: unknown
    departments and groups, managers not sent yet, admin groups' members, missing names."""
    from rich.table import Table
    from sqlalchemy import select

    from borough.db import ScimResource

    async def work(session: AsyncSession) -> list[tuple[str, str, str]]:
        rows = await session.scalars(
            select(ScimResource)
            .where(ScimResource.organisation == organisation, ScimResource.resource_type == "User")
            .order_by(ScimResource.user_name)
        )
        return [
            (str(row.user_name), row.username or "", note)
            for row in rows
            for note in row.notes or []
        ]

    rows = _in_session(ctx, work)
    if not rows:
        console.print(f"Everything {organisation}'s identity provider sent is mapped.")
        return
    table = Table(title=f"{len(rows)} things {organisation}'s mapping does not say")
    for column in ("userName", "person", "what"):
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    console.print(table)
