"""The reference: a bare aiogram bot that only copies each message to a staff chat.

    python -m benchmarks.bare_relay --api http://127.0.0.1:PORT --token T --staff-chat ID

A plain Dispatcher with `start_polling` and one handler: no database, no encryption, no
update middleware. What TrustLine does per message is measured against this.

It is a fair reference (issue 17): it gets the two fixes of aiogram's own costs that
TrustLine ships, so the comparison measures what TrustLine adds, not what aiogram loses
without them:

- `KeepResponseModels` (bot/aiogram_adapter.py) as the session's request middleware: one
  strong reference per `Response[...]` model, so pydantic does not rebuild the validator
  of every copyMessage and getUpdates answer after each garbage collection;
- `gc.freeze()` once started, as `trustline run` does (bot/cli/run.py): what exists after
  start (aiogram's types) is no longer walked by every full collection.

Without them this relay used 0.72-0.90 ms of CPU per message, with them 0.41-0.66 (issue 17).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message

from bot.aiogram_adapter import KeepResponseModels


def build(staff_chat: int) -> Dispatcher:
    dp = Dispatcher()

    @dp.message()
    async def relay(message: Message, bot: Bot) -> None:
        await bot.copy_message(staff_chat, message.chat.id, message.message_id)

    @dp.startup()
    async def freeze() -> None:
        # As bot/cli/run.py after create_app: everything made at start lives as long as
        # the process; frozen, full collections stop walking it.
        gc.collect()
        gc.freeze()

    return dp


async def main(api: str, token: str, staff_chat: int) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api))
    session.middleware(KeepResponseModels())
    bot = Bot(token, session=session)
    await build(staff_chat).start_polling(bot, handle_signals=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--staff-chat", type=int, required=True)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(args.api, args.token, args.staff_chat))
