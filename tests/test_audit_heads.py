"""Audit chain heads are made by migration 0017, not by writers (issue 17): a writer takes
a head in one statement (no count, no savepoint, no insert of a head), existing databases
keep their chains, and a chain without a head is not given one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.db.migrate import alembic_config, downgrade, upgrade
from bot.db.models import AuditEntry, AuditHead
from bot.db.session import is_sqlite, make_engine, make_sessionmaker
from bot.services.security import audit
from bot.services.security.audit_keys import AuditKey, AuditKeyring
from tests.conftest import FakeClock

KEYRING = AuditKeyring(AuditKey(b"h" * 32))


def _before_0017() -> str:
    """The revision 0017 follows (whatever lands between 0015 and it)."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(alembic_config("sqlite://")).get_revision("0017")
    assert revision is not None and isinstance(revision.down_revision, str)
    return revision.down_revision


def _engine(url: str) -> AsyncEngine:
    engine = make_engine(url)
    audit.use_keys(engine, KEYRING)
    return engine


def _statements(engine: AsyncEngine) -> list[str]:
    """Every SQL statement the engine sends from now on."""
    seen: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", note)
    return seen


async def _record(engine: AsyncEngine, name: str, clock: FakeClock) -> None:
    async with make_sessionmaker(engine)() as session, session.begin():
        await audit.record(session, actor="system", event=name, now=clock())


async def _heads(engine: AsyncEngine) -> dict[int, tuple[int, str]]:
    async with make_sessionmaker(engine)() as session:
        found = (await session.scalars(select(AuditHead).order_by(AuditHead.id))).all()
    return {h.id: (h.count, h.last_hash) for h in found}


def _no_head_is_made(statements: list[str]) -> None:
    sql = "\n".join(statements).lower()
    assert "savepoint" not in sql
    assert "count(" not in sql
    assert "insert into audit_head" not in sql
    assert "insert into audit_log" in sql  # the rows were written


async def test_a_migrated_database_has_every_head_empty(database_url: str) -> None:
    engine = _engine(database_url)
    try:
        heads = await _heads(engine)
        assert heads == {i: (0, audit.GENESIS) for i in range(1, audit.STRIPES + 1)}
        async with make_sessionmaker(engine)() as session:
            report = await audit.verify(session, KEYRING)
        assert report.ok and report.rows == 0 and report.stripes == 0
    finally:
        await engine.dispose()


async def test_a_writer_takes_a_head_without_making_one(database_url: str) -> None:
    engine = _engine(database_url)
    clock = FakeClock()
    try:
        seen = _statements(engine)
        for i in range(3):
            await _record(engine, f"event_{i}", clock)
        _no_head_is_made(seen)
        heads = await _heads(engine)
        assert heads[1][0] == 3  # a lone writer extends chain 1
        assert all(count == 0 for stripe, (count, _) in heads.items() if stripe != 1)
        async with make_sessionmaker(engine)() as session:
            report = await audit.verify(session, KEYRING)
        assert report.ok and report.rows == 3 and report.stripes == 1
    finally:
        await engine.dispose()


@pytest.mark.postgres
async def test_writers_go_to_free_heads_and_wait_when_all_are_held(database_url: str) -> None:
    """PostgreSQL: a writer skips a held head; with every head held it waits for one; in
    neither case is a head made or a savepoint used."""
    if is_sqlite(database_url):
        pytest.skip("SQLite serialises writers: only chain 1 is used")
    engine = _engine(database_url)
    holder = make_engine(database_url, pool_size=1)
    clock = FakeClock()
    try:
        seen = _statements(engine)
        async with holder.connect() as conn:
            await conn.execute(text("SELECT id FROM audit_head WHERE id = 1 FOR UPDATE"))
            await _record(engine, "while_head_1_is_held", clock)
            await conn.rollback()
        assert (await _heads(engine))[2][0] == 1
        async with holder.connect() as conn:
            await conn.execute(text("SELECT id FROM audit_head FOR UPDATE"))
            waiting = asyncio.create_task(_record(engine, "while_every_head_is_held", clock))
            await asyncio.sleep(0.3)
            assert not waiting.done()  # it waits for a head instead of making one
            await conn.rollback()
        await asyncio.wait_for(waiting, 10)
        _no_head_is_made(seen)
        heads = await _heads(engine)
        assert sum(count for count, _ in heads.values()) == 2
        assert len(heads) == audit.STRIPES
        async with make_sessionmaker(engine)() as session:
            report = await audit.verify(session, KEYRING)
        assert report.ok and report.rows == 2, report.findings
    finally:
        await holder.dispose()
        await engine.dispose()


async def test_0017_on_an_existing_database_keeps_its_chains(database_url: str) -> None:
    """A database from before 0017: its chain goes on from its head, the missing heads are
    added, and a stripe with rows but no head gets none (verify keeps reporting it)."""
    clock = FakeClock()
    engine = _engine(database_url)
    try:
        for i in range(3):
            await _record(engine, f"before_{i}", clock)
    finally:
        await engine.dispose()
    await asyncio.to_thread(downgrade, database_url, _before_0017())
    engine = _engine(database_url)
    try:
        before = await _heads(engine)
        assert list(before) == [1] and before[1][0] == 3  # as the old release left it
        async with engine.begin() as conn:  # a chain whose head was deleted
            await conn.execute(
                insert(AuditEntry).values(
                    at=clock(),
                    actor="system",
                    event="orphan",
                    detail="{}",
                    prev_hash=audit.GENESIS,
                    hash="f" * 64,
                    stripe=5,
                    key_id=KEYRING.current.key_id,
                )
            )
    finally:
        await engine.dispose()
    await asyncio.to_thread(upgrade, database_url, "heads")
    engine = _engine(database_url)
    try:
        after = await _heads(engine)
        assert after[1] == before[1]
        assert sorted(after) == [i for i in range(1, audit.STRIPES + 1) if i != 5]
        seen = _statements(engine)
        await _record(engine, "after", clock)
        _no_head_is_made(seen)
        assert (await _heads(engine))[1][0] == 4
        async with make_sessionmaker(engine)() as session:
            report = await audit.verify(session, KEYRING)
        assert [f.what for f in report.findings if "stripe 5" not in f.what] == []
        assert any("stripe 5: 1 rows but no head" in f.what for f in report.findings)
    finally:
        await engine.dispose()
