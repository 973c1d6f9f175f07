"""Case codes: `#` and 8 Crockford base32 characters in two groups, e.g. `#7KQ2-M9XD`."""

from __future__ import annotations

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_DECODE = {c: c for c in ALPHABET} | {"O": "0", "I": "1", "L": "1", "U": "V"}


def new_code() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(8))


def display(code: str) -> str:
    return f"#{code[:4]}-{code[4:]}"


def parse(text: str) -> str | None:
    """Accept `#7KQ2-M9XD`, `7kq2m9xd`, `7KQ2 M9XD` (and Crockford's look-alikes)."""
    cleaned = text.strip().lstrip("#").replace("-", "").replace(" ", "").upper()
    if len(cleaned) != 8:
        return None
    out = []
    for ch in cleaned:
        mapped = _DECODE.get(ch)
        if mapped is None:
            return None
        out.append(mapped)
    return "".join(out)
