"""Retention-period keys: one random key per calendar month (UTC), kept in files beside the
master key, never in the database, so that destroying one destroys every copy of what it
wrapped, backups included.

A case's data key is wrapped twice: first by the key of its period, then by the master
key (`bot.services.security.vault`). Opening it needs both; the master key alone, with any
dump of the database, opens nothing once the period key is gone. A period key cannot be
derived from anything that stays (it is 32 random bytes), which is the point: the file is
the only place it exists.

The directory holds one file per period, `YYYY-MM.key` (mode 0600, in a directory of mode
0700), each the key in base64. A key is made by whichever process needs it first: written
under a name of its own, fsynced, then hard-linked to its final name, which fails if another
process got there first (that process's key is then read and used). Destroying renames the
file away (only one process can), overwrites it, unlinks it and fsyncs the directory.
Overwriting is best effort: on a copy-on-write or flash file system old blocks may survive
until reused, and a copy of the directory in a backup survives until that backup is gone
(docs/DEPLOY.md).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import stat
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bot.crypto.envelope import KEY_BYTES, NONCE_BYTES, DecryptionError

PERIOD = re.compile(r"(\d{4})-(0[1-9]|1[0-2])")
SUFFIX = ".key"
_FORMAT = b"\x01"
_DESTROYING = ".destroying-"
_PARTIAL = ".partial-"


class PeriodKeyMissing(DecryptionError):
    """The key of a period is not in the key directory: destroyed with its period's cases,
    or the directory is not the one the keys were made in."""

    def __init__(self, period: str, directory: Path) -> None:
        super().__init__(
            f"the retention-period key {period} is not in {directory}: it was destroyed once "
            "every case of that period was shredded, or this is not the period key directory "
            "the bot uses"
        )
        self.period = period


class PeriodKeyFileError(ValueError):
    """A period key file that must not be used (readable by others, or not a key)."""


def period_of(moment: datetime) -> str:
    """The period of an instant: its calendar month in UTC, "YYYY-MM"."""
    return moment.astimezone(UTC).strftime("%Y-%m")


def check_period(period: str) -> str:
    if not PERIOD.fullmatch(period):
        raise ValueError(f"not a retention period (YYYY-MM): {period!r}")
    return period


def period_start(period: str) -> datetime:
    year, month = (int(part) for part in check_period(period).split("-"))
    return datetime(year, month, 1, tzinfo=UTC)


def period_end(period: str) -> datetime:
    """The first instant after the period (the start of the next month)."""
    start = period_start(period)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


@dataclass(frozen=True, slots=True)
class PeriodKey:
    period: str
    secret: bytes

    def __post_init__(self) -> None:
        if len(self.secret) != KEY_BYTES:
            raise ValueError(f"a period key must be {KEY_BYTES} bytes")

    def _aad(self, context: str) -> bytes:
        return f"period|{self.period}|{context}".encode()

    def wrap(self, key: bytes, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return _FORMAT + nonce + AESGCM(self.secret).encrypt(nonce, key, self._aad(context))

    def unwrap(self, wrapped: bytes, context: str) -> bytes:
        if len(wrapped) < 1 + NONCE_BYTES + 16 or wrapped[:1] != _FORMAT:
            raise DecryptionError("not a key wrapped by a period key")
        nonce = wrapped[1 : 1 + NONCE_BYTES]
        try:
            return AESGCM(self.secret).decrypt(
                nonce, wrapped[1 + NONCE_BYTES :], self._aad(context)
            )
        except InvalidTag as exc:
            raise DecryptionError(
                f"the key does not open under period key {self.period} in this context"
            ) from exc


class PeriodKeyring:
    """The period keys of one directory. Keys read are cached, but every lookup checks that
    the file is still there, so a key destroyed by another process is not used again."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._cache: dict[str, tuple[PeriodKey, str]] = {}
        self._lock = threading.Lock()

    def path(self, period: str) -> Path:
        return self.directory / f"{check_period(period)}{SUFFIX}"

    def exists(self, period: str) -> bool:
        return self.path(period).is_file()

    def periods(self) -> list[str]:
        """The periods whose key is present, oldest first."""
        if not self.directory.is_dir():
            return []
        found = (p.name.removesuffix(SUFFIX) for p in self.directory.glob(f"*{SUFFIX}"))
        return sorted(name for name in found if PERIOD.fullmatch(name))

    def get(self, period: str) -> PeriodKey:
        """The key of `period`; PeriodKeyMissing if it does not exist (never a new one)."""
        cached = self._cache.get(period)
        if cached is not None:
            key, where = cached
            try:
                os.stat(where)  # still there: not destroyed by another process meanwhile
            except FileNotFoundError:
                self._forget(period)
                raise PeriodKeyMissing(period, self.directory) from None
            return key
        path = self.path(period)
        try:
            found = path.stat()
        except FileNotFoundError:
            raise PeriodKeyMissing(period, self.directory) from None
        if found.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise PeriodKeyFileError(
                f"The period key file {path} can be read by group or others "
                f"(mode {stat.S_IMODE(found.st_mode):o}): run chmod 600 {path}."
            )
        key = PeriodKey(period, _decode(path.read_text(), path))
        with self._lock:
            self._cache[period] = (key, str(path))
        return key

    def _forget(self, period: str) -> None:
        with self._lock:
            self._cache.pop(period, None)

    def get_or_create(self, period: str) -> PeriodKey:
        """The key of `period`, made now if it does not exist yet. Of several processes
        making it at once exactly one key wins, and every process uses that one."""
        try:
            return self.get(period)
        except PeriodKeyMissing:
            pass
        self._make_directory()
        final = self.path(period)
        partial = self.directory / f"{_PARTIAL}{period}-{os.getpid()}-{os.urandom(6).hex()}"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(
                    f"# TrustLine retention-period key {period}. It opens the cases of that "
                    "month (with the master key) and is destroyed when they are shredded.\n"
                )
                fh.write(base64.urlsafe_b64encode(os.urandom(KEY_BYTES)).decode() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(partial, final)
        finally:
            partial.unlink(missing_ok=True)
        self._sync_directory()
        return self.get(period)

    def destroy(self, period: str) -> bool:
        """Destroy the key of `period`; True if this call did (False: it was already gone).
        Atomic among processes: the file is first renamed away, which only one can do."""
        final = self.path(period)
        doomed = self.directory / f"{_DESTROYING}{period}-{os.urandom(6).hex()}"
        try:
            os.rename(final, doomed)
        except FileNotFoundError:
            destroyed = False
        else:
            _overwrite_and_unlink(doomed)
            destroyed = True
        self._forget(period)
        self._sync_directory()
        return destroyed

    def sweep(self) -> int:
        """Finish what a process that died mid-way left: half-destroyed keys (renamed away,
        not yet overwritten) and partial new ones. How many files were removed."""
        if not self.directory.is_dir():
            return 0
        removed = 0
        for leftover in self.directory.iterdir():
            if leftover.name.startswith(_DESTROYING):
                _overwrite_and_unlink(leftover)
                removed += 1
            elif leftover.name.startswith(_PARTIAL) and _older_than(leftover, 3600):
                leftover.unlink(missing_ok=True)
                removed += 1
        if removed:
            self._sync_directory()
        return removed

    def forget_cached(self) -> None:
        with self._lock:
            self._cache.clear()

    def _make_directory(self) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _sync_directory(self) -> None:
        if not self.directory.is_dir():
            return
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _decode(text: str, path: Path) -> bytes:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    raw = b""
    if len(lines) == 1:
        try:
            raw = base64.urlsafe_b64decode(lines[0] + "=" * (-len(lines[0]) % 4))
        except (binascii.Error, ValueError):
            raw = b""
    if len(raw) != KEY_BYTES:
        raise PeriodKeyFileError(f"The period key file {path} does not hold one 32-byte key.")
    return raw


def _overwrite_and_unlink(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        size = path.stat().st_size
        with path.open("r+b") as fh:
            fh.write(b"\0" * size)
            fh.flush()
            os.fsync(fh.fileno())
        path.unlink()


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return datetime.now(UTC).timestamp() - path.stat().st_mtime > seconds
    except FileNotFoundError:
        return False
