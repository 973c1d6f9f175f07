"""The tests' fake Telegram Bot API: the package's loopback stand-in (bot/fake_telegram),
which `trustline demo` also runs on. See bot/fake_telegram/__init__.py for how to use it."""

from bot.fake_telegram import Call, FakeBotAPI, TgUser

__all__ = ["Call", "FakeBotAPI", "TgUser"]
