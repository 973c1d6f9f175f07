"""Saved replies (`/templates`): list, add, delete, share with the district, and send one
to a case's student as an ordinary answer."""

from __future__ import annotations

import logging

from aiogram import F, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import DeleteTemplate, TemplateDraft, TemplatesFor, UseTemplate
from bot.db.models import Case, Member
from bot.delivery.notices import tell
from bot.domain import CaseStatus, Language, Role
from bot.services.casework import codes, templates
from bot.services.routing import queue
from bot.services.runtime import Runtime
from handlers.answers import LANGUAGE_NAMES, setup_middlewares
from handlers.filters import may_have_workload, private_chat

log = logging.getLogger(__name__)

router = setup_middlewares(Router(name=__name__))
router.message.filter(private_chat, may_have_workload)
router.callback_query.filter(may_have_workload)

PREVIEW = 70  # characters of a template shown on its line


async def _held_active(session: AsyncSession, member: Member) -> Case | None:
    """The member's active case, if they hold it (its language picks the templates)."""
    if member.role != Role.PSYCHOLOGIST or member.active_case_id is None:
        return None
    case = await session.get(Case, member.active_case_id)
    if case is None or case.psychologist_id != member.id or case.status != CaseStatus.CLAIMED:
        return None
    return case


def _preview(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= PREVIEW else line[: PREVIEW - 1] + "…"


async def _show(
    message: Message, session: AsyncSession, rt: Runtime, member: Member, case: Case | None
) -> None:
    language = case.language if case is not None else member.language
    saved = await templates.listing(session, rt, member, language)
    name = LANGUAGE_NAMES[Language(language)]
    if not saved:
        await message.answer(
            _("No saved replies in {language} yet. /templates add saves one.").format(
                language=name
            )
        )
        return
    lines = [_("Saved replies in {language}:").format(language=name)]
    rows = []
    for item in saved:
        mark = "" if item.own else " " + _("(shared by your district)")
        lines.append(f"№{item.id}{mark}: {_preview(item.text)}")
        row = []
        if case is not None:
            row.append(
                InlineKeyboardButton(
                    text=_("Send №{number} to {code}").format(
                        number=item.id, code=codes.display(case.code)
                    ),
                    callback_data=UseTemplate(code=case.code, id=item.id).pack(),
                )
            )
        if item.own:
            row.append(
                InlineKeyboardButton(
                    text=_("Delete №{number}").format(number=item.id),
                    callback_data=DeleteTemplate(id=item.id).pack(),
                )
            )
        rows.append(row)
    if case is None and member.role == Role.PSYCHOLOGIST:
        lines.append(_("To send one, open the list from a case in /mine."))
    await message.answer("\n".join(lines), reply_markup=InlineKeyboardMarkup(inline_keyboard=rows))


@router.message(Command("templates"))
async def templates_command(
    message: Message, command: CommandObject, session: AsyncSession, rt: Runtime, member: Member
) -> None:
    args = (command.args or "").strip().lower()
    case = await _held_active(session, member)
    if args == "add":
        language = case.language if case is not None else member.language
        member.step = TemplateDraft(language=Language(language)).pack()
        await message.answer(
            _(
                "Write the reply to save, in {language}, as one message. Write only your own "
                "words, never what a student wrote."
            ).format(language=LANGUAGE_NAMES[Language(language)])
        )
        return
    if args == "share":
        count = await templates.share(session, rt, member)
        tell(
            session,
            rt,
            member,
            _(
                "Your saved replies ({count}) are now offered to the psychologists of your "
                "district, beside their own."
            ).format(count=count),
        )
        return
    if args:
        await message.answer(
            _(
                "/templates: your saved replies\n/templates add: save a new one\n"
                "/templates share: offer yours to your district's psychologists (supervisors)"
            )
        )
        return
    await _show(message, session, rt, member, case)


def drafting(_event: object, member: Member | None = None) -> dict[str, TemplateDraft] | bool:
    """A member whose `/templates add` waits for the text; the handler gets it as `draft`."""
    if member is None or not member.step.startswith("tpladd:"):
        return False
    try:
        return {"draft": TemplateDraft.unpack(member.step)}
    except (TypeError, ValueError):
        return False


@router.message(drafting, ~F.text.startswith("/"))
async def template_text(
    message: Message, session: AsyncSession, rt: Runtime, member: Member, draft: TemplateDraft
) -> None:
    """The message after `/templates add`: saved, never sent to anyone."""
    saved = await templates.add(session, rt, member, draft.language.value, message.text)
    member.step = ""
    log.info("template_added")
    tell(
        session,
        rt,
        member,
        _("Saved as №{number} ({language}). /templates lists your saved replies.").format(
            number=saved.id, language=LANGUAGE_NAMES[draft.language]
        ),
    )


@router.callback_query(TemplatesFor.filter())
async def templates_for_case(
    query: CallbackQuery,
    callback_data: TemplatesFor,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    case = await queue.find_case(session, callback_data.code)
    queue.require_holder(case, member)
    if isinstance(query.message, Message):
        await _show(query.message, session, rt, member, case)


@router.callback_query(UseTemplate.filter())
async def use_template(
    query: CallbackQuery,
    callback_data: UseTemplate,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    case = await queue.find_case(session, callback_data.code)
    await templates.use(session, rt, member, case, callback_data.id)
    log.info("template_used case=%s", case.code)
    tell(
        session,
        rt,
        member,
        _("Saved reply №{number} was sent to {code}.").format(
            number=callback_data.id, code=codes.display(case.code)
        ),
    )


@router.callback_query(DeleteTemplate.filter())
async def delete_template(
    query: CallbackQuery,
    callback_data: DeleteTemplate,
    session: AsyncSession,
    rt: Runtime,
    member: Member,
) -> None:
    await templates.delete(session, rt, member, callback_data.id)
    tell(session, rt, member, _("Saved reply №{number} deleted.").format(number=callback_data.id))
