"""The audit key: what chains the audit log, kept beside the master key, never in the database.

The key file holds one key per line (base64), the current one first; older ones stay below
it so that rows chained before a change of key still verify (each row names the key that
chained it). `trustline keys rotate` does not touch this file: a new master key changes
nothing in the audit log. Like the master key file it is made on the first start (mode
0600, with a loud warning), and a file that group or others can read is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.services.errors import ConfigError

log = logging.getLogger(__name__)

KEY_BYTES = 32
DEFAULT_NAME = "trustline-audit.key"


@dataclass(frozen=True, slots=True)
class AuditKey:
    secret: bytes

    @property
    def key_id(self) -> str:
        return hashlib.sha256(b"trustline-audit-key-id" + self.secret).hexdigest()[:16]

    def mac(self, material: bytes) -> str:
        return hmac.new(self.secret, material, hashlib.sha256).hexdigest()


class AuditKeyring:
    """The current audit key, which chains new rows, and the older ones that still verify."""

    def __init__(self, current: AuditKey, older: tuple[AuditKey, ...] = ()) -> None:
        self.current = current
        self._by_id = {k.key_id: k for k in (current, *older)}

    def get(self, key_id: str) -> AuditKey | None:
        return self._by_id.get(key_id)

    @property
    def keys(self) -> tuple[AuditKey, ...]:
        """Every key, the current one first."""
        return tuple(self._by_id.values())


def key_file_path(settings: Settings) -> Path:
    return settings.audit_key_file or settings.key_file.with_name(DEFAULT_NAME)


def _decode(text: str, path: Path) -> AuditKey:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise ConfigError(f"The audit key file {path} holds a line that is not a 32-byte key.")
    return AuditKey(raw)


def read_key_file(path: Path) -> AuditKeyring:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"The audit key file {path} can be read by group or others "
            f"(mode {stat.S_IMODE(mode):o}): run chmod 600 {path}."
        )
    lines = [ln.strip() for ln in path.read_text().splitlines()]
    found = [_decode(ln, path) for ln in lines if ln and not ln.startswith("#")]
    if not found:
        raise ConfigError(f"The audit key file {path} is empty.")
    return AuditKeyring(found[0], tuple(found[1:]))


def write_key_file(path: Path, keys: list[AuditKey]) -> None:
    """Write atomically with mode 0600; the first key is the current one."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(
            "# TrustLine audit key: chains the audit log. Keep it with the master key; "
            "without it the log cannot be verified. First line is current.\n"
        )
        for key in keys:
            fh.write(base64.urlsafe_b64encode(key.secret).decode() + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load(settings: Settings) -> AuditKeyring:
    """The audit keyring of the key file, made on the first start."""
    path = key_file_path(settings)
    if not path.exists():
        if settings.audit_key_file is not None:
            raise ConfigError(f"TRUSTLINE_AUDIT_KEY_FILE points to {path}, which does not exist.")
        made = path.with_name(f"{path.name}.{os.urandom(6).hex()}.new")
        write_key_file(made, [AuditKey(os.urandom(KEY_BYTES))])
        try:
            os.link(made, path)  # never over a key another process made meanwhile
        except FileExistsError:
            return read_key_file(path)
        except OSError:  # a file system without hard links
            os.replace(made, path)
        finally:
            made.unlink(missing_ok=True)
        log.warning(
            "audit_key_generated: a new audit key was written to %s (mode 0600). Back it up "
            "with the master key: rows chained with a lost key no longer verify.",
            path.resolve(),
        )
    return read_key_file(path)


def add_key(settings: Settings) -> AuditKey:
    """A new current audit key; the older ones stay in the file so old rows still verify."""
    path = key_file_path(settings)
    ring = read_key_file(path)
    new = AuditKey(os.urandom(KEY_BYTES))
    write_key_file(path, [new, *ring.keys])
    return new
