"""The app factory: everything is built here, once, from Settings (also for tests)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import threading
import traceback
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

from aiogram import Bot, Dispatcher, Router
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.session.middlewares.base import (
    BaseRequestMiddleware,
    NextRequestMiddlewareType,
)
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    ClientDecodeError,
    TelegramNetworkError,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.fsm.storage.base import BaseStorage, DefaultKeyBuilder, StorageKey
from aiogram.fsm.storage.memory import MemoryStorage
from aiogram.methods import GetUpdates, TelegramMethod
from aiogram.methods.base import Response
from aiogram.types import Update
from aiogram.utils.i18n import I18n
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.config import DEFAULT_DATABASE_URL, Settings
from bot.db.migrate import upgrade_async
from bot.db.session import is_sqlite, make_engine, make_sessionmaker
from bot.delivery.sender import (
    RELEASE_SECONDS,
    STOP_GRACE_SECONDS,
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
from bot.services.security import keys
from bot.services.security.vault import Vault

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class App:
    settings: Settings
    bot: Bot
    dispatcher: Dispatcher
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    rt: Runtime
    i18n: I18n
    sender: OutboxSender
    background: list[asyncio.Task[Any]] = field(default_factory=list)

    async def start_background(self) -> None:
        self.background.append(asyncio.create_task(self.sender.run(), name="outbox"))
        from bot.workers import background_tasks  # workers are optional extensions

        for coro in background_tasks(self):
            self.background.append(asyncio.create_task(coro))

    async def close(self) -> None:
        """Stop: sends in flight finish or go back to pending (OutboxSender.run), then
        the other background work is cancelled and the connections closed."""
        self.sender.stop()
        sending = [t for t in self.background if t.get_name() == "outbox"]
        if sending:
            await asyncio.wait(sending, timeout=STOP_GRACE_SECONDS + RELEASE_SECONDS + 1.0)
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.bot.session.close()
        await self.engine.dispose()

    async def feed_update(self, update: Update) -> Any:
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


class KeepResponseModels(BaseRequestMiddleware):
    """Keep aiogram's parametrised `Response[...]` models alive for the process.

    aiogram validates every Bot API answer with `Response[method.__returning__]`, and
    pydantic caches parametrised generic models only weakly: the first garbage collection
    after a call drops the model, and the next call builds its schema and validator again,
    ~5 ms of CPU on every sendMessage and every getUpdates (benchmarks/BENCHMARKS.md,
    "Response models"). One strong reference per return type ends that.
    """

    def __init__(self) -> None:
        self._kept: dict[Any, Any] = {}

    async def __call__(
        self,
        make_request: NextRequestMiddlewareType[Any],
        bot: Bot,
        method: TelegramMethod[Any],
    ) -> Any:
        returning = method.__returning__
        if returning not in self._kept:
            self._kept[returning] = Response[returning]
        return await make_request(bot, method)


class PseudonymousKeyBuilder(DefaultKeyBuilder):
    """Redis keys name a keyed hash of the chat and user, never the Telegram ids."""

    def __init__(self, secret: bytes) -> None:
        super().__init__(prefix="trustline:fsm", with_destiny=True)
        self.secret = secret

    def build(self, key: StorageKey, part: Literal["data", "state", "lock"] | None = None) -> str:
        material = f"{key.bot_id}:{key.chat_id}:{key.thread_id}:{key.user_id}".encode()
        digest = hmac.new(self.secret, material, hashlib.sha256).hexdigest()[:32]
        parts = [self.prefix, digest, key.destiny]
        if part:
            parts.append(part)
        return self.separator.join(parts)


def make_storage(settings: Settings, secret: bytes) -> BaseStorage:
    """aiogram's FSM storage: in memory for one instance, in Redis (pseudonymous keys) for
    several. No flow keeps anything here that must survive a restart: the language, the
    active case and conversation steps (the student's and a member's `step`) live on their
    database rows, written in the update's transaction (tests/test_restart.py)."""
    if settings.redis_url:
        from aiogram.fsm.storage.redis import RedisStorage

        return RedisStorage.from_url(
            settings.redis_url, key_builder=PseudonymousKeyBuilder(secret)
        )
    return MemoryStorage()


async def create_app(
    settings: Settings, *, clock: Any = utc_now, migrate: bool | None = None
) -> App:
    """Build the bot, the database, the keys and the dispatcher from settings."""
    bot = make_bot(settings)
    bot.session.middleware(RepliesAfterCommit())
    keyring = keys.load_master_keyring(settings)
    if migrate is None:
        migrate = settings.database_url == DEFAULT_DATABASE_URL
    if migrate:
        await upgrade_async(settings.database_url)
    engine = make_engine(settings.database_url)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with sessionmaker() as session, session.begin():
            pseudonyms = await keys.load_pseudonym_keys(session, keyring)
    except BaseException:
        await engine.dispose()  # no connection attempt may outlive a failed start
        await _sqlite_threads_done()
        raise
    i18n = make_i18n()
    rt = Runtime(
        vault=Vault(keyring, pseudonyms, reload=keys.keyring_reloader(settings, keyring)),
        tr=Translator(i18n),
        settings=settings,
        bot_username=settings.bot_username or "trustline_bot",
        clock=clock,
    )
    sender = OutboxSender(bot, sessionmaker, rt, is_postgres=not is_sqlite(settings.database_url))
    dp = Dispatcher(storage=make_storage(settings, pseudonyms.student))
    dp.update.outer_middleware(TransactionMiddleware(sessionmaker, rt, sender.poke))
    dp.update.outer_middleware(IdentityMiddleware())
    LanguageMiddleware(i18n).setup(dp)
    from handlers import setup_routers

    dp.include_routers(*setup_routers())
    run_filters_inline(dp)
    return App(settings, bot, dp, engine, sessionmaker, rt, i18n, sender)


def run_filters_inline(router: Router) -> None:
    """Run synchronous filters on the event loop instead of in a worker thread.

    aiogram runs every non-async callable (our role filters, every `F.…` magic filter) with
    `asyncio.to_thread`; an update passes some twenty of them on its way through the
    routers, and each thread hop cost more than the filter itself (benchmarks/BENCHMARKS.md,
    "filters"). Filters are lookups on the update and on what the middlewares found, never
    I/O; anything slow must be an async filter.
    """
    for observer in router.observers.values():
        # The router-level filters live on the observer's own HandlerObject.
        own = getattr(observer, "_handler", None)
        for handler in [*observer.handlers, *([own] if own is not None else [])]:
            for flt in handler.filters or ():
                if not flt.awaitable:
                    flt.callback = _inline(flt.callback)
                    flt.awaitable = True
    for sub in router.sub_routers:
        run_filters_inline(sub)


def _inline(sync: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
    async def inline(*args: Any, **kwargs: Any) -> Any:
        return sync(*args, **kwargs)

    return inline


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


class GetRawUpdates(GetUpdates):
    """getUpdates answered as plain dicts: each update is parsed on its own, so one that
    this aiogram cannot parse is skipped instead of failing the whole batch for ever."""

    __returning__ = list[dict[str, Any]]


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
    backoff = FIRST_BACKOFF_SECONDS * 2 ** (attempt - 1)
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
                return True
            if not wait_for_database:
                return False
        if await _stopped_within(stop, retry_wait(failed, attempt)):
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
                app.bot(
                    GetRawUpdates(offset=offset, timeout=poll_seconds, limit=100),
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
