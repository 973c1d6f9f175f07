"""The student's side: greeting, language, help, privacy, and simply writing."""

from __future__ import annotations

import contextlib
import logging

from aiogram import F, Router
from aiogram.exceptions import TelegramBadRequest
from aiogram.filters import Command, CommandObject, CommandStart
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
)
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import (
    ChooseDistrict,
    ChooseRegion,
    ForgetChoice,
    SafetyAnswer,
    StudentLanguage,
)
from bot.db.models import Student
from bot.domain import ContentKind, Language
from bot.i18n import language_from_telegram
from bot.services.casework import cases, helplines, safety
from bot.services.casework.cases import IncomingContent
from bot.services.posters import posters
from bot.services.routing import places
from bot.services.runtime import Runtime
from handlers.answers import LANGUAGE_NAMES, setup_middlewares, stale_button
from handlers.filters import is_student, private_chat
from handlers.incoming import parse_content

log = logging.getLogger(__name__)

router = setup_middlewares(Router(name=__name__), refusals=False)  # no service refuses a student
router.message.filter(private_chat, is_student)
router.callback_query.filter(is_student)

MAX_BUTTON_ROWS = 40


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[
            [InlineKeyboardButton(text=name, callback_data=StudentLanguage(language=code).pack())]
            for code, name in LANGUAGE_NAMES.items()
        ]
    )


def sos_markup(rt: Runtime, lang: str) -> ReplyKeyboardMarkup:
    """The persistent 🆘 button, in the student's language."""
    return ReplyKeyboardMarkup.model_validate(safety.sos_keyboard(rt, lang))


def greeting() -> str:
    return _(
        "Hello! This is a trust line for students. You can write here about anything that "
        "worries you: bullying, violence, trouble at home or at school, or just a heavy heart."
        "\n\nNobody will know who wrote: not your school, not your teachers, not the "
        "psychologist. A psychologist from the education department reads your messages and "
        "answers right here.\n\nIf you are in danger right now, press the 🆘 button below or "
        "call 111 (free, around the clock).\n\nJust write what happened. You can also send a "
        "photo or a voice message."
    )


async def _student(
    session: AsyncSession, rt: Runtime, student: Student | None, user_id: int
) -> Student:
    return student or await cases.get_or_create_student(session, rt, user_id)


def _set_language(i18n: I18n, student: Student, lang: str) -> None:
    student.language = lang
    i18n.current_locale = lang


@router.message(CommandStart())
async def start(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    rt: Runtime,
    student: Student | None,
    i18n: I18n,
) -> None:
    assert message.from_user is not None
    student = await _student(session, rt, student, message.from_user.id)
    telegram_lang = language_from_telegram(message.from_user.language_code)
    poster = None
    if command.args:
        poster = await posters.resolve_start(session, rt, command.args.strip())
        if poster is None:
            log.info("start_token_rejected")
    if poster is not None:
        await places.choose_school(session, rt, student, poster.school_id)  # moves a case
        if not student.language:
            langs = poster.languages
            chosen = telegram_lang if telegram_lang in langs else langs[0]
            _set_language(i18n, student, chosen)
    elif not student.language and telegram_lang:
        _set_language(i18n, student, telegram_lang)
    if not student.language:
        # Nothing tells us the language yet: ask in all three at once.
        prompt = " · ".join(rt.tr(lang.value, "Choose your language:") for lang in Language)
        await message.answer(prompt, reply_markup=language_keyboard())
        return
    if command.args and poster is None:
        await message.answer(
            _("This link looks damaged, but that does not matter: you can write to us right here.")
        )
    await message.answer(greeting(), reply_markup=sos_markup(rt, student.language))
    if student.school_id is None and student.district_id is None:
        await ask_region(message, session)


@router.message(Command("sos"))
@router.message(F.text.func(safety.is_sos))
async def sos(
    message: Message, session: AsyncSession, rt: Runtime, student: Student | None, i18n: I18n
) -> None:
    """The 🆘 button or /sos: urgent at once, even before anything was written. The button's
    words are not stored as a message (bot.services.casework.safety)."""
    assert message.from_user is not None
    student = await _student(session, rt, student, message.from_user.id)
    if not student.language:
        telegram_lang = language_from_telegram(message.from_user.language_code)
        _set_language(i18n, student, telegram_lang or "ru")
    source = "button" if safety.is_sos(message.text) else "command"
    await safety.press_sos(session, rt, student, message.chat.id, source=source)
    words = safety.words_beside_button(rt, message.text or "")
    if words:  # "🆘 меня бьют": the press, and the words kept for the psychologist
        await cases.submit_student_message(
            session,
            rt,
            student,
            message.chat.id,
            IncomingContent(ContentKind.TEXT, words, None, message.message_id),
        )


@router.callback_query(SafetyAnswer.filter())
async def safety_answer(
    query: CallbackQuery,
    callback_data: SafetyAnswer,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    rt: Runtime,
    student: Student | None,
) -> None:
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    with contextlib.suppress(TelegramBadRequest):  # answered once: the buttons go away
        await query.message.edit_reply_markup(reply_markup=None)
    student = await _student(session, rt, student, query.from_user.id)
    if callback_data.answer == "danger":
        await safety.press_sos(session, rt, student, query.message.chat.id, source="answer")
    elif not await safety.answer_safe(session, rt, student, callback_data.code):
        await query.message.answer(
            _(
                "Thank you for telling me. I am glad you are safe. Write whenever you want: a "
                "psychologist will answer you here. If things change, press 🆘 or call 111."
            )
        )


async def ask_region(message: Message, session: AsyncSession) -> None:
    regions = await places.list_regions(session)
    if not regions:
        return
    rows = [
        [InlineKeyboardButton(text=r.name, callback_data=ChooseRegion(region=r.id).pack())]
        for r in regions[:MAX_BUTTON_ROWS]
    ]
    rows.append(
        [InlineKeyboardButton(text=_("Skip"), callback_data=ChooseRegion(region="skip").pack())]
    )
    await message.answer(
        _(
            "If you like, tell us your region so that a psychologist near you answers. "
            "You can skip this."
        ),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
    )


@router.callback_query(StudentLanguage.filter())
async def choose_language(
    query: CallbackQuery,
    callback_data: StudentLanguage,
    session: AsyncSession,
    rt: Runtime,
    student: Student | None,
    i18n: I18n,
) -> None:
    lang = callback_data.language.value
    student = await _student(session, rt, student, query.from_user.id)
    _set_language(i18n, student, lang)
    await cases.language_chosen(session, student)
    if isinstance(query.message, Message):
        await query.message.answer(greeting(), reply_markup=sos_markup(rt, lang))
        if student.school_id is None and student.district_id is None:
            await ask_region(query.message, session)


@router.callback_query(ChooseRegion.filter())
async def choose_region(
    query: CallbackQuery,
    callback_data: ChooseRegion,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    rt: Runtime,
    student: Student | None,
) -> None:
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    if callback_data.region == "skip":
        await query.message.answer(_("All right. Just write whenever you are ready."))
        return
    student = await _student(session, rt, student, query.from_user.id)
    region = await places.choose_region(session, rt, student, callback_data.region)
    if region is None:
        stale_button(callback_answer)
        return
    districts = await places.list_districts(session, region.id)
    rows = [
        [InlineKeyboardButton(text=d.name, callback_data=ChooseDistrict(district=d.id).pack())]
        for d in districts[:MAX_BUTTON_ROWS]
    ]
    rows.append(
        [
            InlineKeyboardButton(
                text=_("Skip"), callback_data=ChooseDistrict(district="skip").pack()
            )
        ]
    )
    await query.message.answer(
        _("And your district?"), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows)
    )


@router.callback_query(ChooseDistrict.filter())
async def choose_district(
    query: CallbackQuery,
    callback_data: ChooseDistrict,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    rt: Runtime,
    student: Student | None,
) -> None:
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    student = await _student(session, rt, student, query.from_user.id)
    if callback_data.district != "skip":
        found = await places.choose_district(session, rt, student, callback_data.district)
        if found is None:
            stale_button(callback_answer)
            return
    await query.message.answer(_("Thank you. Just write whenever you are ready."))


@router.message(Command("lang"))
async def lang_command(message: Message) -> None:
    await message.answer(_("Choose your language:"), reply_markup=language_keyboard())


@router.message(Command("help"))
async def help_command(
    message: Message, session: AsyncSession, rt: Runtime, student: Student | None, i18n: I18n
) -> None:
    lang = i18n.current_locale
    country = None
    if student is not None:
        country = await helplines.country_of_place(
            session, school_id=student.school_id, region_id=student.region_id
        )
    numbers = helplines.format_numbers(rt, lang, helplines.numbers_for(country, lang))
    await message.answer(
        _(
            "Just write here what worries you, in Kyrgyz, Kazakh or Russian. A psychologist will "
            "answer in this chat.\n\n/new: start a new conversation\n/lang: change the language"
            "\n/privacy: what we keep and who can read it\n/forget: unlink this chat from your "
            "messages\n\nIn danger right now? Press 🆘 or send /sos, or call one of these "
            "numbers:\n{numbers}"
        ).format(numbers=numbers),
        reply_markup=sos_markup(rt, lang),
    )


@router.message(Command("privacy"))
async def privacy_command(message: Message) -> None:
    await message.answer(
        _(
            "What we keep: your messages, locked with encryption so only the psychologist on "
            "your case can read them; the school of the poster you scanned (not the class).\n\n"
            "What we never keep: your name, username, phone number or Telegram account. We "
            "cannot tell your school, teachers or parents who wrote, because we do not know it."
            "\n\nWho can read your messages: only the psychologist from the education "
            "department who takes your case. School management never sees them.\n\nClosed "
            "conversations are destroyed after a year. /forget unlinks this chat from your "
            "messages now."
        )
    )


@router.message(Command("new"))
async def new_command(
    message: Message, session: AsyncSession, rt: Runtime, student: Student | None
) -> None:
    assert message.from_user is not None
    student = await _student(session, rt, student, message.from_user.id)
    await cases.start_new_case(session, rt, student)
    await message.answer(_("Ready. Your next message starts a new conversation."))


@router.message(Command("forget"))
async def forget_command(message: Message) -> None:
    await message.answer(
        _(
            "This unlinks this chat from everything you wrote: the psychologist will no longer "
            "be able to answer you here. Are you sure?"
        ),
        reply_markup=InlineKeyboardMarkup(
            inline_keyboard=[
                [
                    InlineKeyboardButton(
                        text=_("Yes, forget me"), callback_data=ForgetChoice(answer="yes").pack()
                    ),
                    InlineKeyboardButton(
                        text=_("No"), callback_data=ForgetChoice(answer="no").pack()
                    ),
                ]
            ]
        ),
    )


@router.callback_query(ForgetChoice.filter())
async def forget_confirm(
    query: CallbackQuery,
    callback_data: ForgetChoice,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    rt: Runtime,
    student: Student | None,
) -> None:
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    if callback_data.answer == "no":
        await query.message.answer(_("All right, nothing changed."))
        return
    if student is not None:
        await cases.forget_student(session, rt, student)
    await query.message.answer(
        _(
            "Done. This chat is no longer linked to your messages. If you write again, it will "
            "be a new conversation."
        )
    )


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message) -> None:
    await message.answer(
        _(
            "I do not know this command. You do not need commands: just write what happened. "
            "/help shows what I can do."
        )
    )


@router.message()
async def student_writes(
    message: Message, session: AsyncSession, rt: Runtime, student: Student | None, i18n: I18n
) -> None:
    assert message.from_user is not None
    content = parse_content(message)
    if content is None:
        await message.answer(
            _(
                "I can't pass this kind of message on. Please write in words, or send a photo "
                "or a voice message."
            )
        )
        return
    student = await _student(session, rt, student, message.from_user.id)
    if not student.language:
        telegram_lang = language_from_telegram(message.from_user.language_code)
        _set_language(i18n, student, telegram_lang or "ru")
    result = await cases.submit_student_message(session, rt, student, message.chat.id, content)
    log.info(
        "student_message case=%s opened=%s priority=%s",
        result.case_code,
        result.opened,
        result.assessment.priority.value,
    )
    await safety.ask_if_unsure(session, rt, result.case_id, result.assessment)
    if (
        result.opened
        and student.school_id is None
        and student.district_id is None
        and telegram_lang_unknown(message)
    ):
        await message.answer(_("You can change the language at any time: /lang"))


def telegram_lang_unknown(message: Message) -> bool:
    return (
        message.from_user is None
        or language_from_telegram(message.from_user.language_code) is None
    )


@router.callback_query()
async def unknown_button(query: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    """Forged or outdated callback data: a quiet answer, nothing changes."""
    stale_button(callback_answer)
