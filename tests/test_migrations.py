"""Migrations: the head schema equals the models, and every revision goes up, down, up,
on SQLite and PostgreSQL (SecureDrop's test_alembic.py is the model)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from bot.db import models  # noqa: F401
from bot.db.base import Base
from bot.db.migrate import alembic_config, downgrade, upgrade
from bot.db.session import make_engine


def _diff(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


async def _run(url: str, fn):  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(fn)
    finally:
        await engine.dispose()


async def test_head_schema_equals_models(database_url: str) -> None:
    # The fixture's database is already migrated to head.
    assert await _run(database_url, _diff) == []


async def test_every_revision_up_down_up(database_url: str) -> None:
    script = ScriptDirectory.from_config(alembic_config(database_url))
    revisions = list(reversed(list(script.walk_revisions())))
    assert revisions, "no migrations found"
    await asyncio.to_thread(downgrade, database_url, "base")
    assert await _run(database_url, _tables) == set()
    for revision in revisions:
        await asyncio.to_thread(upgrade, database_url, revision.revision)
        after_up = await _run(database_url, _tables)
        down_to = revision.down_revision or "base"
        if isinstance(down_to, tuple):
            pytest.skip("merge revisions are checked by the full up/down cycle")
        await asyncio.to_thread(downgrade, database_url, down_to)
        await asyncio.to_thread(upgrade, database_url, revision.revision)
        assert await _run(database_url, _tables) == after_up
    assert await _run(database_url, _diff) == []
    assert await _run(database_url, _tables) == set(Base.metadata.tables)


def test_single_head() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    assert len(script.get_heads()) == 1, f"several heads: {script.get_heads()}"


def test_revisions_import_no_app_code() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite+aiosqlite://"))
    for revision in script.walk_revisions():
        source = Path(revision.path).read_text()
        assert "import bot" not in source and "from bot" not in source, revision.path
