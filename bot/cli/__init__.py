"""`trustline` console script: one module per command group, each with `register()`.

Only the module of the command being run is imported: `trustline --help` lists the
commands from COMMANDS without importing any of them (aiogram alone took 5 s to import),
and a command that never speaks to Telegram does not load the Bot API client.
"""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Collection, Sequence

# Each module defines register(subparsers) and sets `func` on its parsers. Command name:
# (the module that registers it, the line `trustline --help` shows for it, which is the
# help the module gives; tests/test_cli_startup.py checks that they agree).
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("bot.cli.run", "run the bot"),
    "db": ("bot.cli.db", "database migrations"),
    "keys": ("bot.cli.keys", "master key management"),
    "audit": ("bot.cli.audit", "the audit log"),
    "retention": ("bot.cli.retention", "retention of closed cases"),
    "org": ("bot.cli.org", "regions, districts and schools"),
    "invite": (
        "bot.cli.invite",
        "print a one-time invite link for a supervisor, psychologist or staff",
    ),
    "members": ("bot.cli.invite", "list or switch off member accounts"),
    "posters": (
        "bot.cli.posters",
        "print a school's classroom posters (one PDF, a page per classroom)",
    ),
    "demo": (
        "bot.cli.demo",
        "try it in the browser: a student and a psychologist, no Telegram needed",
    ),
    "doctor": (
        "bot.cli.doctor",
        "check the token, database, migrations, key file, webhook secret and "
        "psychologists' coverage",
    ),
    "deadletters": ("bot.cli.deadletters", "updates set aside after failing on every try"),
    "backup": (
        "bot.cli.backup",
        "write a consistent database dump into a folder (the keys stay apart)",
    ),
}
COMMAND_MODULES = tuple(dict.fromkeys(module for module, _ in COMMANDS.values()))


def build_parser(modules: Collection[str] | None = None) -> argparse.ArgumentParser:
    """The parser of every command, each module imported (`modules` None); or with only
    `modules` imported and every other command a placeholder with its name and help."""
    parser = argparse.ArgumentParser(
        prog="trustline",
        description="TrustLine: anonymous trust line for school students, in Telegram.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, (module, help_line) in COMMANDS.items():
        if name in subparsers.choices:
            continue  # registered with a sibling from the same module
        if modules is None or module in modules:
            importlib.import_module(module).register(subparsers)
        else:
            subparsers.add_parser(name, help=help_line)
    return parser


def command_in(argv: Sequence[str]) -> str | None:
    """The command named in `argv` (its first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


# Libraries that narrate their work at INFO (alembic: a line per migration step; fontTools:
# a hundred lines per poster font subset): only their warnings reach the operator.
QUIET_LIBRARIES = ("alembic", "fontTools", "matplotlib", "PIL", "asyncio")


class JsonLines(logging.Formatter):
    """One JSON object a line (TRUSTLINE_LOG_FORMAT=json), for a log collector. Records carry
    event names and case codes only, as the text format does."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging() -> None:
    """TRUSTLINE_LOG_LEVEL (default INFO) for TrustLine's own events, libraries' chatter at
    WARNING; TRUSTLINE_LOG_FORMAT=json for JSON lines (default: text)."""
    level = os.environ.get("TRUSTLINE_LOG_LEVEL", "INFO").upper()
    handler = logging.StreamHandler()
    if os.environ.get("TRUSTLINE_LOG_FORMAT", "text").lower() == "json":
        handler.setFormatter(JsonLines())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    if not root.handlers:  # as logging.basicConfig: an embedding host's handlers stay
        root.addHandler(handler)
    root.setLevel(level if level in logging.getLevelNamesMapping() else "INFO")
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = command_in(argv)
    needed = {COMMANDS[command][0]} if command in COMMANDS else set()
    args = build_parser(needed).parse_args(argv)
    configure_logging()
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        sentence = problem_sentence(exc)
        if sentence is None:
            raise
        print(f"trustline: {sentence}", file=sys.stderr)
        return 2
    return code


def problem_sentence(exc: BaseException) -> str | None:
    """The one line an operator is told for `exc`, or None for a bug (its traceback)."""
    from pydantic import ValidationError

    from bot.cli.problems import database_sentence, telegram_sentence
    from bot.services.errors import ConfigError

    if isinstance(exc, ConfigError):
        return str(exc)
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = "TRUSTLINE_" + str(first["loc"][0]).upper() if first.get("loc") else "settings"
        return f"{where} is not valid: {first['msg']}."
    return telegram_sentence(exc) or database_sentence(exc)


if __name__ == "__main__":
    raise SystemExit(main())
