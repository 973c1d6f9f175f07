"""`trustline audit verify | checkpoints | new-key`."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.cli.common import cli_runtime, load_settings
from bot.cli.wording import counted

SHOWN_FINDINGS = 100


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("audit", help="the audit log")
    sub = parser.add_subparsers(dest="audit_command", required=True)
    verify = sub.add_parser(
        "verify", help="check the audit log's keyed chains against the checkpoint file"
    )
    verify.set_defaults(func=cmd_verify)
    checkpoints = sub.add_parser(
        "checkpoints", help="list the checkpoints and the digests the supervisors received"
    )
    checkpoints.set_defaults(func=cmd_checkpoints)
    new_key = sub.add_parser(
        "new-key", help="chain new audit rows with a new key (the old ones stay to verify)"
    )
    new_key.set_defaults(func=cmd_new_key)


def cmd_verify(args: argparse.Namespace) -> int:
    from bot.services.security import audit, audit_checkpoints, audit_keys

    settings = load_settings()

    async def go() -> tuple[audit.AuditReport, audit_checkpoints.CheckpointFile]:
        async with cli_runtime(settings) as (_rt, session):
            keyring = audit_keys.load(settings)
            path = audit_checkpoints.checkpoint_path(settings)
            found = audit_checkpoints.read(path, keyring)
            return await audit.verify(session, keyring, found.checkpoints), found

    report, found = asyncio.run(go())
    problems = [*found.problems, *(finding.what for finding in report.findings)]
    if problems:
        for problem in problems[:SHOWN_FINDINGS]:
            print(f"AUDIT LOG TAMPERED: {problem}")
        if len(problems) > SHOWN_FINDINGS:
            more = counted(len(problems) - SHOWN_FINDINGS, "finding")
            print(f"AUDIT LOG TAMPERED: and {more} more")
        return 1
    rows, stripes = counted(report.rows, "row"), counted(report.stripes, "stripe")
    print(f"Audit log intact: {rows} in {stripes}.")
    if report.legacy_rows:
        legacy = counted(report.legacy_rows, "row is", "rows are")
        print(f"{legacy} from before keyed chaining (unkeyed hashes).")
    if found.checkpoints:
        last = found.checkpoints[-1]
        if len(found.checkpoints) == 1:
            print(f"Checked against 1 checkpoint, {last.label}, digest {last.short_digest}.")
        else:
            print(
                f"Checked against {len(found.checkpoints)} checkpoints; the last, "
                f"{last.label}, has digest {last.short_digest}."
            )
    else:
        path = audit_checkpoints.checkpoint_path(settings)
        print(
            f"No checkpoint in {path} yet (the running bot writes them): rows deleted from "
            "the end of the log could not be noticed."
        )
    return 0


def cmd_checkpoints(args: argparse.Namespace) -> int:
    from bot.services.security import audit_checkpoints, audit_keys

    settings = load_settings()
    keyring = audit_keys.load(settings)
    found = audit_checkpoints.read(audit_checkpoints.checkpoint_path(settings), keyring)
    for checkpoint in found.checkpoints:
        print(
            f"{checkpoint.label}  {counted(checkpoint.entries, 'entry', 'entries')}  "
            f"digest {checkpoint.short_digest}"
        )
    for problem in found.problems:
        print(f"AUDIT LOG TAMPERED: {problem}")
    return 1 if found.problems else 0


def cmd_new_key(args: argparse.Namespace) -> int:
    from bot.services.security import audit_keys

    settings = load_settings()
    audit_keys.load(settings)  # made on first use, like the master key
    key = audit_keys.add_key(settings)
    print(
        f"New audit key {key.key_id} in {audit_keys.key_file_path(settings)}; the older keys "
        "stay there so old rows verify. Restart the bot to chain with it."
    )
    return 0
