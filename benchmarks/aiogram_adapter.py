"""What each private aiogram part kept in bot/aiogram_adapter.py buys, with and without it,
in this process on one core:

- run_filters_inline: one synchronous filter call (an `F.text`), as aiogram makes it (in a
  worker thread) and inlined; an update passes some twenty on its way through the routers;
- KeepResponseModels: validating a sendMessage answer after a garbage collection, with
  pydantic's weakly cached `Response[Message]` rebuilt, and kept;
- GetRawUpdates: a batch of 100 updates parsed as aiogram does (all or nothing) and as
  dicts parsed one by one (what `poll` does, so one bad update is skipped);
- detach_router: building a dispatcher with the project's routers again in one process
  (aiogram refuses without it).

    python -m benchmarks --only adapter
"""

from __future__ import annotations

import asyncio
import gc
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot, Dispatcher, F, Router
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.methods import GetUpdates, SendMessage
from aiogram.types import Message, Update

from benchmarks.common import BOT_TOKEN, Figure, Result, percentile
from bot.aiogram_adapter import GetRawUpdates, KeepResponseModels, run_filters_inline


def _message_json(i: int) -> dict[str, Any]:
    return {
        "message_id": i,
        "date": 1_700_000_000,
        "chat": {"id": 1000 + i, "type": "private"},
        "from": {"id": 1000 + i, "is_bot": False, "first_name": "S", "language_code": "ky"},
        "text": f"сообщение {i}",
    }


async def _median_us(call: Callable[[], Awaitable[Any]], n: int) -> float:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        await call()
        times.append((time.perf_counter() - started) * 1e6)
    return percentile(times, 50)


async def _filters(n: int) -> list[Figure]:
    message = Message.model_validate(_message_json(1))
    threaded = Router()
    inlined = Router()
    for router in (threaded, inlined):

        @router.message(F.text)
        async def handle(message: Message) -> None:
            return None

    run_filters_inline(inlined)
    hop = threaded.message.handlers[0].filters[0]  # type: ignore[index]
    inline = inlined.message.handlers[0].filters[0]  # type: ignore[index]
    without = await _median_us(lambda: hop.call(message), n)
    with_it = await _median_us(lambda: inline.call(message), n)
    return [
        Figure(
            "filter call, inlined (run_filters_inline)",
            with_it,
            "µs",
            reference=without,
            reference_name="aiogram's thread hop",
            note="per synchronous filter; an update passes about twenty",
        )
    ]


def _check_response_us(bot: Bot, body: str, n: int, keep: KeepResponseModels | None) -> float:
    method = SendMessage(chat_id=1, text="x")
    times = []
    for _ in range(n):
        gc.collect()  # what drops a weakly cached Response[Message] between two calls
        started = time.perf_counter()
        if keep is not None:
            keep.keep(method)
        bot.session.check_response(bot, method, 200, body)
        times.append((time.perf_counter() - started) * 1e6)
    return percentile(times, 50)


async def _response_models(n: int) -> list[Figure]:
    bot = Bot(BOT_TOKEN, session=AiohttpSession())
    body = json.dumps({"ok": True, "result": _message_json(1)})
    try:
        without = _check_response_us(bot, body, n, None)
        with_it = _check_response_us(bot, body, n, KeepResponseModels())
    finally:
        await bot.session.close()
    return [
        Figure(
            "sendMessage answer after a GC, model kept (KeepResponseModels)",
            with_it,
            "µs",
            reference=without,
            reference_name="rebuilt by pydantic",
        )
    ]


async def _raw_updates(n: int) -> list[Figure]:
    bot = Bot(BOT_TOKEN, session=AiohttpSession())
    batch = [{"update_id": i, "message": _message_json(i)} for i in range(100)]
    body = json.dumps({"ok": True, "result": batch})

    async def typed() -> None:
        bot.session.check_response(bot, GetUpdates(), 200, body)

    async def raw() -> None:
        result: Any = bot.session.check_response(bot, GetRawUpdates(), 200, body)
        for item in result.result:
            Update.model_validate(item, context={"bot": bot})

    try:
        without = await _median_us(typed, n)
        with_it = await _median_us(raw, n)
    finally:
        await bot.session.close()
    return [
        Figure(
            "getUpdates batch of 100, parsed one by one (GetRawUpdates)",
            with_it / 1000,
            "ms",
            reference=without / 1000,
            reference_name="aiogram, all or nothing",
            note="buys: an update this aiogram cannot parse is skipped, not the batch",
        )
    ]


async def _routers(n: int) -> list[Figure]:
    from handlers import setup_routers

    async def again() -> None:
        Dispatcher().include_routers(*setup_routers())  # setup_routers detaches them

    with_it = await _median_us(again, n)
    refused = 0
    try:
        routers = setup_routers()
        Dispatcher().include_routers(*routers)
        Dispatcher().include_routers(*routers)  # what aiogram does without detach_router
    except RuntimeError:
        refused = 1
    return [
        Figure(
            "second dispatcher with the project's routers (detach_router)",
            with_it,
            "µs",
            note="without it aiogram refuses: RuntimeError 'Router is already attached'"
            if refused
            else "aiogram no longer refuses: detach_router can go",
        )
    ]


async def run(smoke: bool) -> Result:
    n = 200 if smoke else 2000
    result = Result("adapter")
    result.add(*await _filters(n))
    result.add(*await _response_models(n // 10))
    result.add(*await _raw_updates(n // 10))
    result.add(*await _routers(n // 10))
    return result


if __name__ == "__main__":
    print(asyncio.run(run(smoke=False)).as_json())
