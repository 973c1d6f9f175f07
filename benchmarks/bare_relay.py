"""The reference: a bare aiogram bot that only copies each message to a staff chat.

    python -m benchmarks.bare_relay --api http://127.0.0.1:PORT --token T --staff-chat ID

A plain Dispatcher with `start_polling` and one handler, nothing else: no database, no
encryption, no middleware. What TrustLine does per message is measured against this.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.types import Message


def build(staff_chat: int) -> Dispatcher:
    dp = Dispatcher()

    @dp.message()
    async def relay(message: Message, bot: Bot) -> None:
        await bot.copy_message(staff_chat, message.chat.id, message.message_id)

    return dp


async def main(api: str, token: str, staff_chat: int) -> None:
    session = AiohttpSession(api=TelegramAPIServer.from_base(api))
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
