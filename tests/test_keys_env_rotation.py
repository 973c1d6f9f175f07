"""Issue 12, point 4: with the master key in the environment, `keys rotate` rewraps every
data key under a new master key that the running bot cannot read (a key given in
TRUSTLINE_MASTER_KEY is never read again). A student whose case key was rewrapped then
failed on every try, and the polling loop held every other update behind that one.

Now the update is tried a few times and set aside, other students are answered, and after
the restart with the new key (followed by the old one, for what the old process wrapped
meanwhile) `trustline deadletters retry` handles it.
"""

from __future__ import annotations

import logging

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.config import Settings
from bot.db.models import DeadLetter
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock, running_app
from tests.faults.support import case_of, eventually, sent_to, settled, stored_texts
from tests.test_dead_letters import cli_env, run_cli


async def test_a_student_rewrapped_under_a_key_the_bot_lacks_holds_up_nobody(
    settings: Settings,
    fake_api: FakeBotAPI,
    clock: FakeClock,
    tmp_path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
):
    assert settings.master_key is not None
    old_key = settings.master_key.get_secret_value()
    known, newcomer = (
        TgUser(8901, "Known", language_code="ru"),
        TgUser(8902, "New", language_code="ru"),
    )
    new_key_file = tmp_path / "new-master.key"
    async with running_app(settings, clock) as app:
        fake_api.text_message(known, "первое")
        await settled(app, fake_api)
        cli_env(monkeypatch, settings)
        code, said = await run_cli(capsys, "keys", "rotate", "--new-key-file", str(new_key_file))
        assert code == 0 and "restart" in said
        start = len(fake_api.calls)
        fake_api.text_message(known, "второе")  # the case key is under the new key now
        fake_api.text_message(newcomer, "помогите")

        async def newcomer_answered() -> bool:
            return bool(sent_to(fake_api, newcomer.id, start))

        async def set_aside() -> bool:
            async with app.sessionmaker() as session:
                return (await session.scalars(select(DeadLetter))).first() is not None

        await eventually(newcomer_answered, timeout=30, what="the new student answered")
        await eventually(set_aside, timeout=30, what="the failing update set aside")
        async with app.sessionmaker() as session:
            letter = (await session.scalars(select(DeadLetter))).one()
        assert letter.error == "DecryptionError"
        assert any(
            "master_key_not_loaded" in r.getMessage()
            for r in caplog.records
            if r.levelno >= logging.ERROR
        )
        assert not sent_to(fake_api, known.id, start)

    new_key = next(
        line.strip()
        for line in new_key_file.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    )
    both = f"{new_key},{old_key}"
    restarted = settings.model_copy(update={"master_key": SecretStr(both)})
    async with running_app(restarted, clock) as app:
        monkeypatch.setenv("TRUSTLINE_MASTER_KEY", both)
        start = len(fake_api.calls)
        code, said = await run_cli(capsys, "deadletters", "retry", str(letter.id))
        assert code == 0, said
        case = await case_of(app, known)
        assert await stored_texts(app, case.id) == ["первое", "второе"]
        app.sender.poke()

        async def known_answered() -> bool:
            return bool(sent_to(fake_api, known.id, start))

        await eventually(known_answered, timeout=10, what="the student answered")
        # What the old process wrapped after the rotation still opens.
        assert await stored_texts(app, (await case_of(app, newcomer)).id) == ["помогите"]
