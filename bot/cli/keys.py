"""`trustline keys rotate`: a new master key; data keys are rewrapped, nothing re-encrypted."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from bot.cli.common import load_settings
from bot.crypto import MasterKey
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
    rotate.set_defaults(func=cmd_rotate)


def cmd_rotate(args: argparse.Namespace) -> int:
    settings = load_settings()
    old = keys.load_master_keyring(settings)
    new = MasterKey.generate()
    if settings.master_key is not None:
        if args.new_key_file is None:
            raise ConfigError(
                "TRUSTLINE_MASTER_KEY is set: pass --new-key-file PATH so the new "
                "key is saved before any data key is rewrapped."
            )
        key_file: Path = args.new_key_file
        keys.write_key_file(key_file, [new])
    else:
        key_file = settings.key_file
        # The new key goes first, the old ones stay: a crash at any point leaves a keyring
        # that opens every data key.
        keys.write_key_file(key_file, [new, old.current])

    async def rewrap() -> int:
        engine = make_engine(settings.database_url)
        maker = make_sessionmaker(engine)

        async def one_pass() -> int:
            done = 0
            while True:  # short transactions: the bot keeps working meanwhile
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

    count = asyncio.run(rewrap())
    if settings.master_key is None:
        keys.write_key_file(key_file, [new])
        print(f"Master key rotated: {count} keys rewrapped; the new key is in {key_file}.")
    else:
        print(
            f"Master key rotated: {count} keys rewrapped. A bot running with the old key "
            "cannot follow: restart it now with TRUSTLINE_MASTER_KEY set to the key in "
            f"{key_file}, then a comma and the old key (what the bot wrapped until its "
            "restart opens only with the old one)."
        )
    return 0
