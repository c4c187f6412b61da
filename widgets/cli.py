"""`borough widgets serve`: the widget server (web views, Jitsi token service, public feeds)."""

from __future__ import annotations

import click


@click.group()
def widgets() -> None:
    """Borough's widget and web server."""


@widgets.command()
@click.pass_context
def serve(ctx: click.Context) -> None:
    """Serve until interrupted, on widgets.host:widgets.port from the settings."""
    # Here, not at the top: `borough --help` imports this module, and the server is slow to load.
    from aiohttp import web

    from borough.settings import load_settings
    from widgets.app import AccessLog, create_app

    settings = load_settings(ctx.obj["settings_path"])
    web.run_app(
        create_app(settings, settings_path=ctx.obj["settings_path"]),
        host=settings.widgets.host,
        port=settings.widgets.port,
        access_log_class=AccessLog,
        print=lambda message: click.echo(f"Borough widgets: {settings.widgets.public_url}"),
    )
