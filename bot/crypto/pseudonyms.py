"""Keyed pseudonyms: who someone is, without storing who they are.

One key per purpose (students, staff accounts, poster tokens, invites), each derived from
a random root secret kept wrapped in the database. The root never changes on master key
rotation, so pseudonyms stay stable. Like SecureDrop, we refuse equal keys for different
purposes: a slip there would let one kind of identifier be matched against another.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

PURPOSES = ("student", "member", "poster", "invite")


def _derive(root: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"trustline/" + purpose.encode()
    ).derive(root)


@dataclass(frozen=True, slots=True)
class PseudonymKeys:
    student: bytes
    member: bytes
    poster: bytes
    invite: bytes

    @classmethod
    def from_root(cls, root: bytes) -> PseudonymKeys:
        if len(root) < 32:
            raise ValueError("the pseudonym root secret must be at least 32 bytes")
        keys = cls(**{p: _derive(root, p) for p in PURPOSES})
        if len({getattr(keys, p) for p in PURPOSES}) != len(PURPOSES):
            raise ValueError("pseudonym keys of different purposes must differ")
        return keys

    def student_id(self, telegram_user_id: int) -> bytes:
        """HMAC-SHA256 of the Telegram user id: the only way a student is known."""
        return hmac.new(self.student, str(telegram_user_id).encode(), hashlib.sha256).digest()

    def member_id(self, telegram_user_id: int) -> bytes:
        return hmac.new(self.member, str(telegram_user_id).encode(), hashlib.sha256).digest()

    def invite_hash(self, token: str) -> bytes:
        return hmac.new(self.invite, token.encode(), hashlib.sha256).digest()
