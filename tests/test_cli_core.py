"""The console script: clear sentences instead of tracebacks, key rotation, audit verify."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("TRUSTLINE_")}


def _run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env={**CLEAN_ENV, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_run_without_token_says_how_to_get_one(tmp_path: Path) -> None:
    result = _run(["run"], tmp_path)
    assert result.returncode == 2
    assert "@BotFather" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_bad_master_key_is_one_sentence(tmp_path: Path) -> None:
    result = _run(["run"], tmp_path, TRUSTLINE_BOT_TOKEN="123:abc", TRUSTLINE_MASTER_KEY="short")
    assert result.returncode == 2
    assert "master key" in result.stderr.lower() and "Traceback" not in result.stderr


def test_bad_database_url_is_one_sentence(tmp_path: Path) -> None:
    result = _run(["db", "upgrade"], tmp_path, TRUSTLINE_DATABASE_URL="mysql://x")
    assert result.returncode == 2
    assert "TRUSTLINE_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_db_upgrade_keys_rotate_and_audit_verify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key in [k for k in os.environ if k.startswith("TRUSTLINE_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    assert main(["db", "upgrade"]) == 0
    assert main(["audit", "verify"]) == 0  # first use of the keys generates the key file
    key_file = tmp_path / "trustline.key"
    assert key_file.exists() and (key_file.stat().st_mode & 0o777) == 0o600
    before = key_file.read_text()
    assert main(["keys", "rotate"]) == 0
    after = key_file.read_text()
    assert before != after
    assert main(["audit", "verify"]) == 0
    assert "intact" in capsys.readouterr().out


def test_commands_are_quiet_by_default(tmp_path: Path) -> None:
    """No library narration (alembic printed a line per migration step): the operator sees
    the command's own answer only."""
    result = _run(["db", "upgrade"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Database is up to date."
    assert result.stderr == ""


def test_json_log_lines(tmp_path: Path) -> None:
    import json

    result = _run(["audit", "verify"], tmp_path, TRUSTLINE_LOG_FORMAT="json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines()]
    events = [entry["message"].split(":")[0] for entry in lines]
    assert "master_key_generated" in events and "audit_key_generated" in events
    assert all(
        entry["level"] == "WARNING" and entry["logger"].startswith("bot.") for entry in lines
    )


def test_an_unknown_log_level_is_one_sentence(tmp_path: Path) -> None:
    result = _run(["db", "upgrade"], tmp_path, TRUSTLINE_LOG_LEVEL="loud")
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "trustline: TRUSTLINE_LOG_LEVEL is not valid: "
        "Value error, TRUSTLINE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR."
    ]
