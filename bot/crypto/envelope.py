"""AES-256-GCM envelope encryption.

Content is sealed under a per-case (or per-member) data key; data keys are stored only
wrapped by the master key (KEK). Associated data names the row and the field, so a
ciphertext copied into another row or column fails to open. Rotating the KEK rewraps
data keys and re-encrypts nothing.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_BYTES = 32
NONCE_BYTES = 12
_FORMAT = b"\x01"  # leading version byte of every sealed value


class DecryptionError(Exception):
    """A ciphertext did not open: wrong key, wrong row/field, or tampered."""


@dataclass(frozen=True, slots=True)
class MasterKey:
    """The key-encryption key; it lives outside the database."""

    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ValueError(f"the master key must be {KEY_BYTES} bytes")

    @property
    def key_id(self) -> str:
        # A fingerprint, stored beside wrapped keys so we know which KEK opens them.
        return hashlib.sha256(b"trustline-kek-id" + self.secret).hexdigest()[:16]

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(os.urandom(KEY_BYTES))

    def wrap(self, key: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        aad = b"wrap|" + context.encode()
        return _FORMAT + nonce + AESGCM(self.secret).encrypt(nonce, key, aad)

    def unwrap(self, wrapped: bytes, context: str) -> bytes:
        return _open(self.secret, wrapped, b"wrap|" + context.encode())


class MasterKeyring:
    """The current master key plus older ones still needed during a rotation."""

    def __init__(self, current: MasterKey, older: tuple[MasterKey, ...] = ()) -> None:
        self.current = current
        self._by_id = {k.key_id: k for k in (current, *older)}

    def wrap(self, key: bytes, context: str) -> tuple[bytes, str]:
        return self.current.wrap(key, context), self.current.key_id

    def unwrap(self, wrapped: bytes, key_id: str, context: str) -> bytes:
        kek = self._by_id.get(key_id)
        if kek is None:
            raise DecryptionError(f"no master key with id {key_id} is loaded")
        return kek.unwrap(wrapped, context)


@dataclass(frozen=True, slots=True)
class DataKey:
    secret: bytes


def new_data_key() -> DataKey:
    return DataKey(AESGCM.generate_key(bit_length=256))


def field_aad(table: str, row: str, field: str) -> bytes:
    return f"{table}|{row}|{field}".encode()


def seal_field(key: DataKey, plaintext: bytes, *, table: str, row: str, field: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    aad = field_aad(table, row, field)
    return _FORMAT + nonce + AESGCM(key.secret).encrypt(nonce, plaintext, aad)


def open_field(key: DataKey, sealed: bytes, *, table: str, row: str, field: str) -> bytes:
    return _open(key.secret, sealed, field_aad(table, row, field))


def _open(secret: bytes, sealed: bytes, aad: bytes) -> bytes:
    if len(sealed) < 1 + NONCE_BYTES + 16 or sealed[:1] != _FORMAT:
        raise DecryptionError("not a sealed value")
    nonce = sealed[1 : 1 + NONCE_BYTES]
    try:
        return AESGCM(secret).decrypt(nonce, sealed[1 + NONCE_BYTES :], aad)
    except InvalidTag as exc:
        raise DecryptionError("ciphertext does not open under this key and context") from exc
