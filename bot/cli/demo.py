"""`trustline demo [--port N]`: try TrustLine in the browser, with no bot token and no
internet (see bot/demo)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
from typing import Any

from bot.domain import Language

DEFAULT_PORT = 8787


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="try it in the browser: a student and a psychologist, no Telegram needed",
        description="Start a local demo: the real bot against a stand-in for Telegram on "
        "this computer, a fresh demo database, and a page with both sides of a conversation. "
        "Nothing is sent anywhere; the demo's data is deleted when it stops.",
    )
    parser.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        help=f"port of the page on 127.0.0.1 (default {DEFAULT_PORT})",
    )
    parser.add_argument(
        "--lang",
        choices=[lang.value for lang in Language],
        default="ru",
        help="language the page and the members start in (default ru)",
    )
    parser.set_defaults(func=cmd_demo)


def port_number(text: str) -> int:
    """0 to 65535; 0 lets the system pick a free port."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0 to 65535)")
    return port


def ready(address: str) -> None:
    print(f"TrustLine demo: {address}", flush=True)
    print(
        "Open it in your browser. Everything runs on this computer and nothing is sent to "
        "Telegram. Ctrl+C stops the demo and deletes its data.",
        flush=True,
    )


async def serve_until_stopped(port: int, lang: str) -> None:
    """The demo until Ctrl+C or a plain `kill`: both end it the same tidy way, so the
    temporary database never outlives it."""
    from demo import run_demo

    task = asyncio.current_task()
    assert task is not None
    # No signal handlers on Windows, nor outside the main thread.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    await run_demo(port, lang, ready)


def cmd_demo(args: argparse.Namespace) -> int:
    # The bot's own event log (case codes, never content) would drown the address.
    logging.getLogger().setLevel(logging.WARNING)
    try:
        asyncio.run(serve_until_stopped(args.port, args.lang))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("Demo stopped; its data is deleted.", flush=True)
    return 0
