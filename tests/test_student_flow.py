"""End to end: a student writes through the real bot and the fake Bot API."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import App
from bot.db.models import Case, CaseMessage, Student
from bot.domain import CaseStatus, ContentKind
from bot.services.casework import cases
from fake_telegram import FakeBotAPI, TgUser


def send_command(api: FakeBotAPI, user: TgUser, command: str, args: str = "") -> None:
    text = f"{command} {args}".strip()
    api.text_message(
        user, text, entities=[{"type": "bot_command", "offset": 0, "length": len(command)}]
    )


async def _case_of(app: App, user: TgUser) -> tuple[Case, list[CaseMessage]]:
    async with app.sessionmaker() as session:
        student = await cases.get_student(session, app.rt, user.id)
        assert student is not None and student.active_case_id is not None
        case = await session.get(Case, student.active_case_id)
        assert case is not None
        messages = (
            await session.scalars(
                select(CaseMessage)
                .where(CaseMessage.case_id == case.id)
                .order_by(CaseMessage.created_at)
            )
        ).all()
        return case, list(messages)


async def test_greeting_promise_and_111_in_telegram_language(app: App, fake_api: FakeBotAPI):
    user = TgUser(5001, "Aru", language_code="kk")
    send_command(fake_api, user, "/start")
    greeting = await fake_api.wait_for_send(user.id, "111")
    assert greeting.text is not None and len(greeting.text) > 100
    async with app.sessionmaker() as session:
        student = await cases.get_student(session, app.rt, user.id)
        assert student is not None and student.language == "kk"


async def test_unknown_language_gets_a_picker(app: App, fake_api: FakeBotAPI):
    user = TgUser(5002, "Sam", language_code="de")
    send_command(fake_api, user, "/start")
    picker = await fake_api.wait_for(lambda c: c.chat_id == user.id and c.method == "sendMessage")
    buttons = [
        b["callback_data"] for row in picker.params["reply_markup"]["inline_keyboard"] for b in row
    ]
    assert buttons == ["lang:ky", "lang:kk", "lang:ru"]
    start = len(fake_api.calls)
    fake_api.callback_query(user, "lang:ky", message=picker.message)
    await fake_api.wait_for_send(user.id, "111", start=start)
    async with app.sessionmaker() as session:
        student = await cases.get_student(session, app.rt, user.id)
        assert student is not None and student.language == "ky"


async def test_first_message_opens_a_case_and_later_ones_join(app: App, fake_api: FakeBotAPI):
    user = TgUser(5003, "Bek", language_code="ru")
    fake_api.text_message(user, "Меня обижают в классе")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.method == "sendMessage")
    fake_api.photo_message(user, caption="вот что написали")
    fake_api.voice_message(user)
    fake_api.sticker_message(user)
    fake_api.document_message(user)
    fake_api.video_message(user)
    await fake_api.wait_for_count(lambda c: c.chat_id == user.id and c.is_send, 6, timeout=15)
    case, messages = await _case_of(app, user)
    assert case.status == CaseStatus.OPEN
    assert [m.kind for m in messages] == [
        ContentKind.TEXT,
        ContentKind.PHOTO,
        ContentKind.VOICE,
        ContentKind.STICKER,
        ContentKind.DOCUMENT,
        ContentKind.VIDEO,
    ]
    assert messages[1].file_id_enc is not None and messages[1].body_enc is not None
    assert (
        app.rt.vault.open_text_for_case(
            case, f"msg/{messages[0].id}", "body", messages[0].body_enc
        )
        == "Меня обижают в классе"
    )
    async with app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Case)) == 1


async def test_new_starts_a_second_case(app: App, fake_api: FakeBotAPI):
    user = TgUser(5004, "Dana", language_code="kk")
    fake_api.text_message(user, "сәлем")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.method == "sendMessage")
    first, _ = await _case_of(app, user)
    fake_api.text_message(
        user, "/new", entities=[{"type": "bot_command", "offset": 0, "length": 4}]
    )
    fake_api.text_message(user, "басқа мәселе")
    await fake_api.wait_for_count(lambda c: c.chat_id == user.id and c.is_send, 3)
    second, messages = await _case_of(app, user)
    assert second.id != first.id and len(messages) == 1


async def test_commands_answer_in_each_language(app: App, fake_api: FakeBotAPI):
    answers: dict[str, list[str]] = {}
    for offset, lang in enumerate(("ky", "kk", "ru")):
        user = TgUser(5100 + offset, "X", language_code=lang)
        for command in ("/help", "/privacy", "/new", "/lang"):
            start = len(fake_api.calls)
            fake_api.text_message(
                user,
                command,
                entities=[{"type": "bot_command", "offset": 0, "length": len(command)}],
            )
            call = await fake_api.wait_for(
                lambda c, uid=user.id: c.chat_id == uid and c.method == "sendMessage", start=start
            )
            answers.setdefault(command, []).append(call.text or "")
    for command, texts in answers.items():
        assert all(texts), command
        assert len(set(texts)) == 3, f"{command} is not answered in three languages"


async def test_forget_unlinks_the_chat(app: App, fake_api: FakeBotAPI):
    user = TgUser(5005, "Ai", language_code="ru")
    fake_api.text_message(user, "помогите")
    await fake_api.wait_for(lambda c: c.chat_id == user.id and c.method == "sendMessage")
    case, _ = await _case_of(app, user)
    start = len(fake_api.calls)
    fake_api.callback_query(user, "forget:yes")
    await fake_api.wait_for(
        lambda c: c.chat_id == user.id and c.method == "sendMessage", start=start
    )
    async with app.sessionmaker() as session:
        stored = await session.get(Case, case.id)
        assert stored is not None
        assert stored.chat_id_enc is None and stored.student_id is None
        assert await session.scalar(select(func.count()).select_from(Student)) == 0
        assert stored.message_count == 1  # what was written stays for the psychologist
