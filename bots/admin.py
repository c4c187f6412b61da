"""`!admin people`, `!admin suspend`, `!admin unsuspend`: partner admins, in chat, for their
own organisation only.

Who administers an organisation is read live from Synapse: its admins hold power 100 in the
organisation's space (`#<key>`), which `apply` keeps in step with the org chart's `admins:`.
The bot acts through the service account's token, so these commands are off when the bot
runs without one. Every action is audited under the asker's id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from borough import audit, events
from borough.db import Profile
from borough.matrix import MatrixClient, MatrixError, q
from borough.wording import count
from bots.commands import Arg, Commands, Request, UsageError

POWER_LEVELS = "m.room.power_levels"
#: How many people `!admin people` lists before saying how many more there are.
PEOPLE_SHOWN = 50


def is_org_admin(power_levels: dict[str, Any] | None, user_id: str) -> bool:
    """Whether `user_id` holds admin power in an organisation space's power levels."""
    users = (power_levels or {}).get("users") or {}
    level = users.get(user_id, 0)
    return isinstance(level, int) and level >= events.ADMIN


@dataclass
class PartnerAdmin:
    sessions: async_sessionmaker[AsyncSession]
    server_name: str
    homeserver_url: str
    service_token: str | None

    def _client(self) -> MatrixClient:
        if self.service_token is None:
            raise UsageError(
                "Admin commands are off: the bot runs without the service account's token."
            )
        return MatrixClient(self.homeserver_url, self.service_token, max_retries=3)

    def user_id(self, who: str) -> str:
        who = who.strip()
        who = who if who.startswith("@") else f"@{who}"
        return who if ":" in who else f"{who}:{self.server_name}"

    async def _org_levels(self, client: MatrixClient, organisation: str) -> dict[str, Any]:
        """The power levels of the organisation's space; its admins hold 100 there."""
        alias = q(f"#{organisation}:{self.server_name}")
        try:
            room = await client.request("GET", f"/_matrix/client/v3/directory/room/{alias}")
            levels: dict[str, Any] = await client.request(
                "GET", f"/_matrix/client/v3/rooms/{q(room['room_id'])}/state/{POWER_LEVELS}/"
            )
        except MatrixError as exc:
            if exc.status == 404:
                raise UsageError(f"Organisation `{organisation}` has no space yet.") from None
            raise
        return levels

    async def _require_admin(self, client: MatrixClient, asker: str, organisation: str) -> None:
        if not is_org_admin(await self._org_levels(client, organisation), asker):
            raise UsageError(
                f"Only admins of `{organisation}` can do that, and you are not one of them."
            )

    async def administers(self, user_id: str) -> bool:
        """Whether this person is an admin of their own organisation, so that `!help` shows
        them the admin commands. False whenever it cannot tell (no service token, no
        organisation, no space yet): the commands themselves still check."""
        if self.service_token is None:
            return False
        async with self.sessions() as session:
            own = await session.get(Profile, user_id)
        if own is None or own.organisation is None:
            return False
        try:
            async with self._client() as client:
                levels = await self._org_levels(client, own.organisation)
        except (UsageError, MatrixError):
            return False
        return is_org_admin(levels, user_id)

    async def _profile(self, user_id: str) -> Profile:
        async with self.sessions() as session:
            row = await session.get(Profile, user_id)
        if row is None or row.organisation is None:
            raise UsageError(f"I know of nobody called {user_id} in any organisation.")
        return row

    async def people(self, asker: str) -> str:
        async with self.sessions() as session:
            own = await session.get(Profile, asker)
        if own is None or own.organisation is None:
            raise UsageError("You are not one of any organisation's people, so you admin none.")
        organisation = own.organisation
        async with self._client() as client:
            await self._require_admin(client, asker, organisation)
        async with self.sessions() as session:
            rows = (
                await session.scalars(
                    select(Profile)
                    .where(Profile.organisation == organisation)
                    .order_by(Profile.display_name, Profile.user_id)
                )
            ).all()
        active = [r for r in rows if r.left_at is None]
        lines = [
            f"**{organisation}**: {count(len(active), 'person', 'people')}, "
            f"{len(rows) - len(active)} left",
            "",
        ]
        for row in active[:PEOPLE_SHOWN]:
            what = ", ".join(x for x in (row.job_title, row.role.replace("_", " ")) if x)
            lines.append(f"- {row.display_name} ({row.user_id}): {what}")
        if len(active) > PEOPLE_SHOWN:
            lines.append(f"- … and {len(active) - PEOPLE_SHOWN} more")
        return "\n".join(lines)

    async def suspend(self, asker: str, who: str, reason: str, suspend: bool) -> str:
        user_id = self.user_id(who)
        if user_id == asker:
            raise UsageError("You cannot suspend yourself.")
        target = await self._profile(user_id)
        organisation = str(target.organisation)
        async with self._client() as client:
            await self._require_admin(client, asker, organisation)
            account = await client.request("GET", f"/_synapse/admin/v2/users/{q(user_id)}")
            if account.get("deactivated"):
                raise UsageError(f"{user_id} is deactivated; there is nothing to suspend.")
            if bool(account.get("suspended")) == suspend:
                raise UsageError(f"{user_id} is {'already' if suspend else 'not'} suspended.")
            await client.request(
                "PUT", f"/_synapse/admin/v1/suspend/{q(user_id)}", json={"suspend": suspend}
            )
        async with self.sessions.begin() as session:
            await audit.record(
                session,
                actor=asker,
                action="admin.suspend" if suspend else "admin.unsuspend",
                target_ids=[user_id],
                reason=reason or None,
                details={"organisation": organisation, "via": "bot"},
            )
        if suspend:
            return (
                f"Suspended {target.display_name} ({user_id}): they can read but not post, "
                f"join or invite until `!admin unsuspend {user_id}`."
            )
        return f"{target.display_name} ({user_id}) is no longer suspended."


COMMANDS = Commands(PartnerAdmin, is_for_admins=True)
PERSON = Arg("person", "@user:server or a username", max_length=255)


@COMMANDS.command("admin people", help="Admins: the people of the organisation you administer.")
async def admin_people(admin: PartnerAdmin, request: Request) -> str:
    return await admin.people(request.sender)


@COMMANDS.command(
    "admin suspend",
    PERSON,
    Arg("reason", "why, for the audit log", is_rest=True, max_length=500),
    help="Admins: suspend a person of your organisation (Synapse suspension: read-only).",
)
async def admin_suspend(admin: PartnerAdmin, request: Request, person: str, reason: str) -> str:
    return await admin.suspend(request.sender, person, reason, suspend=True)


@COMMANDS.command(
    "admin unsuspend",
    PERSON,
    Arg("reason", "why, for the audit log", is_rest=True, is_optional=True, max_length=500),
    help="Admins: lift the suspension of a person of your organisation.",
)
async def admin_unsuspend(
    admin: PartnerAdmin, request: Request, person: str, reason: str | None
) -> str:
    return await admin.suspend(request.sender, person, reason or "", suspend=False)
