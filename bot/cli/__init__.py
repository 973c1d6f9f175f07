"""`trustline` console script: one module per command group, each with `register()`."""

from __future__ import annotations

import argparse
import importlib
import logging
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


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )


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
