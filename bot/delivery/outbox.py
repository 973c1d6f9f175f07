"""Durable outgoing messages: written in the change's transaction, sent after commit.

The payload (method parameters, texts included) is sealed under the recipient's key. The
chat id is not in the payload: it is opened from the case or member when sending, and a
`copyMessage` from a student's chat names the case, not the chat.

A reply to someone who is neither a member nor the student of a linked case (a new
student's /start, /help before the first message, the confirmation of /forget, a
deactivated member) goes to a `Chat`: that row gets a data key of its own, wrapped by the
master key like any other, and its payload carries the chat id sealed under it. The row is
queued by `chat_key`, a keyed hash of the chat (never the id), which the sender erases once
the row is final, so nothing outlives the send.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.crypto import (
    DataKey,
    DecryptionError,
    MasterKeyring,
    new_data_key,
    open_field,
    seal_field,
)
from bot.db.models import Case, Member, OutboxMessage
from bot.services.security.vault import Vault

# Parameters resolved when sending, so no chat id is ever written in clear or sealed twice.
FROM_STUDENT_OF_CASE = "$from_student_of_case"
FROM_MEMBER = "$from_member"
# A file uploaded with the call: {FILE: name, "data": base64}, made an upload again when sent.
FILE = "$file"


_last_id = 0


@dataclass(frozen=True, slots=True)
class Chat:
    """A private chat the bot answers without a case or an account behind it."""

    chat_id: int


Target = Case | Member | Chat

_DIRECT = b"\x02"  # leading byte of a payload that carries its own wrapped data key
_KEK_ID_BYTES = 16
_WRAPPED_BYTES = 1 + 12 + 32 + 16  # format byte, nonce, key, tag (bot.crypto.envelope)


def chat_key(vault: Vault, chat_id: int) -> bytes:
    """The queue of one chat's direct rows: an HMAC under the pseudonym key, in a domain of
    its own, so it matches no stored pseudonym."""
    return hmac.new(
        vault.pseudonyms.student, b"outbox-chat|" + str(chat_id).encode(), hashlib.sha256
    ).digest()


def ordered_id() -> uuid.UUID:
    """A UUID that sorts in creation order: nanoseconds in the high bits, then randomness.

    Rows enqueued in one transaction share `created_at`; the sender orders a chat's rows by
    (created_at, id), so ids must not reorder them.
    """
    global _last_id
    stamp = max(time.time_ns(), _last_id + 1)
    _last_id = stamp
    return uuid.UUID(int=(stamp << 64) | int.from_bytes(os.urandom(8), "big"))


def seal_payload(
    vault: Vault, row_id: uuid.UUID, target: Target, payload: dict[str, Any]
) -> bytes:
    """The sealed payload of outbox row `row_id` for `target` (`enqueue`, and the student
    message's lean path, bot.services.casework.lean, which inserts its rows itself)."""
    data = json.dumps(payload, ensure_ascii=False).encode()
    if isinstance(target, Case):
        return vault.seal_for_case(target, f"outbox/{row_id}", "payload", data)
    if isinstance(target, Member):
        return vault.seal_for_member(target, f"outbox/{row_id}", "payload", data)
    key = new_data_key()
    wrapped, kek_id = vault.keyring.wrap(key.secret, f"outbox/{row_id}")
    assert len(wrapped) == _WRAPPED_BYTES and len(kek_id) == _KEK_ID_BYTES
    sealed = seal_field(key, data, table="outbox", row=str(row_id), field="payload")
    return _DIRECT + kek_id.encode() + wrapped + sealed


def _open_direct(vault: Vault, row: OutboxMessage) -> bytes:
    blob = row.payload_enc
    if blob[:1] != _DIRECT or len(blob) < 1 + _KEK_ID_BYTES + _WRAPPED_BYTES:
        raise DecryptionError("not a direct payload")
    kek_id = blob[1 : 1 + _KEK_ID_BYTES].decode()
    wrapped = blob[1 + _KEK_ID_BYTES : 1 + _KEK_ID_BYTES + _WRAPPED_BYTES]
    key = DataKey(vault.keyring.unwrap(wrapped, kek_id, f"outbox/{row.id}"))
    return open_field(
        key,
        blob[1 + _KEK_ID_BYTES + _WRAPPED_BYTES :],
        table="outbox",
        row=str(row.id),
        field="payload",
    )


def rewrap_direct(row: OutboxMessage, old: MasterKeyring, new: MasterKeyring) -> bool:
    """Rewrap the data key inside a direct row's payload under `new` (master key rotation);
    False when it already is, or the row has no key of its own."""
    blob = row.payload_enc
    if blob[:1] != _DIRECT or len(blob) < 1 + _KEK_ID_BYTES + _WRAPPED_BYTES:
        return False
    kek_id = blob[1 : 1 + _KEK_ID_BYTES].decode()
    if kek_id == new.current.key_id:
        return False
    context = f"outbox/{row.id}"
    wrapped = blob[1 + _KEK_ID_BYTES : 1 + _KEK_ID_BYTES + _WRAPPED_BYTES]
    rewrapped, new_id = new.wrap(old.unwrap(wrapped, kek_id, context), context)
    row.payload_enc = (
        _DIRECT + new_id.encode() + rewrapped + blob[1 + _KEK_ID_BYTES + _WRAPPED_BYTES :]
    )
    return True


def open_payload(vault: Vault, row: OutboxMessage, target: Case | Member | None) -> dict[str, Any]:
    """The row's method and parameters; a direct row (target None) also names its chat."""
    if isinstance(target, Case):
        data = vault.open_for_case(target, f"outbox/{row.id}", "payload", row.payload_enc)
    elif isinstance(target, Member):
        data = vault.open_for_member(target, f"outbox/{row.id}", "payload", row.payload_enc)
    else:
        data = _open_direct(vault, row)
    result: dict[str, Any] = json.loads(data)
    return result


def enqueue(
    session: AsyncSession,
    vault: Vault,
    target: Target,
    method: str,
    params: dict[str, Any],
    *,
    now: datetime,
    relay_case_id: int | None = None,
    card_case_id: int | None = None,
    not_before: datetime | None = None,
    row_id: uuid.UUID | None = None,
) -> OutboxMessage:
    """Add one Bot API call for `target` (a case's student, a member, or a chat) to the
    outbox. `row_id`, taken from `ordered_id()` when the call was made, keeps its place in
    the chat's order (a reply held during an update)."""
    row = OutboxMessage(
        id=row_id or ordered_id(),
        created_at=now,
        not_before=not_before or now,
        status="pending",
        method=method,
        attempts=0,
        relay_case_id=relay_case_id,
        card_case_id=card_case_id,
    )
    payload: dict[str, Any] = {"method": method, "params": params}
    if isinstance(target, Case):
        row.case_id = target.id
    elif isinstance(target, Member):
        row.member_id = target.id
    else:
        row.chat_key = chat_key(vault, target.chat_id)
        payload["chat_id"] = target.chat_id
    row.payload_enc = seal_payload(vault, row.id, target, payload)
    session.add(row)
    return row
