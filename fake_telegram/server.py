"""The fake Bot API server: HTTP on loopback, recording, long polling, webhooks, faults."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Self

from aiohttp import ClientError, ClientSession, ClientTimeout, MultipartReader, web

from .builders import UpdateBuilders
from .limits import Faults, RateLimiter
from .methods import ApiError, BotMethods
from .objects import JSON, SEND_METHODS, Call, FileRegistry, MessageStore, StoredFile
from .params import decode_fields, read_multipart, read_params
from .recording import CallRecorder

DEFAULT_BOT_ID = 7000000001
_MESSAGE_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post")
_WEBHOOK_CONFLICT = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)


class FakeBotAPI(UpdateBuilders, CallRecorder):
    """A Telegram Bot API server on 127.0.0.1 for the real aiogram `Bot` to talk to.

    Not thread-safe: call it from the event loop it was started in.
    """

    def __init__(
        self,
        *,
        username: str = "trustline_test_bot",
        first_name: str = "TrustLine",
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.username = username
        self.first_name = first_name
        self.host = host
        self.port = port
        self.base_url = ""
        self.clock = clock
        CallRecorder.__init__(self)
        self.polls = 0  # getUpdates calls (not recorded in `calls`)
        self.handed_out_at: dict[int, float] = {}  # update_id -> first hand-out (clock)
        self.webhook: JSON | None = None  # {"url", "secret_token"} once setWebhook ran
        self.webhook_retry_delay = 0.2
        self.blocked: set[Any] = set()
        self._store = MessageStore()
        self._files = FileRegistry()
        self._methods = BotMethods(self._store, self._files)
        self._table = {
            **self._methods.table,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
        }
        self._faults = Faults()
        self._limiter: RateLimiter | None = None
        self._updates: deque[JSON] = deque()
        self._handed = 0
        self._last_handed_id = 0
        self._next_update_id = 1
        self._callback_ids = itertools.count(1)
        self._bot_ids: dict[str, int] = {}
        self._last_token = ""
        self._new_update = asyncio.Event()
        self._closed = asyncio.Event()
        self.version = 0  # grows with every recorded call and every queued update
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._client: ClientSession | None = None
        self._webhook_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def serve(self) -> Self:
        """Start listening (what `async with` does); `close()` stops."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._on_method)
        app.router.add_get("/file/bot{token}/{path:.+}", self._on_file)
        # handler_cancellation: a client that gives up (timeout) cancels its request, so a
        # delayed request is lost, never half-processed.
        self._runner = web.AppRunner(
            app, access_log=None, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.base_url = f"http://{self.host}:{self.port}"
        return self

    async def close(self) -> None:
        self._closed.set()
        self._new_update.set()  # long polls return at once
        self._changed.set()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
        if self._client is not None:
            await self._client.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.serve()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    # -- configuration: files, limits, faults ----------------------------------------------

    def add_file(
        self, file_id: str, data: bytes, *, kind: str = "document", file_name: str | None = None
    ) -> str:
        """Make `file_id` downloadable (getFile + /file/...); returns its file_path."""
        return self._files.add(file_id, data, kind=kind, file_name=file_name).file_path

    def rate_limits(
        self,
        global_per_s: int | None = 30,
        per_chat_per_s: int | None = 1,
        per_group_per_min: int | None = 20,
    ) -> None:
        """Telegram's flood limits on sends (sliding windows of 1 s, and of a minute for
        groups); None turns one off."""
        limits = (global_per_s, per_chat_per_s, per_group_per_min)
        enabled = any(limit is not None for limit in limits)
        self._limiter = RateLimiter(*limits) if enabled else None

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        retry_after: int | None = None,
        *,
        description: str | None = None,
        methods: Iterable[str] | None = None,
    ) -> None:
        """The next `n` requests (to `methods`; default: any but getUpdates) fail."""
        self._faults.fail_next(n, status, retry_after, description, methods)

    def delay(
        self, seconds: float, *, n: int | None = None, methods: Iterable[str] | None = None
    ) -> None:
        """Hold requests (`methods`; default any but getUpdates) for `seconds` before
        answering, for the next `n` requests or until `delay(0)`. A client that times out
        meanwhile loses its request: it is not processed (counted in dropped_requests)."""
        self._faults.set_delay(seconds, n, methods)

    def block(self, chat_id: int) -> None:
        self.blocked.add(chat_id)

    def unblock(self, chat_id: int) -> None:
        self.blocked.discard(chat_id)

    # -- recorded calls --------------------------------------------------------------------

    @property
    def unknown_calls(self) -> list[Call]:
        return [call for call in self.calls if call.method.lower() not in self._table]

    def menu_for(self, chat_id: int, language_code: str = "") -> list[str]:
        """The command menu a private chat shows a user of that app language."""
        return self._methods.menu_for(chat_id, language_code)

    def message(self, chat_id: int, message_id: int) -> JSON | None:
        return self._store.get(chat_id, message_id)

    def last_message(self, chat_id: int, *, from_bot: bool | None = True) -> JSON | None:
        return self._store.last(chat_id, from_bot=from_bot)

    def chat_messages(self, chat_id: int) -> list[JSON]:
        """The chat as its user sees it: every message not deleted, oldest first, edits
        applied."""
        return self._store.in_chat(chat_id)

    def delete_in_chat(self, chat_id: int, message_id: int) -> bool:
        """The user deletes a message from their private chat (the bot's ones too, as
        Telegram allows): the bot can no longer edit, copy or reply to it."""
        return self._store.pop(chat_id, message_id) is not None

    def file(self, file_id: str) -> StoredFile | None:
        return self._files.by_id.get(file_id)

    async def wait_for_change(
        self,
        since: int,
        timeout: float,  # noqa: ASYNC109 - a long poll's own limit
    ) -> int:
        """`version` as soon as it is past `since` (a call was made or an update queued),
        else after `timeout` seconds, or at once when the server closes."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.version <= since and not self._closed.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)
        return self.version

    def _changed_now(self) -> None:
        self.version += 1
        self._changed.set()

    def _state_summary(self) -> str:
        return (
            f"pending updates {len(self._updates)}, polls {self.polls}, "
            f"queued faults {self._faults.pending_failures}, blocked {sorted(self.blocked)}"
        )

    # -- updates: polling and webhook ------------------------------------------------------

    def _register(self, update: JSON) -> JSON:
        update_id = update.get("update_id")
        if not isinstance(update_id, int):
            update["update_id"] = update_id = self._next_update_id
        self._next_update_id = max(self._next_update_id, update_id + 1)
        # Remember the messages so the bot can reply to, copy or edit them. Deliberately
        # malformed updates (fuzz tests) are passed on untouched.
        with contextlib.suppress(KeyError, TypeError, AttributeError):
            for key in _MESSAGE_KEYS:
                if key in update:
                    self._store.add(update[key])
            message = update.get("callback_query", {}).get("message")
            if message and message.get("date"):
                self._store.add(message)
        return update

    def push_update(self, update: JSON) -> JSON:
        """Queue `update` for getUpdates (or the webhook); assigns update_id if missing."""
        self._updates.append(self._register(update))
        self._new_update.set()
        self._changed_now()
        return update

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    def _confirm(self, offset: Any) -> None:
        """Telegram forgets updates once getUpdates asks for a later offset. Only updates
        already handed out are confirmed, so an update re-pushed with an old id (a
        redelivery test) is still delivered."""
        handed, self._handed = self._handed, 0
        if not isinstance(offset, int) or isinstance(offset, bool):
            return
        if offset < 0:
            while len(self._updates) > -offset:
                self._updates.popleft()
            return
        whole_batch = offset == self._last_handed_id + 1
        for _ in range(handed):
            if not self._updates:
                break
            if not whole_batch and self._updates[0]["update_id"] >= offset:
                break
            self._updates.popleft()

    async def _get_updates(self, params: dict[str, Any]) -> tuple[int, JSON]:
        if self.webhook is not None:
            return 409, ApiError(409, _WEBHOOK_CONFLICT).body()
        self.polls += 1
        self._confirm(params.get("offset"))
        timeout = params.get("timeout")
        if not self._updates and isinstance(timeout, int | float) and timeout > 0:
            if not self._closed.is_set():
                self._new_update.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._new_update.wait(), timeout)
        limit = params.get("limit")
        limit = min(max(limit, 1), 100) if isinstance(limit, int) else 100
        batch = list(itertools.islice(self._updates, limit))
        self._handed = len(batch)
        if batch:
            self._last_handed_id = batch[-1]["update_id"]
            now = self.clock()
            for update in batch:
                self.handed_out_at.setdefault(update["update_id"], now)
        return 200, {"ok": True, "result": batch}

    async def deliver_webhook(
        self,
        url: str,
        update: JSON,
        secret_token: str | None = None,
        *,
        timeout: float = 30.0,  # noqa: ASYNC109 - a per-request limit, as aiohttp takes it
    ) -> int:
        """POST `update` to the bot's webhook as Telegram does; returns the HTTP status. A
        method the bot answers with in the response body is executed and recorded."""
        self._register(update)
        self.handed_out_at.setdefault(update["update_id"], self.clock())
        if self._client is None:
            self._client = ClientSession()
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with self._client.post(
            url, data=json.dumps(update), headers=headers, timeout=ClientTimeout(total=timeout)
        ) as response:
            if response.status == 200 and response.content_type.startswith("multipart/"):
                fields, files = await read_multipart(
                    MultipartReader(response.headers, response.content)
                )
                if method := fields.pop("method", None):
                    self.handle(self._last_token, method, decode_fields(fields, files))
            else:
                await response.read()
            return response.status

    async def _webhook_loop(self) -> None:
        """While a webhook is set, deliver queued updates to it one at a time, in order,
        retrying until the bot answers 200 (as Telegram does)."""
        while self.webhook is not None and not self._closed.is_set():
            if not self._updates:
                self._new_update.clear()
                await self._new_update.wait()
                continue
            update, hook = self._updates[0], self.webhook
            try:
                status = await self.deliver_webhook(hook["url"], update, hook["secret_token"])
            except (ClientError, TimeoutError, OSError, ValueError):
                status = 0  # the bot is down or unreachable: retry, as Telegram does
            if status == 200:
                if self._updates and self._updates[0] is update:
                    self._updates.popleft()
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), self.webhook_retry_delay)
        self._webhook_task = None

    def _set_webhook(self, bot: JSON, params: dict[str, Any]) -> tuple[Any, list[JSON]]:
        if not params.get("url"):
            return self._delete_webhook(bot, params)
        if params.get("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {"url": params["url"], "secret_token": params.get("secret_token")}
        if self._webhook_task is None:
            self._webhook_task = asyncio.get_running_loop().create_task(self._webhook_loop())
        return True, []

    def _delete_webhook(self, bot: JSON, params: dict[str, Any]) -> tuple[Any, list[JSON]]:
        self.webhook = None
        self._new_update.set()  # lets the delivery loop see that it is over
        if params.get("drop_pending_updates"):
            self._updates.clear()
            self._handed = 0
        return True, []

    def _get_webhook_info(self, bot: JSON, params: dict[str, Any]) -> tuple[Any, list[JSON]]:
        url = self.webhook["url"] if self.webhook else ""
        info = {"url": url, "has_custom_certificate": False}
        return {**info, "pending_update_count": len(self._updates)}, []

    # -- requests --------------------------------------------------------------------------

    def _bot_user(self, token: str | None = None) -> JSON:
        token = self._last_token if token is None else token
        bot_id = self._bot_ids.get(token)
        if bot_id is None:
            prefix = token.partition(":")[0]
            bot_id = self._bot_ids[token] = int(prefix) if prefix.isdigit() else DEFAULT_BOT_ID
        return {"id": bot_id, "is_bot": True, "first_name": self.first_name,
                "username": self.username}  # fmt: skip

    def handle(self, token: str, method: str, params: dict[str, Any]) -> tuple[int, JSON]:
        """Run one Bot API call, record it and return (HTTP status, response body)."""
        key = method.lower()
        now = self.clock()
        self._last_token = token
        result: Any = None
        messages: list[JSON] = []
        try:
            if (failure := self._faults.take_failure(key)) is not None:
                raise failure.error()
            chat_id = params.get("chat_id")
            if key in SEND_METHODS and self._limiter is not None:
                if wait := self._limiter.check(chat_id, now):
                    raise ApiError(429, f"Too Many Requests: retry after {wait}", wait)
            if isinstance(chat_id, int | str) and chat_id in self.blocked:
                raise ApiError(403, "Forbidden: bot was blocked by the user")
            implementation = self._table.get(key)
            if implementation is not None:
                result, messages = implementation(self._bot_user(token), params)
            else:
                result = True
            status, body = 200, {"ok": True, "result": result}
        except ApiError as error:
            status, body = error.status, error.body()
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            # Parameters of the wrong shape: Telegram answers 400, and so do we, with enough
            # detail to find the culprit.
            rejected = ApiError(400, f"Bad Request: fake server rejected parameters: {error!r}")
            status, body = rejected.status, rejected.body()
        call = Call(method, params, now, status, token, result, messages[0] if messages else None)
        self._record(call, len(messages) if status == 200 and key in SEND_METHODS else 0)
        self._changed_now()
        return status, body

    async def _on_method(self, request: web.Request) -> web.Response:
        token, method = request.match_info["token"], request.match_info["method"]
        try:
            params = await read_params(request)
        except (ValueError, TypeError):
            body = ApiError(400, "Bad Request: can't parse request parameters").body()
            return web.json_response(body, status=400)
        if seconds := self._faults.take_delay(method.lower()):
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closed.wait(), seconds)
            except asyncio.CancelledError:
                self.dropped_requests += 1
                raise
        if method.lower() == "getupdates":
            failure = self._faults.take_failure("getupdates")
            status, body = (
                (failure.status, failure.error().body())
                if failure
                else await self._get_updates(params)
            )
        else:
            status, body = self.handle(token, method, params)
        return web.Response(text=json.dumps(body), status=status, content_type="application/json")

    async def _on_file(self, request: web.Request) -> web.Response:
        stored = self._files.by_path.get(request.match_info["path"])
        if stored is None:
            body = {"ok": False, "error_code": 404, "description": "Not Found"}
            return web.json_response(body, status=404)
        return web.Response(body=stored.data, content_type="application/octet-stream")
