"""What psychologists are shown about a case: its card, and the student's words relayed.

- **The card** (`case_card`): code, priority, category, district, school and waiting time,
  with a body below (a short preview for psychologists; nothing of the content for
  supervisors). The pool's new-case, moved-case and urgent alerts (`notify_pool`), the
  deadline worker's reminders (bot.services.routing.escalation) and a transfer all show it.
- **Relays** (`relay_to_psychologist`): a student's message, whole, to the psychologist
  holding the case, under a label that names the case.

Everything here is a notice (bot/delivery/notices.py) to a member; what the student is told
lives with the student's flow (bot.services.casework.cases, safety).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import TakeCase
from bot.db.models import Case, Member
from bot.delivery import notices, text_parts
from bot.delivery.notices import Button, Joined, Media, Notice, Phrase, Text
from bot.domain import ContentKind, Priority, Role
from bot.services.casework import codes
from bot.services.labels import CATEGORY_LABELS, CONTENT_LABELS, PRIORITY_ICONS, PRIORITY_LABELS
from bot.services.routing import place_names, pool_policy
from bot.services.runtime import Runtime

if TYPE_CHECKING:
    from bot.services.casework.cases import IncomingContent

PREVIEW_CHARS = 160


def take_buttons(code: str) -> tuple[tuple[Button, ...], ...]:
    """The card's one button: take the case."""
    return ((Button(Text("Take this case"), TakeCase(code=code)),),)


def waiting(delta: timedelta) -> Text:
    """A wait: "12 min", "3 h 5 min", "4 days"."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return Text("{minutes} min", minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return Text("{hours} h {minutes} min", hours=hours, minutes=minutes)
    return Text("{days} days", days=hours // 24)


def format_wait(rt: Runtime, lang: str, case: Case, now: datetime) -> str:
    """How long a case has waited, in `lang` (the handlers' /queue lines)."""
    return notices.render(rt, lang, waiting(now - case.created_at))


def preview(content: IncomingContent | None) -> Phrase:
    """A glimpse of the student's message for the card (the whole text arrives with /take):
    cut at a sentence or a word, counted in UTF-16 units like everything Telegram
    measures."""
    if content is None:
        return ""
    text = text_parts.shorten(" ".join(content.text.split()), PREVIEW_CHARS)
    if content.kind == ContentKind.TEXT:
        return text
    media = Text("[attachment: {kind}]", kind=Text(CONTENT_LABELS[content.kind]))
    return Joined((media, text), " ") if text.strip() else media


async def case_card(session: AsyncSession, case: Case, now: datetime, body: Phrase = "") -> Joined:
    """The case's card; `body` (a preview, a note) below it after a blank line."""
    district, school = await place_names.place_names(session, case)
    lines: tuple[Phrase, ...] = (
        Text(
            "{icon} Case {code}",
            icon=PRIORITY_ICONS[Priority(case.priority)],
            code=codes.display(case.code),
        ),
        Text("Priority: {priority}", priority=Text(PRIORITY_LABELS[case.priority])),
        Text("Category: {category}", category=Text(CATEGORY_LABELS[case.category])),
        Text("District: {district}", district=district),
        Text("School: {school}", school=school),
        Text("Waiting: {wait}", wait=waiting(now - case.created_at)),
    )
    if body:
        lines += ("", body)
    return Joined(lines)


async def notify_pool(
    session: AsyncSession,
    rt: Runtime,
    case: Case,
    content: IncomingContent | None,
    *,
    headline: Text,
    exclude: int | None = None,
) -> list[Member]:
    """Send the case card under `headline`, with a Take button, to every member of the
    case's pool.

    Supervisors (the fallback when no psychologist is active anywhere, see
    bot.services.routing.pool_policy) get the card without the preview and without a Take
    button: they never read content.
    """
    now = rt.now()
    members = [m for m in await pool_policy.notified_members(session, case) if m.id != exclude]
    if not members:
        return members
    for_psychologists = Joined((headline, await case_card(session, case, now, preview(content))))
    for_supervisors = Joined(
        (
            headline,
            await case_card(
                session,
                case,
                now,
                Text(
                    "No psychologist serves this place yet: invite one with /invite. "
                    "The case waits in the queue and they will see it."
                ),
            ),
        )
    )
    notices.send(
        session,
        rt,
        [
            Notice(
                member,
                for_psychologists,
                buttons=take_buttons(case.code),
                relay_case_id=case.id,
            )
            if member.role == Role.PSYCHOLOGIST
            else Notice(member, for_supervisors)
            for member in members
        ],
        now=now,
    )
    return members


def relay_to_psychologist(
    session: AsyncSession, rt: Runtime, case: Case, member: Member, content: IncomingContent
) -> None:
    """The student's message, whole, to the psychologist holding the case: under the label,
    in numbered parts when it does not fit one message (a long caption continues in text
    messages after its file). Every part is a relay: a reply to any of them reaches the
    case."""
    media = None
    if content.kind != ContentKind.TEXT and content.file_id:
        # Sent again by file id rather than copied from the student's chat: no request to a
        # staff chat ever names the student's chat, and it still works after /forget.
        media = Media.stored(content.kind, content.file_id)
    notices.send(
        session,
        rt,
        Notice(
            member,
            content.text,
            header=Text("💬 {code} — the student writes:", code=codes.display(case.code)),
            media=media,
            relay_case_id=case.id,
        ),
    )


def alert_holder(
    session: AsyncSession, rt: Runtime, case: Case, holder: Member, text: Text
) -> None:
    """An alert about a case to the psychologist holding it: even when the case is muted
    (an alert is not a relay), and a reply to it reaches the case."""
    notices.send(session, rt, Notice(holder, text, relay_case_id=case.id))
