"""`trustline doctor`: is this installation fit to take a child's message?

One line per check, and exit code 1 when any check fails:
- telegram: the token works (getMe names the bot's @name, the same as
  TRUSTLINE_BOT_USERNAME when that is set);
- key: the master key is there (TRUSTLINE_MASTER_KEY, or the key file with mode 0600) and
  opens the keys the database holds;
- webhook: when Telegram has a webhook set for the bot (getWebhookInfo), or `--webhook` is
  given, TRUSTLINE_WEBHOOK_SECRET is set and long enough (32 characters and more);
- database: reachable, migrations current;
- coverage: every region and district is covered by an active psychologist
  (bot.services.routing.pool_policy).
The doctor writes nothing: no key file, no database file, no rows.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.cli.common import missing_sqlite_file
from bot.services.errors import ConfigError

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.services.routing.pool_policy import Uncovered

Say = Callable[[str], Any]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "doctor",
        help="check the token, database, migrations, key file, webhook secret and "
        "psychologists' coverage",
    )
    parser.add_argument(
        "--webhook",
        metavar="URL",
        default=None,
        help="the webhook URL `trustline run --webhook` is given (checked also without it "
        "when Telegram has a webhook set for the bot)",
    )
    parser.set_defaults(func=cmd_doctor)


def cmd_doctor(args: argparse.Namespace) -> int:
    settings, secret_problem = doctor_settings()
    failures = asyncio.run(
        examine(settings, print, webhook=args.webhook, secret_problem=secret_problem)
    )
    return 1 if failures else 0


def doctor_settings() -> tuple[Settings, str | None]:
    """The settings, and what is wrong with TRUSTLINE_WEBHOOK_SECRET: a secret `run`
    would refuse is one failed check here, not the end of the examination."""
    from pydantic import ValidationError

    from bot.config import Settings

    try:
        return Settings(), None
    except ValidationError as exc:
        fields = {str(error["loc"][0]) for error in exc.errors() if error.get("loc")}
        if fields != {"webhook_secret"}:
            raise
        return Settings(webhook_secret=None), str(exc.errors()[0]["msg"]).removeprefix(
            "Value error, "
        )


@dataclass
class TelegramFindings:
    name: str | None = None  # the bot's @name, when getMe answered
    webhook_url: str | None = None  # Telegram's webhook for the bot ("" for none)


async def examine(
    settings: Settings, say: Say, *, webhook: str | None = None, secret_problem: str | None = None
) -> int:
    """Every check, one line each through `say`; returns the number of failed checks."""
    failures = 0
    telegram = TelegramFindings()
    line = await check_telegram(settings, telegram)
    failures += line is not None
    say(line or f"telegram: the token works; the bot is @{telegram.name}")
    for line, failed in (
        check_webhook(settings, telegram, webhook, secret_problem),
        await check_key(settings),
    ):
        failures += failed
        say(line)
    if (missing := missing_sqlite_file(settings)) is not None:
        say(f"database: the file {missing} does not exist; run `trustline db upgrade`")
        return failures + 1
    return failures + await diagnose(settings, say)


async def check_telegram(settings: Settings, found: TelegramFindings) -> str | None:
    """None when the token works (found.name, found.webhook_url filled in), else the line
    that says why not."""
    from bot.cli.common import telegram_username
    from bot.cli.problems import telegram_sentence
    from bot.cli.run import mismatched_name

    if settings.bot_token is None:
        return (
            "telegram: TRUSTLINE_BOT_TOKEN is not set; create a bot with @BotFather in "
            "Telegram (/newbot) and set the token it gives you"
        )
    try:
        found.name = await telegram_username(settings)
        found.webhook_url = await webhook_url(settings)
    except ConfigError as exc:
        return f"telegram: {exc}"
    except Exception as exc:
        sentence = telegram_sentence(exc)
        if sentence is None:
            raise
        return f"telegram: {sentence}"
    if (wrong := mismatched_name(settings, found.name)) is not None:
        return f"telegram: {wrong}"
    return None


async def webhook_url(settings: Settings) -> str:
    """The webhook Telegram has for the bot ("" when it is long polling)."""
    from bot.app import make_bot

    bot = make_bot(settings)
    try:
        return (await bot.get_webhook_info()).url
    finally:
        await bot.session.close()


def check_webhook(
    settings: Settings,
    telegram: TelegramFindings,
    given: str | None,
    secret_problem: str | None,
) -> tuple[str, bool]:
    if secret_problem is not None:
        return f"webhook: {secret_problem.rstrip('.')}", True
    url = given or telegram.webhook_url
    if url:
        if settings.webhook_secret is None:
            return (
                f"webhook: Telegram posts updates to {url}, but TRUSTLINE_WEBHOOK_SECRET is "
                "not set; set it to 32 or more random characters (openssl rand -hex 32), "
                "the same for every replica",
                True,
            )
        return "webhook: TRUSTLINE_WEBHOOK_SECRET is set and long enough", False
    if telegram.webhook_url is None:  # Telegram did not answer
        return "webhook: not known whether Telegram has a webhook set (see telegram)", False
    return "webhook: none set (the bot polls); no secret needed", False


async def check_key(settings: Settings) -> tuple[str, bool]:
    """The master key, read without writing anything (`run` makes a missing key file; here
    a missing one is a finding), and whether it opens the keys the database holds."""
    from bot.services.security import keys

    if settings.master_key is not None:
        where = "TRUSTLINE_MASTER_KEY"
    else:
        where = str(settings.key_file)
        if not settings.key_file.exists():
            return (
                f"key: the master key file {where} does not exist (the first `trustline run` "
                "makes one; if this database already holds reports, restore the file from "
                "where you keep it)",
                True,
            )
    try:
        keyring = keys.load_master_keyring(settings)  # the file exists: nothing is written
    except ConfigError as exc:
        return f"key: {exc}", True
    except OSError as exc:
        return f"key: cannot read {where} ({exc.strerror})", True
    mode = "" if settings.master_key is not None else ", mode 600 or stricter"
    opens = await opens_database_keys(settings, keyring)
    if opens is False:
        return (
            f"key: the master key in {where} does not open this database's keys; use the "
            "key this database was set up with",
            True,
        )
    tail = ", opens the database's keys" if opens else ""
    return f"key: {where} present{mode}{tail}", False


async def opens_database_keys(settings: Settings, keyring: Any) -> bool | None:
    """Whether the keyring unwraps the pseudonym root the database holds; None when that
    cannot be told (no such row, or a database not usable: its own check says so)."""
    from bot.crypto import DecryptionError
    from bot.db.models import KeyMaterial
    from bot.db.session import make_engine, make_sessionmaker
    from bot.services.security.keys import PSEUDONYM_ROOT

    if missing_sqlite_file(settings) is not None:
        return None
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            row = await session.get(KeyMaterial, PSEUDONYM_ROOT)
    except Exception:  # noqa: BLE001 - the database check says what is wrong with it
        return None
    finally:
        await engine.dispose()
    if row is None:
        return None
    try:
        keyring.unwrap(row.wrapped, row.kek_id, PSEUDONYM_ROOT)
    except DecryptionError:
        return False
    return True


def describe(place: Uncovered) -> str:
    if place.level == "region":
        return (
            f"region «{place.name}» has no active psychologist: its cases go to the "
            "country's duty pool"
        )
    return (
        f"district «{place.name}» ({place.region_name}) has no psychologist of its own "
        "and no region-wide one: its cases go to the region's other psychologists"
    )


async def diagnose(settings: Settings, say: Say) -> int:
    """The database and coverage checks: print what was checked; return the number of
    problems found."""
    from sqlalchemy import text

    from bot.cli.problems import database_sentence
    from bot.db.migrate import migration_heads
    from bot.db.session import make_engine, make_sessionmaker
    from bot.services.routing import pool_policy

    engine = make_engine(settings.database_url)
    problems = 0
    try:
        try:
            async with engine.connect() as conn:
                current = set(
                    (await conn.execute(text("SELECT version_num FROM alembic_version")))
                    .scalars()
                    .all()
                )
        except Exception as exc:  # noqa: BLE001 — any failure here is the finding
            unreachable = database_sentence(exc, settings.database_url)
            say(
                f"database: {unreachable.rstrip('.')}"
                if unreachable
                else f"database: not usable ({type(exc).__name__}); run `trustline db upgrade` "
                "or check TRUSTLINE_DATABASE_URL"
            )
            return 1
        if current != migration_heads():
            say("migrations: not current; run `trustline db upgrade`")
            return 1
        say("database: reachable, migrations current")
        async with make_sessionmaker(engine)() as session:
            uncovered = await pool_policy.uncovered_places(session)
        for place in uncovered:
            say(f"coverage: {describe(place)}")
            problems += 1
        if not uncovered:
            say("coverage: every region and district has a psychologist")
    finally:
        await engine.dispose()
    return problems
