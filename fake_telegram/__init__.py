"""A stand-in for the Telegram Bot API on loopback: what `trustline demo` runs the real bot
against, and what the tests and benchmarks use as their fake Telegram.

async with FakeBotAPI() as api:
    bot = Bot(TOKEN, session=AiohttpSession(api=TelegramAPIServer.from_base(api.base_url)))
    api.text_message(TgUser(1, "Aigerim"), "hello")   # the bot's next getUpdates gets it
    call = await api.wait_for_send(1, "hello")         # what the bot sent back

It answers like Telegram (errors, limits on sizes and lengths, message ids per chat), keeps
every chat's messages and uploaded files in memory, and sends nothing anywhere.
"""

from .objects import Call, TgUser
from .server import FakeBotAPI

__all__ = ["Call", "FakeBotAPI", "TgUser"]
