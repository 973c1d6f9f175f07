"""The audit log's keyed hash chain detects edited, inserted and deleted rows."""

from __future__ import annotations

import asyncio
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    delete,
    insert,
    select,
    update,
)

from bot.config import Settings
from bot.db.base import UTCDateTime
from bot.db.migrate import downgrade, upgrade
from bot.db.models import AuditEntry, AuditHead
from bot.db.session import make_engine, make_sessionmaker
from bot.services.errors import ConfigError
from bot.services.security import audit, audit_keys
from bot.services.security.audit_keys import AuditKey, AuditKeyring
from tests.conftest import FakeClock

KEYRING = AuditKeyring(AuditKey(b"k" * 32))


async def _write(url: str, n: int) -> None:
    engine = make_engine(url)
    audit.use_keys(engine, KEYRING)
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
        report = await audit.verify(session, KEYRING)
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


async def test_a_new_audit_key_keeps_old_rows_verifiable(database_url: str) -> None:
    """Rows name the key that chained them: after a new key, both verify while the old key
    stays in the keyring, and a row whose key is gone is reported, not passed."""
    await _write(database_url, 2)
    newer = AuditKeyring(AuditKey(b"n" * 32), (KEYRING.current,))
    engine = make_engine(database_url)
    audit.use_keys(engine, newer)
    async with make_sessionmaker(engine)() as session, session.begin():
        await audit.record(session, actor="system", event="after", now=FakeClock()())
    async with make_sessionmaker(engine)() as session:
        rows = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        assert [r.key_id for r in rows] == [KEYRING.current.key_id] * 2 + [newer.current.key_id]
        assert (await audit.verify(session, newer)).ok
        without_old = await audit.verify(session, AuditKeyring(newer.current))
    await engine.dispose()
    assert [f.row_id for f in without_old.findings] == [rows[0].id, rows[1].id]
    assert f"audit key {KEYRING.current.key_id}, which is not loaded" in without_old.problem


def test_audit_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    audit_keys.write_key_file(path, [AuditKey(b"k" * 32)])
    assert audit_keys.read_key_file(path).current.key_id == KEYRING.current.key_id
    path.chmod(0o640)
    with pytest.raises(ConfigError, match="chmod 600"):
        audit_keys.read_key_file(path)


def _legacy_hash(prev: str, at: datetime, event: str) -> str:
    """How rows were hashed before 0012: plain SHA-256, no key."""
    material = json.dumps([prev, at.isoformat(), "system", event, "", "{}"], ensure_ascii=False)
    return hashlib.sha256(material.encode()).hexdigest()


async def test_rows_from_before_keyed_chaining_verify_after_0012(database_url: str) -> None:
    """A log written by the old release (two stripes, unkeyed): 0012 gives every row its
    stripe, and the log verifies, pinned by the keyed rows that follow; a row forged the
    old way afterwards is reported."""
    await asyncio.to_thread(downgrade, database_url, "0011")
    at = FakeClock()()
    rows, heads = [], []
    for stripe, events in ((1, ["a", "b", "c"]), (2, ["d", "e"])):
        prev = audit.GENESIS
        for event in events:
            row_hash = _legacy_hash(prev, at, event)
            rows.append(
                {
                    "at": at,
                    "actor": "system",
                    "event": event,
                    "detail": "{}",
                    "prev_hash": prev,
                    "hash": row_hash,
                }
            )
            prev = row_hash
        heads.append({"id": stripe, "last_hash": prev, "count": len(events)})
    engine = make_engine(database_url)
    async with engine.begin() as conn:
        old_log = Table("audit_log", MetaData(), *_old_columns())
        old_head = Table("audit_head", MetaData(), *_old_head_columns())
        for values in rows[0:2] + rows[3:4] + rows[2:3] + rows[4:5]:  # stripes interleaved
            await conn.execute(insert(old_log).values(**values))
        for head in heads:
            last = await conn.scalar(
                select(old_log.c.id).where(old_log.c.hash == head["last_hash"])
            )
            await conn.execute(insert(old_head).values(last_id=last, **head))
    await engine.dispose()
    await asyncio.to_thread(upgrade, database_url, "heads")
    await _write(database_url, 1)  # the new release goes on, keyed
    engine = make_engine(database_url)
    async with make_sessionmaker(engine)() as session:
        stored = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        assert [r.stripe for r in stored] == [1, 1, 2, 1, 2, 1]
        report = await audit.verify(session, KEYRING)
        assert report.ok and report.rows == 6 and report.legacy_rows == 5, report.findings
    await engine.dispose()
    forged_hash = _legacy_hash(audit.GENESIS, at, "f")
    await _mutate(
        database_url,
        insert(AuditEntry).values(
            id=1000,
            at=at,
            actor="system",
            event="f",
            detail="{}",
            prev_hash=audit.GENESIS,
            hash=forged_hash,
            stripe=3,
        ),
    )
    await _mutate(
        database_url,
        update(AuditHead)
        .where(AuditHead.id == 3)  # made empty by 0017
        .values(last_id=1000, last_hash=forged_hash, count=1),
    )
    report = await _verify(database_url)
    assert [f.row_id for f in report.findings] == [1000]
    assert "unkeyed row after keyed row" in report.problem


def _old_columns() -> list[Column[Any]]:
    return [
        Column("id", Integer, primary_key=True),
        Column("at", UTCDateTime()),
        Column("actor", String(40)),
        Column("event", String(40)),
        Column("case_code", String(10), nullable=True),
        Column("detail", Text),
        Column("prev_hash", String(64)),
        Column("hash", String(64)),
    ]


def _old_head_columns() -> list[Column[Any]]:
    return [
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("last_id", Integer),
        Column("last_hash", String(64)),
        Column("count", Integer),
    ]


def test_processes_starting_together_share_one_audit_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first start makes the key file; several starting at once must not each make
    (and chain with) a key of their own."""
    monkeypatch.chdir(tmp_path)
    settings = Settings(master_key="x" * 43 + "=", _env_file=None)
    with ThreadPoolExecutor(8) as pool:
        rings = list(pool.map(lambda _: audit_keys.load(settings), range(8)))
    assert len({ring.current.key_id for ring in rings}) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["trustline-audit.key"]
