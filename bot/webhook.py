"""Webhook mode: Telegram posts each update; we answer 200 only after its transaction
committed, so Telegram delivers an update again when its handling failed or the process
died, and the update id recorded in the same transaction makes the repeat harmless.
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

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 (a header name)


def webhook_app(app: App, *, path: str, secret: str) -> web.Application:
    """The endpoint: 401 without Telegram's secret token, 400 for what is not JSON, 500
    when handling failed for a passing reason (Telegram retries), else 200."""
    expected = secret.encode()

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
        if await handle_update(app, update) is not None:
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


async def run_webhook(app: App, url: str, host: str, port: int) -> None:
    """Serve the endpoint, then tell Telegram where it is; runs until cancelled."""
    secret = webhook_secret(app)
    web_app = webhook_app(app, path=urlparse(url).path or "/", secret=secret)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        await app.bot.set_webhook(url, secret_token=secret, drop_pending_updates=False)
        log.info("webhook_listening port=%s", port)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
