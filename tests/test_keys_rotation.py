"""`trustline keys rotate` while students and a psychologist keep writing: every message
stays readable, no ciphertext changes, no pseudonym changes, nothing is lost."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App
from bot.cli import main
from bot.config import Settings
from bot.db.models import Case, CaseMessage, KeyMaterial, Member, Student
from bot.services.security import keys
from bot.services.security.vault import Vault
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock, running_app
from tests.faults.support import (
    case_of,
    command,
    psychologist,
    settled,
)


@pytest.fixture
async def file_keyed_app(
    settings: Settings, clock: FakeClock, tmp_path: Path
) -> AsyncIterator[tuple[App, Settings]]:
    """The bot with its master key in a file (the default set-up), polling the fake API."""
    assert settings.master_key is not None
    key_file = tmp_path / "master.key"
    keys.write_key_file(
        key_file, [keys._decode_key(settings.master_key.get_secret_value(), "test")]
    )
    settings = settings.model_copy(
        update={
            "master_key": None,
            "master_key_file": key_file,
            # Telegram's pace is tested elsewhere; here it would only make the test slow.
            "send_per_second": 200.0,
            "send_per_chat_per_second": 50.0,
        }
    )
    async with running_app(settings, clock) as app:
        yield app, settings


ROUNDS = 30


async def _snapshot(app: App) -> tuple[dict[str, bytes], set[bytes], set[bytes]]:
    async with app.sessionmaker() as session:
        bodies = {
            str(m.id): m.body_enc
            for m in (await session.scalars(select(CaseMessage)))
            if m.body_enc is not None
        }
        students = set((await session.scalars(select(Student.pseudonym))).all())
        members = set((await session.scalars(select(Member.pseudonym))).all())
    return bodies, students, members


async def test_rotation_while_traffic_flows(
    file_keyed_app: tuple[App, Settings],
    fake_api: FakeBotAPI,
    monkeypatch: pytest.MonkeyPatch,
):
    app, settings = file_keyed_app
    students = [TgUser(9500 + i, f"S{i}", language_code="ru") for i in range(6)]
    psy = TgUser(9599, "Psy")
    await psychologist(app, psy)
    for user in students:
        fake_api.text_message(user, f"{user.first_name}: начало")
    await settled(app, fake_api, timeout=30)
    first = await case_of(app, students[0])
    command(fake_api, psy, f"/take {first.code}")
    await settled(app, fake_api)
    bodies_before, students_before, members_before = await _snapshot(app)

    sent: list[str] = []

    async def traffic() -> None:
        for round_ in range(1, ROUNDS + 1):
            for user in students:
                text = f"{user.first_name}: сообщение {round_}"
                fake_api.text_message(user, text)
                sent.append(text)
            fake_api.text_message(psy, f"ответ {round_}")
            await asyncio.sleep(0.05)

    monkeypatch.delenv("TRUSTLINE_MASTER_KEY", raising=False)
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY_FILE", str(settings.master_key_file))
    key_file = Path(str(settings.master_key_file))
    old_key_text = await asyncio.to_thread(key_file.read_text)
    flowing = asyncio.create_task(traffic())
    await asyncio.sleep(0.3)
    assert await asyncio.to_thread(main, ["keys", "rotate"]) == 0
    await flowing
    await settled(app, fake_api, timeout=60)
    assert await asyncio.to_thread(key_file.read_text) != old_key_text

    # Only the new key now: everything opens with it, nothing was re-encrypted.
    keyring = keys.load_master_keyring(settings)
    async with app.sessionmaker() as session:
        assert {km.kek_id for km in await session.scalars(select(KeyMaterial))} == {
            keyring.current.key_id
        }
        pseudonym_keys = await keys.load_pseudonym_keys(session, keyring)
        vault = Vault(keyring, pseudonym_keys, periods=app.rt.vault.periods)
        stored: list[str] = []
        for case in (await session.scalars(select(Case))).all():
            assert case.kek_id == keyring.current.key_id
            for message in (
                await session.scalars(select(CaseMessage).where(CaseMessage.case_id == case.id))
            ).all():
                stored.append(
                    vault.open_text_for_case(case, f"msg/{message.id}", "body", message.body_enc)
                )
                if str(message.id) in bodies_before:
                    assert message.body_enc == bodies_before[str(message.id)]
        for member in (await session.scalars(select(Member))).all():
            assert vault.member_chat_id(member) == psy.id
    assert sorted(t for t in stored if "сообщение" in t) == sorted(sent)
    assert len([t for t in stored if t.startswith("ответ")]) == ROUNDS
    _, students_after, members_after = await _snapshot(app)
    assert (students_after, members_after) == (students_before, members_before)
    assert {vault.pseudonyms.student_id(u.id) for u in students} == students_after

    # Every answer reached the student, once; the bot goes on as before.
    answers = [
        t.rsplit("\n", 1)[-1]
        for t in fake_api.sent_texts(students[0].id)
        if re.search(r"\nответ \d+$", t)
    ]
    assert answers == [f"ответ {i}" for i in range(1, ROUNDS + 1)]
    newcomer = TgUser(9598, "New", language_code="ru")  # a new case, under the new key only
    fake_api.text_message(newcomer, "после ротации")
    await fake_api.wait_for(lambda c: c.chat_id == newcomer.id and c.is_send)
    async with app.sessionmaker() as session:
        case = await session.scalar(select(Case).order_by(Case.id.desc()).limit(1))
        assert case is not None and case.kek_id == keyring.current.key_id
