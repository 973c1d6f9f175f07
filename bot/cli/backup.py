"""`trustline backup --out DIR`: a consistent dump of the database, and a reminder that the
keys are kept apart from it.

PostgreSQL is dumped with `pg_dump` (custom format, one snapshot, restored with
`pg_restore`); without `pg_dump` on PATH the command refuses in one line. SQLite is copied
through its online backup API (a consistent copy while the bot keeps running). Either file
is written with mode 0600 under a temporary name and renamed only once complete, so a dump
that failed leaves nothing behind. The dump holds every report encrypted and is useless
without the master key; kept next to the key it is every report in clear.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess  # noqa: S404 (pg_dump, with an argument list)
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL, make_url

from bot.cli.common import load_settings
from bot.config import Settings
from bot.services.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "backup", help="write a consistent database dump into a folder (the keys stay apart)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        required=True,
        metavar="DIR",
        help="folder for the dump (created with mode 0700 if missing)",
    )
    parser.set_defaults(func=cmd_backup)


def cmd_backup(args: argparse.Namespace) -> int:
    settings = load_settings()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        source = _sqlite_file(url)
        folder = _folder(args.out)
        dump = backup_sqlite(source, folder / f"trustline-{stamp}.sqlite3")
        how = (
            f"restore: stop the bot, delete {source.resolve()}-wal and -shm if present, "
            "copy the dump over the database file, start the bot"
        )
    else:
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            raise ConfigError(
                "pg_dump is not on PATH: install the PostgreSQL client tools (the same major "
                "version as the server or newer), or run the backup where they are."
            )
        folder = _folder(args.out)
        dump = backup_postgres(pg_dump, url, folder / f"trustline-{stamp}.pgdump")
        how = "restore: pg_restore --no-owner --dbname=<an empty database> " + str(dump)
    print(f"Backup written: {dump} ({dump.stat().st_size} bytes; {how}).")
    print(keys_reminder(settings))
    return 0


def keys_reminder(settings: Settings) -> str:
    from bot.services.security import audit_checkpoints, audit_keys, keys

    if settings.master_key is not None:
        master = "the master key (TRUSTLINE_MASTER_KEY)"
    else:
        master = f"the master key file {settings.key_file.resolve()}"
    audit_key = audit_keys.key_file_path(settings).resolve()
    checkpoints = audit_checkpoints.checkpoint_path(settings).resolve()
    period_keys = keys.period_key_directory(settings).resolve()
    return (
        f"Keep {master}, the retention-period key directory {period_keys} and the audit "
        f"key file {audit_key} apart from this dump, on other storage in other hands: "
        "without the master key and the period keys the dump cannot be read, and next "
        "to them the dump is every report in clear. Back up the audit checkpoint file "
        f"{checkpoints} too (it proves the audit log was not cut short)."
    )


def _sqlite_file(url: URL) -> Path:
    name = url.database
    if not name or name == ":memory:" or name.startswith("file:"):
        raise ConfigError(
            "TRUSTLINE_DATABASE_URL names no SQLite file to back up (an in-memory "
            "or URI database)."
        )
    path = Path(name)
    if not path.is_file():
        raise ConfigError(f"There is no SQLite database at {path.resolve()} to back up.")
    return path


def _folder(out: Path) -> Path:
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    return out


def _new_private_file(path: Path) -> int:
    """An empty file only its owner can read (created here, never an existing one)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)


def backup_sqlite(source: Path, target: Path) -> Path:
    """Copy `source` through SQLite's online backup API: one consistent state even while
    the bot writes, checked with PRAGMA integrity_check before it is given its name."""
    partial = target.with_name(target.name + ".partial")
    os.close(_new_private_file(partial))
    try:
        src = sqlite3.connect(source.resolve().as_uri() + "?mode=ro", uri=True)
        try:
            dst = sqlite3.connect(partial)
            try:
                src.backup(dst)
                # A single file: the copy keeps no write-ahead log of its own.
                dst.execute("PRAGMA journal_mode=DELETE")
                (verdict,) = dst.execute("PRAGMA integrity_check").fetchone()
            finally:
                dst.close()
        finally:
            src.close()
        if verdict != "ok":
            raise ConfigError(f"The copy of {source} failed its integrity check: {verdict}.")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def libpq_environment(url: URL) -> dict[str, str]:
    """The connection as libpq's PG* variables: the password never on a command line."""
    env = {
        "PGHOST": url.host or "",
        "PGPORT": str(url.port or ""),
        "PGUSER": url.username or "",
        "PGPASSWORD": url.password or "",
        "PGDATABASE": url.database or "",
    }
    ssl = url.query.get("ssl") or url.query.get("sslmode")
    if isinstance(ssl, str):
        # asyncpg also takes true/false; libpq knows only the mode names.
        env["PGSSLMODE"] = {"true": "require", "false": "disable"}.get(ssl.lower(), ssl)
    return {name: value for name, value in env.items() if value}


def backup_postgres(pg_dump: str, url: URL, target: Path) -> Path:
    """pg_dump in its custom format: one snapshot of the whole database (consistent while
    the bot writes), compressed, restored with pg_restore."""
    partial = target.with_name(target.name + ".partial")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env.update(libpq_environment(url))
    fd = _new_private_file(partial)
    try:
        with os.fdopen(fd, "wb") as out:
            done = subprocess.run(  # noqa: S603 (a fixed program and argument list)
                [pg_dump, "--format=custom", "--no-password"],
                stdout=out,
                stderr=subprocess.PIPE,
                env=env,
                check=False,
            )
        if done.returncode != 0:
            said = done.stderr.decode(errors="replace").strip().splitlines()
            raise ConfigError(
                "pg_dump failed: " + (said[-1] if said else f"exit code {done.returncode}")
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
