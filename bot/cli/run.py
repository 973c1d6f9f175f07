"""`trustline run`: the bot, long polling by default, or behind a webhook."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
from typing import Any

from bot.app import create_app, poll, resolve_bot_username
from bot.cli.common import load_settings
from bot.config import Settings
from bot.services import pool_policy
from bot.webhook import run_webhook

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("run", help="run the bot")
    parser.add_argument("--webhook", metavar="URL", default=None,
                        help="public HTTPS URL Telegram posts updates to (else long polling)")
    parser.add_argument("--host", default="127.0.0.1", help="webhook listen address")
    parser.add_argument("--port", type=int, default=8080, help="webhook listen port")
    parser.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings()
    logging.getLogger().setLevel(settings.log_level.upper())
    asyncio.run(serve(settings, webhook=args.webhook, host=args.host, port=args.port))
    return 0


async def serve(settings: Settings, *, webhook: str | None = None, host: str = "127.0.0.1",
                port: int = 8080) -> None:
    app = await create_app(settings)
    # Everything made so far (aiogram's types, the routers, the translations) lives as long
    # as the process. Frozen, the garbage collector stops walking it on every full
    # collection, a pause of ~0.3 s on a small server that showed as latency spikes
    # (benchmarks/BENCHMARKS.md, "garbage collector").
    gc.collect()
    gc.freeze()
    try:
        await resolve_bot_username(app)
        async with app.sessionmaker() as session:
            await pool_policy.warn_uncovered(session)  # `trustline doctor` says more
        await app.start_background()
        log.info("bot_started mode=%s", "webhook" if webhook else "polling")
        if webhook:
            await run_webhook(app, webhook, host, port)
        else:
            await poll(app)
    finally:
        await app.close()

