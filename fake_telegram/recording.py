"""What the bot asked of the fake server, and ways for a test to wait for it."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .objects import Call


@dataclass(slots=True)
class _Waiter:
    predicate: Callable[[Call], bool]
    count: int
    include_failed: bool
    future: asyncio.Future[list[Call]]
    matched: list[Call] = field(default_factory=list)

    def offer(self, call: Call) -> None:
        if self.future.done() or not (call.ok or self.include_failed):
            return
        try:
            hit = self.predicate(call)
        except (KeyError, TypeError, AttributeError, IndexError):
            hit = False  # a predicate written for sendMessage meeting another method
        if hit:
            self.matched.append(call)
            if len(self.matched) >= self.count:
                self.future.set_result(list(self.matched))


class CallRecorder:
    """Mixin for FakeBotAPI: `calls` and the helpers that read them."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.delivered: Counter[Any] = Counter()  # chat_id -> messages delivered
        self.too_many_requests = 0  # 429 answers, from rate limits and from fail_next
        self.dropped_requests = 0  # clients that gave up while a delay held their request
        self._waiters: list[_Waiter] = []

    def _record(self, call: Call, delivered: int) -> None:
        self.calls.append(call)
        if delivered:
            self.delivered[call.chat_id] += delivered
        if call.status == 429:
            self.too_many_requests += 1
        for waiter in self._waiters:
            waiter.offer(call)

    def _state_summary(self) -> str:
        return ""

    def clear(self) -> None:
        """Forget recorded calls and counters (not chats, messages, files or updates)."""
        self.calls.clear()
        self.delivered.clear()
        self.too_many_requests = 0
        self.dropped_requests = 0

    def calls_of(self, method: str) -> list[Call]:
        """Every request to `method`, failed ones included."""
        key = method.lower()
        return [call for call in self.calls if call.method.lower() == key]

    def calls_to(self, chat_id: Any, method: str | None = None) -> list[Call]:
        """Successful requests addressed to `chat_id` (optionally of one method)."""
        key = method.lower() if method else None
        return [
            call for call in self.calls
            if call.ok and call.chat_id == chat_id and (key is None or call.method.lower() == key)
        ]  # fmt: skip

    def sent_texts(self, chat_id: Any) -> list[str]:
        """Texts and captions delivered to `chat_id`, in order (copies: the copied text)."""
        return [
            text for call in self.calls_to(chat_id)
            if call.is_send and (text := call.text) is not None
        ]  # fmt: skip

    async def wait_for(
        self,
        predicate: Callable[[Call], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the interface tests rely on
        *,
        start: int = 0,
        include_failed: bool = False,
    ) -> Call:
        """The first successful call from `calls[start:]` on, past or future, that satisfies
        `predicate`; AssertionError listing recent calls if none does within `timeout`."""
        calls = await self.wait_for_count(
            predicate, 1, timeout, start=start, include_failed=include_failed
        )
        return calls[0]

    async def wait_for_send(
        self,
        chat_id: Any,
        contains: str = "",
        timeout: float = 5.0,  # noqa: ASYNC109
        *,
        start: int = 0,
    ) -> Call:
        """A message delivered to `chat_id` whose text or caption contains `contains`."""
        return await self.wait_for(
            lambda c: c.is_send and c.chat_id == chat_id and contains in (c.text or ""),
            timeout,
            start=start,
        )

    async def wait_for_count(
        self,
        predicate: Callable[[Call], bool],
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - the interface tests rely on
        *,
        start: int = 0,
        include_failed: bool = False,
    ) -> list[Call]:
        """The first `count` calls that satisfy `predicate` (see wait_for)."""
        future: asyncio.Future[list[Call]] = asyncio.get_running_loop().create_future()
        waiter = _Waiter(predicate, count, include_failed, future)
        for call in self.calls[start:]:
            waiter.offer(call)
        if future.done():
            return future.result()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise AssertionError(self._timeout_report(waiter, timeout)) from None
        finally:
            self._waiters.remove(waiter)

    def _timeout_report(self, waiter: _Waiter, timeout: float) -> str:
        name = getattr(waiter.predicate, "__qualname__", repr(waiter.predicate))
        recent = self.calls[-15:]
        lines = "\n".join(f"  {call.describe()}" for call in recent) or "  (none)"
        state = self._state_summary()
        return (
            f"no call matched {name} within {timeout} s "
            f"({len(waiter.matched)} of {waiter.count} found).\n{state}\n"
            f"last {len(recent)} of {len(self.calls)} calls:\n{lines}"
        )
