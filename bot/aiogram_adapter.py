"""The one module that touches aiogram's private parts. Nothing else in the project may.

Each use below relies on something aiogram does not promise to keep; each is checked by
tests/test_aiogram_adapter.py, which fails with a sentence naming what changed when an
aiogram upgrade moves it, and each has a line in benchmarks/BENCHMARKS.md ("aiogram
adapter") saying what it buys. pyproject.toml pins aiogram to the minor versions tested.

- `detach_router`: `Router._parent_router`. Module-level routers attach to one dispatcher
  for good; the tests, the demo and the benchmarks build several in one process.
- `run_filters_inline`: `TelegramEventObserver._handler` (the router-level filters) and
  `FilterObject.callback`/`.awaitable`. aiogram runs every synchronous filter in a worker
  thread; ours are lookups and run on the loop instead.
- `KeepResponseModels`: `TelegramMethod.__returning__` and aiogram's `Response[...]`
  generic. pydantic keeps parametrised models only weakly; one strong reference per
  return type stops a rebuild of the validator after every garbage collection.
- `GetRawUpdates`: `__returning__` overridden, so getUpdates answers plain dicts that are
  parsed one by one (an update this aiogram cannot parse is skipped, not the batch).
- `returns_bool`, `api_method`: whether a method's answer is `True` (`__returning__ is
  bool`) and its Bot API name (`__api_method__`), read from the method's class.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

from aiogram import Bot, Router
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response


def detach_router(router: Router) -> Router:
    """Take a router off the dispatcher (or router) it was included in, so a new
    dispatcher can include it. aiogram has no public way: its `parent_router` setter
    refuses a router that already has a parent."""
    parent = router.parent_router
    if parent is not None:
        parent.sub_routers.remove(router)
        router._parent_router = None
    return router


def run_filters_inline(router: Router) -> None:
    """Run synchronous filters on the event loop instead of in a worker thread.

    aiogram runs every non-async callable (our role filters, every `F.…` magic filter) with
    `asyncio.to_thread`; an update passes some twenty of them on its way through the
    routers, and each thread hop costs more than the filter itself (benchmarks/BENCHMARKS.md,
    "aiogram adapter"). Filters are lookups on the update and on what the middlewares
    found, never I/O; anything slow must be an async filter.
    """
    for observer in router.observers.values():
        # The router-level filters live on the observer's own HandlerObject.
        own = getattr(observer, "_handler", None)
        for handler in [*observer.handlers, *([own] if own is not None else [])]:
            for flt in handler.filters or ():
                if not flt.awaitable:
                    flt.callback = _inline(flt.callback)
                    flt.awaitable = True
    for sub in router.sub_routers:
        run_filters_inline(sub)


def _inline(sync: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def inline(*args: Any, **kwargs: Any) -> Any:
        return sync(*args, **kwargs)

    return inline


class KeepResponseModels(BaseRequestMiddleware):
    """Keep aiogram's parametrised `Response[...]` models alive for the process.

    aiogram validates every Bot API answer with `Response[method.__returning__]`, and
    pydantic caches parametrised generic models only weakly: the first garbage collection
    after a call drops the model, and the next call builds its schema and validator again,
    milliseconds of CPU on every sendMessage and every getUpdates (benchmarks/BENCHMARKS.md,
    "aiogram adapter"). One strong reference per return type ends that.
    """

    def __init__(self) -> None:
        self._kept: dict[Any, Any] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Any:
        self.keep(method)
        return await make_request(bot, method)

    def keep(self, method: TelegramMethod[Any]) -> None:
        returning = method.__returning__
        if returning not in self._kept:
            self._kept[returning] = Response[returning]  # type: ignore[valid-type]


class GetRawUpdates(GetUpdates):
    """getUpdates answered as plain dicts: each update is parsed on its own, so one that
    this aiogram cannot parse is skipped instead of failing the whole batch for ever."""

    __returning__ = list[dict[str, Any]]


async def get_raw_updates(
    bot: Bot, *, offset: int | None, poll_seconds: int, limit: int, request_timeout: int
) -> list[dict[str, Any]]:
    """getUpdates through GetRawUpdates (a long poll of `poll_seconds`), typed as what it
    answers: plain dicts."""
    method = GetRawUpdates(offset=offset, timeout=poll_seconds, limit=limit)
    answer: Any = await bot(method, request_timeout=request_timeout)
    return cast(list[dict[str, Any]], answer)


def returns_bool(method: TelegramMethod[Any]) -> bool:
    """Whether the Bot API answers this method with a plain `True`."""
    return method.__returning__ is bool


def api_method(method: TelegramMethod[Any]) -> str:
    """The Bot API name of a method object, e.g. "sendMessage"."""
    return method.__api_method__
