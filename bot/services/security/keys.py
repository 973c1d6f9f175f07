"""Master key loading, the retention-period key directory, long-lived key material and master
key rotation."""

from __future__ import annotations

import base64
import binascii
import logging
import os
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.config import Settings
from bot.crypto import MasterKey, MasterKeyring, PeriodKeyring, PseudonymKeys
from bot.crypto.periods import check_period
from bot.db.models import Case, DeadLetter, KeyMaterial, Member, OutboxMessage
from bot.services.errors import ConfigError

log = logging.getLogger(__name__)

PSEUDONYM_ROOT = "pseudonym_root"
PERIOD_KEY_DIRECTORY = "trustline-period-keys"


def _decode_key(text: str, where: str) -> MasterKey:
    text = text.strip()
    raw: bytes | None = None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = None
    if raw is None or len(raw) != 32:
        try:
            raw = bytes.fromhex(text)
        except ValueError:
            raw = None
    if raw is None or len(raw) != 32:
        raise ConfigError(
            f"The master key in {where} must be 32 bytes, written as base64 (44 characters) "
            "or hex (64 characters)."
        )
    return MasterKey(raw)


def encode_key(key: MasterKey) -> str:
    return base64.urlsafe_b64encode(key.secret).decode()


def check_key_file_mode(path: Path) -> None:
    """Refuse a key file that the group or others may read: the master key opens every
    report, so only the account the bot runs as may read it."""
    mode = path.stat().st_mode
    if mode & 0o077:
        raise ConfigError(
            f"The master key file {path} is readable by others (mode {mode & 0o777:o}); "
            f"fix it with: chmod 600 {path}"
        )


def read_key_file(path: Path) -> list[MasterKey]:
    check_key_file_mode(path)
    lines = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")]
    if not lines:
        raise ConfigError(f"The master key file {path} is empty.")
    return [_decode_key(ln, str(path)) for ln in lines]


def write_key_file(path: Path, keys: list[MasterKey]) -> None:
    """Write atomically with mode 0600; the first key is the current one."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# TrustLine master key. Losing it loses every report. First line is current.\n")
        for key in keys:
            fh.write(encode_key(key) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_master_keyring(settings: Settings) -> MasterKeyring:
    """From TRUSTLINE_MASTER_KEY, else the key file (generated on first run, loudly).

    Like the key file, TRUSTLINE_MASTER_KEY may name older keys after the current one
    (comma-separated): a bot that ran on through `keys rotate` with the old key in its
    environment cannot follow the rotation, and what it wrapped meanwhile opens only
    with the old key."""
    if settings.master_key is not None:
        given = [p for p in settings.master_key.get_secret_value().split(",") if p.strip()]
        if not given:
            raise ConfigError("TRUSTLINE_MASTER_KEY is empty.")
        found = [_decode_key(part, "MASTER_KEY") for part in given]
        return MasterKeyring(found[0], tuple(found[1:]))
    path = settings.key_file
    if not path.exists():
        if settings.master_key_file is not None:
            raise ConfigError(f"TRUSTLINE_MASTER_KEY_FILE points to {path}, which does not exist.")
        write_key_file(path, [MasterKey.generate()])
        log.warning(
            "master_key_generated: a new master key was written to %s (mode 0600). "
            "Back it up somewhere safe: losing it loses every report.",
            path.resolve(),
        )
    keys = read_key_file(path)
    return MasterKeyring(keys[0], tuple(keys[1:]))


class KeyFileWatch:
    """The master keyring of a key file, read again whenever the file changes, so a bot
    that is running follows `trustline keys rotate`: it can open data keys rewrapped under
    the new key, and wraps new ones under it, without a restart."""

    def __init__(self, path: Path, keyring: MasterKeyring) -> None:
        self.path = path
        self.keyring = keyring
        self._stamp = self._stat()

    def _stat(self) -> tuple[int, int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return (found.st_mtime_ns, found.st_size, found.st_ino)

    def current(self) -> MasterKeyring:
        stamp = self._stat()
        if stamp is None or stamp == self._stamp:
            return self.keyring
        try:
            found = read_key_file(self.path)
        except (ConfigError, OSError, ValueError):
            return self.keyring  # caught mid-write: keep the keys we have, look again later
        self.keyring = MasterKeyring(found[0], tuple(found[1:]))
        self._stamp = stamp
        log.info("master_key_reloaded keys=%s", len(found))
        return self.keyring


def keyring_reloader(
    settings: Settings, keyring: MasterKeyring
) -> Callable[[], MasterKeyring] | None:
    """How a running bot follows a rotation: by watching the key file. A key given in
    TRUSTLINE_MASTER_KEY cannot change under a running process (restart it instead)."""
    if settings.master_key is not None:
        return None
    return KeyFileWatch(settings.key_file, keyring).current


def period_key_directory(settings: Settings) -> Path:
    """Where the retention-period keys live: TRUSTLINE_PERIOD_KEY_DIR, else a directory
    beside the master key file (its default place when the master key is given in
    TRUSTLINE_MASTER_KEY), like the audit key. Every process of one bot must see the same
    directory, and the bot must be able to write in it (not a read-only secret mount)."""
    return settings.period_key_dir or settings.key_file.with_name(PERIOD_KEY_DIRECTORY)


def load_period_keys(settings: Settings) -> PeriodKeyring:
    """The period keyring, its directory made now (mode 0700) so that a place the bot cannot
    write in is refused at start, not at a student's first message; a directory that group
    or others may enter is refused, like a key file they may read."""
    directory = period_key_directory(settings)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(
            f"Cannot make the period key directory {directory} ({exc.strerror or exc}): set "
            "TRUSTLINE_PERIOD_KEY_DIR to a directory the bot can write in."
        ) from None
    if not directory.is_dir():
        raise ConfigError(f"{directory} should be the period key directory, not a file.")
    mode = directory.stat().st_mode
    if mode & 0o077:
        raise ConfigError(
            f"The period key directory {directory} is open to others (mode "
            f"{mode & 0o777:o}); fix it with: chmod 700 {directory}"
        )
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ConfigError(
            f"The bot cannot write in the period key directory {directory}: set "
            "TRUSTLINE_PERIOD_KEY_DIR to a directory it can write in."
        )
    return PeriodKeyring(directory)


async def load_pseudonym_keys(session: AsyncSession, keyring: MasterKeyring) -> PseudonymKeys:
    row = await session.get(KeyMaterial, PSEUDONYM_ROOT)
    if row is None:
        root = os.urandom(32)
        wrapped, kek_id = keyring.wrap(root, PSEUDONYM_ROOT)
        session.add(KeyMaterial(name=PSEUDONYM_ROOT, wrapped=wrapped, kek_id=kek_id))
        await session.flush()
    else:
        root = keyring.unwrap(row.wrapped, row.kek_id, PSEUDONYM_ROOT)
    return PseudonymKeys.from_root(root)


# A wrapped key that names its period in front (dead letters, whose rows have no column for
# it): b"P" + "YYYY-MM" + the master key's wrap. A wrap by the master key alone starts with
# its format byte, 0x01, so the two never mix.
PERIOD_PREFIX = b"P"
_PERIOD_LENGTH = 7


def with_period(period: str, outer: bytes) -> bytes:
    return PERIOD_PREFIX + check_period(period).encode() + outer


def split_period(wrapped: bytes) -> tuple[str | None, bytes]:
    """(period, the master key's wrap) of a wrapped key that may name its period."""
    if wrapped[:1] != PERIOD_PREFIX:
        return None, wrapped
    return wrapped[1 : 1 + _PERIOD_LENGTH].decode(), wrapped[1 + _PERIOD_LENGTH :]


def case_key_context(case_code: str) -> str:
    return f"case:{case_code}"


def member_key_context(pseudonym: bytes) -> str:
    return f"member:{pseudonym.hex()}"


def dead_letter_key_context(update_id: int) -> str:
    return f"dead_letter:{update_id}"


async def rewrap_all(
    session: AsyncSession, old: MasterKeyring, new: MasterKey, *, limit: int | None = None
) -> int:
    """Rewrap data keys not yet under `new` (at most `limit` of them); how many were.
    Content and pseudonyms are untouched. Called again until it returns 0, it also catches
    keys wrapped under the old key by a transaction that ran alongside."""
    target = MasterKeyring(new)
    count = 0

    def room() -> int:
        return 1000 if limit is None else min(1000, limit - count)

    for km in (
        await session.scalars(select(KeyMaterial).where(KeyMaterial.kek_id != new.key_id))
    ).all():
        secret = old.unwrap(km.wrapped, km.kek_id, km.name)
        km.wrapped, km.kek_id = target.wrap(secret, km.name)
        count += 1
    while room() > 0:
        members = (
            await session.scalars(
                select(Member).where(Member.kek_id != new.key_id).order_by(Member.id).limit(room())
            )
        ).all()
        if not members:
            break
        for member in members:
            ctx = member_key_context(member.pseudonym)
            secret = old.unwrap(member.wrapped_key, member.kek_id, ctx)
            member.wrapped_key, member.kek_id = target.wrap(secret, ctx)
            count += 1
        await session.flush()
    while room() > 0:  # in batches: a region may hold millions of cases
        batch = (
            await session.scalars(
                select(Case)
                .where(Case.wrapped_key.is_not(None), Case.kek_id != new.key_id)
                .order_by(Case.id)
                .limit(room())
            )
        ).all()
        if not batch:
            break
        for case in batch:
            assert case.wrapped_key is not None and case.kek_id is not None
            ctx = case_key_context(case.code)
            # Only the master key's layer: what it wraps (the data key under the period
            # key) is carried over as it is.
            inner = old.unwrap(case.wrapped_key, case.kek_id, ctx)
            wrapped, kek_id = target.wrap(inner, ctx)
            # On the bytes read: a case shredded meanwhile keeps no key (an update by id
            # alone would write the destroyed key back).
            result = await session.execute(
                update(Case)
                .where(Case.id == case.id, Case.wrapped_key == case.wrapped_key)
                .values(wrapped_key=wrapped, kek_id=kek_id)
                .execution_options(synchronize_session=False)
            )
            session.expire(case)  # read afresh by the next batch, whatever happened
            if getattr(result, "rowcount", 0) == 1:
                count += 1
        await session.flush()
    while room() > 0:  # updates set aside (bot.services.deadletters), usually none
        letters = (
            await session.scalars(
                select(DeadLetter)
                .where(DeadLetter.wrapped_key.is_not(None), DeadLetter.kek_id != new.key_id)
                .order_by(DeadLetter.id)
                .limit(room())
            )
        ).all()
        if not letters:
            break
        for letter in letters:
            assert letter.wrapped_key is not None and letter.kek_id is not None
            ctx = dead_letter_key_context(letter.update_id)
            # Only the master key's layer; a period named in front is kept as it is.
            period, outer = split_period(letter.wrapped_key)
            rewrapped, letter.kek_id = target.wrap(old.unwrap(outer, letter.kek_id, ctx), ctx)
            letter.wrapped_key = rewrapped if period is None else with_period(period, rewrapped)
            count += 1
        await session.flush()
    if room() > 0:  # replies waiting for a chat with no case or account: a few, seconds old
        from bot.delivery import outbox  # noqa: PLC0415 - outbox → vault → keys

        waiting = (
            await session.scalars(
                select(OutboxMessage)
                .where(
                    OutboxMessage.chat_key.is_not(None),
                    OutboxMessage.status.in_(("pending", "sending")),
                )
                .order_by(OutboxMessage.id)
                .with_for_update()
            )
        ).all()
        for row in waiting:
            if room() <= 0:
                break
            if outbox.rewrap_direct(row, old, target):
                count += 1
        await session.flush()
    return count
