"""The overall send limit shared through PostgreSQL (bot/delivery/ratelimit.SharedWindow):
two windows on their own connections, as two processes would be, never let more than the
limit start in any window between them; a 429 pauses both; a dead process's seats come
back after their lease; a late word from a process whose seat was taken over is ignored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.models import SendSeat
from bot.db.session import make_engine
from bot.delivery import ratelimit
from bot.delivery.ratelimit import RateLimiter, SharedWindow
from tests.faults.support import busiest_second

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)

RATE = 10  # a window of one second holds 10 requests


@pytest.fixture
async def engines(database_url: str) -> AsyncIterator[list[AsyncEngine]]:
    made = [make_engine(database_url, pool_size=1) for _ in range(2)]
    yield made
    for engine in made:
        await engine.dispose()


async def test_two_processes_never_start_more_than_the_limit_in_any_second(
    engines: list[AsyncEngine],
) -> None:
    windows = [SharedWindow(engine, RATE) for engine in engines]
    starts: list[float] = []
    per_window = [0, 0]

    async def request(which: int) -> None:
        seat = await windows[which].acquire()
        starts.append(time.monotonic())
        per_window[which] += 1
        await asyncio.sleep(0.01)  # the request travels and is answered
        windows[which].release(seat)

    await asyncio.gather(*(request(i % 2) for i in range(4 * RATE)))
    for window in windows:
        await window.close(2.0)
    assert len(starts) == 4 * RATE
    assert busiest_second(starts) <= RATE
    # Each alone would have started 2 * RATE at once: the limit was theirs together.
    assert max(starts) - min(starts) >= 3.0
    assert min(per_window) > 0


async def test_a_429_pauses_every_process(engines: list[AsyncEngine]) -> None:
    first, second = (SharedWindow(engine, RATE) for engine in engines)
    seat = await first.acquire()  # the seats exist
    first.release(seat)
    paused_at = time.monotonic()
    await first.pause(1.5)
    seat = await second.acquire()
    assert time.monotonic() - paused_at >= 1.5 - 0.05  # clocks are read a little apart
    second.release(seat)
    for window in (first, second):
        await window.close(2.0)


async def test_a_dead_process_holds_its_seats_only_for_their_lease(
    engines: list[AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "SEAT_LEASE_SECONDS", 1.0)
    dead, alive = (SharedWindow(engine, 2) for engine in engines)
    for _ in range(2):  # claimed and never given back: the process died sending
        await dead.acquire()
    began = time.monotonic()
    seat = await alive.acquire()
    assert time.monotonic() - began >= 1.0 - 0.05
    alive.release(seat)
    await alive.close(2.0)


async def test_a_late_release_does_not_free_a_seat_taken_over(
    engines: list[AsyncEngine], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ratelimit, "SEAT_LEASE_SECONDS", 0.5)
    slow, other = (SharedWindow(engine, 1) for engine in engines)
    stale = await slow.acquire()
    await asyncio.sleep(0.6)
    taken = await other.acquire()  # the one seat, its lease run out
    assert (taken.seat, taken.token) == (stale.seat, stale.token + 1)
    slow.release(stale)  # says its request ended: too late, the seat is another's
    await slow.close(2.0)
    async with engines[0].connect() as conn:
        free_at = await conn.scalar(select(SendSeat.free_at).where(SendSeat.seat == 0))
        db_now = await conn.scalar(select(func.extract("epoch", func.clock_timestamp())))
    assert free_at is not None and db_now is not None
    assert free_at > float(db_now)  # still held by `other`, not freed by the late word
    other.release(taken)
    await other.close(2.0)


async def test_the_limiter_keeps_the_chat_pace_and_shares_the_overall_one(
    engines: list[AsyncEngine],
) -> None:
    limiter = RateLimiter(RATE, 1, shared=SharedWindow(engines[0], RATE))
    starts = []
    for _ in range(3):
        permit = await limiter.acquire("chat")
        starts.append(time.monotonic())
        assert permit.seat is not None
        limiter.release(permit)
    await limiter.close(2.0)
    assert starts[1] - starts[0] >= 1.0 and starts[2] - starts[1] >= 1.0


async def test_a_rate_far_above_telegrams_keeps_a_bounded_table(
    engines: list[AsyncEngine],
) -> None:
    """Tests and benchmarks lift the limit (100,000 a second): the seats stay MAX_SEATS, in a
    window short enough to keep that pace, and requests go out at once."""
    window = SharedWindow(engines[0], 100_000)
    assert (window.capacity, window.seconds) == (ratelimit.MAX_SEATS, 0.01)
    seats = await asyncio.gather(*(window.acquire() for _ in range(50)))
    assert len({seat.seat for seat in seats}) == 50
    for seat in seats:
        window.release(seat)
    await window.close(2.0)
    async with engines[0].connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(SendSeat)) == ratelimit.MAX_SEATS
