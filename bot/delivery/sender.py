"""The outbox sender: delivers committed outgoing messages within Telegram's limits.

Every row goes through two short transactions, fenced by the claim's token (the row's
`attempts` after the claim incremented it):

1. *claim*: the head of a chat's queue is leased and marked `sending` (`FOR UPDATE SKIP
   LOCKED` on PostgreSQL, so instances sharing the database never claim the same row),
   and its Bot API request is built from the sealed payload in the same transaction. The
   call then waits for the rate limits; after a long wait the lease is renewed first,
   fenced, so a sender whose lease ran out never sends a row someone else took over;
2. *outcome*: `sent` (payload erased), a retry time, `blocked` (403: the psychologist is
   told), `failed` (400: the request itself is wrong) or `dropped` (the case was shredded
   or the student unlinked their chat), together with the claim of the chat's next row.

The crash window. Telegram has no idempotency key, so a message can be exactly-once only
up to the moment between Telegram accepting it and step 2 committing. We choose
at-least-once there: a row left `sending` by a dead process (its lease expired) is sent
again. A lost answer to a child is the failure this project must never have; a repeated one
is merely awkward. Two things keep the window narrow: a database outage during step 2 does
not widen it (the outcome is retried in memory until it commits), and the moment Telegram
accepts a message its row id is appended to a local note file (bot/delivery/sentlog.py), which the
next bot starting in the same directory records before it sends anything. What remains is
the time between Telegram accepting the request and that one `write()`. Outside it, every
row is delivered exactly once.

Order: a chat's rows are sent one at a time, oldest first; a row waiting for a retry holds
back the rows after it in the same chat, and a chat whose head is leased is skipped, so
two instances never interleave one chat. Fairness: only heads of chats are claimed, so a
chat with 10,000 queued messages gets one slot per turn like everybody else.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import logging
import random
import time
import uuid
from collections import Counter, OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from aiogram import Bot, methods
from aiogram.exceptions import (
    AiogramError,
    TelegramBadRequest,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramNotFound,
    TelegramRetryAfter,
)
from aiogram.types import BotCommandScopeChat, BufferedInputFile, Message, MessageId
from pydantic import ValidationError
from sqlalchemy import (
    BindParameter,
    ColumnElement,
    CursorResult,
    Integer,
    and_,
    bindparam,
    func,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from bot.crypto import DecryptionError
from bot.db.models import Case, Member, OutboxMessage, Relay
from bot.db.session import make_engine, make_sessionmaker
from bot.delivery import file_cleaning, menus, outbox, undelivered
from bot.delivery.ratelimit import Permit, RateLimiter, SharedWindow
from bot.delivery.sentlog import SentLog, SentNote
from bot.services.runtime import Runtime
from bot.services.security.vault import CaseShredded
from bot.stopping import wait_bounded

log = logging.getLogger(__name__)

# A Bot API send gives up after SEND_TIMEOUT; a lease covers one whole call plus a margin
# for the claim and outcome transactions. A row a dead process left `sending` is therefore
# claimed again about LEASE after its last claim (seconds, not a minute). A live sender
# keeps its leases: every KEEP_LEASES_SECONDS it renews all the claims it holds (a busy
# process may take longer than one lease from claim to outcome), and before a call it
# renews, fenced, a claim whose lease would not cover the call.
SEND_TIMEOUT = 7
LEASE = timedelta(seconds=SEND_TIMEOUT + 3)
RENEW_AFTER_SECONDS = LEASE.total_seconds() - SEND_TIMEOUT - 1.0
KEEP_LEASES_SECONDS = LEASE.total_seconds() / 4
# On stop, sends in flight get this long to finish; what is left is cut (cancelled, once)
# and released (back to pending), so the next start sends it at once instead of after a
# lease. Each step is bounded (bot/stopping.py); STOP_SECONDS is the whole stop.
STOP_GRACE_SECONDS = 4.0
CUT_SECONDS = 1.0
KEEPER_STOP_SECONDS = 1.0
RELEASE_SECONDS = 2.0
STOP_SECONDS = STOP_GRACE_SECONDS + CUT_SECONDS + KEEPER_STOP_SECONDS + RELEASE_SECONDS
# Heads claimed per look at the table, and chats worked at once by one instance: at most
# what the overall limit lets out in ACTIVE_SECONDS_OF_SENDS (the chats claimed beyond that
# would only wait for their turn holding leases: 200 chats at 30 a second waited up to 7 s,
# 13 s with two processes sharing the limit, their leases kept alive all the while).
BATCH = 100
CLAIM_BATCH = 25
MAX_ACTIVE_CHATS = 200
ACTIVE_SECONDS_OF_SENDS = 2.0
RETRY_CAP_SECONDS = 300
IDLE_SECONDS = 1.0
# Statuses of rows still to be delivered; the rest are final.
UNSENT = ("pending", "sending")

T = TypeVar("T")
# (case_id, member_id, chat_key): one chat's queue; exactly one of the three is set.
Queue = tuple[int | None, int | None, bytes | None]


# SQLSTATE classes worth waiting out: connection trouble, insufficient resources, an
# operator or crash shutdown ("cannot connect now" while PostgreSQL starts), and a
# serialisation failure or deadlock.
_TRANSIENT_SQLSTATE = ("08", "53", "57", "40")


def is_transient_db_error(exc: BaseException) -> bool:
    """A database that is unreachable, restarting or busy: worth retrying, not a bug."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError | ConnectionError | TimeoutError):
            return True
        code = getattr(current, "sqlstate", None) or getattr(current, "pgcode", None)
        if isinstance(code, str) and code.startswith(_TRANSIENT_SQLSTATE):
            return True
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return False


def missing_master_key(exc: BaseException) -> bool:
    """A data key is wrapped under a master key this process has not loaded (yet): after a
    rotation elsewhere. Waiting is right; dropping what it protects would lose it."""
    return isinstance(exc, DecryptionError) and str(exc).startswith("no master key")


# Undelivered messages remembered so that their other parts are not reported again.
TOLD_REMEMBERED = 1000

# Why a row is dropped at send time (the row's `error`, the counters' and the log's reason).
MEMBER_DEACTIVATED = "member_deactivated"
STUDENT_FORGOT = "student_forgot"
CASE_SHREDDED = "case_shredded"
TARGET_GONE = "target_gone"


class Dropped(LookupError):
    """The row's addressee is no longer one: it is dropped, not sent, and counted."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Outcome:
    # "sent", "retry", "blocked", "failed", "dropped" (final, at most 12 characters), or
    # "lost": the claim was taken over, nothing is recorded.
    status: str
    error: str | None = None
    retry_after: float = 0.0
    message_id: int | None = None
    # Why a row was refused for good or dropped (bot.delivery.undelivered, Dropped).
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A leased row: its id, its chat's queue, the token fencing later writes, and what
    the claiming transaction built: the Bot API request, or the outcome that stands in
    for sending it (a target gone, a payload that cannot be opened)."""

    id: uuid.UUID
    case_id: int | None
    member_id: int | None
    token: int
    relay_case_id: int | None = None
    request: Any = None
    method: str = ""
    unsendable: Outcome | None = None
    claimed_at: float = field(default_factory=time.monotonic)
    chat_key: bytes | None = None
    created_at: datetime | None = None

    @property
    def queue(self) -> Queue:
        return (self.case_id, self.member_id, self.chat_key)


class OutboxSender:
    def __init__(
        self,
        bot: Bot,
        sessionmaker: async_sessionmaker[AsyncSession],
        rt: Runtime,
        *,
        is_postgres: bool,
    ) -> None:
        self.bot = bot
        self.sessionmaker = sessionmaker
        self.rt = rt
        self.is_postgres = is_postgres
        # On PostgreSQL the overall limit is shared with every other process of the bot
        # (bot/delivery/ratelimit.py); until `run` opens a connection of its own for it,
        # it uses the sessions' engine.
        per_second = rt.settings.send_per_second
        self.shared = SharedWindow(sessionmaker.kw["bind"], per_second) if is_postgres else None
        self.limiter = RateLimiter(
            per_second, rt.settings.send_per_chat_per_second, shared=self.shared
        )
        self.send_timeout = SEND_TIMEOUT
        self.max_active_chats = min(
            MAX_ACTIVE_CHATS, max(CLAIM_BATCH, round(per_second * ACTIVE_SECONDS_OF_SENDS))
        )
        self.sent_log = SentLog(Path.cwd())
        self.wakeup = asyncio.Event()
        self._stopping = False
        self._keeper_stop = asyncio.Event()
        self._active: dict[Queue, asyncio.Task[int]] = {}
        # Rows dropped unsent and rows Telegram refused for good, per reason (_count).
        self.dropped: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        # Messages already reported as not delivered: the parts of one long message share
        # their chat and creation time, and one notice speaks for all of them.
        self._told: OrderedDict[tuple[Any, ...], None] = OrderedDict()
        # Rows this sender holds a committed claim on and has recorded no outcome for yet:
        # row id -> claim token. Their leases are kept while the sender runs; on stop they
        # are released, except those Telegram accepted (their sent notes cover them), so a
        # release never makes an accepted message go again.
        self._held: dict[uuid.UUID, int] = {}
        self._accepted: set[uuid.UUID] = set()

    # --- lifecycle ------------------------------------------------------------------------

    def poke(self) -> None:
        self.wakeup.set()

    def stop(self) -> None:
        self._stopping = True
        self.wakeup.set()

    async def run(self) -> None:
        self.sent_log.open()
        keeper = asyncio.create_task(self._keep_leases(), name="outbox-leases")
        seats_engine = None
        if self.shared is not None:  # its own connection: never behind a busy pool
            shared_by_sessions = self.shared.engine
            seats_engine = make_engine(
                shared_by_sessions.url.render_as_string(hide_password=False),
                pool_size=1,
                max_overflow=0,
            )
            self.shared.engine = seats_engine
        try:
            await self._retry_db(self._apply_sent_notes)
            while not self._stopping:
                try:
                    started = await self._start_due_chats()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # keep delivering after a database hiccup
                    if is_transient_db_error(exc):
                        log.warning("outbox_claim_failed error=%s", type(exc).__name__)
                    else:
                        log.exception("outbox_claim_failed")
                    started = 0
                if started == 0:
                    await _woken(self.wakeup, IDLE_SECONDS)
                    self.wakeup.clear()
        finally:
            try:
                await self._wind_down(keeper)
            finally:
                if seats_engine is not None and self.shared is not None:
                    self.shared.engine = shared_by_sessions
                    await seats_engine.dispose()

    async def _wind_down(self, keeper: asyncio.Task[None]) -> None:
        """Let sends already in flight record their outcome; the rows of those cut off go
        back to pending (a killed process leaves them to its leases instead). Stopped by
        `stop()`, not by cancelling `run`: every wait here is bounded (STOP_SECONDS in
        all) and each task is cancelled at most once (bot/stopping.py says why)."""
        self._stopping = True
        try:
            await wait_bounded("outbox_grace", self._active.values(), STOP_GRACE_SECONDS)
            cut = list(self._active.values())
            for task in cut:
                task.cancel()
            await wait_bounded("outbox_cut", cut, CUT_SECONDS)
        finally:
            self._keeper_stop.set()  # between two renewals: no transaction is cut
            # Meanwhile the ends of the last requests free their seats for the others.
            await asyncio.gather(
                wait_bounded("outbox_leases", [keeper], KEEPER_STOP_SECONDS),
                self.limiter.close(KEEPER_STOP_SECONDS),
            )
            await self._release_held()
            self.sent_log.close()

    async def _keep_leases(self) -> None:
        """Renew the leases of the claims this sender holds, until the sender stops, over a
        connection of its own: with every pooled connection busy sending, a renewal
        queued behind them could come after the leases ran out."""
        engine = None
        own = self.sessionmaker  # SQLite: one writer at a time whatever the connection
        if self.is_postgres:
            bind = self.sessionmaker.kw["bind"]
            engine = make_engine(
                bind.url.render_as_string(hide_password=False), pool_size=1, max_overflow=0
            )
            own = make_sessionmaker(engine)
        try:
            while not await _woken(self._keeper_stop, KEEP_LEASES_SECONDS):
                try:
                    await self.renew_held(own)
                except Exception as exc:  # the leases may run out: at-least-once covers it
                    log.warning("outbox_lease_renew_failed error=%s", type(exc).__name__)
        finally:
            if engine is not None:
                await engine.dispose()

    async def renew_held(
        self, sessionmaker: async_sessionmaker[AsyncSession] | None = None
    ) -> int:
        """One round of lease keeping: every claim held is renewed, fenced by its token,
        so a claim someone else took over is never renewed. How many were."""
        held = list(self._held.items())
        if not held:
            return 0
        o = OutboxMessage
        ours = and_(tuple_(o.id, o.attempts).in_(held), o.status == "sending")
        if self.is_postgres:
            # A row locked right now is being recorded or renewed by this sender itself:
            # waiting for it would hold up the renewal of all the others.
            locked = select(o.id).where(ours).with_for_update(skip_locked=True)
            ours = o.id.in_(locked.scalar_subquery())
        async with (sessionmaker or self.sessionmaker)() as session, session.begin():
            result = await session.execute(
                update(o)
                .where(ours)
                .values(lease_until=self.rt.now() + LEASE)
                .execution_options(synchronize_session=False)
            )
            return _rowcount(result)

    async def _release_held(self) -> None:
        """Claims this sender still holds go back to pending (fenced by their tokens), so
        a restart sends them at once. Best effort: if the database is away, the leases run
        out instead."""
        held = {i: t for i, t in self._held.items() if i not in self._accepted}
        self._held, self._accepted = {}, set()
        if not held:
            return
        o = OutboxMessage
        released = 0
        try:
            async with asyncio.timeout(RELEASE_SECONDS):
                async with self.sessionmaker() as session, session.begin():
                    for row_id, token in held.items():
                        result = await session.execute(
                            update(o)
                            .where(o.id == row_id, o.attempts == token, o.status == "sending")
                            .values(status="pending", lease_until=None)
                            .execution_options(synchronize_session=False)
                        )
                        released += _rowcount(result)
        except Exception as exc:
            log.warning("outbox_release_failed rows=%s error=%s", len(held), type(exc).__name__)
            return
        log.info("outbox_released rows=%s", released)

    async def _apply_sent_notes(self) -> None:
        """Sends that bots gone from this directory noted but could not record: recorded
        now, before anything is claimed, so they are not sent a second time."""
        for path, fd, notes in self.sent_log.orphans():
            applied = 0
            async with self.sessionmaker() as session, session.begin():
                for note in notes:
                    result = await session.execute(
                        update(OutboxMessage)
                        .where(
                            OutboxMessage.id == note.row_id,
                            OutboxMessage.attempts == note.token,
                            OutboxMessage.status.in_(UNSENT),
                        )
                        .values(
                            status="sent",
                            sent_at=self.rt.now(),
                            payload_enc=b"",
                            lease_until=None,
                            error=None,
                            chat_key=None,
                            message_id=note.message_id,
                        )
                        .execution_options(synchronize_session=False)
                    )
                    if _rowcount(result) != 1:
                        continue  # recorded before the bot died, or taken over since
                    applied += 1
                    if None not in (note.message_id, note.member_id, note.relay_case_id):
                        session.add(
                            Relay(
                                member_id=note.member_id,
                                message_id=note.message_id,
                                case_id=note.relay_case_id,
                            )
                        )
            SentLog.discard(path, fd)
            if applied:
                log.info("outbox_sent_notes_applied rows=%s", applied)

    async def drain_once(self) -> int:
        """Send everything due now, chat by chat, and return how many rows were sent."""
        sent = 0
        while True:
            claimed = await self._claim_heads(exclude=set())
            if not claimed:
                return sent
            results = await asyncio.gather(*(self._work_chat(row) for row in claimed))
            sent += sum(results)

    # --- claiming ---------------------------------------------------------------------------

    async def _start_due_chats(self) -> int:
        room = self.max_active_chats - len(self._active)
        if room <= 0:
            return 0
        # A few chats per claim: each claim builds its requests inside its transaction, and
        # a big one would keep this process busy (its other leases unkept) for seconds.
        claimed = await self._claim_heads(exclude=set(self._active), limit=min(room, CLAIM_BATCH))
        for row in claimed:
            task = asyncio.create_task(self._work_chat(row), name="outbox-chat")
            self._active[row.queue] = task
            task.add_done_callback(functools.partial(self._chat_finished, row.queue))
        return len(claimed)

    def _chat_finished(self, queue: Queue, _task: asyncio.Task[int]) -> None:
        self._active.pop(queue, None)

    def _head_query(self, now: Any, queue: Queue | None) -> Any:
        """Rows that are the oldest unsent row of their chat, due and not leased.

        A row that was tried before keeps its place in the queue (so a retry never lets
        later rows overtake it); a row scheduled for later does not block the queue.
        """
        return _head_statement(_queue_shape(queue))

    async def _claim_heads(
        self, *, exclude: set[Queue], limit: int = BATCH, queue: Queue | None = None
    ) -> list[Claimed]:
        async with self.sessionmaker() as session, session.begin():
            claimed = await self._claim_in(session, exclude=exclude, limit=limit, queue=queue)
        self._hold(claimed)  # committed: these claims are ours now
        return claimed

    def _hold(self, claimed: Sequence[Claimed]) -> None:
        for row in claimed:
            self._held[row.id] = row.token

    async def _claim_in(
        self,
        session: AsyncSession,
        *,
        exclude: set[Queue],
        limit: int,
        queue: Queue | None = None,
    ) -> list[Claimed]:
        now = self.rt.now()
        claimed_at = time.monotonic()  # the leases run from `now`, not from each build
        params = {"now": now, "limit": limit + len(exclude)}
        if queue is not None:
            params.update(case_id=queue[0], member_id=queue[1], chat_key=queue[2])
        heads = (await session.execute(self._head_query(now, queue), params)).all()
        ids = [h.id for h in heads if (h.case_id, h.member_id, h.chat_key) not in exclude]
        ids = ids[:limit]
        if not ids:
            return []
        o = OutboxMessage
        claimable = and_(
            o.id.in_(ids),
            o.status.in_(UNSENT),
            or_(o.lease_until.is_(None), o.lease_until < now),
        )
        target: ColumnElement[bool]
        if self.is_postgres:
            # Another instance may hold some of these rows right now: skip them.
            locked = select(o.id).where(claimable).with_for_update(skip_locked=True)
            target = o.id.in_(locked.scalar_subquery())
        else:
            target = claimable  # SQLite: BEGIN IMMEDIATE already serialises writers
        rows = (
            await session.scalars(
                update(o)
                .where(target)
                .values(lease_until=now + LEASE, attempts=o.attempts + 1, status="sending")
                .returning(o)
                .execution_options(synchronize_session=False)
            )
        ).all()
        await self._load_targets(session, rows)
        return [await self._prepare(session, row, claimed_at) for row in rows]

    async def _load_targets(self, session: AsyncSession, rows: Sequence[OutboxMessage]) -> None:
        """The cases and members the rows go to, one query each for a whole batch; the
        session keeps them while the requests are built."""
        kept = session.info.setdefault("trustline_outbox_targets", [])
        for model, ids in (
            (Case, {r.case_id for r in rows if r.case_id is not None}),
            (Member, {r.member_id for r in rows if r.member_id is not None}),
        ):
            if len(ids) > 1:
                kept.extend((await session.scalars(select(model).where(model.id.in_(ids)))).all())

    async def _prepare(
        self, session: AsyncSession, stored: OutboxMessage, claimed_at: float
    ) -> Claimed:
        """A claimed row with its request, or with the outcome that stands in for it."""
        claimed = functools.partial(
            Claimed,
            stored.id,
            stored.case_id,
            stored.member_id,
            stored.attempts,
            stored.relay_case_id,
            chat_key=stored.chat_key,
            created_at=stored.created_at,
            claimed_at=claimed_at,
        )
        try:
            request, method = await self._build(session, stored)
        except Dropped as exc:
            return claimed(unsendable=Outcome("dropped", exc.reason, reason=exc.reason))
        except CaseShredded:
            return claimed(unsendable=Outcome("dropped", CASE_SHREDDED, reason=CASE_SHREDDED))
        except DecryptionError as exc:
            if missing_master_key(exc):  # rotated elsewhere: this process follows soon
                return claimed(
                    unsendable=Outcome("retry", "master key not loaded", retry_after=5.0)
                )
            log.error("outbox_cannot_open id=%s", stored.id)
            return claimed(unsendable=Outcome("failed", "cannot open the payload"))
        except (AttributeError, ValidationError, TypeError, KeyError, ValueError):
            log.error("outbox_bad_payload id=%s", stored.id)
            return claimed(unsendable=Outcome("failed", "cannot build the request"))
        return claimed(request=request, method=method)

    # --- one chat ---------------------------------------------------------------------------

    async def _work_chat(self, row: Claimed | None) -> int:
        """Send this chat's due rows in order until one has to wait or none is left.

        One transaction per row after the first claim: the outcome, together with the
        claim of the chat's next row (and the building of its request).
        """
        sent = 0
        while row is not None:
            try:
                outcome = await self._deliver(row)
                if outcome.status == "lost":
                    self._held.pop(row.id, None)  # someone else's now
                    return sent
                if outcome.status == "sent":
                    self._accepted.add(row.id)  # noted: never released, still kept
                if outcome.status == "sent":
                    sent += 1
                more = outcome.status != "retry" and not self._stopping
                done, row = row, await self._record(row, outcome, claim_next=more)
                self._held.pop(done.id, None)
                self._accepted.discard(done.id)
                if row is not None:
                    self._hold([row])
                if outcome.status == "sent":
                    self.sent_log.settled()
                if outcome.status in ("blocked", "failed", "dropped"):
                    self._count(outcome)
                if outcome.status in ("blocked", "failed") and outcome.reason is not None:
                    await self._retry_db(functools.partial(self._tell_undelivered, done, outcome))
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug, not the database: the lease (no longer kept) runs out and the row
                # is tried again.
                log.exception("outbox_chat_interrupted")
                if row is not None:
                    self._held.pop(row.id, None)
                    self._accepted.discard(row.id)
                return sent
        return sent

    async def _deliver(self, row: Claimed) -> Outcome:
        if row.unsendable is not None:
            return row.unsendable
        permit: Permit = await self.limiter.acquire(row.queue)
        try:
            if time.monotonic() - row.claimed_at > RENEW_AFTER_SECONDS and not (
                await self._retry_db(lambda: self._renew(row))
            ):
                log.warning("outbox_lease_lost id=%s", row.id)
                return Outcome("lost")
            outcome = await self._call(row, row.request, row.method)
            metrics.count_send(row.method, outcome)
        finally:
            self.limiter.release(permit)
        if outcome.status == "sent":
            self.sent_log.note(
                SentNote(row.id, row.token, outcome.message_id, row.member_id, row.relay_case_id)
            )
        return outcome

    async def _renew(self, row: Claimed) -> bool:
        async with self.sessionmaker() as session, session.begin():
            renewed = await session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row.id,
                    OutboxMessage.attempts == row.token,
                    OutboxMessage.status == "sending",
                )
                .values(lease_until=self.rt.now() + LEASE)
                .execution_options(synchronize_session=False)
            )
            return _rowcount(renewed) == 1

    async def _build(self, session: AsyncSession, stored: OutboxMessage) -> tuple[Any, str]:
        """The Bot API request of a row, from its sealed payload."""
        target: Case | Member | None = None
        if stored.case_id is not None:
            target = await session.get(Case, stored.case_id)
            if target is None:
                raise Dropped(TARGET_GONE)
            chat_id = self.rt.vault.student_chat_id(target)
            if chat_id is None:  # /forget erased it (retention shreds the key as well)
                raise Dropped(STUDENT_FORGOT)
        elif stored.member_id is not None:
            target = await session.get(Member, stored.member_id)
            if target is None:
                raise Dropped(TARGET_GONE)
            if not target.active:
                # Switched off while this waited: it is theirs no more (their cases went back
                # to the pools). What they are told on the way out goes to their chat.
                raise Dropped(MEMBER_DEACTIVATED)
            chat_id = self.rt.vault.member_chat_id(target)
        payload = outbox.open_payload(self.rt.vault, stored, target)
        if target is None:
            chat_id = int(payload["chat_id"])
        params = await self._resolve(session, dict(payload["params"]))
        method = str(payload["method"])
        make = getattr(methods, method[0].upper() + method[1:])
        if method in menus.SCOPED_METHODS and chat_id is not None:  # a chat's own menu
            return make(scope=BotCommandScopeChat(chat_id=chat_id), **params), method
        return make(chat_id=chat_id, **params), method

    async def _resolve(self, session: AsyncSession, params: dict[str, Any]) -> dict[str, Any]:
        source = params.get("from_chat_id")
        if source == outbox.FROM_STUDENT_OF_CASE:
            case = await session.get(Case, params.pop("$case_id", None) or 0)
            chat_id = self.rt.vault.student_chat_id(case) if case is not None else None
            if chat_id is None:
                raise Dropped(STUDENT_FORGOT if case is not None else TARGET_GONE)
            params["from_chat_id"] = chat_id
        elif source == outbox.FROM_MEMBER:
            member = await session.get(Member, params.pop("$member_id", None) or 0)
            if member is None:
                raise Dropped(TARGET_GONE)
            params["from_chat_id"] = self.rt.vault.member_chat_id(member)
        for name, value in params.items():
            if isinstance(value, dict) and outbox.FILE in value:  # an upload (middlewares)
                params[name] = BufferedInputFile(
                    base64.b64decode(value["data"]), filename=str(value[outbox.FILE])
                )
            elif file_cleaning.marked(value):  # a student's file, cleaned when sent
                params[name] = file_cleaning.from_marker(value)
        return params

    async def _call(self, row: Claimed, request: Any, method: str) -> Outcome:
        try:
            await file_cleaning.fetch(self.bot, request)  # FileNotPassed: a refusal
            result = await self.bot(request, request_timeout=self.send_timeout)
        except TelegramRetryAfter as exc:
            self.limiter.pause(exc.retry_after)
            log.info("outbox_retry_after id=%s seconds=%s", row.id, exc.retry_after)
            return Outcome("retry", "429", retry_after=float(exc.retry_after))
        except TelegramForbiddenError:
            return Outcome("blocked", "blocked", reason=undelivered.BLOCKED)
        except (TelegramBadRequest, TelegramNotFound, TelegramEntityTooLarge) as exc:
            # The request itself is wrong; sending it again would fail the same way.
            log.warning("outbox_bad_request id=%s method=%s", row.id, method)
            return Outcome("failed", exc.message[:200], reason=_refusal(exc))
        except (AiogramError, TimeoutError, OSError) as exc:
            # Network trouble, 5xx, a garbled answer, even a revoked token: all pass, and
            # a message is never given up on for them.
            delay = min(2 ** min(row.token - 1, 16), RETRY_CAP_SECONDS)
            delay *= random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not security
            log.info(
                "outbox_retry id=%s attempt=%s error=%s", row.id, row.token, type(exc).__name__
            )
            return Outcome("retry", type(exc).__name__[:200], retry_after=delay)
        message_id = result.message_id if isinstance(result, Message | MessageId) else None
        return Outcome("sent", message_id=message_id)

    # --- short fenced transactions ------------------------------------------------------

    async def _record(self, row: Claimed, outcome: Outcome, *, claim_next: bool) -> Claimed | None:
        """Commit the outcome (and claim the chat's next row in the same transaction).
        After a send this is retried until the database takes it: giving up here is
        exactly what would send the message a second time."""

        async def go() -> Claimed | None:
            async with self.sessionmaker() as session, session.begin():
                now = self.rt.now()
                values: dict[str, Any] = {"lease_until": None, "error": outcome.error}
                if outcome.status == "retry":
                    values.update(
                        status="pending", not_before=now + timedelta(seconds=outcome.retry_after)
                    )
                else:  # final: nothing that could name the chat stays behind
                    values.update(
                        status=outcome.status,
                        sent_at=now,
                        payload_enc=b"",
                        chat_key=None,
                        message_id=outcome.message_id,  # a card is edited by it (notify)
                    )
                result = await session.execute(
                    update(OutboxMessage)
                    .where(OutboxMessage.id == row.id, OutboxMessage.attempts == row.token)
                    .values(**values)
                    .execution_options(synchronize_session=False)
                )
                if _rowcount(result) != 1:
                    log.warning("outbox_lease_lost id=%s status=%s", row.id, outcome.status)
                elif (
                    outcome.message_id is not None
                    and row.member_id is not None
                    and row.relay_case_id is not None
                ):
                    session.add(
                        Relay(
                            member_id=row.member_id,
                            message_id=outcome.message_id,
                            case_id=row.relay_case_id,
                        )
                    )
                if not claim_next:
                    return None
                found = await self._claim_in(session, exclude=set(), limit=1, queue=row.queue)
                return found[0] if found else None

        return await self._retry_db(go)

    async def _retry_db(self, work: Callable[[], Awaitable[T]]) -> T:
        delay = 0.2
        while True:
            try:
                return await work()
            except Exception as exc:
                if not is_transient_db_error(exc):
                    raise
                log.warning("outbox_db_retry error=%s", type(exc).__name__)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _count(self, outcome: Outcome) -> None:
        """Rows refused for good (`failures`) and rows dropped unsent (`dropped`), per
        reason; the log names the reason only."""
        reason = outcome.reason or "unsendable"
        if outcome.status == "dropped":
            self.dropped[reason] += 1
            log.info("outbox_dropped reason=%s", reason)
        else:
            self.failures[reason] += 1
            log.info("outbox_undelivered reason=%s", reason)

    async def _tell_undelivered(self, row: Claimed, outcome: Outcome) -> None:
        """Telegram refused a row for good: whoever wrote it is told, through the outbox
        (a student that blocked the bot also marks their case unreachable)."""
        assert outcome.reason is not None and row.created_at is not None
        message = (row.case_id, row.member_id, row.relay_case_id, row.created_at)
        if message in self._told:
            return
        self._told[message] = None
        if len(self._told) > TOLD_REMEMBERED:
            self._told.popitem(last=False)
        request = row.request
        head = getattr(request, "text", None) or getattr(request, "caption", None) or ""
        refused = undelivered.Refused(
            reason=outcome.reason,
            created_at=row.created_at,
            case_id=row.case_id,
            member_id=row.member_id,
            relay_case_id=row.relay_case_id,
            head=head if isinstance(head, str) else "",
            copied=row.method == "copyMessage",
            card=getattr(request, "reply_markup", None) is not None,
        )
        async with self.sessionmaker() as session, session.begin():
            told = await undelivered.tell(session, self.rt, refused)
        if told is not None:
            log.info("outbox_undelivered_told to=%s reason=%s", told, outcome.reason)
            self.poke()


async def _woken(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to `seconds` for the event; whether it is set. (asyncio.timeout, not
    wait_for: Python 3.11's wait_for can swallow a cancel that meets the event.)"""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


def _refusal(exc: AiogramError) -> str:
    """Telegram's 400 as one of bot.delivery.undelivered's reasons."""
    if isinstance(exc, file_cleaning.FileNotPassed):
        return exc.reason
    text = str(getattr(exc, "message", "")).lower()
    if isinstance(exc, TelegramEntityTooLarge) or "too long" in text:
        return undelivered.TOO_LONG
    if "chat not found" in text or "user not found" in text:
        return undelivered.CHAT_NOT_FOUND
    return undelivered.REFUSED


# The head query, built once per shape with bound parameters: building it (a window over a
# subquery) and computing its cache key took ~1.6 ms of CPU, and a send makes one or two
# claims (benchmarks/BENCHMARKS.md, "outbox claims").
def _queue_shape(queue: Queue | None) -> tuple[bool, bool, bool] | None:
    return None if queue is None else (queue[0] is None, queue[1] is None, queue[2] is None)


@functools.lru_cache(maxsize=8)
def _head_statement(shape: tuple[bool, bool, bool] | None) -> Any:
    o = OutboxMessage
    now: BindParameter[datetime] = bindparam("now")
    inner = select(
        o.id,
        o.case_id,
        o.member_id,
        o.chat_key,
        o.not_before,
        o.lease_until,
        func.row_number()
        .over(
            partition_by=(o.case_id, o.member_id, o.chat_key),
            order_by=(o.created_at, o.id),
        )
        .label("rank"),
    ).where(o.status.in_(UNSENT), or_(o.attempts > 0, o.not_before <= now))
    if shape is not None:
        no_case, no_member, no_chat = shape
        inner = inner.where(
            o.case_id.is_(None) if no_case else o.case_id == bindparam("case_id"),
            o.member_id.is_(None) if no_member else o.member_id == bindparam("member_id"),
            o.chat_key.is_(None) if no_chat else o.chat_key == bindparam("chat_key"),
        )
    ranked = inner.subquery()
    return (
        select(ranked.c.id, ranked.c.case_id, ranked.c.member_id, ranked.c.chat_key)
        .where(
            ranked.c.rank == 1,
            ranked.c.not_before <= now,
            or_(ranked.c.lease_until.is_(None), ranked.c.lease_until < now),
        )
        .order_by(ranked.c.not_before)
        .limit(bindparam("limit", type_=Integer))
    )


def _rowcount(result: Any) -> int:
    return result.rowcount if isinstance(result, CursorResult) else 0
