"""What the storage layer alone costs: the floor under run 1.

TrustLine commits each student message in its own transaction before confirming it (issue
6), through SQLAlchemy's async ORM on asyncpg. This measures, in this process and on the
same PostgreSQL, the CPU one such transaction takes with nothing else around it (no Bot
API, no aiogram, no encryption, no triage):

* `one insert`: BEGIN, one ORM INSERT, COMMIT: the least a durable message can cost;
* `update shape`: the statements of one TrustLine update transaction for a message on an
  existing case (3 primary-key selects, 1 insert-or-ignore, 3 updates, 3 inserts, and the
  audit head locked and moved), on a table of the same kind.

CPU time per transaction, converted to the rate one core could reach doing only that:
an upper bound for any bot built this way, beside the bare relay of run 1.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import BigInteger, LargeBinary, String, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from benchmarks.common import create_database, drop_database, fresh_database_name


class _Base(DeclarativeBase):
    pass


class _Row(_Base):
    __tablename__ = "floor_rows"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    count: Mapped[int] = mapped_column(default=0)


class _Seen(_Base):
    __tablename__ = "floor_seen"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


BODY = bytes(120)  # about a sealed short message


async def _one_insert(session: AsyncSession, i: int) -> None:
    session.add(_Row(key="k", body=BODY))


async def _update_shape(session: AsyncSession, i: int) -> None:
    await session.execute(insert(_Seen).values(id=i).on_conflict_do_nothing())
    for pk in (1, 2, 3):  # member, student, case
        await session.get(_Row, pk)
    await session.execute(update(_Row).where(_Row.id == 2).values(count=_Row.count + 1))
    await session.execute(update(_Row).where(_Row.id == 3).values(count=_Row.count + 1))
    session.add_all([_Row(key="message", body=BODY), _Row(key="outbox", body=BODY)])
    await session.flush()
    head = await session.scalar(select(_Row).where(_Row.id == 4).with_for_update())
    session.add(_Row(key="audit", body=BODY))
    await session.flush()
    assert head is not None
    head.count += 1


async def _cpu_ms_per_transaction(
    sessionmaker: async_sessionmaker[AsyncSession], work: Any, n: int, first: int
) -> float:
    for i in range(first, first + n // 10):  # warm: statements prepared, caches filled
        async with sessionmaker() as session, session.begin():
            await work(session, i)
    started = time.process_time()
    for i in range(first + n // 10, first + n // 10 + n):
        async with sessionmaker() as session, session.begin():
            await work(session, i)
    return (time.process_time() - started) / n * 1000


async def measure(transactions: int) -> dict[str, Any]:
    name = fresh_database_name("floor")
    url = await create_database(name)
    engine = create_async_engine(
        url, pool_pre_ping=False, connect_args={"prepared_statement_cache_size": 1000}
    )
    try:
        async with engine.begin() as conn:
            await conn.run_sync(_Base.metadata.create_all)
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        async with sessionmaker() as session, session.begin():
            session.add_all([_Row(key="seed", body=BODY) for _ in range(4)])  # ids 1-4
        out = {}
        for label, work, first in (
            ("one_insert", _one_insert, 0),
            ("update_shape", _update_shape, 10_000_000),
        ):
            ms = await _cpu_ms_per_transaction(sessionmaker, work, transactions, first)
            out[label] = {"cpu_ms": round(ms, 3), "per_s_one_core": round(1000 / ms, 1)}
        out["transactions"] = transactions
        return out
    finally:
        await engine.dispose()
        await drop_database(name)
