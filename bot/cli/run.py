"""`trustline run`: the bot, long polling by default, or behind a webhook."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
from typing import TYPE_CHECKING, Any

from bot.cli.common import check_ready, load_settings, telegram_username
from bot.services.errors import ConfigError

if TYPE_CHECKING:
    from bot.config import Settings

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run the bot")
    parser.add_argument(
        "--webhook",
        metavar="URL",
        default=None,
        help="public HTTPS URL Telegram posts updates to (else long polling)",
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="listen address of the webhook and /healthz, /readyz"
    )
    parser.add_argument(
        "--port", type=int, default=None, help="listen port (default TRUSTLINE_HTTP_PORT, 8080)"
    )
    parser.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings()
    logging.getLogger().setLevel(settings.log_level.upper())
    port = settings.http_port if args.port is None else args.port
    asyncio.run(serve(settings, webhook=args.webhook, host=args.host, port=port))
    return 0


# Updates being handled when a stop is asked for get this long to commit; what is cut
# off rolls back and is delivered again to the next start. Sends in flight get
# bot.delivery.sender.STOP_GRACE_SECONDS meanwhile; the whole stop stays well inside 10 s.
INTAKE_GRACE_SECONDS = 3.0
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def serve(
    settings: Settings, *, webhook: str | None = None, host: str = "127.0.0.1", port: int = 8080
) -> None:
    """Run until SIGTERM or SIGINT, then stop cleanly: no update is taken any more,
    updates in hand commit or roll back, sends in flight finish or go back to pending,
    and `bot_stopped` is logged."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    caught: list[str] = []

    def on_signal(sig: signal.Signals) -> None:
        if not caught:
            log.info("bot_stopping signal=%s", sig.name)
        caught.append(sig.name)
        stop.set()

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await _serve_until(settings, stop, webhook=webhook, host=host, port=port)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
    log.info("bot_stopped signal=%s", caught[0] if caught else "none")


async def _serve_until(
    settings: Settings, stop: asyncio.Event, *, webhook: str | None, host: str, port: int
) -> None:
    # The bot itself (aiogram, the handlers) is imported here, when it is run: building the
    # CLI's parser must not cost its 5 s (bot/cli/__init__.py).
    from bot.app import create_app, make_bot, poll
    from bot.delivery import menus
    from bot.health import Health, serve_beside
    from bot.services.routing import pool_policy
    from bot.stopping import wait_bounded
    from bot.webhook import run_webhook

    # Before anything is written (the key file, key rows): what can be told here (a token
    # of the right shape, the master key), the database, then Telegram.
    await make_bot(settings).session.close()
    await check_ready(settings)
    name = await own_name(settings)
    app = await create_app(settings)
    app.rt.bot_username = name
    health = Health(app)  # before the first Bot API call: every answer counts as contact
    # Everything made so far (aiogram's types, the routers, the translations) lives as long
    # as the process. Frozen, the garbage collector stops walking it on every full
    # collection, a pause of ~0.3 s on a small server that showed as latency spikes
    # (benchmarks/BENCHMARKS.md, "garbage collector").
    gc.collect()
    gc.freeze()
    cancelled = False
    try:
        if stop.is_set():
            return
        await menus.install(app.bot, app.sessionmaker, app.rt)  # student's, members' queued
        async with app.sessionmaker() as session:
            await pool_policy.warn_uncovered(session)  # `trustline doctor` says more
        await app.start_background()
        log.info("bot_started bot=@%s mode=%s", name, "webhook" if webhook else "polling")
        intake = asyncio.create_task(
            run_webhook(app, webhook, host, port, stop, health)
            if webhook
            else serve_beside(health, poll(app, stop=stop), host, port),
            name="intake",
        )
        stopping = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({intake, stopping}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            # Cancelled from outside (the demo and tests stop it so): stop as on a signal, in
            # the same bounded steps. Closing the app under a running intake instead left the
            # intake to the event loop's shutdown, which cancelled an update's SQLite close
            # a second time (bot/stopping.py).
            cancelled = True
            stop.set()
        stopping.cancel()
        if not intake.done():
            # Sends in flight are finished or released while the intake winds down.
            app.sender.stop()
            await asyncio.wait({intake}, timeout=INTAKE_GRACE_SECONDS)
        if not intake.done():
            intake.cancel()  # once, and waited for with a limit: bot/stopping.py
            await wait_bounded("run_intake", [intake], INTAKE_GRACE_SECONDS)
        elif not cancelled:
            intake.result()  # an intake that ended on its own by failing says why
    finally:
        await app.close()
    if cancelled:
        raise asyncio.CancelledError


async def own_name(settings: Settings) -> str:
    """The bot's @name from Telegram (getMe): the token works, Telegram answers, and the
    start-up line, the invites and the posters name the bot the token belongs to."""
    name = await telegram_username(settings)
    if (wrong := mismatched_name(settings, name)) is not None:
        raise ConfigError(wrong)
    return name


def mismatched_name(settings: Settings, name: str) -> str | None:
    """What is wrong when TRUSTLINE_BOT_USERNAME names another bot than the token's."""
    given = (settings.bot_username or "").lstrip("@")
    if not given or given.lower() == name.lower():
        return None
    return (
        f"TRUSTLINE_BOT_USERNAME is @{given}, but TRUSTLINE_BOT_TOKEN belongs to @{name}: "
        "invites and posters would open another bot; correct TRUSTLINE_BOT_USERNAME or "
        "leave it out."
    )
