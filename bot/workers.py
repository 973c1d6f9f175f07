"""Background work that runs inside `trustline run` beside the outbox sender."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any

from bot.services.reporting import monthly_summary
from bot.services.routing import escalation
from bot.services.security import audit_checkpoints, retention

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

# How often each instance looks for passed deadlines. The shortest deadline is minutes
# long, so a quarter of a minute of lateness is invisible, and the query is one index range.
DEADLINE_CHECK_SECONDS = 15.0


async def deadline_worker(app: App, *, every: float = DEADLINE_CHECK_SECONDS) -> None:
    """Act on passed deadlines until cancelled. Deadlines live in the database, so a
    restarted (or another) instance simply picks up whatever is due."""
    while True:
        try:
            async with app.sessionmaker() as session, session.begin():
                steps = await escalation.run_due(session, app.rt)
        except Exception:  # a database hiccup must not stop escalations for good
            log.exception("deadline_cycle_failed")
            steps = []
        if steps:
            app.sender.poke()  # committed: send the alerts now
        if len(steps) < escalation.BATCH:
            await asyncio.sleep(every)


def background_tasks(app: App) -> list[Coroutine[Any, Any, None]]:
    """Deadline and retention workers register here."""
    return [
        deadline_worker(app),
        monthly_summary.run_forever(app.sessionmaker, app.rt, app.sender.poke),
        retention.retention_worker(app.sessionmaker, app.rt),
        audit_checkpoints.run_forever(app.sessionmaker, app.rt, app.sender.poke),
    ]
