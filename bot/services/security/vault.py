"""The one place content is sealed and opened: keys per case and per member."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

from bot.crypto import DataKey, MasterKeyring, PseudonymKeys, new_data_key, open_field, seal_field
from bot.db.models import Case, Member
from bot.services.security.keys import (
    case_key_context,
    dead_letter_key_context,
    member_key_context,
)


class CaseShredded(Exception):
    """The case's data key was destroyed: its content is gone for good."""


class Vault:
    def __init__(
        self,
        keyring: MasterKeyring,
        pseudonyms: PseudonymKeys,
        *,
        reload: Callable[[], MasterKeyring] | None = None,
    ) -> None:
        self._keyring = keyring
        # Gives the keyring again, read afresh when the key file changed: a master key
        # rotated while the bot runs is picked up at the next wrap or unwrap.
        self._reload = reload
        self.pseudonyms = pseudonyms
        # Unwrapping is an AES-GCM call; cache by (context, wrapped bytes) so a rewrap or a
        # shred (different or no bytes) never returns a stale key.
        self._unwrap = lru_cache(maxsize=4096)(self._unwrap_uncached)

    @property
    def keyring(self) -> MasterKeyring:
        if self._reload is not None:
            self._keyring = self._reload()
        return self._keyring

    def _unwrap_uncached(self, wrapped: bytes, kek_id: str, context: str) -> DataKey:
        return DataKey(self.keyring.unwrap(wrapped, kek_id, context))

    # --- cases -----------------------------------------------------------------------

    def new_case_key(self, case: Case) -> DataKey:
        key = new_data_key()
        case.wrapped_key, case.kek_id = self.keyring.wrap(key.secret, case_key_context(case.code))
        return key

    def case_key(self, case: Case) -> DataKey:
        if case.wrapped_key is None or case.kek_id is None:
            raise CaseShredded(case.code)
        return self._unwrap(case.wrapped_key, case.kek_id, case_key_context(case.code))

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

    def seal_dead_letter(self, update_id: int, data: bytes) -> tuple[bytes, str, bytes]:
        """An update set aside, sealed under a data key of its own: (wrapped key, master
        key id, ciphertext). Destroying the wrapped key destroys the copy."""
        key = new_data_key()
        wrapped, kek_id = self.keyring.wrap(key.secret, dead_letter_key_context(update_id))
        sealed = seal_field(key, data, table="dead_letter", row=str(update_id), field="update")
        return wrapped, kek_id, sealed

    def open_dead_letter(
        self, update_id: int, wrapped: bytes, kek_id: str, sealed: bytes
    ) -> bytes:
        key = DataKey(self.keyring.unwrap(wrapped, kek_id, dead_letter_key_context(update_id)))
        return open_field(key, sealed, table="dead_letter", row=str(update_id), field="update")
