"""`trustline` console script: one module per command group, each with `register()`."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from bot.cli.problems import database_sentence
from bot.services.errors import ConfigError

# Each module defines register(subparsers) and sets `func` on its parsers.
COMMAND_MODULES = (
    "bot.cli.run",
    "bot.cli.db",
    "bot.cli.keys",
    "bot.cli.audit",
    "bot.cli.retention",
    "bot.cli.org",
    "bot.cli.invite",
    "bot.cli.posters",
    "bot.cli.demo",
    "bot.cli.doctor",
    "bot.cli.deadletters",
    "bot.cli.backup",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="trustline",
        description="TrustLine: anonymous trust line for school students, in Telegram.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


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
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging()
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        print(f"trustline: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        first = exc.errors()[0]
        where = "TRUSTLINE_" + str(first["loc"][0]).upper() if first.get("loc") else "settings"
        print(f"trustline: {where} is not valid: {first['msg']}.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        sentence = database_sentence(exc)
        if sentence is None:
            raise
        print(f"trustline: {sentence}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
