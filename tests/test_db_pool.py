"""The database pool (issue 17): on PostgreSQL a fixed number of connections that live
long, so their prepared statements do too; configurable; SQLite unchanged."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.app import create_core
from bot.config import Settings
from bot.db.models import Case
from bot.db.session import is_sqlite, make_engine

BACKEND_PID = text("SELECT pg_backend_pid()")


def _settings(database_url: str, tmp_path: Path, master_key: str, **extra: object) -> Settings:
    return Settings(
        database_url=database_url,
        master_key=master_key,
        master_key_file=tmp_path / "trustline.key",
        _env_file=None,
        **extra,
    )


def test_pool_settings_default_and_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings(_env_file=None)
    assert (defaults.db_pool_size, defaults.db_pool_timeout_seconds) == (10, 30.0)
    monkeypatch.setenv("TRUSTLINE_DB_POOL_SIZE", "4")
    monkeypatch.setenv("TRUSTLINE_DB_POOL_TIMEOUT_SECONDS", "2.5")
    read = Settings(_env_file=None)
    assert (read.db_pool_size, read.db_pool_timeout_seconds) == (4, 2.5)
    monkeypatch.setenv("TRUSTLINE_DB_POOL_SIZE", "0")
    with pytest.raises(ValueError, match="db_pool_size"):
        Settings(_env_file=None)


async def test_the_core_uses_a_fixed_pool_of_the_configured_size(
    database_url: str, tmp_path: Path, master_key: str
) -> None:
    settings = _settings(
        database_url, tmp_path, master_key, db_pool_size=3, db_pool_timeout_seconds=0.5
    )
    core = await create_core(settings)
    try:
        if is_sqlite(database_url):
            # SQLite keeps its own pool; the settings are not used, and it still works.
            async with core.sessionmaker() as session:
                assert await session.scalar(select(Case.id).limit(1)) is None
            return
        held: list[AsyncConnection] = []
        pids = set()
        try:
            for _ in range(3):
                conn = await core.engine.connect()
                held.append(conn)
                pids.add(await conn.scalar(BACKEND_PID))
            # A fourth waits for one of the three, no overflow connection is opened.
            with pytest.raises(PoolTimeout):
                await core.engine.connect()
        finally:
            for conn in held:
                await conn.close()
        assert len(pids) == 3
        # Many transactions later, still the same three backends.
        for _ in range(20):
            async with core.sessionmaker() as session, session.begin():
                pids.add(await session.scalar(BACKEND_PID))
        assert len(pids) == 3
    finally:
        await core.close()


@pytest.mark.postgres
async def test_prepared_statements_outlive_a_transaction(database_url: str) -> None:
    """What a transaction prepared is still prepared in the next one on the pooled
    connection: the server lists it (pg_prepared_statements)."""
    if is_sqlite(database_url):
        pytest.skip("prepared statements are asyncpg's (PostgreSQL)")
    engine = make_engine(database_url, pool_size=1)
    marker = "SELECT 'issue17-prepared-marker' AS kept"
    try:
        async with engine.connect() as conn:
            await conn.execute(text(marker))
            await conn.commit()
        async with engine.connect() as conn:
            statements = (
                await conn.scalars(text("SELECT statement FROM pg_prepared_statements"))
            ).all()
        assert marker in statements
    finally:
        await engine.dispose()


async def test_concurrent_transactions_share_the_fixed_pool(
    database_url: str, tmp_path: Path, master_key: str
) -> None:
    """Thirty transactions at once on a pool of two: all of them complete (they wait for
    a connection instead of failing or opening more)."""
    settings = _settings(database_url, tmp_path, master_key, db_pool_size=2)
    core = await create_core(settings)
    try:

        async def one() -> int:
            async with core.sessionmaker() as session, session.begin():
                if is_sqlite(database_url):
                    return int(await session.scalar(text("SELECT 1")) or 0)
                await session.execute(text("SELECT pg_sleep(0.01)"))
                return int(await session.scalar(BACKEND_PID) or 0)

        results = await asyncio.gather(*(one() for _ in range(30)))
        assert all(results)
        if not is_sqlite(database_url):
            assert len(set(results)) <= 2
    finally:
        await core.close()
