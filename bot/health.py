"""GET /healthz, /readyz and /metrics of `trustline run`, on TRUSTLINE_HTTP_PORT: in webhook
mode on the webhook's own aiohttp server (bot.webhook), while long polling on a small one
of its own (serve_beside).

/healthz: the process answers. /readyz: the database answers within a short timeout, its
migrations are current, and Telegram answered within the last minute (any successful Bot
API call or getUpdates; after half a minute of quiet, as in webhook mode at night, one
getMe asks); else 503 with a one-line reason. /metrics: bot.metrics' registry plus the
gauges read from the database at scrape time with bounded queries.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from aiogram import Bot
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.methods import GetMe, Response, TelegramMethod
from aiohttp import web
from prometheus_client import generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot import metrics
from bot.db.migrate import migration_heads
from bot.db.models import Case, DeadLetter, OutboxMessage
from bot.domain import CaseStatus, Priority

log = logging.getLogger(__name__)
T = TypeVar("T")

# The database must answer /readyz and /metrics' queries within this.
DATABASE_TIMEOUT_SECONDS = 2.0
# Telegram must have answered within this; after PROBE_AFTER_SECONDS of quiet /readyz asks
# getMe itself (waiting at most PROBE_TIMEOUT_SECONDS).
TELEGRAM_FRESH_SECONDS = 60.0
PROBE_AFTER_SECONDS = 30.0
PROBE_TIMEOUT_SECONDS = 3
# Counts at scrape time stop here: a scrape never walks a huge table.
COUNT_CAP = 100_000
UNSENT = ("pending", "sending")
OPEN_STATUSES = (CaseStatus.OPEN.value, CaseStatus.CLAIMED.value)


class TelegramContact(BaseRequestMiddleware):
    """A Bot API session middleware that notes when a Bot API call (getUpdates included)
    last succeeded."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last: float | None = None

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[T],
        bot: Bot,
        method: TelegramMethod[T],
    ) -> Response[T]:
        response = await make_request(bot, method)
        self.last = self.clock()
        return response

    def seconds_since(self) -> float | None:
        return None if self.last is None else self.clock() - self.last


class Health:
    """The checks of one running App (bot.app.App). Made before the bot's first Bot API
    call so the start-up calls count as contact."""

    def __init__(self, app: Any, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.contact = TelegramContact(clock)
        app.bot.session.middleware(self.contact)
        self.heads = migration_heads()
        self._probing = asyncio.Lock()

    # --- /readyz ---------------------------------------------------------------------------

    async def not_ready(self) -> str | None:
        """Why the bot is not ready (one short line), or None."""
        engine: AsyncEngine = self.app.engine
        try:
            versions = await asyncio.wait_for(_versions(engine), DATABASE_TIMEOUT_SECONDS)
        except TimeoutError:
            return f"database: no answer within {DATABASE_TIMEOUT_SECONDS:g} s"
        except _NotMigrated:
            return "database: not migrated (run `trustline db upgrade`)"
        except Exception as exc:  # noqa: BLE001 - any failure is the answer
            return f"database: unreachable ({type(exc).__name__})"
        if versions != self.heads:
            return "database: migrations not current (run `trustline db upgrade`)"
        await self._probe_telegram()
        since = self.contact.seconds_since()
        if since is None:
            return "telegram: not reached since start"
        if since > TELEGRAM_FRESH_SECONDS:
            return f"telegram: not reached for {int(since)} s"
        return None

    async def _probe_telegram(self) -> None:
        since = self.contact.seconds_since()
        if since is not None and since <= PROBE_AFTER_SECONDS:
            return
        async with self._probing:
            since = self.contact.seconds_since()
            if since is not None and since <= PROBE_AFTER_SECONDS:
                return  # another request's probe just answered
            try:
                await self.app.bot(GetMe(), request_timeout=PROBE_TIMEOUT_SECONDS)
            except Exception as exc:  # noqa: BLE001 - the failure is the finding
                log.info("telegram_probe_failed error=%s", type(exc).__name__)

    # --- /metrics --------------------------------------------------------------------------

    async def database_gauges(self) -> list[GaugeMetricFamily]:
        """The gauges that need a query; with the database away, only the gauge saying
        so."""
        up = GaugeMetricFamily(
            "trustline_metrics_database_up",
            "1 when the database answered this scrape's queries in time, else 0",
        )
        try:
            families = await asyncio.wait_for(self._query_gauges(), DATABASE_TIMEOUT_SECONDS)
        except Exception as exc:  # noqa: BLE001 - the counters are still worth serving
            log.info("metrics_database_failed error=%s", type(exc).__name__)
            up.add_metric([], 0)
            return [up]
        up.add_metric([], 1)
        return [*families, up]

    async def _query_gauges(self) -> list[GaugeMetricFamily]:
        now: datetime = self.app.rt.now()
        async with self.app.sessionmaker() as session:
            pending = await session.scalar(
                _capped_count(OutboxMessage.id, OutboxMessage.status.in_(UNSENT))
            )
            oldest_pending = await session.scalar(
                select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status.in_(UNSENT))
            )
            by_priority = (
                await session.execute(
                    select(Case.priority, Case.status, func.count())
                    .where(Case.status.in_(OPEN_STATUSES))
                    .group_by(Case.priority, Case.status)
                )
            ).all()
            oldest_urgent = await session.scalar(
                select(func.min(Case.created_at)).where(
                    Case.status == CaseStatus.OPEN.value, Case.priority == Priority.URGENT.value
                )
            )
            dead = await session.scalar(_capped_count(DeadLetter.id, DeadLetter.status == "open"))

        outbox = GaugeMetricFamily(
            "trustline_outbox_pending", "Outbox rows not sent yet (pending or being sent)"
        )
        outbox.add_metric([], pending or 0)
        outbox_age = GaugeMetricFamily(
            "trustline_outbox_oldest_pending_age_seconds",
            "Age of the oldest outbox row not sent yet (0 when none)",
        )
        outbox_age.add_metric([], _age(now, oldest_pending))
        cases = GaugeMetricFamily(
            "trustline_open_cases",
            "Cases not closed, by priority and status (open: waiting in a pool; claimed: "
            "a psychologist has it)",
            labels=["priority", "status"],
        )
        counts = {(str(p), str(s)): int(n) for p, s, n in by_priority}
        for priority in Priority:
            for status in OPEN_STATUSES:
                cases.add_metric([priority.value, status], counts.get((priority.value, status), 0))
        urgent = GaugeMetricFamily(
            "trustline_oldest_untaken_urgent_case_age_seconds",
            "Age of the oldest urgent case nobody has taken (0 when none)",
        )
        urgent.add_metric([], _age(now, oldest_urgent))
        letters = GaugeMetricFamily(
            "trustline_dead_letters", "Updates set aside as dead letters and not handled yet"
        )
        letters.add_metric([], dead or 0)
        return [outbox, outbox_age, cases, urgent, letters]

    async def exposition(self) -> bytes:
        """The Prometheus text of the registry and the database's gauges."""
        gauges = await self.database_gauges()
        return generate_latest(_Joined(metrics.REGISTRY, gauges))

    # --- the endpoints ---------------------------------------------------------------------

    def add_routes(self, web_app: web.Application) -> None:
        web_app.router.add_get("/healthz", self._healthz)
        web_app.router.add_get("/readyz", self._readyz)
        web_app.router.add_get("/metrics", self._metrics)

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        reason = await self.not_ready()
        if reason is not None:
            return web.Response(status=503, text=reason + "\n")
        return web.Response(text="ready\n")

    async def _metrics(self, request: web.Request) -> web.Response:
        body = await self.exposition()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def serve_beside(
    health: Health, intake: Coroutine[Any, Any, None], host: str, port: int
) -> None:
    """Run `intake` (long polling) with the health endpoints on host:port beside it. A port
    that cannot be bound is logged and the bot goes on taking messages: /readyz not
    answering is what tells the operator."""
    web_app = web.Application()
    health.add_routes(web_app)
    runner = web.AppRunner(web_app, access_log=None, shutdown_timeout=1.0)
    begun = False
    try:
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
            log.info("health_listening port=%s", port)
        except OSError as exc:
            log.error("health_not_listening port=%s error=%s", port, type(exc).__name__)
        begun = True
        await intake
    finally:
        if not begun:
            intake.close()  # stopped before polling began
        await runner.cleanup()


class _NotMigrated(Exception):
    pass


async def _versions(engine: AsyncEngine) -> frozenset[str]:
    async with engine.connect() as conn:
        try:
            rows = (await conn.execute(text("SELECT version_num FROM alembic_version"))).all()
        except Exception as exc:  # connected, but no version table: never migrated
            raise _NotMigrated from exc
    return frozenset(str(row[0]) for row in rows)


def _capped_count(column: Any, condition: Any) -> Any:
    capped = select(column).where(condition).limit(COUNT_CAP).subquery()
    return select(func.count()).select_from(capped)


def _age(now: datetime, then: datetime | None) -> float:
    return 0.0 if then is None else max((now - then).total_seconds(), 0.0)


@dataclass
class _Joined:
    """The registry's metrics followed by the families read at scrape time."""

    registry: Collector
    families: Iterable[GaugeMetricFamily]

    def collect(self) -> Iterator[Any]:
        yield from self.registry.collect()
        yield from self.families
