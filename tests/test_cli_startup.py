"""The console script starts without the bot (issue 16): `trustline --help` and the commands
that never speak to Telegram import no aiogram; how long that takes is measured in
benchmarks/cli_start.py, never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bot.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parent.parent
CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLINE_")}
# Run in a fresh interpreter: the CLI's main with the given arguments, then which of these
# modules it loaded, as JSON on the last line of stdout.
PROBE = """
import json, sys
from bot.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
heavy = ("aiogram", "sqlalchemy", "bot.app", "handlers")
print(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def probe(args: list[str], cwd: Path, **env: str) -> dict[str, object]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        cwd=cwd,
        env={**CLEAN_ENV, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.stdout.strip(), result.stderr
    found: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return found


def test_help_imports_neither_aiogram_nor_sqlalchemy(tmp_path: Path) -> None:
    assert probe(["--help"], tmp_path) == {"code": 0, "loaded": []}


def test_a_command_that_does_not_speak_to_telegram_does_not_import_aiogram(
    tmp_path: Path,
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'trustline.sqlite3'}"
    found = probe(["db", "upgrade"], tmp_path, TRUSTLINE_DATABASE_URL=url)
    assert found["code"] == 0
    assert "aiogram" not in found["loaded"]  # type: ignore[operator]
    assert (tmp_path / "trustline.sqlite3").exists()  # it did run
    found = probe(
        ["backup", "--out", str(tmp_path / "dumps")], tmp_path, TRUSTLINE_DATABASE_URL=url
    )
    assert found["code"] == 0
    assert "aiogram" not in found["loaded"]  # type: ignore[operator]
    assert len(list((tmp_path / "dumps").iterdir())) == 1


def test_the_help_lines_are_the_commands_own() -> None:
    """`trustline --help` lists the commands from bot.cli.COMMANDS without importing their
    modules; each line must be the help its module registers."""

    def help_lines(parser: object) -> dict[str, str | None]:
        (subparsers,) = [
            action
            for action in parser._actions  # type: ignore[attr-defined]
            if action.__class__.__name__ == "_SubParsersAction"
        ]
        return {choice.dest: choice.help for choice in subparsers._choices_actions}

    every_module = help_lines(build_parser())
    none_imported = help_lines(build_parser(set()))
    assert none_imported == every_module
    assert list(every_module) == list(COMMANDS)


def test_commands_that_open_the_core_do_not_import_aiogram(tmp_path: Path) -> None:
    """org import, members list, audit verify, retention run, invite list and posters open
    the app's core (bot/core.py: database, keys, translations) and never speak to Telegram
    (issue 16)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'trustline.sqlite3'}"
    schools = ROOT / "examples" / "schools.csv"
    assert probe(["db", "upgrade"], tmp_path, TRUSTLINE_DATABASE_URL=url)["code"] == 0
    for command in (
        ["org", "import", str(schools)],
        ["members", "list"],
        ["audit", "verify"],
        ["retention", "run"],
        ["invite", "list"],
    ):
        found = probe(command, tmp_path, TRUSTLINE_DATABASE_URL=url)
        assert found["code"] == 0, command
        assert "sqlalchemy" in found["loaded"], command  # type: ignore[operator]
        assert "aiogram" not in found["loaded"], command  # type: ignore[operator]
        assert "bot.app" not in found["loaded"], command  # type: ignore[operator]
    assert (tmp_path / "trustline-audit.key").exists()  # the core did open: its audit key
    # posters with TRUSTLINE_BOT_USERNAME set: the links' @name is not asked of Telegram.
    found = probe(
        ["posters", "--school", "1", "--classes", "5A", "--out", str(tmp_path / "p.pdf")],
        tmp_path,
        TRUSTLINE_DATABASE_URL=url,
        TRUSTLINE_BOT_USERNAME="zhambyl_trust_bot",
    )
    assert found["code"] == 0
    assert "aiogram" not in found["loaded"]  # type: ignore[operator]
    assert (tmp_path / "p.pdf").stat().st_size > 0
