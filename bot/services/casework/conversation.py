"""The psychologist's side of a conversation: answers, reply routing, notes and history.

What a psychologist sends is stored sealed under the case key and reaches the student through
the outbox: texts with `sendMessage`, media with `copyMessage` from the psychologist's own
chat (resolved only when sending), always labelled as from the psychologist. Nothing is ever
forwarded, so no name or account of the psychologist travels either.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseMessage, Member, Region, Relay
from bot.delivery import outbox, text_parts
from bot.domain import Author, CaseStatus, ContentKind, Role
from bot.services.casework import codes, deadlines, notify
from bot.services.casework.cases import IncomingContent
from bot.services.errors import ServiceError
from bot.services.labels import OUTCOME_LABELS
from bot.services.routing import place_names
from bot.services.routing.queue import (
    CaseClosed,
    NotYourCase,
    PsychologistsOnly,
    member_actor,
    require_holder,
)
from bot.services.runtime import Runtime
from bot.services.security import audit
from bot.services.security.vault import CaseShredded

MEDIA_RESENT = 10
MEDIA_METHODS = notify.MEDIA_METHODS
NO_CAPTION = notify.NO_CAPTION


class NotARelay(ServiceError):
    """A reply to a message that did not come from any case."""


class StudentGone(ServiceError):
    """The student unlinked their chat (/forget): nothing can reach them any more."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class ContentGone(ServiceError):
    """The case was shredded after its retention period."""


async def case_of_reply(session: AsyncSession, member: Member, message_id: int) -> int:
    """The case of a message the bot relayed into this member's chat."""
    relay = await session.get(Relay, (member.id, message_id))
    if relay is None:
        raise NotARelay()
    return relay.case_id


def _store(
    rt: Runtime,
    case: Case,
    author: Author,
    member: Member,
    content: IncomingContent,
    now: datetime,
) -> CaseMessage:
    message = CaseMessage(
        id=uuid.uuid4(),
        case_id=case.id,
        author=author,
        member_id=member.id,
        kind=content.kind,
        source_message_id=content.source_message_id,
        created_at=now,
    )
    row = f"msg/{message.id}"
    if content.text:
        message.body_enc = rt.vault.seal_for_case(case, row, "body", content.text)
    if content.file_id:
        message.file_id_enc = rt.vault.seal_for_case(case, row, "file_id", content.file_id)
    return message


async def answer_student(
    session: AsyncSession, rt: Runtime, member: Member, case: Case, content: IncomingContent
) -> CaseMessage:
    """Send what the psychologist wrote (or sent) to the student of a case they hold."""
    require_holder(case, member)
    if case.chat_id_enc is None:
        raise StudentGone(case.code)
    now = rt.now()
    message = _store(rt, case, Author.PSYCHOLOGIST, member, content, now)
    session.add(message)
    label = rt.tr(case.language, "💬 The psychologist:")
    media: text_parts.Call | None = None
    if content.kind != ContentKind.TEXT:
        media = (
            "copyMessage",
            {
                "from_chat_id": outbox.FROM_MEMBER,
                "$member_id": member.id,
                "message_id": content.source_message_id,
            },
        )
    # Whole, in numbered parts when long; a caption too long for the file goes on in text
    # messages. One timestamp: the outbox sends one instant's rows in the order queued.
    for method, params in text_parts.messages(
        content.text, header=label, media=media, captioned=content.kind not in NO_CAPTION
    ):
        outbox.enqueue(session, rt.vault, case, method, params, now=now)
    if case.first_answer_at is None:
        case.first_answer_at = now
    case.awaiting_since = None
    deadlines.schedule(case, rt.settings, now)
    await audit.record(
        session,
        actor=member_actor(member),
        event="psychologist_message",
        now=now,
        case_code=case.code,
        detail={"kind": content.kind},
    )
    return message


async def add_note(
    session: AsyncSession, rt: Runtime, member: Member, case: Case, text: str
) -> CaseMessage:
    """An internal note on a case the psychologist holds: sealed, never sent to the student."""
    require_holder(case, member)
    now = rt.now()
    content = IncomingContent(ContentKind.TEXT, text, None, None)
    note = _store(rt, case, Author.NOTE, member, content, now)
    session.add(note)
    await audit.record(
        session, actor=member_actor(member), event="note_added", now=now, case_code=case.code
    )
    return note


def _zone(region: Region | None) -> ZoneInfo:
    try:
        return ZoneInfo(region.timezone if region else "Asia/Almaty")
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")


def _author(rt: Runtime, lang: str, message: CaseMessage, viewer: Member) -> str:
    if message.author == Author.STUDENT:
        return rt.tr(lang, "Student")
    if message.author == Author.NOTE:
        return rt.tr(lang, "📝 Note №{number}", number=message.member_id or 0)
    if message.author == Author.PSYCHOLOGIST and message.member_id == viewer.id:
        return rt.tr(lang, "You")
    if message.author == Author.PSYCHOLOGIST:
        return rt.tr(lang, "Psychologist №{number}", number=message.member_id or 0)
    return rt.tr(lang, "System")


async def show_history(session: AsyncSession, rt: Runtime, member: Member, case: Case) -> int:
    """Decrypt a case's conversation for the psychologist who holds (or closed) it and send
    it to them, attachments included. Audited as `content_viewed`. Returns the messages shown.
    """
    if member.role != Role.PSYCHOLOGIST or not member.active:
        raise PsychologistsOnly()
    if case.psychologist_id != member.id:
        if case.status == CaseStatus.CLOSED:
            raise CaseClosed(case.code)
        raise NotYourCase(case.code)
    if case.wrapped_key is None:
        raise ContentGone(case.code)
    now = rt.now()
    lang = member.language
    await place_names.load_places(session, [case])  # the region and the card's names at once
    zone = _zone(await session.get(Region, case.region_id) if case.region_id else None)
    messages = list(
        (
            await session.scalars(
                select(CaseMessage)
                .where(CaseMessage.case_id == case.id)
                .order_by(CaseMessage.created_at, CaseMessage.id)
            )
        ).all()
    )
    status = {
        CaseStatus.CLAIMED: rt.tr(lang, "with you"),
        CaseStatus.CLOSED: rt.tr(
            lang,
            "closed: {outcome}",
            outcome=rt.tr(lang, OUTCOME_LABELS.get(case.outcome or "", case.outcome or "—")),
        ),
    }.get(CaseStatus(case.status), rt.tr(lang, "waiting in the queue"))
    lines = [
        await notify.case_card(session, rt, case, lang, now),
        rt.tr(lang, "Status: {status}", status=status),
        "",
    ]
    media: list[tuple[CaseMessage, str]] = []
    try:
        for message in messages:
            row = f"msg/{message.id}"
            when = message.created_at.astimezone(zone).strftime("%d.%m %H:%M")
            body = rt.vault.open_text_for_case(case, row, "body", message.body_enc)
            if message.kind != ContentKind.TEXT:
                kind = rt.tr(lang, "[attachment: {kind}]", kind=message.kind)
                body = f"{kind} {body}".strip()
                if message.file_id_enc is not None:
                    media.append((message, when))
            lines.append(f"[{when}] {_author(rt, lang, message, member)}: {body}")
        if not messages:
            lines.append(rt.tr(lang, "No messages yet."))
        # Every word, in pages numbered under the case code: whole entries per page, an
        # entry longer than a page split at paragraphs, sentences or words, never cut off.
        # One timestamp: the outbox sends one instant's rows in the order queued.
        at = rt.now()
        for page in text_parts.pack(lines, header=codes.display(case.code)):
            outbox.enqueue(
                session,
                rt.vault,
                member,
                "sendMessage",
                {"text": page},
                now=at,
                relay_case_id=case.id,
            )
        for message, when in media[-MEDIA_RESENT:]:
            file_id = rt.vault.open_text_for_case(
                case, f"msg/{message.id}", "file_id", message.file_id_enc
            )
            method, field = MEDIA_METHODS[ContentKind(message.kind)]
            params: dict[str, Any] = {field: file_id}
            if message.kind not in NO_CAPTION:
                params["caption"] = (
                    f"{codes.display(case.code)} · {when} · {_author(rt, lang, message, member)}"
                )
            outbox.enqueue(
                session, rt.vault, member, method, params, now=rt.now(), relay_case_id=case.id
            )
    except CaseShredded as exc:
        raise ContentGone(case.code) from exc
    await audit.record(
        session,
        actor=member_actor(member),
        event="content_viewed",
        now=now,
        case_code=case.code,
        detail={"messages": len(messages)},
    )
    return len(messages)
