"""`trustline db upgrade`."""

from __future__ import annotations

import argparse
from typing import Any

from bot.cli.common import load_settings


def register(subparsers: Any) -> None:
    db = subparsers.add_parser("db", help="database migrations")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply all migrations")
    up.set_defaults(func=cmd_upgrade)


def cmd_upgrade(args: argparse.Namespace) -> int:
    from bot.db.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    print("Database is up to date.")
    return 0
