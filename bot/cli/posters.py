"""`trustline posters --school S --classes "5А,5Б" [--lang ky,ru] [--paper a4|a3] --out F.pdf`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import Any

from bot.cli.common import bot_username, check_ready, cli_runtime, load_settings
from bot.cli.wording import counted
from qr_posters import ClassListProblem

CLASS_LIST_SENTENCES = {
    ClassListProblem.EMPTY: 'the class list is empty; write it like "5А,5Б,6А" or "5-11 А-В"',
    ClassListProblem.TOO_MANY: "the class list has more than 200 classrooms ({fragment}); "
    "print a school at a time",
    ClassListProblem.TOO_LONG_INPUT: "the class list is far too long; print a school at a time",
    ClassListProblem.NAME_TOO_LONG: "a classroom name is longer than 20 characters ({fragment})",
    ClassListProblem.BAD_CHARACTER: "a classroom name has a character that cannot be printed "
    "({fragment}); use letters, digits and - . / ( ) only",
    ClassListProblem.BAD_RANGE: "the range {fragment} does not work: grades go from 0 to 12, "
    "the smaller number first, and both letters come from one alphabet",
}


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "posters",
        help="print a school's classroom posters (one PDF, a page per classroom)",
        description="Make a new poster for every classroom listed. Posters printed earlier "
        "keep working.",
    )
    parser.add_argument(
        "--school", metavar="S", required=True, help="school name (or District/School, or its id)"
    )
    parser.add_argument(
        "--classes",
        metavar="LIST",
        required=True,
        help='classrooms, e.g. "5А,5Б,6А" or "5-11 А-В"',
    )
    parser.add_argument(
        "--lang",
        metavar="L1,L2",
        help="one or two of ky, kk, ru (default: the school's languages)",
    )
    parser.add_argument("--paper", choices=("a4", "a3"), default="a4")
    parser.add_argument("--out", metavar="FILE.pdf", required=True, type=Path)
    parser.set_defaults(func=cmd_posters)


def fail(sentence: str) -> int:
    print(f"trustline: {sentence}.", file=sys.stderr)
    return 2


def cmd_posters(args: argparse.Namespace) -> int:
    from bot.services.errors import NotFound
    from bot.services.organisation import org
    from bot.services.posters import posters

    try:
        languages = posters.parse_languages(args.lang) if args.lang else None
    except posters.BadLanguages:
        return fail(f"--lang must be one or two of ky, kk, ru, like ky,ru (not {args.lang!r})")
    try:
        classrooms = posters.parse_classes(args.classes)
    except posters.BadClassList as exc:
        return fail(CLASS_LIST_SENTENCES[exc.problem].format(fragment=exc.fragment))
    out: Path = args.out
    if out.is_dir() or not out.parent.is_dir():
        return fail(f"cannot write {out}: no such folder")

    async def go() -> posters.PrintJob:
        settings = load_settings()
        await check_ready(settings)  # before Telegram is asked, and before any write
        name = await bot_username(settings)
        async with cli_runtime(settings, bot_name=name, checked=True) as (rt, session):
            school = await org.find_school(session, args.school)
            return await posters.print_posters(
                session, rt, school.id, classrooms, languages, args.paper, actor="cli"
            )

    try:
        job = asyncio.run(go())
    except NotFound as exc:
        return fail(str(exc))
    except posters.PrintFailed as exc:
        return fail(f"a QR code did not read back correctly, so nothing was printed ({exc})")
    # Only now, with the posters committed, does the PDF appear, and never half-written.
    partial = out.with_name(out.name + ".part")
    partial.write_bytes(job.pdf)
    os.replace(partial, out)
    codes = (
        f"{job.posters[0].code}…{job.posters[-1].code}"
        if len(job.posters) > 1
        else (job.posters[0].code)
    )
    print(
        f"{counted(len(job.posters), 'poster')} for {job.school_name} "
        f"({'+'.join(job.languages)}, {job.paper.upper()}, {len(job.pdf) // 1024} KB) written "
        f"to {out}; poster {'code' if len(job.posters) == 1 else 'codes'} {codes}. Posters "
        "printed earlier keep working."
    )
    return 0
