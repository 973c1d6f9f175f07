"""Issue 15, point 9: with the master key in TRUSTLINE_MASTER_KEY, `keys rotate` used to
rewrap every data key at once under a key the running bot could not read (a key in the
environment is never read again): the bot failed every student whose case key was
rewrapped, and what it wrapped meanwhile, under the old key, was unreadable after a restart
with the new key alone.

Now the rotation takes two steps and no row is ever under a key the running bot lacks:
the first writes NEW,OLD to a file and rewraps nothing; the bot is restarted with both;
`keys rotate --finish` rewraps everything under NEW; the next restart may hold NEW alone.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy import select

from bot.config import Settings
from bot.db.models import Case, DeadLetter, KeyMaterial, Member
from bot.services.security import keys
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock, running_app
from tests.faults.support import case_of, eventually, psychologist, sent_to, settled, stored_texts
from tests.test_dead_letters import cli_env, run_cli


async def _kek_ids(app) -> set[str]:
    async with app.sessionmaker() as session:
        found = set(
            (await session.scalars(select(Case.kek_id).where(Case.kek_id.is_not(None)))).all()
        )
        found |= set((await session.scalars(select(Member.kek_id))).all())
        found |= set((await session.scalars(select(KeyMaterial.kek_id))).all())
        return found


async def test_rotation_with_the_key_in_the_environment_never_stalls_nor_strands_a_row(
    settings: Settings,
    fake_api: FakeBotAPI,
    clock: FakeClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    assert settings.master_key is not None
    old_id = keys.load_master_keyring(settings).current.key_id
    known = TgUser(8901, "Known", language_code="ru")
    newcomer = TgUser(8902, "New", language_code="ru")
    in_window = TgUser(8903, "Window", language_code="ru")
    new_key_file = tmp_path / "new-master.key"
    cli_env(monkeypatch, settings)
    async with running_app(settings, clock) as app:
        await psychologist(app, TgUser(8950, "Psy", language_code="ru"))
        fake_api.text_message(known, "первое")
        await settled(app, fake_api)
        code, said = await run_cli(capsys, "keys", "rotate", "--new-key-file", str(new_key_file))
        assert code == 0 and "nothing is rewrapped" in said
        start = len(fake_api.calls)
        fake_api.text_message(known, "второе")
        fake_api.text_message(newcomer, "помогите")
        await settled(app, fake_api)
        assert sent_to(fake_api, known.id, start) and sent_to(fake_api, newcomer.id, start)
        async with app.sessionmaker() as session:
            assert (await session.scalars(select(DeadLetter))).first() is None
        assert await _kek_ids(app) == {old_id}
        # --finish with the old key alone would strand the running bot: refused.
        code, _ = await run_cli(capsys, "keys", "rotate", "--finish")
        assert code != 0
        assert await _kek_ids(app) == {old_id}

    new_key, old_key = keys.read_key_file(new_key_file)
    assert old_key.key_id == old_id
    both = ",".join(keys.encode_key(k) for k in (new_key, old_key))
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY", both)
    restarted = settings.model_copy(update={"master_key": SecretStr(both)})
    async with running_app(restarted, clock) as app:
        fake_api.text_message(in_window, "в окне")
        await settled(app, fake_api)
        assert new_key.key_id in await _kek_ids(app)
        code, said = await run_cli(capsys, "keys", "rotate", "--finish")
        assert code == 0, said
        assert await _kek_ids(app) == {new_key.key_id}

    alone = keys.encode_key(new_key)
    only_new = settings.model_copy(update={"master_key": SecretStr(alone)})
    async with running_app(only_new, clock) as app:
        assert await stored_texts(app, (await case_of(app, known)).id) == ["первое", "второе"]
        assert await stored_texts(app, (await case_of(app, newcomer)).id) == ["помогите"]
        assert await stored_texts(app, (await case_of(app, in_window)).id) == ["в окне"]
        start = len(fake_api.calls)
        fake_api.text_message(known, "после")

        async def answered() -> bool:
            return bool(sent_to(fake_api, known.id, start))

        await eventually(answered, timeout=10, what="the student answered")
