"""The psychologist: queue, take, converse (several cases at once through replies), note,
transfer, release, close, step aside."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.callback_answer import CallbackAnswer
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import (
    CloseCase,
    HandOver,
    OpenCase,
    SkipNote,
    TakeCase,
    TemplatesFor,
    TransferCase,
)
from bot.db.models import Case, Member
from bot.delivery import notices
from bot.delivery.notices import tell
from bot.domain import Outcome, Priority
from bot.services.casework import codes, conversation, desk, notify
from bot.services.labels import CATEGORY_LABELS, OUTCOME_LABELS, PRIORITY_ICONS
from bot.services.organisation import members
from bot.services.routing import place_names, queue
from bot.services.runtime import Runtime
from handlers.answers import role_help, setup_middlewares, stale_button
from handlers.filters import is_psychologist, private_chat
from handlers.incoming import parse_content

log = logging.getLogger(__name__)

router = setup_middlewares(Router(name=__name__))
router.message.filter(private_chat, is_psychologist)
router.callback_query.filter(is_psychologist)

QUEUE_LINE = 180  # twenty lines stay well inside one Telegram message


async def _replied_case(session: AsyncSession, member: Member, message: Message) -> int | None:
    """The case of the relayed message this one replies to (NotARelay for any other)."""
    if message.reply_to_message is None:
        return None
    return await conversation.case_of_reply(session, member, message.reply_to_message.message_id)


async def _case(session: AsyncSession, member: Member, message: Message, code: str | None) -> Case:
    reply_case = None if code else await _replied_case(session, member, message)
    return await queue.case_of_member(session, member, code, reply_case)


def _code_arg(args: str | None) -> str | None:
    """The case code a command names, if any (else the replied-to or active case)."""
    text = (args or "").strip()
    return text or None


def _note_args(args: str | None) -> tuple[str | None, str]:
    """`/note #7KQ2-M9XD text` or `/note text`: a code is recognised only with its `#`, so a
    note that starts with an eight-letter word is not taken for a code."""
    text = (args or "").strip()
    first, _sep, rest = text.partition(" ")
    if first.startswith("#") and codes.parse(first) is not None:
        return first, rest.strip()
    return None, text


# --- the queue and taking a case ---------------------------------------------------------


@router.message(Command("queue"))
async def show_queue(message: Message, session: AsyncSession, rt: Runtime, member: Member) -> None:
    cases, total = await queue.list_queue(session, member)
    held = await desk.count_held(session, member)
    yours = _("Cases you hold: {count}. /mine lists them.").format(count=held) if held else ""
    if not cases:
        await message.answer(
            "\n\n".join(filter(None, [_("No open cases in your pool right now."), yours]))
        )
        return
    now = rt.now()
    lines = [
        _("Open cases in your pool: {total}. Urgent first, then the longest waiting.").format(
            total=total
        )
    ]
    buttons = []
    await place_names.load_places(session, cases)
    for case in cases:
        district, school = await place_names.place_names(session, case)
        wait = notify.format_wait(rt, member.language, case, now)
        line = (
            f"{PRIORITY_ICONS[Priority(case.priority)]} {codes.display(case.code)} · "
            f"{_(CATEGORY_LABELS[case.category])} · {wait} · {district} · {school}"
        )
        lines.append(line if len(line) <= QUEUE_LINE else line[: QUEUE_LINE - 1] + "…")
        buttons.append(
            [
                InlineKeyboardButton(
                    text=_("Take {code}").format(code=codes.display(case.code)),
                    callback_data=TakeCase(code=case.code).pack(),
                )
            ]
        )
    if total > len(cases):
        lines.append(_("…and {more} more.").format(more=total - len(cases)))
    if yours:
        lines.extend(["", yours])
    await message.answer(
        "\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons)
    )


async def _take(session: AsyncSession, rt: Runtime, member: Member, code: str) -> None:
    claimed = await queue.claim(session, rt, member, code)
    shown = codes.display(claimed.case.code)
    log.info("case_claimed case=%s", claimed.case.code)
    if claimed.already_yours:
        tell(
            session,
            rt,
            member,
            _("Case {code} is your active case again: what you write goes to its student.").format(
                code=shown
            ),
        )
        return
    tell(
        session,
        rt,
        member,
        _(
            "You took case {code}. What you write now goes to the "
            'student, signed only as "the psychologist". The '
            "conversation so far follows."
        ).format(code=shown),
    )
    note = queue.handover_note(rt, claimed.case)
    if note is not None:
        said = _("📝 Note from the previous psychologist: {note}").format(note=note)
        notices.send(
            session,
            rt,
            notices.Notice(member, said, relay_case_id=claimed.case.id, protect_content=True),
        )
        claimed.case.handover_note_enc = None  # shown to the one who took it, then gone
    await conversation.show_history(session, rt, member, claimed.case)


@router.message(Command("take"))
async def take_command(
    message: Message, command: CommandObject, session: AsyncSession, rt: Runtime, member: Member
) -> None:
    if not (command.args or "").strip():
        await message.answer(
            _("Write the case code: /take #7KQ2-M9XD, or press Take on a case card.")
        )
        return
    await _take(session, rt, member, command.args or "")


@router.callback_query(TakeCase.filter())
async def take_button(
    query: CallbackQuery,
    callback_data: TakeCase,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    # The card may be too old for Telegram to show it to us again; the code is enough.
    await _take(session, rt, member, callback_data.code)


# --- my cases ----------------------------------------------------------------------------


def _mine_line(rt: Runtime, member: Member, item: desk.HeldCase, local: str | None) -> str:
    case = item.case
    parts = [
        f"{PRIORITY_ICONS[Priority(case.priority)]} {codes.display(case.code)}",
        _(CATEGORY_LABELS[case.category]),
    ]
    since = item.waiting_since()
    if since is not None:
        wait = notices.render(rt, member.language, notify.waiting(rt.now() - since))
        parts.append(_("⏳ the student is waiting for you: {wait}").format(wait=wait))
    elif local is not None:
        parts.append(_("your answer was the last"))
    parts.append(_("last message {time}").format(time=local) if local else _("no messages yet"))
    line = " · ".join(parts)
    return line if len(line) <= QUEUE_LINE else line[: QUEUE_LINE - 1] + "…"


@router.message(Command("mine"))
async def show_mine(message: Message, session: AsyncSession, rt: Runtime, member: Member) -> None:
    held, total = await desk.held_cases(session, member)
    if not held:
        await message.answer(
            _("You hold no cases right now. /queue shows the cases you can take.")
        )
        return
    lines = [
        _("Cases you hold: {total}. Urgent first, then the student waiting longest.").format(
            total=total
        )
    ]
    buttons = []
    for item in held:
        local = await desk.local_time(session, item.case, item.last_message_at)
        lines.append(_mine_line(rt, member, item, local))
        buttons.append(
            [
                InlineKeyboardButton(
                    text=_("Open {code}").format(code=codes.display(item.case.code)),
                    callback_data=OpenCase(code=item.case.code).pack(),
                ),
                InlineKeyboardButton(
                    text=_("Saved replies"),
                    callback_data=TemplatesFor(code=item.case.code).pack(),
                ),
            ]
        )
    if total > len(held):
        lines.append(_("…and {more} more.").format(more=total - len(held)))
    await message.answer(
        "\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=buttons)
    )


@router.callback_query(OpenCase.filter())
async def open_button(
    query: CallbackQuery,
    callback_data: OpenCase,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    case = await queue.find_case(session, callback_data.code)
    queue.require_holder(case, member)
    await conversation.show_history(session, rt, member, case)


# --- reading, notes ----------------------------------------------------------------------


@router.message(Command("case"))
async def case_command(
    message: Message, command: CommandObject, session: AsyncSession, rt: Runtime, member: Member
) -> None:
    case = await _case(session, member, message, _code_arg(command.args))
    await conversation.show_history(session, rt, member, case)


@router.message(Command("note"))
async def note_command(
    message: Message, command: CommandObject, session: AsyncSession, rt: Runtime, member: Member
) -> None:
    code, text = _note_args(command.args)
    if not text:
        await message.answer(
            _(
                "Write the note after the command: /note text. Only "
                "psychologists who hold the case will see it."
            )
        )
        return
    case = await _case(session, member, message, code)
    await conversation.add_note(session, rt, member, case, text)
    tell(
        session,
        rt,
        member,
        _("Note saved to {code}. The student does not see it.").format(
            code=codes.display(case.code)
        ),
    )


# --- handing over and closing ------------------------------------------------------------


@router.message(Command("release"))
async def release_command(
    message: Message, command: CommandObject, session: AsyncSession, member: Member
) -> None:
    case = await _case(session, member, message, _code_arg(command.args))
    queue.require_holder(case, member)
    await _ask_note(message, member, case, "pool")


async def _ask_note(message: Message, member: Member, case: Case, to: int | str) -> None:
    """The hand-over waits for its note: the member's next message, or Skip."""
    member.step = HandOver(code=case.code, to=to).pack()  # type: ignore[arg-type]
    skip = InlineKeyboardButton(
        text=_("Skip the note"),
        callback_data=SkipNote(code=case.code, to=to).pack(),  # type: ignore[arg-type]
    )
    await message.answer(
        _(
            "Write a short note for the psychologist who takes case {code} next: how it "
            "stands, what to be careful about. Only they will see it, never the student. "
            "Or press Skip."
        ).format(code=codes.display(case.code)),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=[[skip]]),
    )


async def _hand_on(
    session: AsyncSession, rt: Runtime, member: Member, code: str, to: int | str, note: str | None
) -> None:
    case = await queue.find_case(session, code)
    shown = codes.display(case.code)
    if to == "pool":
        await queue.release(session, rt, member, case, note)
        text = _("Case {code} went back to the pool.").format(code=shown)
    else:
        other = await queue.transfer(session, rt, member, case, int(to), note)
        text = _("Case {code} was handed over to {number}.").format(
            code=shown, number=members.number(other)
        )
    member.step = ""
    log.info("case_handed_on case=%s note=%s", case.code, note is not None)
    tell(session, rt, member, text)


def awaiting_note(_event: object, member: Member | None = None) -> dict[str, HandOver] | bool:
    """A member whose hand-over waits for its note; the handler gets it as `handover`."""
    if member is None or not member.step.startswith("handover:"):
        return False
    try:
        return {"handover": HandOver.unpack(member.step)}
    except (TypeError, ValueError):
        return False


@router.callback_query(SkipNote.filter())
async def skip_note(
    query: CallbackQuery,
    callback_data: SkipNote,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    if member.step != HandOver(code=callback_data.code, to=callback_data.to).pack():
        stale_button(callback_answer)
        return
    await _hand_on(session, rt, member, callback_data.code, callback_data.to, None)


@router.message(Command("recuse"))
async def recuse_command(
    message: Message, command: CommandObject, session: AsyncSession, rt: Runtime, member: Member
) -> None:
    case = await _case(session, member, message, _code_arg(command.args))
    case = await queue.recuse(session, rt, member, case)
    tell(
        session,
        rt,
        member,
        _(
            "You stepped aside from case {code}. Nobody is told why, and "
            "you will not see it again."
        ).format(code=codes.display(case.code)),
    )


@router.message(Command("transfer"))
async def transfer_command(
    message: Message, command: CommandObject, session: AsyncSession, member: Member
) -> None:
    case = await _case(session, member, message, _code_arg(command.args))
    candidates = await queue.transfer_candidates(session, member, case)
    rows = []
    for other in candidates:
        place = await members.place_label(session, members.scope_of_member(other))
        rows.append(
            [
                InlineKeyboardButton(
                    text=f"{members.number(other)} · {place}"[:60],
                    callback_data=TransferCase(code=case.code, to=other.id).pack(),
                )
            ]
        )
    rows.append(
        [
            InlineKeyboardButton(
                text=_("Back to the pool"),
                callback_data=TransferCase(code=case.code, to="pool").pack(),
            )
        ]
    )
    text = _("To whom do you hand case {code}?").format(code=codes.display(case.code))
    if not candidates:
        text += "\n" + _("No other psychologist serves this pool right now.")
    await message.answer(text, reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


@router.callback_query(TransferCase.filter())
async def transfer_chosen(
    query: CallbackQuery,
    callback_data: TransferCase,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    member: Member,
) -> None:
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    case = await queue.find_case(session, callback_data.code)
    queue.require_holder(case, member)
    if callback_data.to != "pool":
        candidates = await queue.transfer_candidates(session, member, case)
        if callback_data.to not in {other.id for other in candidates}:
            stale_button(callback_answer)
            return
    await _ask_note(query.message, member, case, callback_data.to)


@router.message(Command("close"))
async def close_command(
    message: Message, command: CommandObject, session: AsyncSession, member: Member
) -> None:
    case = await _case(session, member, message, _code_arg(command.args))
    queue.require_holder(case, member)
    rows = [
        [
            InlineKeyboardButton(
                text=_(OUTCOME_LABELS[outcome]),
                callback_data=CloseCase(code=case.code, outcome=outcome).pack(),
            )
        ]
        for outcome in Outcome
    ]
    await message.answer(
        _("How did case {code} end?").format(code=codes.display(case.code)),
        reply_markup=InlineKeyboardMarkup(inline_keyboard=rows),
    )


@router.callback_query(CloseCase.filter())
async def close_chosen(
    query: CallbackQuery,
    callback_data: CloseCase,
    callback_answer: CallbackAnswer,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    if not isinstance(query.message, Message):
        stale_button(callback_answer)
        return
    outcome = callback_data.outcome
    case = await queue.find_case(session, callback_data.code)
    case = await queue.close(session, rt, member, case, outcome)
    log.info("case_closed case=%s outcome=%s", case.code, outcome.value)
    tell(
        session,
        rt,
        member,
        _("Case {code} is closed: {outcome}.").format(
            code=codes.display(case.code), outcome=_(OUTCOME_LABELS[outcome])
        ),
    )


@router.callback_query()
async def unknown_button(query: CallbackQuery, callback_answer: CallbackAnswer) -> None:
    stale_button(callback_answer)


# --- everything else goes to the student ---------------------------------------------------


@router.message(awaiting_note, ~F.text.startswith("/"))
async def handover_note(
    message: Message, session: AsyncSession, rt: Runtime, member: Member, handover: HandOver
) -> None:
    """The message after /release or a transfer's choice: the note, never sent to the
    student."""
    note = (message.text or "").strip()
    if not note:
        await message.answer(
            _("The note must be text, and not empty. Write it again, or press Skip.")
        )
        return
    if len(note) > queue.HANDOVER_NOTE_MAX:
        await message.answer(
            _(
                "The note is too long: {length} characters, at most {limit}. Shorten it, "
                "or press Skip."
            ).format(length=len(note), limit=queue.HANDOVER_NOTE_MAX)
        )
        return
    await _hand_on(session, rt, member, handover.code, handover.to, note)


@router.message(F.text.startswith("/"))
async def unknown_command(message: Message, member: Member) -> None:
    await message.answer(_("I did not understand that.") + "\n\n" + role_help(member.role))


@router.message()
async def psychologist_writes(
    message: Message, session: AsyncSession, rt: Runtime, member: Member
) -> None:
    content = parse_content(message)
    if content is None:
        await message.answer(
            _(
                "This kind of message cannot be passed on. Write text, or send "
                "a photo, a voice message, a video or a file."
            )
        )
        return
    case = await _case(session, member, message, None)
    await conversation.answer_student(session, rt, member, case, content)
    log.info("psychologist_message case=%s kind=%s", case.code, content.kind.value)
