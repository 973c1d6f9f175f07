"""The app factory: everything is built here, once, from Settings (also for tests)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import traceback
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from aiogram import Bot, Dispatcher
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot import metrics
from bot.aiogram_adapter import KeepResponseModels, get_raw_updates, run_filters_inline
from bot.config import DEFAULT_DATABASE_URL, Settings
from bot.db.migrate import upgrade_async
from bot.db.session import is_sqlite, make_engine, make_sessionmaker
from bot.delivery.sender import STOP_SECONDS as SENDER_STOP_SECONDS
from bot.delivery.sender import (
    OutboxSender,
    is_transient_db_error,
    missing_master_key,
)
from bot.i18n import Translator, make_i18n
from bot.middlewares import (
    IdentityMiddleware,
    LanguageMiddleware,
    RepliesAfterCommit,
    TransactionMiddleware,
)
from bot.services import deadletters
from bot.services.errors import ConfigError
from bot.services.runtime import Runtime, utc_now
from bot.services.security import audit, keys
from bot.services.security.vault import Vault
from bot.stopping import run_bounded, wait_bounded

log = logging.getLogger(__name__)
T = TypeVar("T")

# App.close: the workers' passes are short transactions; closing the Bot API session and
# the database's pool takes a moment. What outlasts these is logged and left.
WORKERS_STOP_SECONDS = 2.0
CLOSE_SECONDS = 5.0
# What outlasts those steps is waited for once more, longer than SQLite's 30 s busy
# timeout (bot/db/session.py), before the connections close under it.
LEFT_SECONDS = 45.0


@dataclass
class Core:
    """What every command needs that does not speak to Telegram: settings, the database,
    the keys (the vault follows a master key rotated by another process) and the
    translations. The bot's App is a Core plus the Telegram side."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    rt: Runtime
    i18n: I18n

    async def close(self) -> None:
        await self.engine.dispose()


async def create_core(
    settings: Settings, *, clock: Any = utc_now, migrate: bool | None = None
) -> Core:
    """Migrate (by default only the embedded SQLite default), open the database, load the
    master keyring and the pseudonym keys (made on the first start), build the runtime."""
    keyring = keys.load_master_keyring(settings)
    if migrate is None:
        migrate = settings.database_url == DEFAULT_DATABASE_URL
    if migrate:
        await upgrade_async(settings.database_url)
    engine = make_engine(
        settings.database_url,
        pool_size=settings.db_pool_size,
        pool_timeout=settings.db_pool_timeout_seconds,
    )
    await audit.bind_keys(engine, settings)  # rows chained with a key kept outside the db
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            pseudonyms = await keys.load_pseudonym_keys(session, keyring)
        periods = keys.load_period_keys(settings)  # made once the database answered
    except BaseException:
        await engine.dispose()  # no connection attempt may outlive a failed start
        await _sqlite_threads_done()
        raise
    i18n = make_i18n()
    rt = Runtime(
        vault=Vault(
            keyring,
            pseudonyms,
            periods=periods,
            reload=keys.keyring_reloader(settings, keyring),
        ),
        tr=Translator(i18n),
        settings=settings,
        bot_username=settings.bot_username or "trustline_bot",
        clock=clock,
    )
    return Core(settings, engine, sessionmaker, rt, i18n)


@contextlib.asynccontextmanager
async def opened_core(
    settings: Settings, *, clock: Any = utc_now, migrate: bool | None = None
) -> AsyncIterator[Core]:
    """create_core for the length of a block, closed after it."""
    core = await create_core(settings, clock=clock, migrate=migrate)
    try:
        yield core
    finally:
        await core.close()


@dataclass
class App:
    """The bot: a Core, the Bot API client, the dispatcher and the outbox sender."""

    core: Core
    bot: Bot
    dispatcher: Dispatcher
    sender: OutboxSender
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def settings(self) -> Settings:
        return self.core.settings

    @property
    def engine(self) -> AsyncEngine:
        return self.core.engine

    @property
    def sessionmaker(self) -> async_sessionmaker[AsyncSession]:
        return self.core.sessionmaker

    @property
    def rt(self) -> Runtime:
        return self.core.rt

    @property
    def i18n(self) -> I18n:
        return self.core.i18n

    async def start_background(self) -> None:
        self.background.append(asyncio.create_task(self.sender.run(), name="outbox"))
        from bot.workers import background_tasks  # workers are optional extensions

        for coro in background_tasks(self):
            # Named after their module and function: App.close logs a worker by its name.
            frame = getattr(coro, "cr_frame", None)
            module = str(frame.f_globals.get("__name__", "")) if frame is not None else ""
            name = f"{module.rsplit('.', 1)[-1]}.{getattr(coro, '__name__', 'worker')}"
            self.background.append(asyncio.create_task(coro, name=name))

    async def close(self) -> None:
        """Stop, every wait bounded and logged by step when it runs out, no task cancelled
        twice (bot/stopping.py): the workers are cancelled once (a pass is short
        transactions; one cut off rolls back and is done again by the next start), then
        the outbox sender is asked to stop (sends in flight finish or go back to
        pending, within its STOP_SECONDS; it is never cancelled), then the Bot API
        session and the database close."""
        workers = [t for t in self.background if t.get_name() != "outbox"]
        sending = [t for t in self.background if t.get_name() == "outbox"]
        for task in workers:
            task.cancel()
        await wait_bounded("app_close_workers", workers, WORKERS_STOP_SECONDS)
        self.sender.stop()
        await wait_bounded("app_close_outbox", sending, SENDER_STOP_SECONDS + 1.0)
        # Whatever is still running waits behind SQLite's write lock (see bot/stopping.py):
        # it ends by itself within the busy timeout. Cancelling it again (as the event
        # loop's shutdown does with what is left) would leave a close that never ends.
        await wait_bounded("app_close_left", self.background, LEFT_SECONDS)
        await run_bounded("app_close_bot_session", self.bot.session.close(), CLOSE_SECONDS)
        await run_bounded("app_close_database", self.core.close(), CLOSE_SECONDS)

    async def feed_update(self, update: Update) -> Any:
        with metrics.handling(update):
            return await self.dispatcher.feed_update(self.bot, update)


async def _sqlite_threads_done(limit: float = 1.0) -> None:
    """aiosqlite reports the shutdown of a connection that failed to open back to this
    loop from its thread; give it that moment before the loop closes on the error."""
    for _ in range(int(limit / 0.02)):
        if not any("_connection_worker_thread" in t.name for t in threading.enumerate()):
            return
        await asyncio.sleep(0.02)


def make_bot(settings: Settings) -> Bot:
    if settings.bot_token is None:
        raise ConfigError(
            "TRUSTLINE_BOT_TOKEN is not set: create a bot with @BotFather in Telegram "
            "(/newbot), then run TRUSTLINE_BOT_TOKEN=<the token it gives you> trustline run."
        )
    session = AiohttpSession(api=TelegramAPIServer.from_base(settings.telegram_api.rstrip("/")))
    session.middleware(KeepResponseModels())
    try:
        return Bot(
            settings.bot_token.get_secret_value(),
            session=session,
            default=DefaultBotProperties(link_preview_is_disabled=True),
        )
    except Exception as exc:  # aiogram validates the token's shape
        raise ConfigError(
            "TRUSTLINE_BOT_TOKEN does not look like a bot token (it should be like "
            "123456789:AA...); copy it again from @BotFather."
        ) from exc


async def create_app(
    settings: Settings, *, clock: Any = utc_now, migrate: bool | None = None
) -> App:
    """The one assembly of the bot: the Bot API client first (a bad token fails before
    the database is touched), then the Core, the outbox sender and the dispatcher. No
    FSM storage is configured: every step of a conversation lives on its database row
    (or in the button's CallbackData), written in the update's transaction."""
    bot = make_bot(settings)
    bot.session.middleware(RepliesAfterCommit())
    core = await create_core(settings, clock=clock, migrate=migrate)
    sender = OutboxSender(
        bot, core.sessionmaker, core.rt, is_postgres=not is_sqlite(settings.database_url)
    )
    dp = Dispatcher()
    dp.update.outer_middleware(TransactionMiddleware(core.sessionmaker, core.rt, sender.poke))
    dp.update.outer_middleware(IdentityMiddleware())
    LanguageMiddleware(core.i18n).setup(dp)
    from handlers import setup_routers

    dp.include_routers(*setup_routers())
    run_filters_inline(dp)
    return App(core, bot, dp, sender)


async def resolve_bot_username(app: App) -> None:
    if app.settings.bot_username:
        return
    try:
        me = await app.bot.me()
    except TelegramUnauthorizedError as exc:
        raise ConfigError(
            "Telegram rejected TRUSTLINE_BOT_TOKEN; copy the token again from @BotFather."
        ) from exc
    app.rt.bot_username = me.username or app.rt.bot_username


# An update that fails is tried this often in all, with backoff waits between tries, and
# is then set aside as a dead letter (bot.services.deadletters) so the updates behind it go
# on: the waits add up to at most (MAX_ATTEMPTS - 1) * RETRY_CAP_SECONDS, well under the
# 30 s a chat may be held up. Only while the database cannot even take the dead letter
# does the line wait on (then it is down for every update alike).
MAX_ATTEMPTS = 5
FIRST_BACKOFF_SECONDS = 0.25
RETRY_CAP_SECONDS = 5.0


def passing_failure(exc: BaseException) -> float | None:
    """Seconds to wait before feeding the update again when `exc` may pass by itself
    (database unreachable or busy, Telegram 5xx, 429 or a timeout during a direct answer, a
    data key wrapped under a master key this process does not hold yet); None for anything
    else."""
    if isinstance(exc, TelegramRetryAfter):
        return float(exc.retry_after)
    if isinstance(exc, TelegramNetworkError | TelegramServerError | ClientDecodeError):
        return 0.0
    if is_transient_db_error(exc) or missing_master_key(exc):
        return 0.0
    return None


def retry_wait(exc: BaseException, attempt: int) -> float:
    """The wait after failed try number `attempt`: a growing backoff, or Telegram's own
    retry_after, never more than RETRY_CAP_SECONDS."""
    backoff = FIRST_BACKOFF_SECONDS * 2.0 ** (attempt - 1)
    return min(max(backoff, passing_failure(exc) or 0.0), RETRY_CAP_SECONDS)


async def handle_update(
    app: App,
    update: Update,
    raw: dict[str, Any] | None = None,
    *,
    stop: asyncio.Event | None = None,
    wait_for_database: bool = True,
) -> bool:
    """Feed one update through the dispatcher (one transaction, idempotent) until it
    commits, at most MAX_ATTEMPTS times; then set it aside as a dead letter.

    True once the update is done with: committed, a duplicate, or set aside. False when it
    was not, and must not be confirmed: `stop` was set, or (with `wait_for_database`
    false) the database could not take the dead letter. Failures are logged by update id,
    exception class and our code's places only, since exception messages can quote
    content.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            await app.feed_update(update)
            metrics.update_done(update, "handled")
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failed = exc
        log.warning(
            "update_retry update=%s attempt=%s error=%s",
            update.update_id,
            attempt,
            type(failed).__name__,
        )
        if attempt == 1 and missing_master_key(failed):
            # The master key was rotated and this process cannot follow (a key given in
            # TRUSTLINE_MASTER_KEY is never read again): only a restart with the new key
            # helps, and until then every case rewrapped under it fails here.
            log.error(
                "master_key_not_loaded update=%s: restart the bot with the current master key",
                update.update_id,
            )
        if attempt >= MAX_ATTEMPTS:
            if await _set_aside(app, update, raw, failed, attempt):
                metrics.update_done(update, "dead_letter")
                return True
            if not wait_for_database:
                metrics.update_done(update, "unconfirmed")
                return False
        if await _stopped_within(stop, retry_wait(failed, attempt)):
            metrics.update_done(update, "unconfirmed")
            return False


async def _stopped_within(stop: asyncio.Event | None, seconds: float) -> bool:
    if stop is None:
        await asyncio.sleep(seconds)
        return False
    if not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()


async def _set_aside(
    app: App, update: Update, raw: dict[str, Any] | None, exc: BaseException, attempts: int
) -> bool:
    """Write the dead letter; False when the database cannot take it either."""
    failure = deadletters.Failure(failure_place(exc), type(exc).__name__, attempts)
    if raw is None:
        raw = update.model_dump(mode="json", by_alias=True, exclude_none=True)
    try:
        async with app.sessionmaker() as session, session.begin():
            await deadletters.record(
                session, app.rt.vault, update.update_id, raw, failure, now=app.rt.now()
            )
    except asyncio.CancelledError:
        raise
    except Exception as db_exc:
        log.warning(
            "dead_letter_failed update=%s error=%s", update.update_id, type(db_exc).__name__
        )
        return False
    log.error(
        "update_dead_lettered update=%s error=%s at=%s attempts=%s",
        update.update_id,
        failure.error,
        failure.place,
        attempts,
    )
    return True


def failure_place(exc: BaseException) -> str:
    """Our own frames of a traceback, innermost last: places, never values."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/site-packages/" not in f.filename] or frames[-1:]
    return " < ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(ours[-4:]))


def parse_update(app: App, raw: Any) -> Update | None:
    """An Update bound to the bot, or None (logged by id) when it cannot be parsed."""
    try:
        return Update.model_validate(raw, context={"bot": app.bot})
    except (ValidationError, ValueError, TypeError):
        update_id = raw.get("update_id") if isinstance(raw, dict) else None
        log.warning("update_unparseable update=%s", update_id)
        return None


async def poll(app: App, *, poll_seconds: int = 25, stop: asyncio.Event | None = None) -> None:
    """Long polling that confirms a batch only after every update in it was handled and
    committed (or set aside as a dead letter), so updates of a process that dies are
    delivered again (and skipped by id where they had committed).

    An update that fails is fed again, in place, a few times, then set aside: one update
    never holds up the others for long. While the database is down the line waits
    instead of dropping children's messages. Updates of one chat run in order; different
    chats run concurrently. Once `stop` is set no update is taken: the long poll in
    flight is abandoned, and updates of the batch in hand not yet begun are left
    unconfirmed, for the next start.
    """
    stop = stop or asyncio.Event()
    offset: int | None = None
    while not stop.is_set():
        try:
            await app.bot.delete_webhook(drop_pending_updates=False)
            break
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("delete_webhook_failed error=%s", type(exc).__name__)
            await _stopped_within(stop, 1.0)
    while not stop.is_set():
        try:
            raw_updates = await _unless_stopped(
                stop,
                get_raw_updates(
                    app.bot,
                    offset=offset,
                    poll_seconds=poll_seconds,
                    limit=100,
                    request_timeout=poll_seconds + 10,
                ),
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # network trouble: back off, keep polling
            log.warning("get_updates_failed error=%s", type(exc).__name__)
            await _stopped_within(stop, 1.0)
            continue
        if not raw_updates:
            continue
        by_chat: dict[Any, list[tuple[Update, dict[str, Any]]]] = defaultdict(list)
        for raw in raw_updates:
            update = parse_update(app, raw)
            if update is not None:
                by_chat[_chat_key(update)].append((update, raw))
        await asyncio.gather(*(_handle_in_order(app, group, stop) for group in by_chat.values()))
        ids = [i for raw in raw_updates if isinstance(i := raw.get("update_id"), int)]
        if ids and not stop.is_set():
            offset = max(ids) + 1


async def _unless_stopped(stop: asyncio.Event, call: Awaitable[T]) -> T | None:
    """The call's result, or None (the call cancelled) once `stop` is set."""
    task = asyncio.ensure_future(call)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        return None
    return task.result()


def _chat_key(update: Update) -> Any:
    for event in (update.message, update.edited_message, update.callback_query):
        if event is not None and event.from_user is not None:
            return event.from_user.id
    return update.update_id


async def _handle_in_order(
    app: App, updates: list[tuple[Update, dict[str, Any]]], stop: asyncio.Event
) -> None:
    for update, raw in updates:
        if stop.is_set() or not await handle_update(app, update, raw, stop=stop):
            return  # stopping: the rest stay unconfirmed, for the next start
