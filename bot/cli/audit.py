"""`trustline audit verify`."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.cli.common import cli_runtime, load_settings
from bot.services.security import audit


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="the audit log")
    sub = parser.add_subparsers(dest="audit_command", required=True)
    verify = sub.add_parser("verify", help="check the hash chain of the audit log")
    verify.set_defaults(func=cmd_verify)


def cmd_verify(args: argparse.Namespace) -> int:
    async def go() -> audit.AuditReport:
        async with cli_runtime(load_settings()) as (_rt, session):
            return await audit.verify(session)

    report = asyncio.run(go())
    if report.ok:
        print(f"Audit log intact: {report.rows} rows.")
        return 0
    where = f" at row {report.row_id}" if report.row_id is not None else ""
    print(f"AUDIT LOG TAMPERED: {report.problem}{where} ({report.rows} rows verified before).")
    return 1
