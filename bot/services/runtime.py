"""What every service call needs besides the session: keys, translations, settings, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from bot.config import Settings
from bot.i18n import Translate
from bot.services.security.vault import Vault


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    vault: Vault
    tr: Translate
    settings: Settings
    bot_username: str = "trustline_bot"
    clock: Callable[[], datetime] = field(default=utc_now)

    def now(self) -> datetime:
        return self.clock()
