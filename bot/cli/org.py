"""`trustline org import FILE.csv`: regions, districts and schools, all or nothing."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import cli_runtime, load_settings
from bot.cli.wording import counted
from bot.services.errors import InvalidInput


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("org", help="regions, districts and schools")
    sub = parser.add_subparsers(dest="org_command", required=True)
    imp = sub.add_parser(
        "import",
        help="import schools from a CSV file (country,region,district,school[,languages])",
    )
    imp.add_argument("file", type=Path, help="CSV file, UTF-8, with a header row")
    imp.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from bot.services.organisation import org
    from bot.services.security import audit

    path: Path = args.file
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        print(f"trustline: {path} does not exist.", file=sys.stderr)
        return 2
    except UnicodeDecodeError:
        print(f'trustline: {path} is not UTF-8 text; save it as "CSV UTF-8".', file=sys.stderr)
        return 2
    try:
        rows = org.parse_csv(text)
    except InvalidInput as exc:
        print(f"trustline: {path} was not imported, nothing was changed:\n{exc}", file=sys.stderr)
        return 1

    async def go() -> org.ImportReport:
        async with cli_runtime(load_settings()) as (rt, session):
            report = await org.import_rows(session, rows)
            await audit.record(
                session,
                actor="cli",
                event="org_imported",
                now=rt.now(),
                detail={
                    "regions": report.regions_added,
                    "districts": report.districts_added,
                    "schools": report.schools_added,
                    "updated": report.schools_updated,
                },
            )
            return report

    report = asyncio.run(go())
    print(
        f"Imported {path.name}: {counted(report.schools_added, 'new school')}, "
        f"{report.schools_updated} updated, {report.schools_unchanged} already present; "
        f"{counted(report.regions_added, 'new region')}, "
        f"{counted(report.districts_added, 'new district')}."
    )
    return 0
