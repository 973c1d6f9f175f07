"""Engine and session factory for PostgreSQL (asyncpg) and SQLite (aiosqlite)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


# PostgreSQL's pool (TRUSTLINE_DB_POOL_SIZE, TRUSTLINE_DB_POOL_TIMEOUT_SECONDS in
# bot/config.py): a fixed number of connections, none opened beyond it.
DEFAULT_POOL_SIZE = 10
DEFAULT_POOL_TIMEOUT_SECONDS = 30.0


def make_engine(
    url: str,
    *,
    pool_size: int = DEFAULT_POOL_SIZE,
    pool_timeout: float = DEFAULT_POOL_TIMEOUT_SECONDS,
    **kwargs: Any,
) -> AsyncEngine:
    """The engine of `url`. On PostgreSQL a fixed pool of `pool_size` connections: no
    overflow, so no connection is opened for a burst and closed after it, and each keeps
    its prepared statements for its life (asyncpg prepares per connection). An overflowing
    pool (10 + 10) opened 153 backends in 32 s of ingest, 2,942 prepares for 19,616
    executes (issue 17). A caller that finds every connection busy waits up to
    `pool_timeout` seconds for one, then fails (and the update is retried). On SQLite, whose
    writers are serialised anyway, the pool settings are not used."""
    if is_sqlite(url):
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" hook issue BEGIN itself (pysqlite recipe).
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Take the write lock at BEGIN: SQLite then serialises writers instead of
            # failing one of them mid-transaction with "database is locked".
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("max_overflow", 0)
    # No pre-ping: with asyncpg it is three round trips (BEGIN, ";", ROLLBACK) on every
    # checkout, which made up a sixth of an update's statements and half of an outbox
    # send's (benchmarks/BENCHMARKS.md). A connection that died with a restarted server
    # fails its first statement instead; SQLAlchemy then drops the whole pool, and the
    # callers retry transient database errors (bot.app.handle_update, the outbox sender).
    kwargs.setdefault("pool_pre_ping", False)
    kwargs.setdefault("pool_recycle", 3600)
    # Every connection keeps its prepared statements (SQLAlchemy's asyncpg dialect holds
    # them per connection, so they live as long as the pooled connection: an hour, by
    # pool_recycle); the app has a few hundred distinct ones, more than the default 100,
    # and a miss costs a round trip to prepare.
    connect_args = kwargs.setdefault("connect_args", {})
    connect_args.setdefault("prepared_statement_cache_size", 1000)
    return create_async_engine(url, pool_size=pool_size, pool_timeout=pool_timeout, **kwargs)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
