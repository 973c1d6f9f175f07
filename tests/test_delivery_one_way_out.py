"""One way out, never silent: every message the bot sends is an outbox row (command answers
included), rows for someone who is no longer there are dropped and counted, and a message
Telegram refuses for good is reported to whoever wrote it, in their language."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiogram.filters import Command
from aiogram.types import Message
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.crypto import MasterKey, MasterKeyring
from bot.db.models import Case, Member, OutboxMessage
from bot.delivery import outbox, undelivered
from bot.delivery.sender import MEMBER_DEACTIVATED, STUDENT_FORGOT
from bot.domain import ContentKind, Role
from bot.middlewares import HELD_CALL_ATTEMPTS
from bot.services.casework import codes, conversation
from bot.services.casework.cases import IncomingContent
from bot.services.organisation import members
from bot.services.security import keys
from bot.services.security.vault import Vault
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.faults.support import add_member, eventually, psychologist, sent_to, settled
from tests.queue_helpers import (
    command,
    join,
    member_of,
    next_to,
    seed_places,
    settings,  # noqa: F401 - the fixture: one message a second per chat is lifted
    student_opens_case,
    take,
)


async def _drain(app: App, fake_api: FakeBotAPI, clock: FakeClock) -> None:
    """Let the sender's backoffs pass (the clock moves on) until everything is delivered."""
    for _ in range(120):
        try:
            await settled(app, fake_api, timeout=0.5)
            return
        except AssertionError:
            clock.advance(seconds=30)
            app.sender.poke()
    await settled(app, fake_api, timeout=1)


async def _rows(app: App, **where: object) -> list[OutboxMessage]:
    async with app.sessionmaker() as session:
        query = select(OutboxMessage).order_by(OutboxMessage.created_at, OutboxMessage.id)
        for name, value in where.items():
            query = query.where(getattr(OutboxMessage, name) == value)
        return list((await session.scalars(query)).all())


async def test_a_command_answer_outlives_an_outage_longer_than_the_old_three_tries(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    user = TgUser(6101, "Aijan", language_code="ru")
    outage = HELD_CALL_ATTEMPTS + 3
    fake_api.fail_next(outage, 502, methods=["sendMessage"])
    command(fake_api, user, "/help")
    await _drain(app, fake_api, clock)

    failed = [c for c in fake_api.calls if c.chat_id == user.id and c.status == 502]
    assert len(failed) == outage  # the fake really was down for more than three tries
    delivered = sent_to(fake_api, user.id)
    assert len(delivered) == 1  # then it arrived, once
    assert "/new" in (delivered[0].text or "")  # the help
    # Addressed without a case or an account: by a keyed hash, erased once it was sent.
    (row,) = await _rows(app)
    assert row.case_id is None and row.member_id is None
    assert row.status == "sent" and row.chat_key is None and row.payload_enc == b""


async def test_a_direct_row_keeps_the_chat_id_only_sealed(app: App):
    chat_id = 987654321
    async with app.sessionmaker() as session, session.begin():
        row = outbox.enqueue(
            session,
            app.rt.vault,
            outbox.Chat(chat_id),
            "sendMessage",
            {"text": "hello"},
            now=app.rt.now(),
            not_before=app.rt.now() + timedelta(days=1),
        )
        await session.flush()
        row_id = row.id
    async with app.sessionmaker() as session:
        stored = await session.get(OutboxMessage, row_id)
        assert stored is not None and stored.chat_key is not None
        for clear in (str(chat_id).encode(), chat_id.to_bytes(8, "big"), b"hello"):
            assert clear not in stored.payload_enc and clear not in stored.chat_key
        assert stored.chat_key == outbox.chat_key(app.rt.vault, chat_id)
        assert stored.chat_key != app.rt.vault.pseudonyms.student_id(chat_id)
        opened = outbox.open_payload(app.rt.vault, stored, None)
        assert opened == {"method": "sendMessage", "params": {"text": "hello"}, "chat_id": chat_id}


async def test_replies_of_one_student_keep_their_order(app: App, fake_api: FakeBotAPI):
    user = TgUser(6102, "Bakyt", language_code="ru")
    texts = ["/help", "/privacy", "/lang", "/help"]
    for text in texts:
        command(fake_api, user, text)
    await settled(app, fake_api)
    delivered = [c.text or "" for c in sent_to(fake_api, user.id)]
    assert len(delivered) == len(texts)
    assert "/new" in delivered[0] and "/new" in delivered[3]  # the help
    assert "/forget" in delivered[1] and "/new" not in delivered[1]  # the privacy note
    assert delivered[2] == app.rt.tr("ru", "Choose your language:")


async def _claimed(
    app: App, fake_api: FakeBotAPI, student: TgUser, psy: TgUser
) -> tuple[Case, Member]:
    places = await seed_places(app)
    member = await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    case = await student_opens_case(
        app, fake_api, student, "мени уруп жатышат", district=places.lenin
    )
    await take(app, fake_api, psy, case.code)
    await settled(app, fake_api)
    return case, member


async def _queued(
    app: App, make: Callable[[AsyncSession], Awaitable[None]]
) -> list[OutboxMessage]:
    """Rows a service writes, held back an hour: queued, as behind a slow chat."""
    async with app.sessionmaker() as session, session.begin():
        await make(session)
        rows = [r for r in session.new if isinstance(r, OutboxMessage)]
        for row in rows:
            row.not_before = app.rt.now() + timedelta(hours=1)
    assert rows
    return rows


async def test_a_queued_relay_to_a_psychologist_switched_off_meanwhile_is_dropped(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    student, psy = TgUser(6103, "Cholpon", language_code="ky"), TgUser(6903, "Psy")
    case, member = await _claimed(app, fake_api, student, psy)
    label = app.rt.tr("ru", "💬 {code} — the student writes:", code=codes.display(case.code))

    async def relay(session: AsyncSession) -> None:
        psy_row = await session.get(Member, member.id)
        assert psy_row is not None
        outbox.enqueue(
            session,
            app.rt.vault,
            psy_row,
            "sendMessage",
            {"text": f"{label}\nдагы бир нерсе айтайын"},
            now=app.rt.now(),
            relay_case_id=case.id,
        )

    queued = await _queued(app, relay)
    async with app.sessionmaker() as session, session.begin():
        await members.deactivate(session, app.rt, None, member.id)
    start = len(fake_api.calls)
    clock.advance(hours=2)
    app.sender.poke()
    await settled(app, fake_api)

    for row in queued:
        (stored,) = await _rows(app, id=row.id)
        assert stored.status == "dropped" and stored.error == MEMBER_DEACTIVATED
        assert stored.payload_enc == b""
    assert app.sender.dropped[MEMBER_DEACTIVATED] == len(queued)
    to_psy = [c.text or "" for c in sent_to(fake_api, psy.id, start)]
    assert not any("дагы бир нерсе" in t for t in to_psy)
    # Their own farewell still reaches them: it goes to their chat, not their account.
    assert to_psy == [app.rt.tr("ru", "Your TrustLine account has been switched off.")]


async def test_a_queued_answer_to_a_student_who_then_forgets_is_dropped(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
):
    student, psy = TgUser(6104, "Dinara", language_code="ru"), TgUser(6904, "Psy")
    case, member = await _claimed(app, fake_api, student, psy)
    content = IncomingContent(ContentKind.TEXT, "ответ, которого не будет", None, 7)

    async def answer(session: AsyncSession) -> None:
        stored_case = await session.get(Case, case.id, with_for_update=True)
        psy_row = await session.get(Member, member.id)
        assert stored_case is not None and psy_row is not None
        await conversation.answer_student(session, app.rt, psy_row, stored_case, content)

    queued = await _queued(app, answer)
    start = len(fake_api.calls)
    fake_api.callback_query(student, "forget:yes")
    await next_to(fake_api, student.id, start, "Готово")
    clock.advance(hours=2)
    app.sender.poke()
    await settled(app, fake_api)

    (stored,) = await _rows(app, id=queued[0].id)
    assert stored.status == "dropped" and stored.error == STUDENT_FORGOT
    assert app.sender.dropped[STUDENT_FORGOT] == 1
    assert not any(
        "которого не будет" in (c.text or "") for c in sent_to(fake_api, student.id, start)
    )


async def test_answers_to_a_student_who_blocked_the_bot_are_reported_to_the_psychologist(
    app: App, fake_api: FakeBotAPI
):
    student, psy = TgUser(6105, "Erkin", language_code="ru"), TgUser(6905, "Psy")
    case, _member = await _claimed(app, fake_api, student, psy)
    code = codes.display(case.code)
    fake_api.block(student.id)
    start = len(fake_api.calls)
    fake_api.text_message(psy, "первый ответ")
    await next_to(fake_api, psy.id, start, app.rt.tr("ru", undelivered.UNREACHABLE, code=code))
    start = len(fake_api.calls)
    # As long as Telegram lets a message be: with the label it goes in two parts, and one
    # notice speaks for both.
    fake_api.text_message(psy, ("второй ответ, длинный. " * 180)[:4096])
    notice = await next_to(fake_api, psy.id, start, code)
    why = app.rt.tr("ru", undelivered.ABOUT_STUDENT[undelivered.BLOCKED])
    head, tail = app.rt.tr("ru", undelivered.ANSWER_LOST).split("{time}")
    assert notice.text is not None and notice.text.startswith(head.split("{code}")[0])
    assert notice.text.endswith(tail.format(code=code, why=why))
    await settled(app, fake_api)
    assert app.sender.failures[undelivered.BLOCKED] == 3
    assert [c.text for c in sent_to(fake_api, psy.id, start)] == [notice.text]


async def test_a_refused_relay_is_reported_to_the_student_in_their_language(
    app: App, fake_api: FakeBotAPI
):
    student, psy = TgUser(6106, "Gulzat", language_code="ky"), TgUser(6906, "Psy")
    await _claimed(app, fake_api, student, psy)
    fake_api.fail_next(
        1,
        400,
        description="Bad Request: wrong file identifier/HTTP URL specified",
        methods=["sendPhoto"],
    )
    start = len(fake_api.calls)
    fake_api.photo_message(student, caption="мына сүрөт")
    why = app.rt.tr("ky", undelivered.ABOUT_PSYCHOLOGIST[undelivered.REFUSED])
    notice = await next_to(fake_api, student.id, start, why)
    assert notice.text is not None and "Telegram аны кабыл алган жок" in notice.text
    assert notice.text.startswith("⚠️") and "111" in notice.text
    assert app.sender.failures[undelivered.REFUSED] == 1
    await settled(app, fake_api)
    refused = [c for c in fake_api.calls[start:] if c.chat_id == psy.id and c.status == 400]
    assert len(refused) == 1  # refused once for good, not tried again


async def test_a_card_that_does_not_reach_the_pool_reaches_the_district_supervisor(
    app: App, fake_api: FakeBotAPI
):
    places = await seed_places(app)
    psy, boss, other = TgUser(6907, "Psy"), TgUser(6807, "Boss"), TgUser(6808, "Far")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    await join(app, fake_api, boss, Role.SUPERVISOR, district=places.lenin)
    await join(app, fake_api, other, Role.SUPERVISOR, district=places.oktyabr)
    psy_member = await member_of(app, psy)
    assert psy_member is not None
    await settled(app, fake_api)
    fake_api.block(psy.id)
    start = len(fake_api.calls)
    case = await student_opens_case(
        app,
        fake_api,
        TgUser(6107, "Nurlan", language_code="ru"),
        "меня обижают",
        district=places.lenin,
    )
    notice = await next_to(fake_api, boss.id, start, codes.display(case.code))
    assert notice.text == app.rt.tr(
        "ru",
        undelivered.CARD_LOST,
        code=codes.display(case.code),
        number=psy_member.id,
        why=app.rt.tr("ru", undelivered.ABOUT_PSYCHOLOGIST[undelivered.BLOCKED]),
    )
    await settled(app, fake_api)
    assert sent_to(fake_api, other.id, start) == []  # another district's supervisor: nothing


async def test_a_deactivated_member_writing_gets_an_answer_and_it_is_not_dropped(
    app: App, fake_api: FakeBotAPI
):
    psy = TgUser(6909, "Former")
    async with app.sessionmaker() as session, session.begin():
        member = await add_member(app, session, psy)
        member.active = False
    start = len(fake_api.calls)
    command(fake_api, psy, "/queue")
    await next_to(fake_api, psy.id, start)
    await settled(app, fake_api)
    (row,) = await _rows(app)
    assert row.status == "sent" and row.member_id is None and row.chat_key is None
    await eventually(lambda: _no_drops(app), what="nothing dropped")


async def _no_drops(app: App) -> bool:
    return sum(app.sender.dropped.values()) == 0


async def test_a_waiting_direct_row_follows_a_master_key_rotation(app: App):
    async with app.sessionmaker() as session, session.begin():
        row = outbox.enqueue(
            session,
            app.rt.vault,
            outbox.Chat(4242),
            "sendMessage",
            {"text": "later"},
            now=app.rt.now(),
            not_before=app.rt.now() + timedelta(days=1),
        )
        await session.flush()
        row_id = row.id
    old, new = app.rt.vault.keyring, MasterKey.generate()
    async with app.sessionmaker() as session, session.begin():
        assert await keys.rewrap_all(session, old, new) >= 1
    async with app.sessionmaker() as session, session.begin():
        assert await keys.rewrap_all(session, old, new) == 0  # nothing left to rewrap
    only_new = Vault(MasterKeyring(new), app.rt.vault.pseudonyms)
    async with app.sessionmaker() as session:
        stored = await session.get(OutboxMessage, row_id)
        assert stored is not None
        assert outbox.open_payload(only_new, stored, None)["chat_id"] == 4242


async def test_replies_and_service_rows_go_out_in_the_order_they_were_made(
    app: App, fake_api: FakeBotAPI
):
    psy = TgUser(6910, "Psy")
    await psychologist(app, psy)

    async def interleaved(message: Message, session: AsyncSession, member: Member) -> None:
        await message.answer("one")
        outbox.enqueue(
            session, app.rt.vault, member, "sendMessage", {"text": "two"}, now=app.rt.now()
        )
        await message.answer("three")

    app.dispatcher.message.register(interleaved, Command("interleave"))
    command(fake_api, psy, "/interleave")
    await settled(app, fake_api)
    assert [c.text for c in sent_to(fake_api, psy.id)] == ["one", "two", "three"]
