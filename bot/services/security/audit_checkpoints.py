"""Checkpoints of the audit log, kept outside the database.

The database alone cannot show that its newest audit rows were deleted and the head set
back, that a whole stripe was dropped, or that everything was emptied: what remains is
consistent. So at a fixed interval (`audit_checkpoint_minutes`) every instance appends a
line to a checkpoint file (append-only, beside the key file unless
`TRUSTLINE_AUDIT_CHECKPOINT_FILE` says where) with each stripe's length and last hash and an
HMAC of the line under the audit key, and every `audit_digest_hours` the supervisors get the
line's short digest through the outbox, once whatever the number of instances. `trustline
audit verify` checks the log against every line; `trustline audit checkpoints` lists the
digests to compare with what the supervisors received.

A line reads: `<time> entries=<n> stripes=<id>:<rows>:<last hash>,... key=<key id>
digest=<HMAC of the line up to here>`. Rows written after the newest checkpoint are covered
by none yet: the interval is how much can go unnoticed.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.config import Settings
from bot.db.models import AuditDigestSent, AuditHead, Member
from bot.delivery import notices
from bot.delivery.notices import Notice, Text
from bot.domain import Role
from bot.services.runtime import Runtime
from bot.services.security import audit, audit_keys
from bot.services.security.audit_keys import AuditKeyring

log = logging.getLogger(__name__)

DEFAULT_NAME = "trustline-audit.checkpoints"
CHECK_SECONDS = 60.0


@dataclass(frozen=True, slots=True)
class StripeMark:
    stripe: int
    count: int
    last_hash: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    at: datetime
    stripes: tuple[StripeMark, ...]
    key_id: str
    digest: str

    @property
    def entries(self) -> int:
        return sum(mark.count for mark in self.stripes)

    @property
    def label(self) -> str:
        return self.at.strftime("%Y-%m-%d %H:%M:%S UTC")

    @property
    def short_digest(self) -> str:
        """What the supervisors get: 64 bits of the line's HMAC, in four groups."""
        head = self.digest[:16].upper()
        return "-".join(head[i : i + 4] for i in range(0, 16, 4))

    def body(self) -> str:
        stripes = ",".join(f"{m.stripe}:{m.count}:{m.last_hash}" for m in self.stripes) or "-"
        return f"{self.at.isoformat()} entries={self.entries} stripes={stripes} key={self.key_id}"

    def line(self) -> str:
        return f"{self.body()} digest={self.digest}"


def checkpoint_path(settings: Settings) -> Path:
    return settings.audit_checkpoint_file or settings.key_file.with_name(DEFAULT_NAME)


async def take(session: AsyncSession, keyring: AuditKeyring, now: datetime) -> Checkpoint:
    """The heads as committed now, signed with the current audit key."""
    heads = (await session.scalars(select(AuditHead).order_by(AuditHead.id))).all()
    marks = tuple(StripeMark(h.id, h.count, h.last_hash) for h in heads)
    key = keyring.current
    unsigned = Checkpoint(now, marks, key.key_id, "")
    return Checkpoint(now, marks, key.key_id, key.mac(unsigned.body().encode()))


def append(path: Path, checkpoint: Checkpoint) -> None:
    """Append one line (O_APPEND: never rewrites what is there) and make it durable."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (checkpoint.line() + "\n").encode())
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class CheckpointFile:
    checkpoints: tuple[Checkpoint, ...]
    problems: tuple[str, ...]  # lines that do not parse or whose digest does not match
    exists: bool


def _parse(text: str) -> Checkpoint:
    at_text, entries, stripes, key, digest = text.split(" ")
    if not (
        entries.startswith("entries=")
        and stripes.startswith("stripes=")
        and key.startswith("key=")
        and digest.startswith("digest=")
    ):
        raise ValueError("fields")
    marks: list[StripeMark] = []
    listed = stripes.removeprefix("stripes=")
    for item in [] if listed == "-" else listed.split(","):
        stripe, count, last_hash = item.split(":")
        marks.append(StripeMark(int(stripe), int(count), last_hash))
    found = Checkpoint(
        datetime.fromisoformat(at_text),
        tuple(marks),
        key.removeprefix("key="),
        digest.removeprefix("digest="),
    )
    if found.entries != int(entries.removeprefix("entries=")):
        raise ValueError("entries")
    return found


def read(path: Path, keyring: AuditKeyring) -> CheckpointFile:
    """Every checkpoint of the file whose digest checks under a loaded audit key; the
    others are reported (a line edited or written without the key)."""
    if not path.exists():
        return CheckpointFile((), (), False)
    found: list[Checkpoint] = []
    problems: list[str] = []
    for number, text in enumerate(path.read_text().splitlines(), start=1):
        if not text.strip():
            continue
        where = f"checkpoint file {path}, line {number}"
        try:
            checkpoint = _parse(text.strip())
        except ValueError:
            problems.append(f"{where}: not a checkpoint line")
            continue
        key = keyring.get(checkpoint.key_id)
        if key is None:
            problems.append(f"{where}: signed with audit key {checkpoint.key_id}, not loaded")
        elif key.mac(checkpoint.body().encode()) != checkpoint.digest:
            problems.append(f"{where}: its digest does not match (edited or forged)")
        else:
            found.append(checkpoint)
    return CheckpointFile(tuple(found), tuple(problems), True)


async def _supervisors(session: AsyncSession) -> list[Member]:
    rows = await session.scalars(
        select(Member).where(Member.active.is_(True), Member.role == Role.SUPERVISOR)
    )
    return list(rows)


async def send_digest(session: AsyncSession, rt: Runtime, checkpoint: Checkpoint) -> int:
    """Give every active supervisor the checkpoint's short digest, once per
    `audit_digest_hours` period (the first instance to commit the period's row sends it).
    Returns the messages queued."""
    period = int(checkpoint.at.timestamp() // (rt.settings.audit_digest_hours * 3600))
    if await session.get(AuditDigestSent, period) is not None:
        return 0
    members = await _supervisors(session)
    if not members:
        return 0  # nobody to tell yet: the first supervisor gets the next period's
    try:
        async with session.begin_nested():
            session.add(AuditDigestSent(period=period, sent_at=rt.now(), digest=checkpoint.digest))
    except IntegrityError:  # another instance got there first
        return 0
    for member in members:
        notices.send(
            session,
            rt,
            Notice(
                member,
                Text(
                    "🔏 Audit log checkpoint, {time}: {entries} entries, digest {digest}. "
                    "Keep this message: the command trustline audit checkpoints must show "
                    "the same digest for this time.",
                    time=checkpoint.label,
                    entries=checkpoint.entries,
                    digest=checkpoint.short_digest,
                ),
            ),
            now=rt.now(),
        )
    await audit.record(
        session,
        actor="system",
        event="audit_digest_sent",
        now=rt.now(),
        detail={"period": period, "recipients": len(members)},
    )
    return len(members)


def _slot(at: datetime, settings: Settings) -> int:
    return int(at.timestamp() // (settings.audit_checkpoint_minutes * 60))


async def checkpoint_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    rt: Runtime,
    keyring: AuditKeyring,
    last_slot: int | None,
) -> tuple[int, int]:
    """The periodic step: when a new interval has begun since `last_slot` (None: at
    start), append a checkpoint to the file and, when its period is due, send the digest
    (never at start: a restart sends nothing, the next interval does). Returns the slot now
    covered and the messages queued."""
    now = rt.now()
    slot = _slot(now, rt.settings)
    if slot == last_slot:
        return slot, 0
    async with sessionmaker() as session:
        checkpoint = await take(session, keyring, now)
    append(checkpoint_path(rt.settings), checkpoint)
    log.info("audit_checkpoint entries=%d stripes=%d", checkpoint.entries, len(checkpoint.stripes))
    if last_slot is None:
        return slot, 0
    async with sessionmaker() as session, session.begin():
        queued = await send_digest(session, rt, checkpoint)
    return slot, queued


async def run_forever(
    sessionmaker: async_sessionmaker[AsyncSession],
    rt: Runtime,
    on_queued: Callable[[], None],
    *,
    every: float = CHECK_SECONDS,
) -> None:
    """The worker inside `trustline run`: a checkpoint at start, then one per interval.
    Every instance runs it (each keeps its own file); the digest goes out once."""
    keyring = audit_keys.load(rt.settings)
    last_slot: int | None = None
    while True:
        try:
            last_slot, queued = await checkpoint_due(sessionmaker, rt, keyring, last_slot)
            if queued:
                on_queued()  # committed: wake the outbox sender
        except asyncio.CancelledError:
            raise
        except Exception:  # a full disk or a database hiccup: try again at the next look
            log.exception("audit_checkpoint_failed")
        await asyncio.sleep(every)
