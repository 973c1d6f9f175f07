"""What psychologists are shown about a case: its card, and the student's words relayed.

- **The card** (`case_card`): code, priority, category, district, school, waiting time and
  the lexicon's signals (labels of the triage's rules, never the student's text), with a
  body below for supervisors. The pool's new-case, moved-case and urgent alerts
  (`notify_pool`), the deadline worker's re-alerts (bot.services.routing.escalation) and a
  transfer all show it. Nothing the student wrote or sent is on a card: the words go only
  to the psychologist who takes the case (its history, then relays).
- **Taken** (`cards_taken`): once a member takes the case, the cards the others got are
  edited to say it was taken, without saying by whom.
- **Relays** (`relay_to_psychologist`): a student's message, whole, to the psychologist
  holding the case, under a label that names the case.

Everything here is a notice (bot/delivery/notices.py) to a member, sent with
protect_content (no forwarding or saving out of the chat); what the student is told lives
with the student's flow (bot.services.casework.cases, safety).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.callbacks import TakeCase
from bot.db.models import Case, Member, OutboxMessage
from bot.delivery import file_cleaning, notices
from bot.delivery.notices import Button, Counted, Joined, Media, Notice, Phrase, Text
from bot.domain import ContentKind, Priority, Role
from bot.services.casework import codes
from bot.services.labels import CATEGORY_LABELS, N_, PRIORITY_ICONS, PRIORITY_LABELS
from bot.services.routing import place_names, pool_policy
from bot.services.runtime import Runtime

if TYPE_CHECKING:
    from bot.services.casework.cases import IncomingContent

# Signals the bot itself puts on a case (bot.services.casework.safety), shown translated;
# the triage's signals are its rules' labels and are shown as they are.
SIGNAL_SOS = N_("student pressed 🆘")
SIGNAL_DANGER = N_("student answered: in danger now")
OWN_SIGNALS = frozenset((SIGNAL_SOS, SIGNAL_DANGER))
SIGNALS_SHOWN = 8
# Telegram lets a bot edit its message for 48 hours; an older card is left as it is.
EDITABLE_FOR = timedelta(hours=48)


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
    days = hours // 24
    return Counted("{days} day", "{days} days", days, days=days)


def format_wait(rt: Runtime, lang: str, case: Case, now: datetime) -> str:
    """How long a case has waited, in `lang` (the handlers' /queue lines)."""
    return notices.render(rt, lang, waiting(now - case.created_at))


def signals(rt: Runtime, case: Case) -> list[str]:
    """The lexicon's signals on the case (sealed with its content, gone once shredded)."""
    if case.signals_enc is None or case.wrapped_key is None:
        return []
    found: list[str] = json.loads(
        rt.vault.open_for_case(case, "case", "signals", case.signals_enc)
    )
    return found


def signals_line(found: Sequence[str]) -> Phrase:
    """ "Signals found: …" (the first few), or nothing."""
    if not found:
        return ""
    shown: list[Phrase] = [Text(s) if s in OWN_SIGNALS else s for s in found[:SIGNALS_SHOWN]]
    if len(found) > SIGNALS_SHOWN:
        shown.append(f"+{len(found) - SIGNALS_SHOWN}")
    return Text("Signals found: {signals}", signals=Joined(tuple(shown), "; "))


async def case_card(
    session: AsyncSession,
    case: Case,
    now: datetime,
    body: Phrase = "",
    *,
    found: Sequence[str] = (),
) -> Joined:
    """The case's card, with the signals `found` on it (`signals`); `body` (a note) below it
    after a blank line. Never anything the student wrote."""
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
    if found:
        lines += (signals_line(found),)
    if body:
        lines += ("", body)
    return Joined(lines)


async def notify_pool(
    session: AsyncSession,
    rt: Runtime,
    case: Case,
    *,
    headline: Text,
    exclude: int | None = None,
) -> list[Member]:
    """Send the case card under `headline`, with a Take button, to every member of the
    case's pool: what the case is, never what the student wrote (that goes to whoever takes
    it). Each card is marked, to be edited to "taken" by `cards_taken`.

    Supervisors (the fallback when no psychologist is active anywhere, see
    bot.services.routing.pool_policy) get the card without the signals and without a Take
    button: they never read content.
    """
    now = rt.now()
    members = [m for m in await pool_policy.notified_members(session, case) if m.id != exclude]
    if not members:
        return members
    found = signals(rt, case)
    for_psychologists = Joined((headline, await case_card(session, case, now, found=found)))
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
                protect_content=True,
                card_case_id=case.id,
            )
            if member.role == Role.PSYCHOLOGIST
            else Notice(member, for_supervisors, protect_content=True, card_case_id=case.id)
            for member in members
        ],
        now=now,
    )
    return members


async def cards_taken(session: AsyncSession, rt: Runtime, case: Case, taker: Member) -> int:
    """Edit the cards of `case` that reached other members to say it was taken (not by
    whom), their Take buttons gone; cards still waiting in the outbox are not sent at all.
    A card older than Telegram lets a bot edit is left alone; one deleted from its chat
    meanwhile is refused by Telegram and only counted by the sender. (A card in flight at
    this instant keeps its button: pressing it says the case is taken.) Returns how many
    edits were queued."""
    now = rt.now()
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.card_case_id == case.id,
            OutboxMessage.status == "pending",  # not claimed by a sender: safe to drop
            OutboxMessage.member_id != taker.id,
        )
        .values(
            status="dropped", error="case taken", sent_at=now, payload_enc=b"", card_case_id=None
        )
        .execution_options(synchronize_session=False)
    )
    cards = (
        await session.execute(
            select(OutboxMessage.id, OutboxMessage.member_id, OutboxMessage.message_id)
            .where(
                OutboxMessage.card_case_id == case.id,
                OutboxMessage.status == "sent",
                OutboxMessage.message_id.is_not(None),
                OutboxMessage.member_id.is_not(None),
                OutboxMessage.member_id != taker.id,
                OutboxMessage.sent_at >= now - EDITABLE_FOR,
            )
            .order_by(OutboxMessage.created_at, OutboxMessage.id)
        )
    ).all()
    if not cards:
        return 0
    others = {
        m.id: m
        for m in await session.scalars(
            select(Member).where(Member.id.in_({c.member_id for c in cards}), Member.active)
        )
    }
    taken = Text(
        "✅ Case {code} has been taken; it no longer waits in the queue.",
        code=codes.display(case.code),
    )
    edits = [
        Notice(others[c.member_id], taken, edits=c.message_id)
        for c in cards
        if c.member_id in others
    ]
    notices.send(session, rt, edits, now=now)
    # Edited once: a later take (after a release) edits only the cards sent since.
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_([c.id for c in cards]))
        .values(card_case_id=None)
        .execution_options(synchronize_session=False)
    )
    return len(edits)


def relay_to_psychologist(
    session: AsyncSession, rt: Runtime, case: Case, member: Member, content: IncomingContent
) -> None:
    """The student's message, whole, to the psychologist holding the case (`relay_notice`)."""
    notices.send(session, rt, relay_notice(case, member, content))


def relay_notice(case: Case, member: Member, content: IncomingContent) -> Notice:
    """The relay of a student's message to the psychologist holding the case: under the
    label, in numbered parts when it does not fit one message (a long caption continues in
    text messages after its file). Every part is a relay: a reply to any of them reaches the
    case."""
    media = None
    if content.kind != ContentKind.TEXT and content.file_id:
        # Sent again by file id rather than copied from the student's chat: no request to a
        # staff chat ever names the student's chat, and it still works after /forget.
        # A photo or document is cleaned on the way: a neutral name, no metadata.
        media = file_cleaning.student_file(
            content.kind, content.file_id, codes.display(case.code), case.message_count
        ) or Media.stored(content.kind, content.file_id)
    return Notice(
        member,
        content.text,
        header=Text("💬 {code} — the student writes:", code=codes.display(case.code)),
        media=media,
        relay_case_id=case.id,
        protect_content=True,
    )


def alert_holder(
    session: AsyncSession, rt: Runtime, case: Case, holder: Member, text: Text
) -> None:
    """An alert about a case to the psychologist holding it: even when the case is muted
    (an alert is not a relay), and a reply to it reaches the case."""
    notices.send(session, rt, Notice(holder, text, relay_case_id=case.id, protect_content=True))
