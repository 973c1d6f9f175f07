"""An update that fails on every try is tried a few times, then set aside as a dead letter
(which says where and how it failed, never what it said or who sent it), and the updates
behind it go on. `trustline deadletters list` shows it; `retry` has it handled again once
the fault is gone."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App
from bot.cli import main as trustline
from bot.config import Settings
from bot.db.models import DeadLetter, ProcessedUpdate
from bot.services import deadletters
from bot.services.casework import cases
from bot.services.security import retention
from fake_telegram import FakeBotAPI, TgUser
from tests.faults.support import case_of, eventually, sent_to, stored_texts

HEALTHY = 50
POISON_TEXT = "мне плохо, помогите"


def cli_env(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    assert settings.bot_token is not None and settings.master_key is not None
    monkeypatch.setenv("TRUSTLINE_BOT_TOKEN", settings.bot_token.get_secret_value())
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY", settings.master_key.get_secret_value())
    monkeypatch.setenv("TRUSTLINE_TELEGRAM_API", settings.telegram_api)
    monkeypatch.setenv("TRUSTLINE_BOT_USERNAME", "trustline_test_bot")


async def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    """The console script, in a thread of its own (it runs its own event loop)."""
    capsys.readouterr()
    code = await asyncio.to_thread(trustline, list(args))
    return code, capsys.readouterr().out


async def test_a_poison_update_is_set_aside_and_fifty_others_are_answered(
    app: App,
    fake_api: FakeBotAPI,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    poisoned = TgUser(8800, "Poison", language_code="ru")
    healthy = [TgUser(8801 + i, f"H{i}", language_code="ru") for i in range(HEALTHY)]
    real = cases.submit_student_message
    calls = {"poison": 0}

    async def broken_for_one_chat(
        session: Any, rt: Any, student: Any, chat_id: int, content: Any
    ) -> Any:
        if chat_id == poisoned.id:  # a bug that this one student's message always hits
            calls["poison"] += 1
            raise RuntimeError("a bug")
        return await real(session, rt, student, chat_id, content)

    monkeypatch.setattr(cases, "submit_student_message", broken_for_one_chat)
    poison = fake_api.text_message(poisoned, POISON_TEXT)  # first in line
    for user in healthy:
        fake_api.text_message(user, f"привет от {user.first_name}")

    async def all_answered() -> bool:
        return all(sent_to(fake_api, user.id) for user in healthy)

    # Every other chat is answered although the first update fails every time: the line
    # waits for it a few seconds at most (the bound the issue sets is 30 s in all).
    await eventually(all_answered, timeout=30, what="all fifty answered")
    await eventually(lambda: _set_aside(app), timeout=30, what="the dead letter")
    assert calls["poison"] == 5  # bot.app.MAX_ATTEMPTS tries, then set aside

    async def confirmed() -> bool:  # the next getUpdates confirms the batch's offset
        return fake_api.pending_updates == 0

    await eventually(confirmed, timeout=10, what="the offset moved on past it")
    assert not sent_to(fake_api, poisoned.id)

    async with app.sessionmaker() as session:
        letter = (await session.scalars(select(DeadLetter))).one()
        assert await session.get(ProcessedUpdate, poison["update_id"]) is None
    assert letter.update_id == poison["update_id"]
    assert letter.error == "RuntimeError"
    assert "test_dead_letters.py" in letter.place
    assert letter.attempts == 5 and letter.status == "open"
    # Nothing readable is kept: not the text, not the Telegram ids, not the name.
    assert letter.update_enc is not None
    stored = b"".join(
        str(v).encode() if not isinstance(v, bytes) else v
        for v in (letter.place, letter.error, letter.update_enc, letter.wrapped_key)
    )
    for secret in (POISON_TEXT.encode(), str(poisoned.id).encode(), b"Poison"):
        assert secret not in stored
    async with app.sessionmaker() as session:  # the sealed copy is the update itself
        assert await deadletters.sealed_update(session, app.rt.vault, letter.id) == json.loads(
            json.dumps(poison)
        )

    cli_env(monkeypatch, settings)
    code, listed = await run_cli(capsys, "deadletters", "list")
    assert code == 0
    row = next(line for line in listed.splitlines() if line.startswith(f"{letter.id}\t"))
    assert str(letter.update_id) in row and "RuntimeError" in row and "open" in row
    for secret in (POISON_TEXT, str(poisoned.id), "Poison"):
        assert secret not in listed

    # Retried while the bug is still there: it fails again and stays set aside.
    code, said = await run_cli(capsys, "deadletters", "retry", str(letter.id))
    assert code == 1 and "RuntimeError" in said
    monkeypatch.setattr(cases, "submit_student_message", real)  # the bug is fixed
    code, said = await run_cli(capsys, "deadletters", "retry", str(letter.id))
    assert code == 0, said
    case = await case_of(app, poisoned)
    assert await stored_texts(app, case.id) == [POISON_TEXT]
    app.sender.poke()
    await eventually(
        lambda: _answered(fake_api, poisoned),
        timeout=10,
        what="the student answered after the retry",
    )
    async with app.sessionmaker() as session:
        handled = await session.get(DeadLetter, letter.id)
        assert handled is not None and handled.status == "handled"
        assert handled.update_enc is None and handled.wrapped_key is None  # copy erased
    code, listed = await run_cli(capsys, "deadletters", "list")
    assert code == 0 and "No dead letters." in listed
    code, said = await run_cli(capsys, "deadletters", "retry", str(letter.id))
    assert code == 2  # nothing left to retry: said kindly, not a traceback


async def _set_aside(app: App) -> bool:
    async with app.sessionmaker() as session:
        return (await session.scalars(select(DeadLetter))).first() is not None


async def _answered(api: FakeBotAPI, user: TgUser) -> bool:
    return bool(sent_to(api, user.id))


async def test_retention_erases_a_dead_letters_copy_nobody_retried(app: App, clock):
    """The sealed update is a child's words outside any case: kept for an operator's retry
    for `SEALED_COPY_DAYS`, then erased by retention (the row of where and how stays)."""
    failure = deadletters.Failure("student.py:1", "RuntimeError", 5)
    raw = {"update_id": 901, "message": {"text": POISON_TEXT}}
    async with app.sessionmaker() as session, session.begin():
        await deadletters.record(session, app.rt.vault, 901, raw, failure, now=app.rt.now())
    clock.advance(days=deadletters.SEALED_COPY_DAYS - 1)
    await retention.run_retention(app.sessionmaker, app.rt)
    async with app.sessionmaker() as session, session.begin():  # still retryable
        assert await deadletters.sealed_update(session, app.rt.vault, 1) == raw
        await deadletters.record(session, app.rt.vault, 902, raw, failure, now=app.rt.now())
    clock.advance(days=2)
    # (Not the report's count: the app's own retention worker may run the pass first.)
    await retention.run_retention(app.sessionmaker, app.rt)
    async with app.sessionmaker() as session:
        old = await session.scalar(select(DeadLetter).where(DeadLetter.update_id == 901))
        young = await session.scalar(select(DeadLetter).where(DeadLetter.update_id == 902))
        assert old is not None and young is not None
        assert (old.status, old.update_enc, old.wrapped_key) == ("expired", None, None)
        assert young.status == "open" and young.update_enc is not None  # a day old
        with pytest.raises(deadletters.DeadLetterGone):
            await deadletters.sealed_update(session, app.rt.vault, old.id)
