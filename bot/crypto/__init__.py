"""Envelope encryption (AES-256-GCM) and keyed pseudonyms."""

from bot.crypto.envelope import (
    DataKey,
    DecryptionError,
    MasterKey,
    MasterKeyring,
    new_data_key,
    open_field,
    seal_field,
)
from bot.crypto.pseudonyms import PseudonymKeys

__all__ = [
    "DataKey",
    "DecryptionError",
    "MasterKey",
    "MasterKeyring",
    "PseudonymKeys",
    "new_data_key",
    "open_field",
    "seal_field",
]
