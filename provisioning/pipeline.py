"""The one way a plan is made against the live network, for the whole chart or for one
organisation's part of it (`borough plan|apply`, `borough partner plan|apply`)."""

from __future__ import annotations

from pathlib import Path

from borough.connection import Connection
from borough.live import LiveNetwork, read_live, read_suspended
from borough.network import desired_network
from borough.org import OrgChart
from provisioning.delegation import org_scope
from provisioning.mirror import ProfileMirroring, read_avatars, read_mirrored, read_uploads
from provisioning.plan import Plan, PlanOptions, joining, make_plan
from provisioning.space_avatars import SpaceAvatars


async def plan_against_live(
    conn: Connection,
    chart: OrgChart,
    options: PlanOptions,
    org_dir: Path | None = None,
    *,
    refresh: bool = False,
    organisation: str | None = None,
) -> tuple[Plan, LiveNetwork]:
    """`org_dir` is where the org file is: avatar paths in it are relative to it. `refresh`
    reads the whole live state instead of what changed since the last read. `organisation`
    cuts the plan to that organisation's part; None plans the whole chart."""
    bot = conn.settings.bot.user_id if conn.settings.bot else None
    desired = desired_network(
        chart,
        conn.settings.homeserver.server_name,
        conn.actor,
        bot,
        widget_url=conn.settings.widgets.public_url,
        jitsi=conn.settings.jitsi,
    )
    avatars = read_avatars(desired, org_dir or Path())
    space_images = {key: avatars[key] for key in desired.rooms if key in avatars}
    live = await read_live(conn.client, conn.sessions, refresh=refresh)
    the_plan = make_plan(
        desired,
        live,
        options,
        suspended=await read_suspended(conn.client, joining(desired, live)),
        mirror=ProfileMirroring(avatars, await read_mirrored(conn.sessions)),
        spaces=SpaceAvatars(
            space_images, await read_uploads(conn.sessions, space_images.values()), live
        ),
        scope=None if organisation is None else org_scope(chart, desired, live, organisation),
    )
    return the_plan, live
