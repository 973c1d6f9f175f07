"""Telegram's flood limits and injected faults, both off until a test turns them on."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from .methods import ApiError


class SlidingWindow:
    """At most `limit` hits in any window of `seconds` (older hits fall out)."""

    __slots__ = ("limit", "seconds", "_hits")

    def __init__(self, limit: int, seconds: float = 1.0) -> None:
        self.limit = limit
        self.seconds = seconds
        self._hits: deque[float] = deque()

    def retry_after(self, now: float) -> int:
        """0 when a hit is allowed now, else whole seconds until it would be."""
        hits = self._hits
        while hits and hits[0] <= now - self.seconds:
            hits.popleft()
        if len(hits) < self.limit:
            return 0
        return max(1, math.ceil(hits[0] + self.seconds - now))

    def hit(self, now: float) -> None:
        self._hits.append(now)


def is_group(chat_id: object) -> bool:
    """Groups, supergroups and channels have negative ids (or an @username)."""
    return (isinstance(chat_id, int) and chat_id < 0) or (
        isinstance(chat_id, str) and (chat_id.startswith("@") or chat_id.startswith("-"))
    )


class RateLimiter:
    """A global window, one window per chat and, for groups, one per minute; a request
    passes only if all that apply allow it (Telegram: about 30 a second overall, one a
    second in a chat, 20 a minute in a group)."""

    def __init__(
        self,
        global_per_s: int | None,
        per_chat_per_s: int | None,
        per_group_per_min: int | None = None,
    ) -> None:
        self._global = SlidingWindow(global_per_s) if global_per_s else None
        self._per_chat_limit = per_chat_per_s
        self._chats: dict[object, SlidingWindow] = {}
        self._per_group_limit = per_group_per_min
        self._groups: dict[object, SlidingWindow] = {}

    def check(self, chat_id: object, now: float) -> int:
        """0 and the hit is counted, or the retry_after to answer with."""
        chat_window = None
        if self._per_chat_limit:
            chat_window = self._chats.get(chat_id)
            if chat_window is None:
                chat_window = self._chats[chat_id] = SlidingWindow(self._per_chat_limit)
        group_window = None
        if self._per_group_limit and is_group(chat_id):
            group_window = self._groups.get(chat_id)
            if group_window is None:
                group_window = self._groups[chat_id] = SlidingWindow(self._per_group_limit, 60.0)
        windows = [w for w in (self._global, chat_window, group_window) if w is not None]
        wait = max((w.retry_after(now) for w in windows), default=0)
        if wait:
            return wait
        for window in windows:
            window.hit(now)
        return 0


def _method_set(methods: Iterable[str] | None) -> frozenset[str] | None:
    return None if methods is None else frozenset(m.lower() for m in methods)


def _applies(methods: frozenset[str] | None, method: str) -> bool:
    # Faults without an explicit method list spare getUpdates: a failing poll only slows the
    # dispatcher's backoff down, which is rarely what a fault test wants to measure.
    return method != "getupdates" if methods is None else method in methods


@dataclass(frozen=True, slots=True)
class Failure:
    status: int
    retry_after: int | None
    description: str
    methods: frozenset[str] | None

    def error(self) -> ApiError:
        return ApiError(self.status, self.description, self.retry_after)


_DESCRIPTIONS = {
    400: "Bad Request: injected failure",
    403: "Forbidden: bot was blocked by the user",
    404: "Not Found",
    409: "Conflict: terminated by other getUpdates request",
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class Faults:
    """Failures queued by `fail_next` and the delay set by `delay`."""

    def __init__(self) -> None:
        self._failures: deque[Failure] = deque()
        self.delay_seconds = 0.0
        self._delay_left: int | None = None
        self._delay_methods: frozenset[str] | None = None

    def fail_next(
        self,
        n: int,
        status: int,
        retry_after: int | None,
        description: str | None,
        methods: Iterable[str] | None,
    ) -> None:
        if status == 429 and retry_after is None:
            retry_after = 1
        if description is None:
            if status == 429:
                description = f"Too Many Requests: retry after {retry_after}"
            else:
                description = _DESCRIPTIONS.get(status, f"Error {status}")
        failure = Failure(status, retry_after, description, _method_set(methods))
        self._failures.extend([failure] * n)

    def take_failure(self, method: str) -> Failure | None:
        if not self._failures:
            return None
        for index, failure in enumerate(self._failures):
            if _applies(failure.methods, method):
                del self._failures[index]
                return failure
        return None

    @property
    def pending_failures(self) -> int:
        return len(self._failures)

    def set_delay(self, seconds: float, n: int | None, methods: Iterable[str] | None) -> None:
        self.delay_seconds = seconds
        self._delay_left = n
        self._delay_methods = _method_set(methods)

    def take_delay(self, method: str) -> float:
        if not self.delay_seconds or not _applies(self._delay_methods, method):
            return 0.0
        if self._delay_left is not None:
            self._delay_left -= 1
            if self._delay_left <= 0:
                seconds, self.delay_seconds = self.delay_seconds, 0.0
                return seconds
        return self.delay_seconds
