"""Malformed configuration: `trustline run` says what is wrong in one sentence, exit code 2,
no traceback, and never prints a password."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from tests.conftest import PG_URL, TEST_TOKEN

KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in [n for n in os.environ if n.startswith("TRUSTLINE_")]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRUSTLINE_BOT_TOKEN", TEST_TOKEN)
    monkeypatch.setenv("TRUSTLINE_TELEGRAM_API", "http://127.0.0.1:9")  # never reached
    return monkeypatch


def one_sentence(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("trustline:")]
    assert len(lines) == 1, err
    return lines[0]


BAD_KEYS = {
    "too short": base64.urlsafe_b64encode(os.urandom(16)).decode(),
    "too long": os.urandom(40).hex(),
    "not a key": "correct horse battery staple",
}


@pytest.mark.parametrize("key", BAD_KEYS.values(), ids=BAD_KEYS.keys())
def test_a_master_key_of_the_wrong_length(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], key: str
):
    clean_env.setenv("TRUSTLINE_MASTER_KEY", key)
    assert main(["run"]) == 2
    assert "32 bytes" in one_sentence(capsys)


def test_a_key_file_of_the_wrong_length(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    key_file = tmp_path / "short.key"
    key_file.write_text(base64.urlsafe_b64encode(os.urandom(20)).decode() + "\n")
    key_file.chmod(0o600)
    clean_env.setenv("TRUSTLINE_MASTER_KEY_FILE", str(key_file))
    assert main(["run"]) == 2
    assert str(key_file) in one_sentence(capsys)


BAD_SECRETS = {
    "empty": "",
    "short": "x" * 31,
    "a character Telegram refuses": "a" * 31 + "!",
    "too long": "a" * 257,
}


@pytest.mark.parametrize("secret", BAD_SECRETS.values(), ids=BAD_SECRETS.keys())
def test_a_webhook_secret_that_would_leave_the_webhook_open(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], secret: str
):
    clean_env.setenv("TRUSTLINE_MASTER_KEY", KEY)
    clean_env.setenv("TRUSTLINE_WEBHOOK_SECRET", secret)
    assert main(["run", "--webhook", "https://example.org/telegram/webhook"]) == 2
    sentence = one_sentence(capsys)
    assert "TRUSTLINE_WEBHOOK_SECRET" in sentence and "32" in sentence


def test_a_long_webhook_secret_is_accepted(clean_env: pytest.MonkeyPatch):
    clean_env.setenv("TRUSTLINE_WEBHOOK_SECRET", "a" * 32)
    from bot.config import Settings

    assert Settings().webhook_secret is not None


BAD_URLS = {
    "unknown driver": ("mysql://root@localhost/trust", "TRUSTLINE_DATABASE_URL"),
    "port not a number": ("postgresql+asyncpg://u:pw@localhost:port/db", "not a database URL"),
    "nothing listening": ("postgresql+asyncpg://u:hunter2@127.0.0.1:9/db", "nothing answers"),
    "unknown host": ("postgresql+asyncpg://u@no-such-host.invalid/db", "host name is unknown"),
    "no such folder": (
        "sqlite+aiosqlite:////no/such/folder/trustline.sqlite3",
        "cannot be opened",
    ),
}


@pytest.mark.parametrize(("url", "said"), BAD_URLS.values(), ids=BAD_URLS.keys())
def test_a_database_url_that_cannot_work(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], url: str, said: str
):
    clean_env.setenv("TRUSTLINE_MASTER_KEY", KEY)
    clean_env.setenv("TRUSTLINE_DATABASE_URL", url)
    assert main(["run"]) == 2
    sentence = one_sentence(capsys)
    assert said in sentence and "hunter2" not in sentence


@pytest.mark.postgres
def test_a_postgresql_database_that_does_not_exist(
    clean_env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    if not PG_URL:
        pytest.skip("PostgreSQL tests need TRUSTLINE_TEST_DATABASE_URL")
    clean_env.setenv("TRUSTLINE_MASTER_KEY", KEY)
    clean_env.setenv("TRUSTLINE_DATABASE_URL", PG_URL.rsplit("/", 1)[0] + "/no_such_db_x")
    assert main(["run"]) == 2
    assert "does not exist" in one_sentence(capsys)


def test_the_console_script_exits_2_with_one_line(tmp_path: Path):
    """The same through the installed entry point, as an operator would run it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLINE_")}
    env.update(
        TRUSTLINE_BOT_TOKEN=TEST_TOKEN,
        TRUSTLINE_MASTER_KEY=KEY,
        TRUSTLINE_DATABASE_URL="postgresql+asyncpg://u:hunter2@127.0.0.1:9/db",
        PYTHONPATH=str(ROOT),
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("trustline: "), result.stderr
    assert "hunter2" not in result.stderr
