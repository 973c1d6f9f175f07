"""Messages caused by a student's message: the case card, relays, the acknowledgement."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseMessage, Member
from bot.delivery import outbox, text_parts
from bot.domain import CaseStatus, ContentKind, Priority, Role
from bot.services.casework import codes, helplines, safety
from bot.services.casework.hours import after_hours_note
from bot.services.labels import (
    CATEGORY_LABELS,
    CONTENT_LABELS,
    N_,
    PRIORITY_ICONS,
    PRIORITY_LABELS,
)
from bot.services.routing import place_names, pool_policy
from bot.services.runtime import Runtime

if TYPE_CHECKING:
    from bot.services.casework.cases import IncomingContent

PREVIEW_CHARS = 160
# Bot API method and parameter that send a stored file id of each kind.
MEDIA_METHODS: dict[str, tuple[str, str]] = {
    ContentKind.PHOTO: ("sendPhoto", "photo"),
    ContentKind.VOICE: ("sendVoice", "voice"),
    ContentKind.VIDEO: ("sendVideo", "video"),
    ContentKind.VIDEO_NOTE: ("sendVideoNote", "video_note"),
    ContentKind.AUDIO: ("sendAudio", "audio"),
    ContentKind.DOCUMENT: ("sendDocument", "document"),
    ContentKind.STICKER: ("sendSticker", "sticker"),
    ContentKind.ANIMATION: ("sendAnimation", "animation"),
}
NO_CAPTION = (ContentKind.STICKER, ContentKind.VIDEO_NOTE)


def take_button(rt: Runtime, lang: str, code: str) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [{"text": rt.tr(lang, "Take this case"), "callback_data": f"take:{code}"}]
        ]
    }


def format_wait(rt: Runtime, lang: str, case: Case, now: datetime) -> str:
    minutes = max(0, int((now - case.created_at).total_seconds() // 60))
    if minutes < 60:
        return rt.tr(lang, "{minutes} min", minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return rt.tr(lang, "{hours} h {minutes} min", hours=hours, minutes=minutes)
    return rt.tr(lang, "{days} days", days=hours // 24)


def preview(rt: Runtime, lang: str, content: IncomingContent | None) -> str:
    if content is None:
        return ""
    # A glimpse for the card (the whole text arrives with /take): cut at a sentence or a
    # word, counted in UTF-16 units like everything Telegram measures.
    text = text_parts.shorten(" ".join(content.text.split()), PREVIEW_CHARS)
    if content.kind != ContentKind.TEXT:
        media = rt.tr(lang, "[attachment: {kind}]", kind=rt.tr(lang, CONTENT_LABELS[content.kind]))
        text = f"{media} {text}".strip()
    return text


async def case_card(
    session: AsyncSession, rt: Runtime, case: Case, lang: str, now: datetime, body: str = ""
) -> str:
    district, school = await place_names.place_names(session, case)
    lines = [
        rt.tr(
            lang,
            "{icon} Case {code}",
            icon=PRIORITY_ICONS[case.priority],
            code=codes.display(case.code),
        ),
        rt.tr(lang, "Priority: {priority}", priority=rt.tr(lang, PRIORITY_LABELS[case.priority])),
        rt.tr(lang, "Category: {category}", category=rt.tr(lang, CATEGORY_LABELS[case.category])),
        rt.tr(lang, "District: {district}", district=district),
        rt.tr(lang, "School: {school}", school=school),
        rt.tr(lang, "Waiting: {wait}", wait=format_wait(rt, lang, case, now)),
    ]
    if body:
        lines += ["", body]
    return "\n".join(lines)


async def notify_pool(
    session: AsyncSession,
    rt: Runtime,
    case: Case,
    content: IncomingContent | None,
    *,
    headline: str,
    exclude: int | None = None,
) -> list[Member]:
    """Send the case card with a Take button to every member of the case's pool.

    Supervisors (the fallback when no psychologist is active anywhere, see
    bot.services.routing.pool_policy) get the card without the preview and without a Take button:
    they never read content.
    """
    now = rt.now()
    members = [m for m in await pool_policy.notified_members(session, case) if m.id != exclude]
    for member in members:
        lang = member.language
        if member.role != Role.PSYCHOLOGIST:
            card = await case_card(
                session,
                rt,
                case,
                lang,
                now,
                rt.tr(
                    lang,
                    "No psychologist serves this place yet: invite one with /invite. "
                    "The case waits in the queue and they will see it.",
                ),
            )
            outbox.enqueue(
                session,
                rt.vault,
                member,
                "sendMessage",
                {"text": f"{rt.tr(lang, headline)}\n{card}"},
                now=now,
            )
            continue
        card = await case_card(session, rt, case, lang, now, preview(rt, lang, content))
        outbox.enqueue(
            session,
            rt.vault,
            member,
            "sendMessage",
            {
                "text": f"{rt.tr(lang, headline)}\n{card}",
                "reply_markup": take_button(rt, lang, case.code),
            },
            now=now,
            relay_case_id=case.id,
        )
    return members


async def emergency_numbers(session: AsyncSession, case: Case) -> tuple[str, ...]:
    """The numbers the case's student is told to call (labelled by bot.services.casework.helplines:
    per country, from the case's place, else from the student's language)."""
    return tuple(n.number for n in await helplines.case_numbers(session, case))


async def relay_to_psychologist(
    session: AsyncSession,
    rt: Runtime,
    case: Case,
    member: Member,
    message: CaseMessage,
    content: IncomingContent,
) -> None:
    """The student's message, whole, to the psychologist holding the case: under the label,
    in numbered parts when it does not fit one message (a long caption continues in text
    messages after its file). Every part is a relay: a reply to any of them reaches the
    case."""
    lang = member.language
    label = rt.tr(lang, "💬 {code} — the student writes:", code=codes.display(case.code))
    media: text_parts.Call | None = None
    if content.kind != ContentKind.TEXT and content.file_id:
        # Sent again by file id rather than copied from the student's chat: no request to a
        # staff chat ever names the student's chat, and it still works after /forget.
        method, field = MEDIA_METHODS[content.kind]
        media = (method, {field: content.file_id})
    calls = text_parts.messages(
        content.text, header=label, media=media, captioned=content.kind not in NO_CAPTION
    )
    # One timestamp for all: the outbox sends a chat's rows of one instant in id order,
    # which is the order they are queued in.
    now = rt.now()
    for method, params in calls:
        outbox.enqueue(session, rt.vault, member, method, params, now=now, relay_case_id=case.id)


async def after_student_message(
    session: AsyncSession,
    rt: Runtime,
    case: Case,
    message: CaseMessage,
    content: IncomingContent,
    *,
    opened: bool,
    became_urgent: bool,
    message_urgent: bool = False,
) -> None:
    """Relay or announce a student's message, then acknowledge it.

    An urgent message in a case that was already urgent (`message_urgent` without
    `became_urgent`) re-alerts the holder, else the pool, and gets the urgent reply again,
    at most once in `safety.REPLY_EVERY`.
    """
    now = rt.now()
    followup = (
        message_urgent
        and not (opened or became_urgent)
        and case.priority == Priority.URGENT
        and safety.may_repeat_reply(case, now)
    )
    alerted: list[Member] = []
    if case.status == CaseStatus.CLAIMED and case.psychologist_id is not None:
        member = await session.get(Member, case.psychologist_id)
        if member is not None and member.active:
            if not case.muted:
                await relay_to_psychologist(session, rt, case, member, message, content)
            if became_urgent or followup:  # even when muted: this is an alert, not a relay
                notice = (
                    N_("🔴 Case {code} is now urgent.")
                    if became_urgent
                    else N_("🔴 {code}: another urgent message from the student.")
                )
                outbox.enqueue(
                    session,
                    rt.vault,
                    member,
                    "sendMessage",
                    {"text": rt.tr(member.language, notice, code=codes.display(case.code))},
                    now=now,
                    relay_case_id=case.id,
                )
                alerted = [member]
    elif opened:
        alerted = await notify_pool(
            session, rt, case, content, headline=N_("New case in your pool")
        )
    elif became_urgent:
        alerted = await notify_pool(
            session, rt, case, content, headline=N_("A waiting case became urgent")
        )
    elif followup:
        alerted = await notify_pool(
            session, rt, case, content, headline=N_("🔴 Another urgent message in a waiting case")
        )
    urgent = case.priority == Priority.URGENT and (opened or became_urgent or followup)
    if urgent:
        case.urgent_alerted_at = now
    await acknowledge(
        session,
        rt,
        case,
        opened=opened,
        urgent=urgent,
        alerted=any(m.role == Role.PSYCHOLOGIST for m in alerted),
        urgent_again=message_urgent and not urgent and case.priority == Priority.URGENT,
    )


async def acknowledge(
    session: AsyncSession,
    rt: Runtime,
    case: Case,
    *,
    opened: bool,
    urgent: bool,
    alerted: bool = False,
    urgent_again: bool = False,
) -> None:
    """The student's answer to their message.

    Urgent: the emergency reply (casework.safety), which says a psychologist was alerted
    only when `alerted` (a psychologist really was told). `urgent_again`: a further urgent
    message within ten minutes of the last urgent reply, pointed back to the numbers.
    """
    if urgent:
        await safety.send_urgent_reply(session, rt, case, alerted=alerted)
        return
    now = rt.now()
    lang = case.language
    params: dict[str, Any] = {}
    if opened:
        text = rt.tr(
            lang,
            "Thank you for writing. Your message is saved safely. A psychologist will read it "
            "and answer you right here. You can keep writing.",
        )
        # Outside working hours the student hears when to expect an answer and that 111 is
        # there.
        closed_note = await after_hours_note(session, rt, case, now)
        if closed_note:
            text = f"{text}\n\n{closed_note}"
        # The 🆘 button, for a student who wrote without /start (no greeting, no keyboard).
        params["reply_markup"] = safety.sos_keyboard(rt, lang)
    elif urgent_again:
        text = rt.tr(
            lang,
            "Received ✓ If you are in danger, calling one of the numbers above "
            "is the fastest help.",
        )
    else:
        text = rt.tr(lang, "Received ✓")
    outbox.enqueue(session, rt.vault, case, "sendMessage", {"text": text, **params}, now=now)
