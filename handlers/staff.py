"""School staff: print the school's posters, check a photo of one, see scan counts, retire.

Staff never see a report, a case or a count of cases: only their posters.
"""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import dataclass

from aiogram import Bot, F, Router
from aiogram.enums import ChatAction
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.callbacks import PosterLanguages, PosterOrder, PosterPaper
from bot.db.models import Member, School
from bot.delivery import notices, outbox
from bot.delivery.notices import Media, Notice, tell
from bot.domain import Language
from bot.middlewares import AfterCommit
from bot.services.posters import poster_check, posters
from bot.services.posters.poster_check import CodeCheck, Verdict
from bot.services.posters.poster_tokens import poster_code
from bot.services.runtime import Runtime
from bot.services.security.audit import member_actor
from handlers.answers import LANGUAGE_NAMES, explain, setup_middlewares, stale_button
from handlers.filters import is_staff, private_chat
from qr_posters import ClassListProblem, PhotoProblem

log = logging.getLogger(__name__)

router = setup_middlewares(Router(name=__name__))
router.message.filter(private_chat, is_staff)
router.callback_query.filter(is_staff)

LANGUAGE_CHOICES = (("ky", "ru"), ("kk", "ru"), ("ky",), ("kk",), ("ru",), ("ky", "kk"))
MAX_PHOTO_BYTES = 20 * 1024 * 1024  # what the Bot API lets a bot download
MESSAGE_LIMIT = 3900


# The poster order's one step, the classroom list, is awaited on the member row (in the
# update's transaction), so an order survives a restart of the bot: Member.step holds a
# packed PosterOrder ("posters:ky,ru:a4").


def awaits_classes(_event: object, member: Member | None = None) -> bool | dict[str, object]:
    """A member with an open poster order (the only step there is); the handler gets it as
    `order`, None if the stored step does not unpack."""
    if member is None or not member.step:
        return False
    try:
        return {"order": PosterOrder.unpack(member.step)}
    except (TypeError, ValueError):
        return {"order": None}


def _languages_label(langs: tuple[str, ...]) -> str:
    return " + ".join(LANGUAGE_NAMES.get(Language(lang), lang) for lang in langs)


def _keyboard(rows: list[tuple[str, str]]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        inline_keyboard=[[InlineKeyboardButton(text=t, callback_data=d)] for t, d in rows]
    )


# --- /posters -------------------------------------------------------------------------


@router.message(Command("posters"))
async def posters_start(message: Message, session: AsyncSession, member: Member) -> None:
    member.step = ""
    school = await session.get(School, member.school_id)
    if school is None:
        await message.answer(_("Your account is not linked to a school any more."))
        return
    default = await posters.default_languages(session, school)
    choices = [default] + [c for c in LANGUAGE_CHOICES if c != default]
    await message.answer(
        _("Posters for {school}. In which languages?").format(school=school.name),
        reply_markup=_keyboard(
            [(_languages_label(c), PosterLanguages(languages=",".join(c)).pack()) for c in choices]
        ),
    )


@router.callback_query(PosterLanguages.filter())
async def posters_languages(
    query: CallbackQuery, callback_data: PosterLanguages, callback_answer: CallbackAnswer
) -> None:
    try:
        langs = posters.parse_languages(callback_data.languages)
    except posters.BadLanguages:
        stale_button(callback_answer)
        return
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    code = ",".join(langs)
    await query.message.answer(
        _("{languages}. Which paper size?").format(languages=_languages_label(langs)),
        reply_markup=_keyboard(
            [
                (_("A4 (an ordinary sheet)"), PosterPaper(languages=code, paper="a4").pack()),
                (
                    _("A3 (twice as large, for corridors)"),
                    PosterPaper(languages=code, paper="a3").pack(),
                ),
            ]
        ),
    )


@router.callback_query(PosterPaper.filter())
async def posters_paper(
    query: CallbackQuery,
    callback_data: PosterPaper,
    callback_answer: CallbackAnswer,
    member: Member,
) -> None:
    try:
        langs = posters.parse_languages(callback_data.languages)
        paper = posters.parse_paper(callback_data.paper)
    except (posters.BadLanguages, posters.BadPaper):
        stale_button(callback_answer)
        return
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    member.step = PosterOrder(languages=",".join(langs), paper=paper).pack()
    await query.message.answer(
        _(
            "Now send the list of classrooms, for example:\n5А, 5Б, 6А\nor a range: 5-11 А-В "
            "(grades 5 to 11, letters А to В).\nEach classroom gets its own poster."
        )
    )


def class_list_problem(problem: ClassListProblem, fragment: str) -> str:
    if problem is ClassListProblem.EMPTY:
        return _("I found no classrooms in that. Write them like: 5А, 5Б, 6А or 5-11 А-В.")
    if problem in (ClassListProblem.TOO_MANY, ClassListProblem.TOO_LONG_INPUT):
        return _("That is more than 200 classrooms. Please send the list of one school only.")
    if problem is ClassListProblem.NAME_TOO_LONG:
        return _("A classroom name can be at most 20 characters long: {name}").format(
            name=fragment
        )
    if problem is ClassListProblem.BAD_CHARACTER:
        return _(
            "This classroom name has a character that cannot be printed: {name}\nUse letters, "
            "digits and - . / ( ) only."
        ).format(name=fragment)
    return _(
        "This range does not work: {range}\nGrades go from 0 to 12, smaller first, and both "
        "letters come from one alphabet, like 5-11 А-В."
    ).format(range=fragment)


@router.message(awaits_classes, F.text, ~F.text.startswith("/"))
async def posters_classes(
    message: Message,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
    bot: Bot,
    order: PosterOrder | None,
    after_commit: list[AfterCommit],
) -> None:
    try:
        if order is None:
            raise posters.BadLanguages("the stored order does not unpack")
        langs = posters.parse_languages(order.languages)
        paper = posters.parse_paper(order.paper or "a4")
    except (posters.BadLanguages, posters.BadPaper):
        member.step = ""
        await message.answer(
            _("Something went wrong with your choices. Please start again: /posters")
        )
        return
    try:
        classrooms = posters.parse_classes(message.text or "")
    except posters.BadClassList as exc:
        # The order stays open: the corrected list can simply be sent again.
        await message.answer(class_list_problem(exc.problem, exc.fragment))
        return
    assert member.school_id is not None
    await bot.send_chat_action(message.chat.id, ChatAction.UPLOAD_DOCUMENT)
    printing = await posters.order_posters(session, rt, member.school_id, classrooms, langs, paper)
    member.step = ""
    caption = _(
        "{count} posters for {school} ({languages}, {paper}). Print at actual size, in "
        "colour or black and white. Posters printed earlier keep working."
    ).format(
        count=len(printing.posters),
        school=printing.school_name,
        languages=_languages_label(printing.languages),
        paper=paper.upper(),
    )
    # Rendering takes seconds: done once this update has committed, so the transaction
    # (on SQLite the database's write lock) is not held meanwhile.
    after_commit.append(
        PosterDelivery(
            rt,
            member.id,
            member_actor(member),
            printing,
            caption,
            explain(posters.PrintFailed()),
            PosterOrder(languages=",".join(langs), paper=paper),
        ).run
    )


@dataclass(frozen=True, slots=True)
class PosterDelivery:
    """An ordered print, rendered after its update's commit. Its PDF is sent last, so a
    failed render sends nothing and keeps nothing: the order's rows go again, the order is
    open again (the list can simply be sent again) and the member is told."""

    rt: Runtime
    member_id: int
    actor: str  # as the audit log names the member
    printing: posters.PrintOrder
    caption: str  # translated in the handler, where the member's language is known
    failure: str
    order: PosterOrder

    async def run(self, sessionmaker: async_sessionmaker[AsyncSession]) -> None:
        printing = self.printing
        try:
            pdf = await posters.render_order(printing)
        except posters.PrintFailed:
            async with sessionmaker() as session, session.begin():
                await posters.discard_order(session, printing)
                member = await session.get(Member, self.member_id)
                if member is not None and member.active:
                    member.step = self.order.pack()
                    tell(session, self.rt, member, self.failure)
            log.info("posters_failed member=%s", self.member_id)
            return
        filename = f"posters-{printing.paper}-{printing.posters[0].code}.pdf"
        document = {outbox.FILE: filename, "data": base64.b64encode(pdf).decode()}
        async with sessionmaker() as session, session.begin():
            member = await session.get(Member, self.member_id)
            await posters.record_printed(session, self.rt, printing, actor=self.actor)
            if member is not None and member.active:
                notices.send(
                    session,
                    self.rt,
                    Notice(
                        member, self.caption, media=Media("sendDocument", {"document": document})
                    ),
                )
        log.info("posters_printed member=%s count=%s", self.member_id, len(printing.posters))


# --- /checkposter ---------------------------------------------------------------------


@router.message(Command("checkposter"))
async def check_start(message: Message, member: Member) -> None:
    member.step = ""
    await message.answer(
        _(
            "Send a photo of the poster on the wall, with the whole code in the picture. I "
            "will tell you whether it works and where it leads."
        )
    )


# One limiter for the process, keyed by the member's pseudonym (see poster_check).
CHECK_LIMIT = poster_check.CheckLimit()


def _check_sentence(check: CodeCheck) -> str:
    if check.verdict is Verdict.WORKS:
        return _(
            "✅ This poster works. It leads to {school}, classroom {classroom} (poster {code})."
        ).format(school=check.school_name, classroom=check.classroom, code=check.code)
    if check.verdict is Verdict.OTHER_SCHOOL:
        return _(
            "This poster belongs to another school, so I can only check posters of your own "
            "school. Its staff can check it with /checkposter."
        )
    if check.verdict is Verdict.RETIRED:
        date = check.retired_at.date().isoformat() if check.retired_at else ""
        return _(
            "☑️ This poster still works and leads to {school}, classroom {classroom} (poster "
            "{code}), but it was retired on {date}. A student who scans it still reaches us."
        ).format(school=check.school_name, classroom=check.classroom, code=check.code, date=date)
    if check.verdict is Verdict.BAD_TOKEN:
        return _(
            "⚠️ This code opens our bot, but its poster part is damaged or made up, so the "
            "school is not known. Please replace it with a poster from /posters."
        )
    if check.verdict is Verdict.OTHER_BOT:
        return _(
            "❌ This code is not ours: it opens another Telegram account ({where}). Take it "
            "down and hang a poster from /posters."
        ).format(where=check.where)
    return _(
        "❌ This code is not ours: it does not lead to the trust line. Take it down and hang "
        "a poster from /posters."
    )


def _photo_problem(problem: PhotoProblem | None) -> str:
    if problem is PhotoProblem.TOO_SMALL:
        return _(
            "I cannot read a code: it is too small in the photo. Come closer, so that the "
            "code fills about a third of the picture, and send it again."
        )
    if problem is PhotoProblem.GLARE:
        return _(
            "I cannot read a code: light is reflecting on the poster. Step a little to "
            "the side, so there is no glare on the code, and send it again."
        )
    if problem is PhotoProblem.DAMAGED:
        return _(
            "I can see a code but cannot read it: it may be damaged, covered or blurred. "
            "Try another photo; if it still fails, replace the poster."
        )
    if problem is PhotoProblem.NOT_AN_IMAGE:
        return _("This file is not a picture I can open. Please send a photo.")
    return _("I found no QR code in this photo. Make sure the whole code is in the picture.")


async def _check_bytes(
    message: Message, session: AsyncSession, rt: Runtime, member: Member, data: bytes
) -> None:
    result = await poster_check.check_photo(session, rt, data, school_id=member.school_id)
    log.info("poster_checked codes=%s problem=%s", len(result.codes), result.problem)
    if not result.codes:
        await message.answer(_photo_problem(result.problem))
        return
    await message.answer("\n\n".join(_check_sentence(c) for c in result.codes))


def _over_limit(member: Member, rt: Runtime) -> str | None:
    if CHECK_LIMIT.allow(member.pseudonym, rt.now()):
        return None
    log.info("poster_check_limited")
    return _(
        "You have checked {count} photos in the last hour, which is as many as I check. "
        "Please send the next one a little later."
    ).format(count=CHECK_LIMIT.per_hour)


@router.message(F.photo)
async def check_photo(
    message: Message, session: AsyncSession, rt: Runtime, bot: Bot, member: Member
) -> None:
    assert message.photo
    if refusal := _over_limit(member, rt):
        await message.answer(refusal)
        return
    largest = message.photo[-1]
    buffer = io.BytesIO()
    await bot.download(largest.file_id, destination=buffer)
    await _check_bytes(message, session, rt, member, buffer.getvalue())


@router.message(F.document)
async def check_document(
    message: Message, session: AsyncSession, rt: Runtime, bot: Bot, member: Member
) -> None:
    document = message.document
    assert document is not None
    if not (document.mime_type or "").startswith("image/"):
        await message.answer(_photo_problem(PhotoProblem.NOT_AN_IMAGE))
        return
    if document.file_size is not None and document.file_size > MAX_PHOTO_BYTES:
        await message.answer(
            _("This picture is too large (over 20 MB). Please send it as a photo.")
        )
        return
    if refusal := _over_limit(member, rt):
        await message.answer(refusal)
        return
    buffer = io.BytesIO()
    await bot.download(document.file_id, destination=buffer)
    await _check_bytes(message, session, rt, member, buffer.getvalue())


# --- /scans and /retire ----------------------------------------------------------------


@router.message(Command("scans"))
async def scans(message: Message, session: AsyncSession, rt: Runtime, member: Member) -> None:
    member.step = ""
    assert member.school_id is not None
    report = await posters.scan_report(session, member.school_id, rt.now())
    if not report.posters:
        await message.answer(_("Your school has no posters yet: /posters prints them."))
        return
    lines = [
        _("Scans per poster and week, newest week first ({newest} … {oldest}):").format(
            newest=report.weeks[0], oldest=report.weeks[-1]
        )
    ]
    for entry in report.posters:
        counts = " ".join(str(n) for n in entry.counts)
        label = f"{entry.code} · {entry.classroom}"
        if entry.retired:
            label += " " + _("(retired)")
        lines.append(f"{label}: {counts}")
    lines.append("")
    if report.silent:
        lines.append(
            _(
                "No scans for four weeks or more. Check that these still hang and can be "
                "scanned (/checkposter); for one that was taken down on purpose, /retire CODE:"
            )
        )
        lines += [f"{entry.code} · {entry.classroom}" for entry in report.silent]
    else:
        lines.append(_("Every poster in use was scanned in the last four weeks."))
    for chunk in _chunks(lines):
        await message.answer(chunk)


def _chunks(lines: list[str]) -> list[str]:
    chunks: list[str] = []
    current = ""
    for line in lines:
        if current and len(current) + len(line) + 1 > MESSAGE_LIMIT:
            chunks.append(current)
            current = ""
        current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


@router.message(Command("retire"))
async def retire(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    member.step = ""
    code = (command.args or "").strip()
    if not code:
        await message.answer(
            _(
                "Write the poster's code, printed small at the bottom right of the poster, "
                "like this: /retire P-00K7"
            )
        )
        return
    assert member.school_id is not None
    try:
        poster = await posters.retire_poster(
            session, rt, member.school_id, code, actor=member_actor(member)
        )
    except posters.PosterNotFound:
        await message.answer(
            _(
                "Your school has no poster {code}. The code is printed small at the bottom right "
                "of the poster, like P-00K7; /scans lists them all."
            ).format(code=code[:20])
        )
        return
    await message.answer(
        _(
            "Poster {code} ({classroom}) is retired. If someone still scans it, it still "
            "works; it is just no longer missed in /scans."
        ).format(code=poster_code(poster.id), classroom=poster.classroom)
    )
