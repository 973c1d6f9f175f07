"""Bounded waits for stopping: every wait has a limit, and one that runs out is logged by
the step's event name and left, never cancelled a second time.

Why never twice: on SQLite a task cancelled while its connection waits for the write
lock (every transaction starts with BEGIN IMMEDIATE, and SQLite's busy handler waits up
to the connection's 30 s timeout in aiosqlite's thread) cannot be cut short. SQLAlchemy
closes that connection under asyncio.shield, queued behind the waiting statement, so the
cancelled task waits for the lock. A second cancel abandons that shield: SQLAlchemy then
stops the aiosqlite connection while the graceful close is still queued, and aiosqlite's
close() queues its own stop after the worker thread has already left, a close task whose
future nobody will ever resolve. Awaiting such a task without a limit never returns, and
cancelling it does not help (aiosqlite's close() awaits that future in its `finally`):
a test run with such a task left pending hung in the event loop's own shutdown
(asyncio.Runner cancelling the remaining tasks) until pytest's timeout.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

log = logging.getLogger(__name__)


async def wait_bounded(step: str, tasks: Iterable[asyncio.Task[Any]], seconds: float) -> bool:
    """Wait up to `seconds` for the tasks to end; True when all did. Tasks still running
    are logged (`stop_wait_timeout step=...`) and left alone."""
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    if pending:
        _, pending = await asyncio.wait(pending, timeout=seconds)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: a background failure was logged where it happened
    if pending:
        names = ",".join(sorted(task.get_name() for task in pending))
        log.warning("stop_wait_timeout step=%s pending=%s seconds=%s", step, names, seconds)
        return False
    return True


async def run_bounded(step: str, work: Coroutine[Any, Any, Any], seconds: float) -> bool:
    """Run `work` as a task of its own for up to `seconds`; see wait_bounded."""
    task = asyncio.create_task(work, name=step)
    return await wait_bounded(step, [task], seconds)
