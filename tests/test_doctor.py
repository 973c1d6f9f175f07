"""`trustline doctor` through the console script (issue 16): the token (getMe, the bot's
@name), the key (present, mode 0600, opens the database's keys), the webhook secret (when
Telegram has a webhook, or --webhook is given), the database and its migrations, and the
psychologists' coverage; one line per check, exit code 1 on any failure, nothing written."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.app import opened_core
from bot.config import Settings
from bot.crypto import MasterKey
from bot.services.security.keys import write_key_file
from fake_telegram import FakeBotAPI
from tests.conftest import TEST_TOKEN
from tests.test_cli_causes import Said, closed_port, trustline

HEALTHY = [
    "telegram: the token works; the bot is @zhambyl_trust_bot",
    "webhook: none set (the bot polls); no secret needed",
    "key: trustline.key present, mode 600 or stricter, opens the database's keys",
    "database: reachable, migrations current",
    "coverage: every region and district has a psychologist",
]
GOOD_SECRET = "s" * 40


async def _installed(database_url: str, folder: Path) -> None:
    """What the first `trustline run` leaves in `folder`: its key file (mode 0600) and the
    keys it made in the database."""
    await asyncio.to_thread(folder.mkdir, exist_ok=True)
    key = folder / "trustline.key"
    write_key_file(key, [MasterKey.generate()])
    settings = Settings(database_url=database_url, master_key_file=key, _env_file=None)
    async with opened_core(settings):
        pass


def _files(folder: Path) -> dict[str, float]:
    return {str(path): path.stat().st_mtime for path in folder.rglob("*")}


async def doctor(folder: Path, *args: str, **env: str) -> tuple[Said, list[str]]:
    said = await trustline("doctor", *args, cwd=folder, **env)
    assert "Traceback" not in said.err, said.err
    return said, said.out.strip().splitlines()


async def test_a_healthy_installation(database_url: str, tmp_path: Path) -> None:
    await _installed(database_url, tmp_path)
    before = _files(tmp_path)
    async with FakeBotAPI(username="zhambyl_trust_bot") as api:
        said, lines = await doctor(
            tmp_path,
            TRUSTLINE_DATABASE_URL=database_url,
            TRUSTLINE_BOT_TOKEN=TEST_TOKEN,
            TRUSTLINE_TELEGRAM_API=api.base_url,
        )
        assert {call.method for call in api.calls} == {"getMe", "getWebhookInfo"}
    assert (said.code, lines) == (0, HEALTHY), said.err
    assert _files(tmp_path) == before  # the doctor wrote nothing

    # A webhook at Telegram and a secret of the right length; --webhook needs one as well.
    async with FakeBotAPI(username="zhambyl_trust_bot") as api:
        api.webhook = {"url": "https://bot.example.org/telegram/webhook", "secret_token": None}
        said, lines = await doctor(
            tmp_path,
            TRUSTLINE_DATABASE_URL=database_url,
            TRUSTLINE_BOT_TOKEN=TEST_TOKEN,
            TRUSTLINE_TELEGRAM_API=api.base_url,
            TRUSTLINE_WEBHOOK_SECRET=GOOD_SECRET,
        )
    assert said.code == 0
    assert lines[1] == "webhook: TRUSTLINE_WEBHOOK_SECRET is set and long enough"


async def test_each_failure_is_one_line_and_exit_1(database_url: str, tmp_path: Path) -> None:
    await _installed(database_url, tmp_path)
    key = tmp_path / "trustline.key"
    env = {"TRUSTLINE_DATABASE_URL": database_url, "TRUSTLINE_BOT_TOKEN": TEST_TOKEN}

    # A key file others may read, and a webhook at Telegram without a secret.
    key.chmod(0o644)
    async with FakeBotAPI(username="zhambyl_trust_bot") as api:
        api.webhook = {"url": "https://bot.example.org/telegram/webhook", "secret_token": None}
        said, lines = await doctor(tmp_path, TRUSTLINE_TELEGRAM_API=api.base_url, **env)
    assert said.code == 1
    assert lines == [
        HEALTHY[0],
        "webhook: Telegram posts updates to https://bot.example.org/telegram/webhook, but "
        "TRUSTLINE_WEBHOOK_SECRET is not set; set it to 32 or more random characters "
        "(openssl rand -hex 32), the same for every replica",
        "key: The master key file trustline.key is readable by others (mode 644); fix it "
        "with: chmod 600 trustline.key",
        *HEALTHY[3:],
    ]
    key.chmod(0o600)

    # Telegram unreachable, a secret `run` would refuse, a key that opens nothing here.
    other = tmp_path / "other.key"
    write_key_file(other, [MasterKey.generate()])
    port = closed_port()
    said, lines = await doctor(
        tmp_path,
        TRUSTLINE_TELEGRAM_API=f"http://127.0.0.1:{port}",
        TRUSTLINE_WEBHOOK_SECRET="short",
        TRUSTLINE_MASTER_KEY_FILE=str(other),
        **env,
    )
    assert said.code == 1
    assert lines == [
        f"telegram: cannot reach Telegram at TRUSTLINE_TELEGRAM_API=http://127.0.0.1:{port}: "
        "nothing answers at that host and port (is the server running?).",
        "webhook: TRUSTLINE_WEBHOOK_SECRET must be 32 to 256 characters of A-Z, a-z, 0-9, _ "
        "and - (for example: openssl rand -hex 32)",
        f"key: the master key in {other} does not open this database's keys; use the key "
        "this database was set up with",
        *HEALTHY[3:],
    ]

    # A token Telegram refuses, and --webhook without a secret.
    async with FakeBotAPI(username="zhambyl_trust_bot") as api:
        api.fail_next(status=401, description="Unauthorized", methods=["getMe"])
        said, lines = await doctor(
            tmp_path,
            "--webhook",
            "https://bot.example.org/telegram/webhook",
            TRUSTLINE_TELEGRAM_API=api.base_url,
            **env,
        )
    assert said.code == 1
    assert lines[:2] == [
        "telegram: Telegram rejected TRUSTLINE_BOT_TOKEN (401 Unauthorized); copy the token "
        "again from @BotFather.",
        "webhook: Telegram posts updates to https://bot.example.org/telegram/webhook, but "
        "TRUSTLINE_WEBHOOK_SECRET is not set; set it to 32 or more random characters "
        "(openssl rand -hex 32), the same for every replica",
    ]
    assert lines[2:] == HEALTHY[2:]


async def test_nothing_set_up_yet(tmp_path: Path) -> None:
    """No token, no key file, no database: four findings, and the doctor makes none of
    them (no key file, no SQLite file)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'trustline.sqlite3'}"
    said, lines = await doctor(tmp_path, TRUSTLINE_DATABASE_URL=url)
    assert said.code == 1
    assert lines == [
        "telegram: TRUSTLINE_BOT_TOKEN is not set; create a bot with @BotFather in Telegram "
        "(/newbot) and set the token it gives you",
        "webhook: not known whether Telegram has a webhook set (see telegram)",
        "key: the master key file trustline.key does not exist (the first `trustline run` "
        "makes one; if this database already holds reports, restore the file from where you "
        "keep it)",
        f"database: the file {tmp_path / 'trustline.sqlite3'} does not exist; run "
        "`trustline db upgrade`",
    ]
    assert await asyncio.to_thread(lambda: list(tmp_path.iterdir())) == []
