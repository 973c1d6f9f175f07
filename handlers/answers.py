"""What every router says the same way: refusals, button answers, role and language names.

Every router of this package that calls services calls `setup_middlewares(router)` where
it is made, which gives its handlers the two answering middlewares:

- `CallbackAnswers` (aiogram's CallbackAnswerMiddleware): every button press is answered
  once, after the handler; a handler that must say something sets its `callback_answer`
  argument (`stale_button(callback_answer)`, or `.text` and `.show_alert`).
- `ServiceErrorAnswer`, the one error path: each handler runs inside a savepoint, so a
  refusal (a `ServiceError`) also undoes anything the handler had begun to write, while the
  update itself still commits; the refusal becomes `explain(exc)`, one kind sentence in the
  reader's language, as a message or as an alert on the button.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import BaseMiddleware, Router
from aiogram.methods import AnswerCallbackQuery
from aiogram.types import CallbackQuery, Message, TelegramObject
from aiogram.utils.callback_answer import CallbackAnswer, CallbackAnswerMiddleware
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain import Language, Role
from bot.services.casework import codes, conversation, templates
from bot.services.errors import AlreadyTaken, InvalidInput, NotAllowed, ServiceError
from bot.services.labels import N_
from bot.services.organisation import invites, members
from bot.services.routing import queue

log = logging.getLogger(__name__)

LANGUAGE_NAMES = {Language.KY: "Кыргызча", Language.KK: "Қазақша", Language.RU: "Русский"}

# --- refusals ---------------------------------------------------------------------------

# The sentence for each refusal; the most specific class of an error wins. {code} is the
# case (or account) the error names.
REFUSALS: dict[type[ServiceError], str] = {
    queue.CaseNotFound: N_("There is no case with this code. A code looks like #7KQ2-M9XD."),
    queue.CaseClosed: N_("Case {code} is already closed."),
    AlreadyTaken: N_("Another psychologist has already taken this case."),
    queue.NotInPool: N_("This case is not in your pool."),
    queue.NotYourCase: N_("Case {code} is not with you. /queue shows the cases you can take."),
    queue.NoActiveCase: N_(
        "No case is active. Take one from /queue, or reply to a message of the case."
    ),
    queue.PsychologistsOnly: N_(
        "Only psychologists read and take cases; your role does not allow it."
    ),
    conversation.NotARelay: N_(
        "I cannot tell which case this reply belongs to: the message you replied to "
        "is not from a case. Reply to a message the bot sent about the case, or write "
        "without a reply to reach your active case. Nothing was sent."
    ),
    conversation.StudentGone: N_(
        "The student of {code} has unlinked their chat, so nothing can reach them "
        "any more. What they wrote stays in the case."
    ),
    conversation.ContentGone: N_(
        "The content of this case was destroyed at the end of its retention period."
    ),
    templates.TemplateNotFound: N_("There is no saved reply with this number that you can use."),
    templates.TemplateTooLong: N_(
        "A saved reply must be text, not empty, and fit in one Telegram message (4096 "
        "characters). Write it again."
    ),
    templates.TooManyTemplates: N_(
        "You already keep 30 saved replies in this language. Delete one first: /templates."
    ),
    templates.NotSharable: N_("Only a supervisor of a district can share saved replies with it."),
    invites.InviteInvalid: N_(
        "This invite link does not work: it has expired or has already been used. "
        "Ask your supervisor for a new one."
    ),
    invites.AlreadyMember: N_(
        "This Telegram account is already registered. The invite was not used, so "
        "it can still be given to someone else."
    ),
    members.MemberNotFound: N_("There is no active account with this number in your area."),
    members.OutOfScope: N_("This is outside your area."),
    InvalidInput: N_("That is not possible here. Please check and try again."),
    NotAllowed: N_("You cannot do this."),
    ServiceError: N_("Sorry, that did not work. Please try again."),
}


def _code(exc: Exception) -> str:
    code = getattr(exc, "code", "") or ""
    return codes.display(code) if len(code) == 8 else code


def explain(exc: ServiceError) -> str:
    """The translated sentence for a refusal."""
    sentence = next(REFUSALS[cls] for cls in type(exc).__mro__ if cls in REFUSALS)
    return _(sentence).format(code=_code(exc))


class ServiceErrorAnswer(BaseMiddleware):
    """Inner middleware: the handler in a savepoint, and a refusal as a kind answer."""

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
            log.info("service_refused kind=%s", type(exc).__name__)
            text = explain(exc)
            answer: CallbackAnswer | None = data.get("callback_answer")
            if answer is not None:
                answer.text, answer.show_alert = text, True
            elif isinstance(event, Message):
                await event.answer(text)
            return None


# --- buttons ----------------------------------------------------------------------------


class CallbackAnswers(CallbackAnswerMiddleware):
    """aiogram's CallbackAnswerMiddleware, without its log line: that names the query's id,
    and our logs carry case codes and event names only."""

    def answer(self, event: CallbackQuery, callback_answer: CallbackAnswer) -> AnswerCallbackQuery:
        return event.answer(
            text=callback_answer.text,
            show_alert=callback_answer.show_alert,
            url=callback_answer.url,
            cache_time=callback_answer.cache_time,
        )


def stale_button(callback_answer: CallbackAnswer) -> None:
    """A forged or outdated button: a quiet answer, nothing changes."""
    callback_answer.text = _("This button is no longer active.")
    callback_answer.show_alert = False


def setup_middlewares(router: Router, *, refusals: bool = True) -> Router:
    """The answering middlewares, on a top-level router (its sub-routers inherit them).
    Button answers are outermost, so a refusal can still set the answer's text.

    `refusals=False` leaves out ServiceErrorAnswer, for the student's router only: no
    service refuses a student, and its savepoint would cost every student's message two
    more statements (about 0.5 ms on PostgreSQL, 1.5 ms on SQLite). A ServiceError there
    would be a bug, and fails the update like any other (rolled back, retried, set aside).
    """
    router.callback_query.middleware(CallbackAnswers())
    if refusals:
        router.callback_query.middleware(ServiceErrorAnswer())
        router.message.middleware(ServiceErrorAnswer())
    return router


# --- names ------------------------------------------------------------------------------

ROLE_LABELS: dict[str, str] = {
    Role.SUPERVISOR: N_("supervisor"),
    Role.PSYCHOLOGIST: N_("psychologist"),
    Role.STAFF: N_("school staff"),
}


def role_name(role: str) -> str:
    return _(ROLE_LABELS.get(role, role))


def role_help(role: str) -> str:
    if role == Role.PSYCHOLOGIST:
        return _(
            "Your commands:\n/queue: open cases of your pool, urgent first\n/mine: the cases you "
            "hold, and where the student is waiting for you\n/templates: saved replies (add, "
            "delete, send from /mine)\n/take CODE: take "
            "a case (or press Take on its card)\n/case CODE: the conversation of a case you "
            "hold\n/note TEXT: an internal note, never sent to the student\n/transfer: hand "
            "the case to another psychologist or back to the pool\n/release: give the case "
            "back to the pool\n/close: close the case with an outcome\n/recuse: step aside "
            "from a case (conflict of interest); nobody is told why\n/lang: language\n\n"
            "While a case is active, everything you write goes to its student, labelled as "
            "from the psychologist. To answer another case, reply to one of its messages. "
            "Without a code, a command works on the case you reply to, else the active one."
        )
    if role == Role.SUPERVISOR:
        return _(
            "Your commands:\n/invite: a one-time link for a psychologist or school staff\n"
            "/invites: invite links not used yet, each with a Revoke button\n"
            "/members: the accounts in your area\n/deactivate N: switch off account №N; its "
            "cases go back to the pool\n/stats: statistics\n/export: aggregate figures as "
            "CSV\n/lang: language\n\nYou never see what students write: only the "
            "psychologist who takes a case can read it."
        )
    return _(
        "Your commands:\n/posters: the school's classroom posters as one PDF\n/checkposter: "
        "check a photo of a poster on the wall\n/scans: weekly scan counts per poster\n/lang: "
        "language\n\nYou never see any report, count or content: the line is anonymous, "
        "also for the school."
    )
