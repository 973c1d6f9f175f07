"""What members are told when a service refuses: one clear sentence in their language.

The middleware runs each member handler inside a savepoint, so a refusal also undoes
anything the handler had begun to write: the data stays as it was.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Member
from bot.delivery import outbox
from bot.services.casework import codes, conversation
from bot.services.errors import AlreadyTaken, InvalidInput, NotAllowed, ServiceError
from bot.services.organisation import invites, members
from bot.services.routing import queue
from bot.services.runtime import Runtime

log = logging.getLogger(__name__)


def _code(exc: Exception) -> str:
    code = getattr(exc, "code", "") or ""
    return codes.display(code) if len(code) == 8 else code


def explain(exc: ServiceError) -> str:
    """The translated sentence for a refusal (most specific type first)."""
    if isinstance(exc, queue.CaseNotFound):
        return _("There is no case with this code. A code looks like #7KQ2-M9XD.")
    if isinstance(exc, queue.CaseClosed):
        return _("Case {code} is already closed.").format(code=_code(exc))
    if isinstance(exc, AlreadyTaken):
        return _("Another psychologist has already taken this case.")
    if isinstance(exc, queue.NotInPool):
        return _("This case is not in your pool.")
    if isinstance(exc, queue.NotYourCase):
        return _("Case {code} is not with you. /queue shows the cases you can take.").format(
            code=_code(exc)
        )
    if isinstance(exc, queue.NoActiveCase):
        return _("No case is active. Take one from /queue, or reply to a message of the case.")
    if isinstance(exc, queue.PsychologistsOnly):
        return _("Only psychologists read and take cases; your role does not allow it.")
    if isinstance(exc, conversation.NotARelay):
        return _(
            "I cannot tell which case this reply belongs to: the message you replied to "
            "is not from a case. Reply to a message the bot sent about the case, or write "
            "without a reply to reach your active case. Nothing was sent."
        )
    if isinstance(exc, conversation.StudentGone):
        return _(
            "The student of {code} has unlinked their chat, so nothing can reach them "
            "any more. What they wrote stays in the case."
        ).format(code=_code(exc))
    if isinstance(exc, conversation.ContentGone):
        return _("The content of this case was destroyed at the end of its retention period.")
    if isinstance(exc, invites.InviteInvalid):
        return _(
            "This invite link does not work: it has expired or has already been used. "
            "Ask your supervisor for a new one."
        )
    if isinstance(exc, invites.AlreadyMember):
        return _(
            "This Telegram account is already registered. The invite was not used, so "
            "it can still be given to someone else."
        )
    if isinstance(exc, members.MemberNotFound):
        return _("There is no active account with this number in your area.")
    if isinstance(exc, members.OutOfScope):
        return _("This is outside your area.")
    if isinstance(exc, InvalidInput):
        return _("That is not possible here. Please check and try again.")
    if isinstance(exc, NotAllowed):
        return _("You cannot do this.")
    return _("Sorry, that did not work. Please try again.")


def tell(session: AsyncSession, rt: Runtime, member: Member, text: str, **params: Any) -> None:
    """A reply that reports a change: sent through the outbox, so only after the change is
    committed (a reply sent at once could announce what a failed commit then undid)."""
    outbox.enqueue(
        session, rt.vault, member, "sendMessage", {"text": text, **params}, now=rt.now()
    )


class ServiceErrorAnswer(BaseMiddleware):
    """Inner middleware for member routers: savepoint, and refusals as kind answers."""

    async def __call__(
        self,
        handler: Callable[[TelegramObject, dict[str, Any]], Awaitable[Any]],
        event: TelegramObject,
        data: dict[str, Any],
    ) -> Any:
        session: AsyncSession | None = data.get("session")
        try:
            if session is None:
                return await handler(event, data)
            async with session.begin_nested():
                return await handler(event, data)
        except ServiceError as exc:
            log.info("member_refused kind=%s", type(exc).__name__)
            text = explain(exc)
            if isinstance(event, CallbackQuery):
                await event.answer(text, show_alert=True)
            elif isinstance(event, Message):
                await event.answer(text)
            return None
