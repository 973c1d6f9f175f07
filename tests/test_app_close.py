"""App.close is bounded: with every background task stuck behind SQLite's write lock (held
here by another connection, as a long transaction would), close still returns, names the
steps it could not wait for, and cancels nothing twice, so the tasks it left end by
themselves once the lock is free (bot/stopping.py explains the close that never ends)."""

from __future__ import annotations

import asyncio
import logging
import sqlite3

import pytest

from bot.app import create_app
from bot.config import Settings
from tests.conftest import FakeClock


async def _until(condition: object, limit: float = 30.0) -> None:
    for _ in range(int(limit / 0.02)):
        if condition():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError("the background tasks never reached the database")


class _ReleaseOn(logging.Handler):
    """Releases the lock once App.close has named the step it could not wait for."""

    def __init__(self, step: str, holder: sqlite3.Connection) -> None:
        super().__init__()
        self.step, self.holder = step, holder

    def emit(self, record: logging.LogRecord) -> None:
        if f"step={self.step} " in record.getMessage() and self.holder.in_transaction:
            self.holder.execute("ROLLBACK")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # SQLite's writer lock
async def test_close_returns_while_the_database_is_locked(
    settings: Settings, database_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    app = await create_app(settings, clock=clock, migrate=False)
    holder = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    release = _ReleaseOn("app_close_outbox", holder)
    logging.getLogger("bot.stopping").addHandler(release)
    try:
        await app.start_background()
        # The workers' first passes and the sender's first claim each took a connection
        # and now wait in SQLite's busy handler for the lock.
        await _until(lambda: app.engine.pool.checkedout() >= 4)  # type: ignore[attr-defined]
        with caplog.at_level(logging.WARNING, logger="bot.stopping"):
            await app.close()
    finally:
        logging.getLogger("bot.stopping").removeHandler(release)
        if holder.in_transaction:
            holder.execute("ROLLBACK")
        holder.close()
    # The sender's claim could not be cut short: its step is named and it was not
    # cancelled; once the lock was free everything left ended by itself, before the
    # connections closed (nothing was cancelled twice, nothing is left for the loop).
    assert "stop_wait_timeout step=app_close_outbox pending=outbox" in caplog.text
    assert "step=app_close_left" not in caplog.text
    assert all(task.done() for task in app.background)
