"""Webhook mode: Telegram posts each update; we answer 200 only after its transaction
committed (or, after failing on every try, the update was set aside as a dead letter), so
Telegram delivers an update again when its handling was cut short or the process died, and
the update id recorded in the same transaction makes the repeat harmless.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from urllib.parse import urlparse

from aiohttp import web

from bot.app import App, handle_update, parse_update
from bot.health import Health

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


def webhook_app(
    app: App, *, path: str, secret: str, stop: asyncio.Event | None = None
) -> web.Application:
    """The endpoint: 401 without Telegram's secret token, 400 for what is not JSON, 500
    when the update could neither be handled nor set aside (the database is away) or the
    bot is stopping (Telegram retries), else 200. An update that fails on every try is
    tried MAX_ATTEMPTS times within its request, then set aside: Telegram would otherwise
    deliver it again and again ahead of the others."""
    expected = secret.encode()
    stopping = stop or asyncio.Event()

    async def receive(request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("webhook_rejected reason=secret")
            return web.Response(status=401)
        try:
            raw = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return web.Response(status=400)
        if not isinstance(raw, dict):
            return web.Response(status=400)
        update = parse_update(app, raw)
        if update is None:
            # It will never parse: taking it again would only hold up the updates after it.
            return web.Response(status=200)
        if not await handle_update(app, update, raw, stop=stopping, wait_for_database=False):
            return web.Response(status=500)
        return web.Response(status=200)

    web_app = web.Application()
    web_app.router.add_post(path, receive)
    return web_app


def webhook_secret(app: App) -> str:
    """The configured secret token, else a fresh random one for this run: the endpoint is
    never open to whoever guesses its URL (a forged update could speak as anyone)."""
    if app.settings.webhook_secret is not None:
        return app.settings.webhook_secret.get_secret_value()
    return secrets.token_urlsafe(32)


# Requests still being handled when the bot stops get this long before they are cut off
# (rolled back and answered with nothing: Telegram delivers them again).
STOP_GRACE_SECONDS = 3.0


async def run_webhook(
    app: App,
    url: str,
    host: str,
    port: int,
    stop: asyncio.Event | None = None,
    health: Health | None = None,
) -> None:
    """Serve the endpoint (and `health`'s /healthz, /readyz and /metrics beside it), then
    tell Telegram where it is; runs until `stop` is set (or cancelled). The webhook stays
    registered: Telegram keeps updates for the next start."""
    stop = stop or asyncio.Event()
    secret = webhook_secret(app)
    web_app = webhook_app(app, path=urlparse(url).path or "/", secret=secret, stop=stop)
    if health is not None:
        health.add_routes(web_app)
    runner = web.AppRunner(
        web_app, access_log=None, handler_cancellation=True, shutdown_timeout=STOP_GRACE_SECONDS
    )
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await app.bot.set_webhook(url, secret_token=secret, drop_pending_updates=False)
        log.info("webhook_listening port=%s", port)
        await stop.wait()
    finally:
        await runner.cleanup()
