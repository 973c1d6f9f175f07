"""A local note of every send Telegram accepted, made the moment its answer arrives.

The outbox records a send in the database right after Telegram accepts it, but that commit
may have to wait (SQLite has one writer at a time; PostgreSQL may be away), and a process
that dies meanwhile leaves the row to be sent again once its lease runs out. So the sender
first appends the row's id to a small file in the working directory, one `write()` with
no lock to wait for, which survives the process however it dies. A bot that starts in the
same directory applies the notes of bots that are gone before it sends anything. The
database stays the truth; the notes only narrow the crash window (see bot/delivery/sender.py).

A note holds our own ids only (outbox row, claim token, Telegram message id, member and
case numbers): nothing about anyone.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PATTERN = "trustline-sent-*.log"
# Emptied when it grows past this and every note in it is also in the database.
TRUNCATE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class SentNote:
    row_id: uuid.UUID
    token: int
    message_id: int | None
    member_id: int | None
    relay_case_id: int | None

    def line(self) -> bytes:
        fields = (self.row_id.hex, self.token, self.message_id, self.member_id, self.relay_case_id)
        return (" ".join("-" if f is None else str(f) for f in fields) + "\n").encode()

    @classmethod
    def parse(cls, line: str) -> SentNote | None:
        parts = line.split()
        if len(parts) != 5:
            return None  # a line cut short by the crash itself
        try:
            row_id, token = uuid.UUID(parts[0]), int(parts[1])
            rest = [None if p == "-" else int(p) for p in parts[2:]]
        except ValueError:
            return None
        return cls(row_id, token, *rest)


class SentLog:
    """This process's notes (a file it holds locked), and those left by dead processes."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._fd: int | None = None
        self._unsettled = 0

    def open(self) -> bool:
        name = f"trustline-sent-{os.getpid()}-{uuid.uuid4().hex[:8]}.log"
        try:
            fd = os.open(self.directory / name, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            log.warning("sent_log_unavailable error=%s", type(exc).__name__)
            return False
        self._fd = fd
        self._path = self.directory / name
        return True

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            if self._unsettled == 0:
                with contextlib.suppress(OSError):
                    self._path.unlink()

    def note(self, entry: SentNote) -> None:
        """Before the database hears of the send."""
        if self._fd is None:
            return
        try:
            os.write(self._fd, entry.line())
            self._unsettled += 1
        except OSError as exc:
            log.warning("sent_log_write_failed error=%s", type(exc).__name__)

    def settled(self) -> None:
        """The database now has the send noted last; forget notes when safe."""
        if self._fd is None or self._unsettled == 0:
            return
        self._unsettled -= 1
        if self._unsettled == 0 and os.fstat(self._fd).st_size > TRUNCATE_BYTES:
            os.ftruncate(self._fd, 0)

    def orphans(self) -> list[tuple[Path, int, list[SentNote]]]:
        """Files of processes that are gone (nobody holds their lock): path, locked fd,
        notes. The caller applies the notes, then calls `discard`."""
        found = []
        for path in sorted(self.directory.glob(PATTERN)):
            if self._fd is not None and path == self._path:
                continue
            try:
                fd = os.open(path, os.O_RDONLY)
            except OSError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)  # a live bot's file
                continue
            with open(fd, closefd=False, encoding="ascii", errors="replace") as fh:
                notes = [n for line in fh if (n := SentNote.parse(line)) is not None]
            found.append((path, fd, notes))
        return found

    @staticmethod
    def discard(path: Path, fd: int) -> None:
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(fd)
