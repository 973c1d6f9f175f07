"""Envelope encryption and pseudonyms."""

from __future__ import annotations

import os

import pytest

from bot.crypto import (
    DecryptionError,
    MasterKey,
    MasterKeyring,
    PseudonymKeys,
    new_data_key,
    open_field,
    seal_field,
)


def test_field_roundtrip_and_binding_to_row_and_field() -> None:
    key = new_data_key()
    sealed = seal_field(key, "мені ұрады".encode(), table="case", row="A/1", field="body")
    assert open_field(key, sealed, table="case", row="A/1", field="body").decode() == "мені ұрады"
    assert "ұрады".encode() not in sealed
    # Moved to another row or another column, the ciphertext does not open.
    for table, row, field in (
        ("case", "A/2", "body"),
        ("case", "A/1", "file_id"),
        ("member", "A/1", "body"),
    ):
        with pytest.raises(DecryptionError):
            open_field(key, sealed, table=table, row=row, field=field)


def test_wrong_key_and_tampering_fail() -> None:
    key, other = new_data_key(), new_data_key()
    sealed = seal_field(key, b"secret", table="t", row="r", field="f")
    with pytest.raises(DecryptionError):
        open_field(other, sealed, table="t", row="r", field="f")
    tampered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(DecryptionError):
        open_field(key, tampered, table="t", row="r", field="f")
    with pytest.raises(DecryptionError):
        open_field(key, b"junk", table="t", row="r", field="f")


def test_same_plaintext_seals_differently() -> None:
    key = new_data_key()
    a = seal_field(key, b"x", table="t", row="r", field="f")
    b = seal_field(key, b"x", table="t", row="r", field="f")
    assert a != b


def test_keyring_unwraps_by_key_id_after_rotation() -> None:
    old, new = MasterKey.generate(), MasterKey.generate()
    wrapped, kek_id = MasterKeyring(old).wrap(b"k" * 32, "case:ABC")
    during = MasterKeyring(new, (old,))
    assert during.unwrap(wrapped, kek_id, "case:ABC") == b"k" * 32
    with pytest.raises(DecryptionError):
        during.unwrap(wrapped, kek_id, "case:OTHER")
    with pytest.raises(DecryptionError):
        MasterKeyring(new).unwrap(wrapped, kek_id, "case:ABC")


def test_master_key_must_be_32_bytes() -> None:
    with pytest.raises(ValueError):
        MasterKey(b"short")


def test_pseudonyms_are_stable_keyed_and_purpose_separated() -> None:
    root = os.urandom(32)
    keys = PseudonymKeys.from_root(root)
    again = PseudonymKeys.from_root(root)
    assert keys.student_id(42) == again.student_id(42)
    assert keys.student_id(42) != keys.student_id(43)
    assert keys.student_id(42) != keys.member_id(42)
    assert PseudonymKeys.from_root(os.urandom(32)).student_id(42) != keys.student_id(42)
    assert len({keys.student, keys.member, keys.poster, keys.invite}) == 4
    with pytest.raises(ValueError):
        PseudonymKeys.from_root(b"short")
