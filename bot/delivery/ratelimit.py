"""Telegram's flood limits on our side: about 30 messages a second overall and one a second
per chat, counted the way Telegram counts them, and shared by every process of the bot.

Telegram counts a request when it arrives, which we never see: we only know when we
started it and when the answer came. So a request occupies its window from its start until
a full window after its answer. That costs one round trip per window (30 a second become
about 29.7) and makes a 429 from our own pace impossible, however late a request leaves
after taking its slot or however long it travels.

Several processes (webhook replicas behind one port) share one bot, so they share its
overall limit. On PostgreSQL the overall window is `SharedWindow`: the limit's `capacity`
seats (30 for 30 a second) are rows of `send_seats`; a request holds a seat from its start
until a window after its answer, and a seat is free again only then, whoever holds it. Two
requests on one seat therefore arrive at least a window apart, so no window ever sees more
than `capacity` of them, whichever process sent them. Times are PostgreSQL's clock
(`clock_timestamp()`), converted conservatively: a process never starts before a seat is
free on the database's clock, and records the end of its request no earlier than it was
(the conversion's error, one round trip to the database, is always spent on the safe side).
A process claims the seats its waiting requests need in one statement and records the
requests' ends in one, from one task over a connection of its own. A process that dies
holding seats loses them for `SEAT_LEASE_SECONDS`. A 429 pauses every seat for everyone.

The per-chat limit stays per process: one process works a chat at a time (the outbox
sender's head leases, bot/delivery/sender.py). On SQLite (one process) both windows are
local. Redis is not used.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass

from sqlalchemy import bindparam, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.models import SendSeat

log = logging.getLogger(__name__)

# While a window is full of requests still in flight, look again this often.
POLL_SECONDS = 0.02


def window_size(rate: float) -> tuple[float, int]:
    """(seconds, capacity) of the sliding window that paces `rate` requests a second: one
    second for rates of one and more, else one request per 1/rate seconds."""
    seconds = max(1.0, 1.0 / rate)
    return seconds, max(1, round(rate * seconds))


class SlidingWindow:
    """At most `capacity` requests in any `seconds`."""

    __slots__ = ("capacity", "seconds", "_ends", "_in_flight")

    def __init__(self, rate: float) -> None:
        self.seconds, self.capacity = window_size(rate)
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

    def untake(self) -> None:
        """A request taken but never made."""
        self._in_flight -= 1

    @property
    def idle(self) -> bool:
        return self._in_flight == 0 and not self._ends


@dataclass(slots=True)
class Seat:
    """A seat of the shared window held by this process: `db_base` is the database's clock
    when it was claimed and `local_base` this process's clock just before the claim was
    asked for (so `db_base + (now - local_base)` is never earlier than the database's time
    now); `start_at` is when, on this process's clock, the seat is surely free."""

    seat: int
    token: int
    db_base: float
    local_base: float
    start_at: float
    was_free_at: float


@dataclass(slots=True)
class Permit:
    """What `RateLimiter.acquire` gives and `release` takes back."""

    chat: Hashable
    seat: Seat | None = None


# How far ahead a seat is claimed (it is slept on until free, so a request starts the
# moment its seat frees instead of a round trip later); how long a claimed seat stays this
# process's if it never says when its request ended (a dead process); the longest wait
# before looking at the seats again when all are taken.
SEAT_HORIZON_SECONDS = 0.25
SEAT_LEASE_SECONDS = 15.0
SEAT_POLL_MAX_SECONDS = 0.5
# A database error while claiming: wait this long before trying again.
SEAT_RETRY_SECONDS = 0.5

_CLAIM = text(
    """
WITH clock AS MATERIALIZED (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
picked AS (
    SELECT s.seat, s.free_at FROM send_seats s, clock
    WHERE s.seat < :capacity AND s.free_at <= clock.now + :horizon
    ORDER BY s.free_at
    LIMIT :wanted
    FOR UPDATE OF s SKIP LOCKED
)
UPDATE send_seats AS s
SET token = s.token + 1, free_at = clock.now + :lease
FROM picked, clock
WHERE s.seat = picked.seat
RETURNING s.seat, s.token, picked.free_at, clock.now
"""
)

_NEXT_FREE = text(
    "SELECT min(free_at) - extract(epoch FROM clock_timestamp())::float8 "
    "FROM send_seats WHERE seat < :capacity"
)


class SharedWindow:
    """The bot's overall limit, shared through PostgreSQL by every process using `engine`
    (the module's docstring says how)."""

    def __init__(self, engine: AsyncEngine, rate: float) -> None:
        self.engine = engine
        self.seconds, self.capacity = window_size(rate)
        self._waiters: deque[asyncio.Future[Seat]] = deque()
        self._ended: list[dict[str, float | int]] = []
        self._wake = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None
        self._seats_made = False
        self._closing = False
        self.claims = 0  # statements that claimed seats (benchmarks, tests)

    async def acquire(self) -> Seat:
        """A seat, once it is free: the caller may start its request now."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Seat] = loop.create_future()
        self._waiters.append(future)
        self._kick()
        try:
            seat = await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self._unused(future.result())
            raise
        try:
            if (wait := seat.start_at - time.monotonic()) > 0:
                await asyncio.sleep(wait)
        except asyncio.CancelledError:
            self._unused(seat)
            raise
        return seat

    def release(self, seat: Seat) -> None:
        """The seat's request ended now (answered, failed or given up): the seat is free
        again one window after now, on the database's clock."""
        ended = seat.db_base + (time.monotonic() - seat.local_base)
        self._ended.append({"s": seat.seat, "t": seat.token, "f": ended + self.seconds})
        self._kick()

    def _unused(self, seat: Seat) -> None:
        """A seat claimed for a request that was never made: free as it was before."""
        self._ended.append({"s": seat.seat, "t": seat.token, "f": seat.was_free_at})
        self._kick()

    async def pause(self, seconds: float) -> None:
        """Telegram answered 429: no seat is free for anyone before `seconds` from now."""
        seats = SendSeat
        until = func.extract("epoch", func.clock_timestamp()) + seconds
        async with self.engine.begin() as conn:
            await conn.execute(
                update(seats)
                .where(seats.seat < self.capacity)
                .values(
                    paused_until=func.greatest(seats.paused_until, until),
                    free_at=func.greatest(seats.free_at, until),
                )
            )

    async def close(self, seconds: float) -> None:
        """Record the ends still unrecorded (within `seconds`), then stop the keeper."""
        self._closing = True
        self._kick()
        keeper = self._keeper
        if keeper is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await asyncio.shield(keeper)
            if not keeper.done():
                keeper.cancel()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    async with asyncio.timeout(1.0):
                        await keeper
        for future in self._waiters:
            future.cancel()
        self._waiters.clear()
        self._closing = False  # usable again (a sender run again, or drain_once)

    def _kick(self) -> None:
        self._wake.set()
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep(), name="send-seats")

    async def _keep(self) -> None:
        """One task per process: records ended requests and claims seats for the waiting
        ones, a statement each, until nothing is left to do."""
        while True:
            self._wake.clear()
            self._waiters = deque(f for f in self._waiters if not f.done())
            if not self._ended and (not self._waiters or self._closing):
                return
            try:
                if self._ended:
                    await self._record_ends()
                if self._waiters and not self._closing:
                    wait = await self._claim()
                    if wait > 0:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(wait):
                                await self._wake.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is away: the requests wait meanwhile
                log.warning("send_seats_failed error=%s", type(exc).__name__)
                if self._closing:
                    return
                await asyncio.sleep(SEAT_RETRY_SECONDS)

    async def _record_ends(self) -> None:
        ended, self._ended = self._ended, []
        seats = SendSeat
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    update(seats)
                    .where(seats.seat == bindparam("s"), seats.token == bindparam("t"))
                    .values(free_at=func.greatest(bindparam("f"), seats.paused_until)),
                    ended,
                )
        except BaseException:
            self._ended[:0] = ended  # tried again; a seat's token fences a late write
            raise

    async def _claim(self) -> float:
        """Claim seats for the waiting requests; how long to wait before claiming again
        (0: at once)."""
        if not self._seats_made:
            await self._make_seats()
        wanted = len(self._waiters)
        local_base = time.monotonic()
        async with self.engine.begin() as conn:
            rows = (
                await conn.execute(
                    _CLAIM,
                    {
                        "capacity": self.capacity,
                        "horizon": SEAT_HORIZON_SECONDS,
                        "wanted": wanted,
                        "lease": SEAT_LEASE_SECONDS,
                    },
                )
            ).all()
            if not rows:
                until_free = (
                    await conn.scalar(_NEXT_FREE, {"capacity": self.capacity})
                ) or POLL_SECONDS
        answered = time.monotonic()
        if not rows:
            # A seat locked by another process's claim shows as free: look again soon.
            return min(max(until_free - SEAT_HORIZON_SECONDS, POLL_SECONDS), SEAT_POLL_MAX_SECONDS)
        self.claims += 1
        for seat, token, was_free_at, db_now in rows:
            claimed = Seat(
                seat,
                token,
                db_base=db_now,
                local_base=local_base,
                start_at=answered + max(0.0, was_free_at - db_now),
                was_free_at=was_free_at,
            )
            while self._waiters and self._waiters[0].done():
                self._waiters.popleft()
            if self._waiters:
                self._waiters.popleft().set_result(claimed)
            else:
                self._unused(claimed)
        return 0.0

    async def _make_seats(self) -> None:
        """The window's seats, made once by whichever process comes first (a slower rate
        set elsewhere leaves its seats unused beyond this one's capacity)."""
        seats = SendSeat
        async with self.engine.begin() as conn:
            have = set((await conn.scalars(select(seats.seat))).all())
            missing = [
                {"seat": n, "token": 0, "free_at": 0.0, "paused_until": 0.0}
                for n in range(self.capacity)
                if n not in have
            ]
            if missing:
                await conn.execute(insert(seats).values(missing).on_conflict_do_nothing())
        self._seats_made = True


class RateLimiter:
    """`per_second` overall and `per_chat` for each chat. `acquire` before a request,
    `release` when its answer (or error) came back. With `shared`, the overall limit is the
    one every process shares (PostgreSQL), else this process's own."""

    def __init__(
        self, per_second: float, per_chat: float, shared: SharedWindow | None = None
    ) -> None:
        self.per_chat = per_chat
        self.shared = shared
        self._global = SlidingWindow(per_second)
        self._chats: dict[Hashable, SlidingWindow] = {}
        self._paused_until = 0.0
        self._pausing: set[asyncio.Task[None]] = set()

    def pause(self, seconds: float) -> None:
        """Telegram asked us to wait (429): no request at all before then (in every process
        when the window is shared)."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)
        if self.shared is not None:
            task = asyncio.get_running_loop().create_task(self._pause_shared(seconds))
            self._pausing.add(task)
            task.add_done_callback(self._pausing.discard)

    async def _pause_shared(self, seconds: float) -> None:
        assert self.shared is not None
        try:
            await self.shared.pause(seconds)
        except Exception as exc:  # the other processes learn it from their own 429
            log.warning("send_pause_not_shared error=%s", type(exc).__name__)

    async def acquire(self, chat: Hashable) -> Permit:
        while True:
            now = time.monotonic()
            window = self._chats.get(chat)
            if window is None:
                window = self._chats[chat] = SlidingWindow(self.per_chat)
            overall = self._global.wait(now) if self.shared is None else 0.0
            wait = max(window.wait(now), overall, self._paused_until - now)
            if wait <= 0:
                break
            await asyncio.sleep(wait)
        window.take()
        if self.shared is None:
            self._global.take()
            return Permit(chat)
        try:
            seat = await self.shared.acquire()
        except BaseException:
            window.untake()
            raise
        return Permit(chat, seat)

    def release(self, permit: Permit) -> None:
        now = time.monotonic()
        if permit.seat is None:
            self._global.give_back(now)
        else:
            assert self.shared is not None
            self.shared.release(permit.seat)
        window = self._chats.get(permit.chat)
        if window is not None:
            window.give_back(now)
        if len(self._chats) > 10_000:  # forget chats that have been quiet for a while
            for key in [k for k, w in self._chats.items() if w.wait(now) == 0 and w.idle]:
                del self._chats[key]

    async def close(self, seconds: float) -> None:
        if self.shared is not None:
            await self.shared.close(seconds)
