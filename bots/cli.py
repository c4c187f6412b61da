"""`borough bots run`: Borough's bot account, answering commands in Element."""

from __future__ import annotations

import asyncio
import signal

import click


@click.group()
def bots() -> None:
    """Borough's chat bot."""


@bots.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the bot until interrupted (Ctrl-C or SIGTERM).

    Several may run on one app database: one acts, the others stand by (docs/operations.md)."""
    # Here, not at the top: `borough --help` imports this module, and matrix-nio is slow to load.
    from borough.bot_lease import LeaseLost
    from borough.db import create_engine, migrate, session_factory
    from borough.settings import load_settings
    from bots.runner import BoroughBot, BotLoginError

    settings = load_settings(ctx.obj["settings_path"])
    bot_settings = settings.bot
    if bot_settings is None:
        raise click.ClickException(
            "the settings have no 'bot:' section (see config/borough.example.yaml)"
        )

    async def main() -> None:
        await migrate(settings.database.url)
        engine = create_engine(settings.database.url)
        bot = BoroughBot(
            settings.homeserver.url,
            settings.homeserver.server_name,
            bot_settings,
            session_factory(engine),
            service_token=(
                settings.service_account.access_token.get_secret_value()
                if settings.service_account.access_token
                else None
            ),
            jitsi=settings.jitsi,
            public_url=settings.widgets.public_url,
        )
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        for signum in (signal.SIGINT, signal.SIGTERM):
            # Cancel the long-poll at once; the sync position only moves after handling.
            loop.add_signal_handler(signum, task.cancel)
        try:
            await bot.run()
        except asyncio.CancelledError:
            pass
        except (BotLoginError, LeaseLost) as exc:
            # LeaseLost: another process acts now. Exiting lets the service manager start
            # this one again, as a standby.
            raise click.ClickException(str(exc)) from None
        finally:
            await bot.close()
            await engine.dispose()

    asyncio.run(main())
