"""The audit log's hash chain detects edited, inserted and deleted rows."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from bot.db.models import AuditEntry
from bot.db.session import make_engine, make_sessionmaker
from bot.services.security import audit
from tests.conftest import FakeClock


async def _write(url: str, n: int) -> None:
    engine = make_engine(url)
    clock = FakeClock()
    async with make_sessionmaker(engine)() as session, session.begin():
        for i in range(n):
            await audit.record(
                session,
                actor="system",
                event=f"event_{i}",
                now=clock(),
                case_code=f"CODE{i:04d}",
                detail={"n": i},
            )
    await engine.dispose()


async def _verify(url: str) -> audit.AuditReport:
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session:
        report = await audit.verify(session)
    await engine.dispose()
    return report


async def _mutate(url: str, statement) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as session, session.begin():
        await session.execute(statement)
    await engine.dispose()


async def test_intact_chain_verifies(database_url: str) -> None:
    await _write(database_url, 5)
    report = await _verify(database_url)
    assert report.ok and report.rows == 5


async def test_edited_row_is_detected(database_url: str) -> None:
    await _write(database_url, 5)
    await _mutate(
        database_url, update(AuditEntry).where(AuditEntry.id == 3).values(event="nothing_happened")
    )
    report = await _verify(database_url)
    assert not report.ok and report.row_id == 3


async def test_deleted_middle_row_is_detected(database_url: str) -> None:
    await _write(database_url, 5)
    await _mutate(database_url, delete(AuditEntry).where(AuditEntry.id == 2))
    report = await _verify(database_url)
    assert not report.ok and report.row_id == 3


async def test_deleted_last_row_is_detected(database_url: str) -> None:
    await _write(database_url, 5)
    await _mutate(database_url, delete(AuditEntry).where(AuditEntry.id == 5))
    report = await _verify(database_url)
    assert not report.ok and "deleted" in report.problem


async def test_rows_are_appended_in_order(database_url: str) -> None:
    await _write(database_url, 3)
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as session:
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    await engine.dispose()
    assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
