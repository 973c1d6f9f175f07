"""Settings, read once by the app factory (never at import time)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///trustline.sqlite3"
DEFAULT_KEY_FILE = Path("trustline.key")
# What Telegram accepts as a secret_token (1-256 of these), at least 32 long here.
WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{32,256}")


class Settings(BaseSettings):
    """Everything comes from `TRUSTLINE_*` environment variables (or a `.env` file)."""

    model_config = SettingsConfigDict(env_prefix="TRUSTLINE_", env_file=".env", extra="ignore")

    bot_token: SecretStr | None = None
    bot_username: str | None = None
    database_url: str = DEFAULT_DATABASE_URL
    master_key: SecretStr | None = None
    master_key_file: Path | None = None
    telegram_api: str = "https://api.telegram.org"
    webhook_secret: SecretStr | None = None
    # Read by the CLI before the settings (bot/cli/__init__.configure_logging); here so that
    # they are documented settings like the others.
    log_level: str = "INFO"
    log_format: Literal["text", "json"] = "text"
    # `trustline run` serves /healthz, /readyz and /metrics on this port (in webhook mode
    # the webhook's own server, on --port when given).
    http_port: int = Field(default=8080, ge=1, le=65535)
    # The audit log (bot/services/security/audit*.py): its key and checkpoint file default
    # to files beside the master key file; heads are checkpointed every so many minutes,
    # and the supervisors get the checkpoint's digest every so many hours.
    audit_key_file: Path | None = None
    audit_checkpoint_file: Path | None = None
    audit_checkpoint_minutes: int = Field(default=60, ge=1)
    audit_digest_hours: int = Field(default=24, ge=1)

    # Retention of closed cases, then crypto-shredding. The retention-period keys (one a
    # month, bot/crypto/periods.py) are written by the bot: a directory beside the master key
    # file unless named here (every process of one bot must share it).
    retention_days: int = Field(default=365, ge=1)
    period_key_dir: Path | None = None
    # Invites are one-time deep links that expire.
    invite_ttl_hours: int = Field(default=72, ge=1)
    # Deadlines (minutes / hours), see DESIGN.md "Supervisor".
    urgent_take_minutes: int = Field(default=5, ge=1)
    high_take_hours: int = Field(default=1, ge=1)
    normal_take_hours: int = Field(default=24, ge=1)
    answer_remind_hours: int = Field(default=24, ge=1)
    answer_escalate_hours: int = Field(default=48, ge=1)
    # Floods: per pseudonym.
    student_messages_per_minute: int = Field(default=20, ge=1)
    student_new_cases_per_day: int = Field(default=10, ge=1)
    # A known student's plain text on their open case takes the lean path (one read, one
    # write in SQLAlchemy Core: bot/services/casework/lean.py); false sends it through the
    # ORM path like every other update (to compare the two, or to rule the lean one out).
    lean_student_path: bool = True
    # PostgreSQL connections of one process (the pool, bot/db/session.py): a fixed number,
    # none opened beyond it, so connections and their prepared statements live long. A
    # transaction that finds all of them busy waits up to the timeout (then the update is
    # retried). The outbox sender keeps a connection or two of its own beside the pool:
    # keep the sum over every process under PostgreSQL's max_connections (100 by default).
    # Not used with SQLite.
    db_pool_size: int = Field(default=10, ge=1, le=200)
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # Outgoing limits of Telegram.
    send_per_second: float = Field(default=30.0, gt=0)
    send_per_chat_per_second: float = Field(default=1.0, gt=0)

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, value: str) -> str:
        if not value.startswith(("postgresql+asyncpg://", "sqlite+aiosqlite://")):
            raise ValueError(
                "TRUSTLINE_DATABASE_URL must start with postgresql+asyncpg:// "
                "or sqlite+aiosqlite://"
            )
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ValueError("TRUSTLINE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        return value.upper()

    @field_validator("webhook_secret")
    @classmethod
    def _long_webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        """Telegram sends the secret in a header on every update; an empty or short one
        would let whoever finds the URL speak as any Telegram id, a psychologist's too."""
        if value is not None and not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise ValueError(
                "TRUSTLINE_WEBHOOK_SECRET must be 32 to 256 characters of A-Z, a-z, 0-9, "
                "_ and - (for example: openssl rand -hex 32)"
            )
        return value

    @property
    def key_file(self) -> Path:
        return self.master_key_file or DEFAULT_KEY_FILE
