"""`trustline retention run`: shred closed cases past their retention period now, move case
keys under the period key they belong to, and destroy the period keys no case needs any
more (the running bot also does it every hour)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.app import opened_core
from bot.cli.common import load_settings
from bot.cli.wording import counted
from bot.services.security import retention


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("retention", help="retention of closed cases")
    sub = parser.add_subparsers(dest="retention_command", required=True)
    run = sub.add_parser(
        "run", help="shred closed cases older than TRUSTLINE_RETENTION_DAYS (crypto-shredding)"
    )
    run.set_defaults(func=cmd_run)


def cmd_run(args: argparse.Namespace) -> int:
    settings = load_settings()

    async def go() -> retention.RetentionReport:
        async with opened_core(settings) as core:
            return await retention.run_retention(core.sessionmaker, core.rt)

    report = asyncio.run(go())
    copies = counted(
        report.dead_letter_copies_erased,
        "dead letter's sealed copy",
        "dead letters' sealed copies",
    )
    print(
        f"Retention: {counted(report.cases_shredded, 'closed case')} older than "
        f"{counted(settings.retention_days, 'day')} shredded; "
        f"{counted(report.updates_forgotten, 'update id')} and "
        f"{counted(report.outbox_rows_purged, 'delivered outbox row')} forgotten; "
        f"{copies} erased."
    )
    destroyed = report.period_keys_destroyed
    print(
        f"Period keys: {counted(report.keys_settled, 'case key')} moved under the key of "
        "its period; "
        + (
            f"{counted(len(destroyed), 'period key')} destroyed ({', '.join(destroyed)})."
            if destroyed
            else "none destroyed."
        )
    )
    return 0
