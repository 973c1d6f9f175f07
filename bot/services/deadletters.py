"""Updates set aside after failing on every try, so the updates behind them go on.

A dead letter says which update failed, where in our code, with which exception class,
when and after how many tries: nothing of what it said or who sent it. Telegram cannot
send an update again once it was confirmed, so the update itself is kept too, for an
operator to have it handled again (`trustline deadletters retry`), but only sealed: under
a data key of its own, wrapped by the master key (rewrapped by `keys rotate` like every
other data key). Once the update was handled, the key and the sealed copy are erased.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import DeadLetter, ProcessedUpdate
from bot.services.security.vault import Vault

OPEN = "open"
HANDLED = "handled"
EXPIRED = "expired"  # never handled; its sealed copy was erased by retention
# How long an operator has to retry a dead letter before its sealed copy is erased: the
# message in it is a child's words, kept outside any case (so outside /forget and shredding).
SEALED_COPY_DAYS = 14


@dataclass(frozen=True, slots=True)
class Failure:
    """How an update failed: our code's places (never values) and the exception class."""

    place: str
    error: str
    attempts: int


class DeadLetterGone(LookupError):
    """No such dead letter, or its sealed copy was already erased."""


async def record(
    session: AsyncSession,
    vault: Vault,
    update_id: int,
    raw: dict[str, Any],
    failure: Failure,
    *,
    now: datetime,
) -> DeadLetter:
    """Set an update aside (again: a repeat replaces what the last one recorded)."""
    data = json.dumps(raw, ensure_ascii=False, separators=(",", ":")).encode()
    wrapped, kek_id, sealed = vault.seal_dead_letter(update_id, data, now=now)
    letter = await session.scalar(select(DeadLetter).where(DeadLetter.update_id == update_id))
    if letter is None:
        letter = DeadLetter(update_id=update_id)
        session.add(letter)
    letter.at = now
    letter.place = failure.place[:200]
    letter.error = failure.error[:100]
    letter.attempts = failure.attempts
    letter.status = OPEN
    letter.handled_at = None
    letter.wrapped_key, letter.kek_id, letter.update_enc = wrapped, kek_id, sealed
    await session.flush()
    return letter


async def listing(session: AsyncSession, *, include_handled: bool = False) -> list[DeadLetter]:
    query = select(DeadLetter).order_by(DeadLetter.id)
    if not include_handled:
        query = query.where(DeadLetter.status == OPEN)
    return list((await session.scalars(query)).all())


async def sealed_update(session: AsyncSession, vault: Vault, letter_id: int) -> dict[str, Any]:
    """The update a dead letter set aside, opened."""
    letter = await session.get(DeadLetter, letter_id)
    if (
        letter is None
        or letter.update_enc is None
        or letter.wrapped_key is None
        or letter.kek_id is None
    ):
        raise DeadLetterGone(letter_id)
    data = vault.open_dead_letter(
        letter.update_id, letter.wrapped_key, letter.kek_id, letter.update_enc
    )
    raw = json.loads(data)
    if not isinstance(raw, dict):
        raise DeadLetterGone(letter_id)
    return raw


async def already_handled(session: AsyncSession, update_id: int) -> bool:
    """Handled since it was set aside (delivered again to a bot that managed it)."""
    return await session.get(ProcessedUpdate, update_id) is not None


async def mark_handled(session: AsyncSession, letter_id: int, *, now: datetime) -> None:
    """Handled at last: the sealed copy and its key are erased, the record stays."""
    letter = await session.get(DeadLetter, letter_id)
    if letter is None:
        raise DeadLetterGone(letter_id)
    letter.status = HANDLED
    letter.handled_at = now
    letter.wrapped_key = letter.kek_id = letter.update_enc = None


async def count_failed_retry(
    session: AsyncSession, letter_id: int, failure: Failure, *, now: datetime
) -> None:
    letter = await session.get(DeadLetter, letter_id)
    if letter is None:
        raise DeadLetterGone(letter_id)
    letter.at = now
    letter.place = failure.place[:200]
    letter.error = failure.error[:100]
    letter.attempts += failure.attempts


async def erase_old_copies(session: AsyncSession, now: datetime) -> int:
    """Erase the sealed copy of every dead letter left open for `SEALED_COPY_DAYS`; the
    row (where and how it failed) stays, marked expired. Called by retention."""
    cutoff = now - timedelta(days=SEALED_COPY_DAYS)
    result = await session.execute(
        update(DeadLetter)
        .where(DeadLetter.status == OPEN, DeadLetter.at < cutoff)
        .values(status=EXPIRED, wrapped_key=None, kek_id=None, update_enc=None)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
