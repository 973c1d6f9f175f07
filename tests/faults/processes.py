"""The fork server of tests/faults/runner.py seen from a test: start `trustline run`
processes, signal or kill them, read their exit codes and their log."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.config import Settings
from bot.services.security import audit_keys, keys

ROOT = Path(__file__).resolve().parent.parent.parent


class Runner:
    """The fork server of tests/faults/runner.py: starts bots, the test kills them."""

    def __init__(self, process: subprocess.Popen[bytes], workdir: Path) -> None:
        self.process = process
        self.workdir = workdir
        self.log = workdir / "bots.log"
        self.bot: int | None = None

    def start(self, env: dict[str, str], *args: str) -> int:
        """Fork a bot (a fork answers at once; the first import took its time earlier)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"start {json.dumps({**env, 'ARGS': list(args)})}\n".encode())
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the runner died:\n{self.tail()}"
        self.bot = int(line)
        return self.bot

    def kill(self, sig: int = signal.SIGKILL) -> int | None:
        """Send `sig` to the current bot (SIGKILL by default); its pid."""
        pid, self.bot = self.bot, None
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        return pid

    def exit_code(self, pid: int) -> int | None:
        """The exit code of a bot that has ended (negative: killed by that signal), else
        None."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"status {pid}\n".encode())
        self.process.stdin.flush()
        answer = self.process.stdout.readline().decode().strip()
        assert answer, f"the runner died:\n{self.tail()}"
        return None if answer == "running" else int(answer)

    def log_count(self, event: str) -> int:
        """How often bots logged `event` (an event name, as the log lines start it)."""
        return sum(
            (f" {event} " in f"{line} ")
            for line in self.log.read_text(errors="replace").splitlines()
        )

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


@pytest.fixture(scope="module", name="runner")
def runner_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """A fork server for the module's tests (import this fixture into a test module)."""
    workdir = tmp_path_factory.mktemp("bots")  # where the bots keep their sent notes
    log = workdir / "bots.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLINE_")}
    env["PYTHONPATH"] = str(ROOT)
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.faults.runner"],
            cwd=workdir,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=sink,
        )
    found = Runner(process, workdir)
    try:
        yield found
    finally:
        found.kill()
        assert process.stdin is not None
        process.stdin.write(b"quit\n")
        process.stdin.close()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
        if process.stdout is not None:
            process.stdout.close()


def bot_env(settings: Settings) -> dict[str, str]:
    """The environment of a bot process on the test's database and fake Bot API."""
    assert settings.master_key is not None and settings.bot_token is not None
    return {
        "TRUSTLINE_BOT_TOKEN": settings.bot_token.get_secret_value(),
        "TRUSTLINE_DATABASE_URL": settings.database_url,
        "TRUSTLINE_MASTER_KEY": settings.master_key.get_secret_value(),
        # The test's audit key: the bots run in another directory, the key must be the same.
        "TRUSTLINE_AUDIT_KEY_FILE": str(audit_keys.key_file_path(settings).resolve()),
        # And the retention-period keys (bot/crypto/periods.py): the test opens what they seal.
        "TRUSTLINE_PERIOD_KEY_DIR": str(keys.period_key_directory(settings).resolve()),
        "TRUSTLINE_TELEGRAM_API": settings.telegram_api,
        "TRUSTLINE_BOT_USERNAME": "trustline_test_bot",
        # Telegram's pace has its own tests; here it would only make the suite slow.
        "TRUSTLINE_SEND_PER_SECOND": "300",
        "TRUSTLINE_SEND_PER_CHAT_PER_SECOND": "30",
    }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
