"""Telegram's flood limits on our side: about 30 messages a second overall and one a second
per chat, counted the way Telegram counts them.

Telegram counts a request when it arrives, which we never see: we only know when we
started it and when the answer came. So a request occupies its window from its start until
a full window after its answer. That costs one round trip per window (30 a second become
about 29.7) and makes a 429 from our own pace impossible, however late a request leaves
after taking its slot or however long it travels.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Hashable

# While a window is full of requests still in flight, look again this often.
POLL_SECONDS = 0.02


class SlidingWindow:
    """At most `capacity` requests in any `seconds`."""

    __slots__ = ("capacity", "seconds", "_ends", "_in_flight")

    def __init__(self, rate: float) -> None:
        self.seconds = max(1.0, 1.0 / rate)
        self.capacity = max(1, round(rate * self.seconds))
        self._ends: deque[float] = deque()
        self._in_flight = 0

    def wait(self, now: float) -> float:
        """0 when a request may start now, else how long to wait before looking again."""
        while self._ends and self._ends[0] <= now - self.seconds:
            self._ends.popleft()
        if self._in_flight + len(self._ends) < self.capacity:
            return 0.0
        if self._ends and self._in_flight < self.capacity:
            return self._ends[0] + self.seconds - now
        return POLL_SECONDS

    def take(self) -> None:
        self._in_flight += 1

    def give_back(self, now: float) -> None:
        self._in_flight -= 1
        self._ends.append(now)

    @property
    def idle(self) -> bool:
        return self._in_flight == 0 and not self._ends


class RateLimiter:
    """`per_second` overall and `per_chat` for each chat. `acquire` before a request,
    `release` when its answer (or error) came back."""

    def __init__(self, per_second: float, per_chat: float) -> None:
        self.per_chat = per_chat
        self._global = SlidingWindow(per_second)
        self._chats: dict[Hashable, SlidingWindow] = {}
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """Telegram asked us to wait (429): no request at all before then."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def acquire(self, chat: Hashable) -> None:
        while True:
            now = time.monotonic()
            window = self._chats.get(chat)
            if window is None:
                window = self._chats[chat] = SlidingWindow(self.per_chat)
            wait = max(window.wait(now), self._global.wait(now), self._paused_until - now)
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        window.take()
        self._global.take()

    def release(self, chat: Hashable) -> None:
        now = time.monotonic()
        self._global.give_back(now)
        window = self._chats.get(chat)
        if window is not None:
            window.give_back(now)
        if len(self._chats) > 10_000:  # forget chats that have been quiet for a while
            for key in [k for k, w in self._chats.items() if w.wait(now) == 0 and w.idle]:
                del self._chats[key]
