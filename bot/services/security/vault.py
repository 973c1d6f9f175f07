"""The one place content is sealed and opened: keys per case and per member.

A case's data key is wrapped twice: by the key of its retention period (a month, see
`bot.crypto.periods`), then by the master key. The period key lives in a file beside the
master key, never in the database; once every case of the period is shredded it is
destroyed (`bot.services.security.retention`), and no dump of the database taken before,
opened with every key that is left, gives the case back. A case row written before
migration 0016 names no period (`key_period` NULL): its data key is wrapped by the master
key alone until the next retention pass rewraps it under its period's key.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache

from bot.crypto import (
    DataKey,
    DecryptionError,
    MasterKeyring,
    PeriodKeyring,
    PseudonymKeys,
    new_data_key,
    open_field,
    period_of,
    seal_field,
)
from bot.crypto.envelope import KEY_BYTES
from bot.db.models import Case, Member
from bot.services.security.keys import (
    case_key_context,
    dead_letter_key_context,
    member_key_context,
    split_period,
    with_period,
)


class CaseShredded(Exception):
    """The case's data key was destroyed: its content is gone for good."""


class NoPeriodKeys(DecryptionError):
    """This vault was built without a period key directory, so it can neither make nor
    open a case key."""


class Vault:
    def __init__(
        self,
        keyring: MasterKeyring,
        pseudonyms: PseudonymKeys,
        *,
        periods: PeriodKeyring | None = None,
        reload: Callable[[], MasterKeyring] | None = None,
    ) -> None:
        self._keyring = keyring
        self._periods = periods
        # Gives the keyring again, read afresh when the key file changed: a master key
        # rotated while the bot runs is picked up at the next wrap or unwrap.
        self._reload = reload
        self.pseudonyms = pseudonyms
        # Unwrapping is an AES-GCM call; cache by (context, wrapped bytes) so a rewrap or a
        # shred (different or no bytes) never returns a stale key.
        self._unwrap = lru_cache(maxsize=4096)(self._unwrap_uncached)
        self._unwrap_case = lru_cache(maxsize=4096)(self._unwrap_case_uncached)

    @property
    def keyring(self) -> MasterKeyring:
        if self._reload is not None:
            self._keyring = self._reload()
        return self._keyring

    @property
    def periods(self) -> PeriodKeyring:
        if self._periods is None:
            raise NoPeriodKeys("this vault has no retention-period key directory")
        return self._periods

    def _unwrap_uncached(self, wrapped: bytes, kek_id: str, context: str) -> DataKey:
        return DataKey(self.keyring.unwrap(wrapped, kek_id, context))

    def forget_cached_keys(self) -> None:
        """Drop every unwrapped data key held in memory (after a shred)."""
        self._unwrap.cache_clear()
        self._unwrap_case.cache_clear()

    # --- cases -----------------------------------------------------------------------

    def new_case_key(self, case: Case) -> DataKey:
        """A data key for a new case, wrapped under the key of the period it opens in
        (made now if it is the period's first case) and the master key."""
        key = new_data_key()
        opened = case.created_at if case.created_at is not None else datetime.now(UTC)
        period = period_of(opened)
        case.wrapped_key, case.kek_id = self.wrap_case_secret(case.code, key.secret, period)
        case.key_period = period
        return key

    def wrap_case_secret(self, code: str, secret: bytes, period: str) -> tuple[bytes, str]:
        """(wrapped key, master key id) of a case's data key under `period`'s key."""
        context = case_key_context(code)
        inner = self.periods.get_or_create(period).wrap(secret, context)
        return self.keyring.wrap(inner, context)

    def case_key(self, case: Case) -> DataKey:
        if case.wrapped_key is None or case.kek_id is None:
            raise CaseShredded(case.code)
        if case.key_period is not None:
            # Checked at every use, not only when unwrapping: a key held in the cache below
            # must not outlive its period key destroyed by another process.
            self.periods.get(case.key_period)
        return self._unwrap_case(case.wrapped_key, case.kek_id, case.code, case.key_period)

    def _unwrap_case_uncached(
        self, wrapped: bytes, kek_id: str, code: str, period: str | None
    ) -> DataKey:
        context = case_key_context(code)
        inner = self.keyring.unwrap(wrapped, kek_id, context)
        if period is not None:
            return DataKey(self.periods.get(period).unwrap(inner, context))
        if len(inner) != KEY_BYTES:  # names no period but is not a bare data key
            raise DecryptionError(f"case {code}: the key names no period but needs one")
        return DataKey(inner)  # before migration 0016: the master key alone

    def seal_for_case(self, case: Case, row: str, field: str, value: str | bytes) -> bytes:
        data = value.encode() if isinstance(value, str) else value
        return seal_field(
            self.case_key(case), data, table="case", row=f"{case.code}/{row}", field=field
        )

    def open_for_case(self, case: Case, row: str, field: str, sealed: bytes) -> bytes:
        return open_field(
            self.case_key(case), sealed, table="case", row=f"{case.code}/{row}", field=field
        )

    def open_text_for_case(self, case: Case, row: str, field: str, sealed: bytes | None) -> str:
        if sealed is None:
            return ""
        return self.open_for_case(case, row, field, sealed).decode()

    def student_chat_id(self, case: Case) -> int | None:
        if case.chat_id_enc is None:
            return None
        return int(self.open_for_case(case, "case", "chat_id", case.chat_id_enc))

    # --- members ---------------------------------------------------------------------

    def new_member_key(self, member: Member) -> DataKey:
        key = new_data_key()
        ctx = member_key_context(member.pseudonym)
        member.wrapped_key, member.kek_id = self.keyring.wrap(key.secret, ctx)
        return key

    def member_key(self, member: Member) -> DataKey:
        ctx = member_key_context(member.pseudonym)
        return self._unwrap(member.wrapped_key, member.kek_id, ctx)

    def seal_for_member(self, member: Member, row: str, field: str, value: str | bytes) -> bytes:
        data = value.encode() if isinstance(value, str) else value
        return seal_field(
            self.member_key(member),
            data,
            table="member",
            row=f"{member.pseudonym.hex()}/{row}",
            field=field,
        )

    def open_for_member(self, member: Member, row: str, field: str, sealed: bytes) -> bytes:
        return open_field(
            self.member_key(member),
            sealed,
            table="member",
            row=f"{member.pseudonym.hex()}/{row}",
            field=field,
        )

    def member_chat_id(self, member: Member) -> int:
        return int(self.open_for_member(member, "member", "chat_id", member.chat_id_enc))

    # --- dead letters ----------------------------------------------------------------

    def seal_dead_letter(
        self, update_id: int, data: bytes, *, now: datetime | None = None
    ) -> tuple[bytes, str, bytes]:
        """An update set aside, sealed under a data key of its own: (wrapped key, master
        key id, ciphertext). Like a case's, the key is wrapped by the key of the month
        (named in front of the wrapped bytes) and then by the master key, so the copy, a
        child's words outside any case, is gone from old backups too once that month's key
        is destroyed. Destroying the wrapped key destroys the copy."""
        key = new_data_key()
        period = period_of(now or datetime.now(UTC))
        context = dead_letter_key_context(update_id)
        inner = self.periods.get_or_create(period).wrap(key.secret, context)
        outer, kek_id = self.keyring.wrap(inner, context)
        sealed = seal_field(key, data, table="dead_letter", row=str(update_id), field="update")
        return with_period(period, outer), kek_id, sealed

    def open_dead_letter(
        self, update_id: int, wrapped: bytes, kek_id: str, sealed: bytes
    ) -> bytes:
        context = dead_letter_key_context(update_id)
        period, outer = split_period(wrapped)
        inner = self.keyring.unwrap(outer, kek_id, context)
        if period is None:  # sealed before period keys: the master key alone
            secret = inner
        else:
            secret = self.periods.get(period).unwrap(inner, context)
        key = DataKey(secret)
        return open_field(key, sealed, table="dead_letter", row=str(update_id), field="update")
