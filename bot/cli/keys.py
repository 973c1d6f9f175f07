"""`trustline keys rotate`: a new master key; data keys are rewrapped, nothing re-encrypted.
`trustline keys periods`: the retention-period keys, the cases under each, and any period a
case needs whose key is missing."""

from __future__ import annotations

import argparse
import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from bot.cli.common import load_settings
from bot.cli.wording import counted
from bot.crypto import MasterKey, MasterKeyring
from bot.crypto.periods import period_end
from bot.db.models import Case
from bot.db.session import make_engine, make_sessionmaker
from bot.services.errors import ConfigError
from bot.services.security import keys

REWRAP_BATCH = 500
STRAGGLER_SECONDS = 3.0


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("keys", help="master key management")
    sub = parser.add_subparsers(dest="keys_command", required=True)
    rotate = sub.add_parser("rotate", help="rotate the master key (rewraps data keys)")
    rotate.add_argument(
        "--new-key-file",
        type=Path,
        default=None,
        help="where to write the new key when TRUSTLINE_MASTER_KEY is used",
    )
    rotate.add_argument(
        "--finish",
        action="store_true",
        help="with TRUSTLINE_MASTER_KEY=NEW,OLD (the bot restarted with it): rewrap every "
        "data key under NEW",
    )
    rotate.set_defaults(func=cmd_rotate)
    periods = sub.add_parser(
        "periods", help="list the retention-period keys and the cases under each"
    )
    periods.set_defaults(func=cmd_periods)


async def _cases_by_period(settings: Any) -> dict[str | None, int]:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(Case.key_period, func.count())
                .where(Case.wrapped_key.is_not(None))
                .group_by(Case.key_period)
            )
            return {period: int(count) for period, count in rows.all()}
    finally:
        await engine.dispose()


def cmd_periods(args: argparse.Namespace) -> int:
    """One line per period key (cases under it, the earliest day it may be destroyed), and
    an error for a period that cases are under but whose key is missing (exit 1)."""
    settings = load_settings()
    ring = keys.load_period_keys(settings)
    present = ring.periods()
    under = asyncio.run(_cases_by_period(settings))
    print(f"Period keys in {ring.directory.resolve()}: {counted(len(present), 'key')}.")
    for period in present:
        earliest = period_end(period) + timedelta(days=settings.retention_days)
        print(
            f"  {period}: {counted(under.get(period, 0), 'case')} under it; destroyed once "
            f"none is, from {earliest:%Y-%m-%d}"
        )
    if under.get(None):
        print(
            f"  {counted(under[None], 'case')} from before period keys (the master key "
            "alone): the next retention pass moves them under their period's key"
        )
    missing = sorted(p for p in under if p is not None and p not in present)
    for period in missing:
        print(
            f"  MISSING {period}: {counted(under[period], 'case')} under a key that is not "
            "in this directory; restore it from the backup of the keys, or they cannot be "
            "opened"
        )
    return 1 if missing else 0


async def _rewrap(settings: Any, old: MasterKeyring, new: MasterKey) -> int:
    """Rewrap every data key under `new` in short transactions (the bot keeps working),
    then once more after a pause for a transaction that wrapped under an older key."""
    engine = make_engine(settings.database_url)
    maker = make_sessionmaker(engine)

    async def one_pass() -> int:
        done = 0
        while True:
            async with maker() as session, session.begin():
                count = await keys.rewrap_all(session, old, new, limit=REWRAP_BATCH)
            done += count
            if count == 0:
                return done

    try:
        total = await one_pass()
        # A running bot reads the key file again at its next wrap; a transaction that
        # wrapped a key under the old one just before may commit a moment later.
        await asyncio.sleep(STRAGGLER_SECONDS)
        return total + await one_pass()
    finally:
        await engine.dispose()


def cmd_rotate(args: argparse.Namespace) -> int:
    settings = load_settings()
    old = keys.load_master_keyring(settings)
    if settings.master_key is not None:
        given = [p for p in settings.master_key.get_secret_value().split(",") if p.strip()]
        return _rotate_environment(args, old, len(given))
    if args.finish:
        raise ConfigError(
            "--finish is for a key in TRUSTLINE_MASTER_KEY; the key file needs none."
        )
    new = MasterKey.generate()
    key_file = settings.key_file
    # The new key goes first, the old ones stay: a crash at any point leaves a keyring
    # that opens every data key, and a running bot reads the file again at its next wrap.
    keys.write_key_file(key_file, [new, old.current])
    count = asyncio.run(_rewrap(settings, old, new))
    keys.write_key_file(key_file, [new])
    print(f"Master key rotated: {counted(count, 'key')} rewrapped; the new key is in {key_file}.")
    return 0


def _rotate_environment(args: argparse.Namespace, loaded: MasterKeyring, given: int) -> int:
    """A key given in TRUSTLINE_MASTER_KEY never changes under a running bot, so rewrapping
    at once would leave it unable to open any case (and what it wrapped meanwhile would
    open only with a key the restarted bot no longer has). So two steps, and no row is
    ever under a key the running bot lacks:

    1. `keys rotate --new-key-file F`: writes NEW,OLD to F and rewraps nothing; the bot is
       restarted with TRUSTLINE_MASTER_KEY=NEW,OLD (it wraps under NEW, opens both).
    2. `keys rotate --finish` with that same value: rewraps everything under NEW; from then
       on the old key may be dropped at the next restart."""
    if args.finish:
        if given < 2:
            raise ConfigError(
                "keys rotate --finish needs TRUSTLINE_MASTER_KEY=NEW,OLD (the value the bot "
                "was restarted with after the first step)."
            )
        count = asyncio.run(_rewrap(load_settings(), loaded, loaded.current))
        print(
            f"Master key rotated: {counted(count, 'key')} rewrapped; every data key is now "
            "under the "
            "first key of TRUSTLINE_MASTER_KEY. At the next restart it may hold that key alone."
        )
        return 0
    if args.new_key_file is None:
        raise ConfigError(
            "TRUSTLINE_MASTER_KEY is set: pass --new-key-file PATH so the new "
            "key is saved before any data key is rewrapped."
        )
    new = MasterKey.generate()
    keys.write_key_file(args.new_key_file, [new, loaded.current])
    print(
        f"A new master key is in {args.new_key_file}; nothing is rewrapped yet, so the running "
        "bot goes on as before. Next: restart the bot with TRUSTLINE_MASTER_KEY set to the "
        "two keys of that file, new first, comma-separated, then run "
        "`trustline keys rotate --finish` with the same value."
    )
    return 0
