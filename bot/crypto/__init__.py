"""Envelope encryption (AES-256-GCM), retention-period keys and keyed pseudonyms."""

from bot.crypto.envelope import (
    DataKey,
    DecryptionError,
    MasterKey,
    MasterKeyring,
    new_data_key,
    open_field,
    seal_field,
)
from bot.crypto.periods import PeriodKey, PeriodKeyMissing, PeriodKeyring, period_of
from bot.crypto.pseudonyms import PseudonymKeys

__all__ = [
    "DataKey",
    "DecryptionError",
    "MasterKey",
    "MasterKeyring",
    "PeriodKey",
    "PeriodKeyMissing",
    "PeriodKeyring",
    "PseudonymKeys",
    "new_data_key",
    "open_field",
    "period_of",
    "seal_field",
]
