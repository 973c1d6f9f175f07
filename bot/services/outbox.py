"""Durable outgoing messages: written in the change's transaction, sent after commit.

The payload (method parameters, texts included) is sealed under the recipient's key. The
chat id is not in the payload: it is opened from the case or member when sending, and a
`copyMessage` from a student's chat names the case, not the chat.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, Member, OutboxMessage
from bot.services.vault import Vault

# Parameters resolved when sending, so no chat id is ever written in clear or sealed twice.
FROM_STUDENT_OF_CASE = "$from_student_of_case"
FROM_MEMBER = "$from_member"


_last_id = 0


def ordered_id() -> uuid.UUID:
    """A UUID that sorts in creation order: nanoseconds in the high bits, then randomness.

    Rows enqueued in one transaction share `created_at`; the sender orders a chat's rows by
    (created_at, id), so ids must not reorder them.
    """
    global _last_id
    stamp = max(time.time_ns(), _last_id + 1)
    _last_id = stamp
    return uuid.UUID(int=(stamp << 64) | int.from_bytes(os.urandom(8), "big"))


def _seal(
    vault: Vault, row: OutboxMessage, target: Case | Member, payload: dict[str, Any]
) -> bytes:
    data = json.dumps(payload, ensure_ascii=False).encode()
    if isinstance(target, Case):
        return vault.seal_for_case(target, f"outbox/{row.id}", "payload", data)
    return vault.seal_for_member(target, f"outbox/{row.id}", "payload", data)


def open_payload(vault: Vault, row: OutboxMessage, target: Case | Member) -> dict[str, Any]:
    if isinstance(target, Case):
        data = vault.open_for_case(target, f"outbox/{row.id}", "payload", row.payload_enc)
    else:
        data = vault.open_for_member(target, f"outbox/{row.id}", "payload", row.payload_enc)
    result: dict[str, Any] = json.loads(data)
    return result


def enqueue(
    session: AsyncSession,
    vault: Vault,
    target: Case | Member,
    method: str,
    params: dict[str, Any],
    *,
    now: datetime,
    relay_case_id: int | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage:
    """Add one Bot API call for `target` (a case's student, or a member) to the outbox."""
    row = OutboxMessage(
        id=ordered_id(),
        created_at=now,
        not_before=not_before or now,
        status="pending",
        method=method,
        attempts=0,
        relay_case_id=relay_case_id,
    )
    if isinstance(target, Case):
        row.case_id = target.id
    else:
        row.member_id = target.id
    row.payload_enc = _seal(vault, row, target, {"method": method, "params": params})
    session.add(row)
    return row
