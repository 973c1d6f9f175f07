"""Poster tokens: the `start` parameter printed in a poster's QR code, and the poster's code.

A token is `p` + base64url(poster id as big-endian bytes + the first 9 bytes of
HMAC-SHA256(poster key, domain + id)). It names the poster (and so the school), a made-up or
altered token fails the MAC, and it carries no date: a poster on a wall must keep working for
as long as it hangs there. Telegram allows at most 64 characters of `A-Za-z0-9_-` in a start
parameter; ours take 17 for any id below 2**24 and at most 24 for any id we accept.

The poster code (`P-00K7`) is what staff read off the bottom of a poster to retire it; it is
the id in Crockford base32, not a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

PREFIX = "p"
MAC_BYTES = 9  # 72 bits: guessing a valid token for any given id takes ~2**71 tries
MAX_ID = 2**63 - 1  # what an SQL BIGINT holds
_MAX_ID_BYTES = 8
_DOMAIN = b"trustline/poster-token/v1:"
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_READ = {c: i for i, c in enumerate(_CROCKFORD)} | {"O": 0, "I": 1, "L": 1}
_CODE_RE = re.compile(r"[0-9A-Za-z]{1,13}")


def _mac(mac_key: bytes, id_bytes: bytes) -> bytes:
    return hmac.new(mac_key, _DOMAIN + id_bytes, hashlib.sha256).digest()[:MAC_BYTES]


def _id_bytes(poster_id: int) -> bytes:
    return poster_id.to_bytes(max(1, (poster_id.bit_length() + 7) // 8), "big")


def make_poster_token(mac_key: bytes, poster_id: int) -> str:
    """The start parameter for a poster's QR code. Deterministic: a reprint of the same
    poster id yields the same token."""
    if not 1 <= poster_id <= MAX_ID:
        raise ValueError("poster ids are positive and fit in 63 bits")
    if len(mac_key) < 16:
        raise ValueError("the poster token key must be at least 16 bytes")
    raw = _id_bytes(poster_id)
    body = base64.urlsafe_b64encode(raw + _mac(mac_key, raw)).rstrip(b"=").decode("ascii")
    return PREFIX + body


def read_poster_token(mac_key: bytes, token: str) -> int | None:
    """The poster id a token names, or None for anything that is not a genuine token.

    Never raises on user input: junk, truncated, over-long or non-ASCII text gives None.
    """
    if not isinstance(token, str) or not token.startswith(PREFIX):
        return None
    if not _TOKEN_RE.fullmatch(token) or not token.isascii():
        return None
    body = token[len(PREFIX) :]
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None
    # Only the one canonical spelling of a token is accepted (base64 can hide spare bits).
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != body:
        return None
    id_bytes, mac = raw[:-MAC_BYTES], raw[-MAC_BYTES:]
    if not 1 <= len(id_bytes) <= _MAX_ID_BYTES or len(mac) != MAC_BYTES:
        return None
    if not hmac.compare_digest(mac, _mac(mac_key, id_bytes)):
        return None
    poster_id = int.from_bytes(id_bytes, "big")
    if not 1 <= poster_id <= MAX_ID or id_bytes != _id_bytes(poster_id):
        return None
    return poster_id


def poster_link(bot_username: str, token: str) -> str:
    """The link the QR code opens."""
    return f"https://t.me/{bot_username}?start={token}"


def poster_code(poster_id: int) -> str:
    """The short code printed small on a poster for staff, e.g. `P-00K7`."""
    if poster_id < 1:
        raise ValueError("poster ids are positive")
    digits = ""
    n = poster_id
    while n:
        n, rest = divmod(n, 32)
        digits = _CROCKFORD[rest] + digits
    return "P-" + digits.rjust(4, "0")


def parse_poster_code(text: str) -> int | None:
    """Read `P-00K7`, `p00k7`, `00K7` (and Crockford's look-alikes O→0, I/L→1) back to an id."""
    if not isinstance(text, str) or len(text) > 20:
        return None
    cleaned = text.strip().replace(" ", "").replace("-", "").upper()
    if cleaned.startswith("P"):
        cleaned = cleaned[1:]
    if not _CODE_RE.fullmatch(cleaned) or not cleaned.isascii():
        return None
    value = 0
    for ch in cleaned:
        digit = _CROCKFORD_READ.get(ch)
        if digit is None:
            return None
        value = value * 32 + digit
    return value if 1 <= value <= MAX_ID else None
