"""`trustline demo`: the real bot against a loopback stand-in for Telegram, and a page that
shows a student's and a psychologist's phones side by side. Nothing leaves the machine."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.i18n import Translator, make_i18n
from demo.web import DemoPage, PortTaken
from demo.world import running_world

__all__ = ["PortTaken", "run_demo"]


async def run_demo(port: int, lang: str, on_ready: Callable[[str], None]) -> None:
    """Serve the demo on 127.0.0.1:`port` until cancelled; `on_ready(address)` once the
    page works. PortTaken (before anything else starts) when the port is in use."""
    page = DemoPage(Translator(make_i18n()), lang)
    await page.bind(port)
    try:
        async with running_world(lang) as world:
            page.world = world
            on_ready(page.address)
            # Until cancelled; an error in the bot ends the demo. Waited for, not awaited:
            # awaiting the task would pass this task's cancel on to the bot, and
            # running_world cancels it once more, cutting its bounded stop short.
            await asyncio.wait({world.bot})
            world.bot.result()
    finally:
        page.world = None
        await page.close()
