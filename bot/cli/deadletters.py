"""`trustline deadletters list | retry ID`: updates set aside after failing on every try.

`list` shows where and how each failed, never what it said or who sent it. `retry` opens
the sealed copy of one and has the bot handle it again, as if Telegram had just delivered
it; what the bot answers goes out through the outbox of the running bot.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from bot.cli.common import check_ready, load_settings
from bot.services.errors import ConfigError


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "deadletters", help="updates set aside after failing on every try"
    )
    sub = parser.add_subparsers(dest="deadletters_command", required=True)
    listing = sub.add_parser("list", help="list dead letters (no content is shown)")
    listing.add_argument("--all", action="store_true", help="include those handled since")
    listing.set_defaults(func=cmd_list)
    retry = sub.add_parser("retry", help="have the bot handle one dead letter again")
    retry.add_argument("id", type=int, help="the dead letter's ID, as `list` shows it")
    retry.set_defaults(func=cmd_retry)


def cmd_list(args: argparse.Namespace) -> int:
    from bot.config import DEFAULT_DATABASE_URL
    from bot.db.migrate import upgrade_async
    from bot.db.session import make_engine, make_sessionmaker
    from bot.services import deadletters

    settings = load_settings()

    async def go() -> list[str]:
        if settings.database_url == DEFAULT_DATABASE_URL:
            await upgrade_async(settings.database_url)
        await check_ready(settings)
        engine = make_engine(settings.database_url)
        try:
            async with make_sessionmaker(engine)() as session:
                letters = await deadletters.listing(session, include_handled=args.all)
                return [
                    f"{d.id}\t{d.update_id}\t{d.at:%Y-%m-%d %H:%M:%S}Z\t{d.attempts}\t"
                    f"{d.status}\t{d.error}\t{d.place}"
                    for d in letters
                ]
        finally:
            await engine.dispose()

    lines = asyncio.run(go())
    if not lines:
        print("No dead letters.")
        return 0
    print("ID\tUPDATE\tSET ASIDE (UTC)\tTRIES\tSTATUS\tERROR\tWHERE")
    for line in lines:
        print(line)
    return 0


def cmd_retry(args: argparse.Namespace) -> int:
    from bot.app import create_app, failure_place, parse_update
    from bot.services import deadletters

    settings = load_settings()
    letter_id: int = args.id

    async def go() -> tuple[int, str]:
        await check_ready(settings)  # before the key file or key rows are written
        app = await create_app(settings)
        try:
            async with app.sessionmaker() as session, session.begin():
                try:
                    raw = await deadletters.sealed_update(session, app.rt.vault, letter_id)
                except deadletters.DeadLetterGone as exc:
                    raise ConfigError(
                        f"There is no open dead letter {letter_id}; `trustline deadletters "
                        "list` shows them."
                    ) from exc
                update = parse_update(app, raw)
                if update is None:
                    raise ConfigError(f"Dead letter {letter_id} no longer parses as an update.")
                if await deadletters.already_handled(session, update.update_id):
                    await deadletters.mark_handled(session, letter_id, now=app.rt.now())
                    return 0, f"Dead letter {letter_id} was handled already; its copy is erased."
            try:
                await app.feed_update(update)
            except Exception as exc:
                failure = deadletters.Failure(failure_place(exc), type(exc).__name__, 1)
                async with app.sessionmaker() as session, session.begin():
                    await deadletters.count_failed_retry(
                        session, letter_id, failure, now=app.rt.now()
                    )
                return 1, (
                    f"Dead letter {letter_id} failed again: {failure.error} at "
                    f"{failure.place}. It stays set aside."
                )
            async with app.sessionmaker() as session, session.begin():
                await deadletters.mark_handled(session, letter_id, now=app.rt.now())
            return 0, (
                f"Dead letter {letter_id} handled; its copy is erased. The bot's "
                "answers go out through the running bot's outbox."
            )
        finally:
            await app.close()

    code, sentence = asyncio.run(go())
    print(sentence)
    return code
