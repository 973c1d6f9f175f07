"""`trustline audit verify` against someone who can write to the database but holds neither
the audit key nor the checkpoint file: every tampering of issue 15, point 1, makes it exit
non-zero with one line per finding that says what and where; an untouched log verifies.
On SQLite and PostgreSQL (the `database_url` fixture)."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
from pathlib import Path

import pytest
from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import opened_core
from bot.cli import main
from bot.config import Settings
from bot.db.models import AuditEntry, AuditHead
from bot.services.security import audit, audit_checkpoints, audit_keys
from tests.conftest import FakeClock


@pytest.fixture
def settings(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The CLI's environment: this database, a master key; key and checkpoint files in the
    working directory (their defaults, beside the master key file)."""
    for name in [k for k in os.environ if k.startswith("TRUSTLINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY", base64.urlsafe_b64encode(os.urandom(32)).decode())
    return Settings(_env_file=None)


async def _write(settings: Settings, clock: FakeClock, count: int) -> None:
    """`count` rows, one transaction each, through the app's own assembly."""
    async with opened_core(settings, clock=clock) as core:
        for i in range(count):
            async with core.sessionmaker() as session, session.begin():
                await audit.record(
                    session,
                    actor="system",
                    event=f"event_{i}",
                    now=clock(),
                    case_code=f"C{i:04d}",
                    detail={"n": i},
                )
            clock.advance(seconds=1)


async def _second_stripe(settings: Settings, clock: FakeClock, count: int) -> None:
    """Stripe 2, as PostgreSQL starts it when writers commit together (SQLite never
    does): rows chained with the audit key, as the bot writes them."""
    keyring = audit_keys.load(settings)
    async with opened_core(settings, clock=clock) as core:
        async with core.sessionmaker() as session, session.begin():
            prev = audit.GENESIS
            for i in range(count):
                at, detail = clock(), json.dumps({"n": i})
                row_hash = audit._chain_hash(
                    keyring.current, 2, prev, at, "system", f"other_{i}", None, detail
                )
                session.add(
                    AuditEntry(
                        at=at,
                        actor="system",
                        event=f"other_{i}",
                        case_code=None,
                        detail=detail,
                        prev_hash=prev,
                        hash=row_hash,
                        stripe=2,
                        key_id=keyring.current.key_id,
                    )
                )
                await session.flush()
                prev = row_hash
                clock.advance(seconds=1)
            last = await session.scalar(select(AuditEntry.id).where(AuditEntry.hash == prev))
            await session.execute(  # the head exists, empty, from the migration on
                update(AuditHead)
                .where(AuditHead.id == 2)
                .values(last_id=last, last_hash=prev, count=count)
            )


async def _checkpoint(settings: Settings, clock: FakeClock) -> audit_checkpoints.Checkpoint:
    """What the running bot's worker does at each interval."""
    keyring = audit_keys.load(settings)
    async with opened_core(settings, clock=clock) as core:
        await audit_checkpoints.checkpoint_due(core.sessionmaker, core.rt, keyring, None)
    found = audit_checkpoints.read(audit_checkpoints.checkpoint_path(settings), keyring)
    assert not found.problems
    return found.checkpoints[-1]


async def _tamper(settings: Settings, *statements: object) -> None:
    """The attacker: plain SQL on the database, no key."""
    async with opened_core(settings) as core:
        async with core.sessionmaker() as session, session.begin():
            for statement in statements:
                await session.execute(statement)  # type: ignore[call-overload]


async def _rows(session: AsyncSession) -> list[AuditEntry]:
    return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


async def _verify(capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    capsys.readouterr()
    code = await asyncio.to_thread(main, ["audit", "verify"])
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err + captured.out
    return code, captured.out.strip().splitlines()


def _tampered(code: int, lines: list[str]) -> list[str]:
    assert code == 1, lines
    assert lines and all(line.startswith("AUDIT LOG TAMPERED: ") for line in lines), lines
    return lines


async def test_untouched_log_verifies(
    settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await _write(settings, clock, 5)
    await _second_stripe(settings, clock, 3)
    checkpoint = await _checkpoint(settings, clock)
    await _write(settings, clock, 2)  # rows after the checkpoint are fine too
    code, lines = await _verify(capsys)
    assert code == 0, lines
    assert lines[0] == "Audit log intact: 10 rows in 2 stripes."
    assert checkpoint.short_digest in lines[-1] and checkpoint.entries == 8


async def test_empty_log_while_checkpoints_exist_fails(
    settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await _write(settings, clock, 4)
    checkpoint = await _checkpoint(settings, clock)
    await _tamper(settings, delete(AuditEntry), delete(AuditHead))
    code, lines = await _verify(capsys)
    (line,) = _tampered(code, lines)
    assert "audit log is empty" in line and checkpoint.label in line and "4 rows" in line


async def test_newest_rows_deleted_and_head_fixed_fails(
    settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await _write(settings, clock, 5)
    await _checkpoint(settings, clock)
    async with opened_core(settings) as core, core.sessionmaker() as session:
        third = (await _rows(session))[2]
    await _tamper(
        settings,
        delete(AuditEntry).where(AuditEntry.id > third.id),
        update(AuditHead)
        .where(AuditHead.id == 1)
        .values(last_id=third.id, last_hash=third.hash, count=3),
    )
    code, lines = await _verify(capsys)
    (line,) = _tampered(code, lines)
    assert "stripe 1: 3 rows" in line and "recorded 5" in line and "deleted" in line


async def test_edited_row_hashed_again_fails(
    settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """The old attack: edit a row, compute its hash and every later one again (unkeyed, as
    the chain used to be), fix the head. Without the key no hash can be right."""
    await _write(settings, clock, 5)
    async with opened_core(settings) as core, core.sessionmaker() as session:
        rows = await _rows(session)
    statements: list[object] = []
    prev = rows[1].hash
    for row in rows[2:]:
        event = "nothing_happened" if row.id == rows[2].id else row.event
        material = [
            row.stripe,
            prev,
            row.at.isoformat(),
            row.actor,
            event,
            row.case_code,
            row.detail,
        ]
        new_hash = hashlib.sha256(json.dumps(material).encode()).hexdigest()
        statements.append(
            update(AuditEntry)
            .where(AuditEntry.id == row.id)
            .values(event=event, prev_hash=prev, hash=new_hash)
        )
        prev = new_hash
    statements.append(update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev))
    await _tamper(settings, *statements)
    code, lines = await _verify(capsys)
    _tampered(code, lines)
    assert len(lines) == 3  # every rewritten row, each named
    assert f"row {rows[2].id} (stripe 1): content does not match its keyed hash" in lines[0]
    assert f"row {rows[4].id} " in lines[2]


async def test_edited_row_passed_off_as_unkeyed_fails(
    settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same edit, the row made to look like one from before keyed chaining."""
    await _write(settings, clock, 3)
    await _checkpoint(settings, clock)
    async with opened_core(settings) as core, core.sessionmaker() as session:
        rows = await _rows(session)
    last = rows[-1]
    material = [last.prev_hash, last.at.isoformat(), last.actor, "nothing", last.case_code, ""]
    forged = hashlib.sha256(json.dumps(material, ensure_ascii=False).encode()).hexdigest()
    await _tamper(
        settings,
        update(AuditEntry)
        .where(AuditEntry.id == last.id)
        .values(event="nothing", detail="", key_id=None, hash=forged),
        update(AuditHead).where(AuditHead.id == 1).values(last_hash=forged),
    )
    code, lines = await _verify(capsys)
    _tampered(code, lines)
    assert any(f"row {last.id} (stripe 1): unkeyed row after keyed row" in ln for ln in lines)


async def test_forged_stripe_fails(
    settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty head filled and rows chained under a key of the attacker's own."""
    await _write(settings, clock, 3)
    await _checkpoint(settings, clock)
    own = audit_keys.AuditKey(os.urandom(32))
    at = clock()
    first = audit._chain_hash(own, 2, audit.GENESIS, at, "system", "case_closed", "C9", "{}")
    second = audit._chain_hash(own, 2, first, at, "system", "case_closed", "C8", "{}")
    key_id = audit_keys.load(settings).current.key_id  # the real key's id, in plain sight
    common = {"at": at, "actor": "system", "event": "case_closed", "detail": "{}", "stripe": 2}
    await _tamper(
        settings,
        insert(AuditEntry).values(
            id=100, case_code="C9", prev_hash=audit.GENESIS, hash=first, key_id=key_id, **common
        ),
        insert(AuditEntry).values(
            id=101, case_code="C8", prev_hash=first, hash=second, key_id=key_id, **common
        ),
        update(AuditHead).where(AuditHead.id == 2).values(last_id=101, last_hash=second, count=2),
    )
    code, lines = await _verify(capsys)
    _tampered(code, lines)
    assert lines == [
        "AUDIT LOG TAMPERED: row 100 (stripe 2): content does not match its keyed hash "
        "(edited, or written without the audit key)",
        "AUDIT LOG TAMPERED: row 101 (stripe 2): content does not match its keyed hash "
        "(edited, or written without the audit key)",
    ]


async def test_dropped_stripe_fails(
    settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await _write(settings, clock, 3)
    await _second_stripe(settings, clock, 2)
    checkpoint = await _checkpoint(settings, clock)
    await _tamper(
        settings,
        delete(AuditEntry).where(AuditEntry.stripe == 2),
        delete(AuditHead).where(AuditHead.id == 2),
    )
    code, lines = await _verify(capsys)
    (line,) = _tampered(code, lines)
    assert line == (
        f"AUDIT LOG TAMPERED: stripe 2: missing, the checkpoint of {checkpoint.label} "
        "recorded 2 rows in it (stripe dropped)"
    )


async def test_edited_checkpoint_line_fails(
    settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whoever lowers a count in the checkpoint file (to hide deleted rows) has no key."""
    await _write(settings, clock, 3)
    await _checkpoint(settings, clock)
    path = audit_checkpoints.checkpoint_path(settings)
    path.write_text(path.read_text().replace("entries=3 stripes=1:3:", "entries=2 stripes=1:2:"))
    code, lines = await _verify(capsys)
    (line,) = _tampered(code, lines)
    assert f"checkpoint file {path}, line 1: its digest does not match" in line


async def test_checkpoints_listed_and_a_new_key_keeps_old_rows_verifiable(
    settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await _write(settings, clock, 2)
    checkpoint = await _checkpoint(settings, clock)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", "checkpoints"]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{checkpoint.label}  2 entries  digest {checkpoint.short_digest}"
    )
    old_id = checkpoint.key_id
    assert await asyncio.to_thread(main, ["audit", "new-key"]) == 0
    await _write(settings, clock, 2)
    async with opened_core(settings) as core, core.sessionmaker() as session:
        key_ids = [row.key_id for row in await _rows(session)]
    assert key_ids[:2] == [old_id] * 2 and key_ids[2] == key_ids[3] != old_id
    code, lines = await _verify(capsys)
    assert code == 0 and lines[0] == "Audit log intact: 4 rows in 1 stripe.", lines


async def test_audit_key_file_readable_by_others_is_one_sentence(
    settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    await _write(settings, clock, 1)
    audit_keys.key_file_path(settings).chmod(0o644)
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 2
    err = capsys.readouterr().err
    assert "can be read by group or others" in err and "chmod 600" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


async def test_a_missing_audit_key_file_is_not_silently_replaced(
    settings: Settings, clock: FakeClock, capsys: pytest.CaptureFixture[str]
) -> None:
    """An instance started where the key file is not (another directory, the master key
    in the environment) would chain with a key of its own: it refuses to start instead."""
    await _write(settings, clock, 1)
    path = audit_keys.key_file_path(settings)
    kept = path.read_bytes()
    path.unlink()
    capsys.readouterr()
    assert await asyncio.to_thread(main, ["audit", "verify"]) == 2
    err = capsys.readouterr().err
    assert "did not exist, but the audit log holds rows chained with audit key" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not path.exists()
    path.write_bytes(kept)
    path.chmod(0o600)
    code, lines = await _verify(capsys)
    assert code == 0, lines
