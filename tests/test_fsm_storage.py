"""Conversation state in Redis is keyed by a keyed hash, never by Telegram ids."""

from __future__ import annotations

import os

import pytest
from aiogram.fsm.storage.base import StorageKey

from bot.app import PseudonymousKeyBuilder, make_storage
from bot.config import Settings

REDIS_URL = os.environ.get("TRUSTLINE_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def test_keys_hold_no_telegram_ids() -> None:
    builder = PseudonymousKeyBuilder(os.urandom(32))
    key = StorageKey(bot_id=123456789, chat_id=987654321012, user_id=987654321012)
    built = builder.build(key, "state")
    assert "987654321012" not in built and "123456789" not in built
    assert built == builder.build(key, "state")
    other = StorageKey(bot_id=123456789, chat_id=987654321013, user_id=987654321013)
    assert builder.build(other, "state") != built
    assert PseudonymousKeyBuilder(os.urandom(32)).build(key, "state") != built


async def test_redis_storage_round_trip_without_ids() -> None:
    redis_mod = pytest.importorskip("redis.asyncio")
    client = redis_mod.from_url(REDIS_URL)
    try:
        await client.ping()
    except Exception:  # noqa: BLE001
        await client.aclose()
        pytest.skip("no Redis at TRUSTLINE_TEST_REDIS_URL")
    await client.flushdb()
    settings = Settings(redis_url=REDIS_URL, _env_file=None)
    storage = make_storage(settings, os.urandom(32))
    key = StorageKey(bot_id=42, chat_id=555000111222, user_id=555000111222)
    try:
        await storage.set_state(key, "posters:classes")
        await storage.set_data(key, {"paper": "a4"})
        assert await storage.get_state(key) == "posters:classes"
        assert await storage.get_data(key) == {"paper": "a4"}
        keys = [k.decode() for k in await client.keys("*")]
        assert keys and not any("555000111222" in k for k in keys)
    finally:
        await client.flushdb()
        await storage.close()
        await client.aclose()
