"""Who is acting, and whether they administer the organisation they act on.

`--as @user:server` (or BOROUGH_OPERATOR) names the operator, and the service account
performs the writes. With BOROUGH_OPERATOR_TOKEN set, the homeserver must confirm that the
token is the operator's own (whoami), so `--as` cannot be borrowed. Without `--as` the
operator is the service account, which maintains the main org file and so administers every
organisation. Both the partner commands (provisioning) and the people commands (management)
ask this, so it lives in the kernel.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from borough.errors import BadInput, Refused

if TYPE_CHECKING:
    from borough.org import OrgChart
    from borough.settings import Settings

# Imported for `borough --help` by the command modules: the org model and the HTTP client
# are imported inside the functions that need them.


class NotAnAdmin(Exception):
    """The operator does not administer the organisation they asked to act on."""


class UnknownOrganisation(Exception):
    """The org chart has no organisation with that key."""


operator_option = click.option(
    "--as",
    "operator",
    metavar="@USER:SERVER",
    envvar="BOROUGH_OPERATOR",
    help="Who is acting (an admin of the organisation); the service account if not given.",
)
org_option = click.option("--org", "organisation", required=True, help="The organisation's key.")


def qualified_user_id(value: str, server_name: str) -> str:
    """`ann`, `@ann` or `@ann:server` as a full user id on this server."""
    value = value.strip()
    if not value.startswith("@"):
        value = "@" + value
    return value if ":" in value else f"{value}:{server_name}"


async def confirmed_operator(settings: Settings, claimed: str | None) -> str:
    """The operator's user id; checked against the homeserver when a token proves it."""
    from borough.matrix import MatrixClient, MatrixError

    server = settings.homeserver.server_name
    token = os.environ.get("BOROUGH_OPERATOR_TOKEN")
    if token:
        try:
            async with MatrixClient(settings.homeserver.url, token, max_retries=2) as client:
                proven = await client.whoami()
        except MatrixError as exc:
            raise Refused(
                f"the homeserver refused BOROUGH_OPERATOR_TOKEN ({exc.errcode}); sign in again "
                "and use a fresh access token, or unset it"
            ) from None
        if claimed is not None and qualified_user_id(claimed, server) != proven:
            raise Refused(
                f"--as says {qualified_user_id(claimed, server)}, but BOROUGH_OPERATOR_TOKEN belongs to "
                f"{proven}"
            )
        return proven
    return qualified_user_id(claimed, server) if claimed else settings.service_account.user_id


def admin_user_ids(chart: OrgChart, organisation: str, server_name: str) -> frozenset[str]:
    from borough.org import OrgIndex

    org = OrgIndex(chart).organisations.get(organisation)
    if org is None:
        return frozenset()
    return frozenset(f"@{username}:{server_name}" for username in org.admins)


def organisations_administered(chart: OrgChart, user_id: str, server_name: str) -> list[str]:
    """The keys of the organisations that `user_id` administers, in file order."""
    return [
        org.key
        for org in chart.organisations
        if user_id in admin_user_ids(chart, org.key, server_name)
    ]


def check_admin(chart: OrgChart, organisation: str, user_id: str, server_name: str) -> None:
    """Raise `NotAnAdmin` (or `UnknownOrganisation`), with a sentence for the operator, unless
    they administer the organisation."""
    known = [org.key for org in chart.organisations]
    if organisation not in known:
        raise UnknownOrganisation(
            f"there is no organisation '{organisation}' in the org chart "
            f"(known: {', '.join(known)})"
        )
    if user_id not in admin_user_ids(chart, organisation, server_name):
        theirs = organisations_administered(chart, user_id, server_name)
        hint = (
            f"; you administer {', '.join(theirs)}"
            if theirs
            else "; an organisation's admins are listed under its 'admins:' in the org chart"
        )
        raise NotAnAdmin(f"{user_id} is not an admin of '{organisation}'{hint}")


def refuse_unless_admin(chart: OrgChart, org: str, operator: str, settings: Settings) -> None:
    """The operator check of every delegated command, as the answer the command gives. The
    service account keeps the main file, so it administers every organisation."""
    if operator == settings.service_account.user_id and org in {o.key for o in chart.organisations}:
        return
    try:
        check_admin(chart, org, operator, settings.homeserver.server_name)
    except UnknownOrganisation as exc:
        raise BadInput(str(exc)) from None
    except NotAnAdmin as exc:
        raise Refused(str(exc)) from None
