"""What bot/aiogram_adapter.py relies on in aiogram's private parts. After an aiogram
upgrade a failure here names what moved: fix the adapter (or drop the use), then widen the
pin in pyproject.toml."""

from __future__ import annotations

import asyncio
import gc
import json
import threading
from typing import Any

import pytest
from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.dispatcher.event.handler import CallableObject, FilterObject
from aiogram.exceptions import ClientDecodeError
from aiogram.methods import DeleteWebhook, GetUpdates, SendMessage
from aiogram.methods.base import Response
from aiogram.types import Message, Update

from bot.aiogram_adapter import (
    GetRawUpdates,
    KeepResponseModels,
    api_method,
    detach_router,
    returns_bool,
    run_filters_inline,
)
from tests.conftest import TEST_TOKEN

UPGRADE = "aiogram changed under bot/aiogram_adapter.py: "


def test_a_router_moves_to_a_new_dispatcher() -> None:
    router = Router()
    assert hasattr(router, "_parent_router"), UPGRADE + "Router has no _parent_router"
    Dispatcher().include_router(router)
    with pytest.raises(RuntimeError):  # what detach_router is for
        Dispatcher().include_router(router)
    first = router.parent_router
    assert first is not None
    second = Dispatcher()
    second.include_router(detach_router(router))
    assert router not in first.sub_routers, UPGRADE + "detach_router left the router behind"
    assert router.parent_router is second, UPGRADE + "detach_router did not free the router"


async def test_filters_run_on_the_loop() -> None:
    threads: list[int] = []

    def on_which_thread(message: Message) -> bool:
        threads.append(threading.get_ident())
        return True

    router = Router()
    router.message.filter(F.text)  # router-level: lives on the observer's own handler

    @router.message(on_which_thread)
    async def handle(message: Message) -> None:
        return None

    own = getattr(router.message, "_handler", None)
    assert own is not None and own.filters, (
        UPGRADE + "the observer keeps its router-level filters elsewhere than ._handler.filters"
    )
    handler_filter = router.message.handlers[0].filters[0]
    assert isinstance(handler_filter, FilterObject) and not handler_filter.awaitable, (
        UPGRADE + "FilterObject.awaitable no longer says a filter is synchronous"
    )
    # Without the adapter aiogram runs a synchronous filter in a worker thread (the cost
    # benchmarks/BENCHMARKS.md measures); if it stops doing so the adapter can go.
    await handler_filter.call(_message())
    assert threads[-1] != threading.get_ident(), (
        "aiogram now runs synchronous filters on the loop: run_filters_inline can go"
    )
    run_filters_inline(router)
    for flt in (handler_filter, *own.filters):
        assert flt.awaitable and asyncio.iscoroutinefunction(flt.callback), (
            UPGRADE + "run_filters_inline did not make a filter awaitable"
        )
    await handler_filter.call(_message())
    assert threads[-1] == threading.get_ident(), UPGRADE + "an inlined filter left the loop"
    assert "awaitable" in CallableObject.__dataclass_fields__, UPGRADE + "no .awaitable"


def test_methods_name_their_answer() -> None:
    assert SendMessage.__returning__ is Message, UPGRADE + "__returning__ is not the answer"
    assert returns_bool(DeleteWebhook()) and not returns_bool(SendMessage(chat_id=1, text="x"))
    assert api_method(SendMessage(chat_id=1, text="x")) == "sendMessage", (
        UPGRADE + "__api_method__ is not the Bot API name"
    )


def test_response_models_are_kept_across_garbage_collections() -> None:
    kept = KeepResponseModels()
    kept.keep(SendMessage(chat_id=1, text="x"))
    model = Response[Message]
    gc.collect()
    assert Response[Message] is model, (
        UPGRADE + "Response[...] is no longer one cached model per type: KeepResponseModels "
        "keeps nothing (see its benchmark line before dropping it)"
    )


async def test_raw_updates_stay_dicts() -> None:
    bot = Bot(TEST_TOKEN, session=AiohttpSession())
    good = {"update_id": 1, "message": _message_json()}
    odd = {"update_id": 2, "message": {"message_id": 2}}  # a shape this aiogram refuses
    body = json.dumps({"ok": True, "result": [good, odd]})
    try:
        typed = bot.session.check_response(
            bot, GetUpdates(), 200, json.dumps({"ok": True, "result": [good]})
        )
        assert isinstance(typed.result[0], Update)
        with pytest.raises(ClientDecodeError):  # the whole batch, for ever: what it avoids
            bot.session.check_response(bot, GetUpdates(), 200, body)
        raw: Any = bot.session.check_response(bot, GetRawUpdates(), 200, body)
    finally:
        await bot.session.close()
    assert raw.result == [good, odd], UPGRADE + "getUpdates no longer honours __returning__"


def _message_json() -> dict[str, Any]:
    return {
        "message_id": 1,
        "date": 0,
        "chat": {"id": 5, "type": "private"},
        "from": {"id": 5, "is_bot": False, "first_name": "A"},
        "text": "hi",
    }


def _message() -> Message:
    return Message.model_validate(_message_json())
