"""The psychologist's side of a conversation: answers, reply routing, notes and history.

What a psychologist sends is stored sealed under the case key and reaches the student through
the outbox: texts with `sendMessage`, media with `copyMessage` from the psychologist's own
chat (resolved only when sending), always labelled as from the psychologist. Nothing is ever
forwarded, so no name or account of the psychologist travels either.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, CaseMessage, Member, Region, Relay
from bot.delivery import file_cleaning, notices
from bot.delivery.notices import Entries, Joined, Media, Notice, Phrase, Text
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
    require_holder,
)
from bot.services.runtime import Runtime
from bot.services.security import audit
from bot.services.security.audit import member_actor
from bot.services.security.vault import CaseShredded

MEDIA_RESENT = 10
PSYCHOLOGIST_LABEL = Text("💬 The psychologist:")


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
    media = None
    if content.kind != ContentKind.TEXT:
        media = Media.copied_from_member(content.kind, member.id, content.source_message_id)
    # Whole, in numbered parts when long; a caption too long for the file goes on in text
    # messages.
    notices.send(
        session,
        rt,
        Notice(case, content.text, header=PSYCHOLOGIST_LABEL, media=media),
        now=now,
    )
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


def _author(message: CaseMessage, viewer: Member) -> Text:
    if message.author == Author.STUDENT:
        return Text("Student")
    if message.author == Author.NOTE:
        return Text("📝 Note №{number}", number=message.member_id or 0)
    if message.author == Author.PSYCHOLOGIST and message.member_id == viewer.id:
        return Text("You")
    if message.author == Author.PSYCHOLOGIST:
        return Text("Psychologist №{number}", number=message.member_id or 0)
    return Text("System")


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
        CaseStatus.CLAIMED: Text("with you"),
        CaseStatus.CLOSED: Text(
            "closed: {outcome}",
            outcome=Text(OUTCOME_LABELS.get(case.outcome or "", case.outcome or "—")),
        ),
    }.get(CaseStatus(case.status), Text("waiting in the queue"))
    lines: list[Phrase] = [
        await notify.case_card(session, case, now),
        Text("Status: {status}", status=status),
        "",
    ]
    code = codes.display(case.code)
    files: list[tuple[CaseMessage, str, Text, int]] = []
    from_student = 0  # the student's messages so far: a file's number in its neutral name
    try:
        for message in messages:
            from_student += message.author == Author.STUDENT
            row = f"msg/{message.id}"
            when = message.created_at.astimezone(zone).strftime("%d.%m %H:%M")
            author = _author(message, member)
            words = rt.vault.open_text_for_case(case, row, "body", message.body_enc)
            body: Phrase = words
            if message.kind != ContentKind.TEXT:
                kind = Text("[attachment: {kind}]", kind=message.kind)
                body = Joined((kind, words), " ") if words.strip() else kind
                if message.file_id_enc is not None:
                    files.append((message, when, author, from_student))
            lines.append(Joined((f"[{when}] ", author, ": ", body), ""))
        if not messages:
            lines.append(Text("No messages yet."))
        media: list[Notice] = []
        for message, when, author, number in files[-MEDIA_RESENT:]:
            file_id = rt.vault.open_text_for_case(
                case, f"msg/{message.id}", "file_id", message.file_id_enc
            )
            attached = (
                file_cleaning.student_file(message.kind, file_id, code, number)
                if message.author == Author.STUDENT
                else None
            ) or Media.stored(message.kind, file_id)
            caption = Joined((code, when, author), " · ") if attached.captioned else ""
            media.append(
                Notice(
                    member, caption, media=attached, relay_case_id=case.id, protect_content=True
                )
            )
    except CaseShredded as exc:
        raise ContentGone(case.code) from exc
    # Every word, in pages numbered under the case code: whole entries per page, an entry
    # longer than a page split at paragraphs, sentences or words, never cut off. Then the
    # last files, each under a caption naming its case, time and author. All of it with
    # protect_content: the words stay in this chat (no forwarding, no saving).
    notices.send(
        session,
        rt,
        [
            Notice(
                member,
                Entries(tuple(lines)),
                header=code,
                relay_case_id=case.id,
                protect_content=True,
            ),
            *media,
        ],
    )
    await audit.record(
        session,
        actor=member_actor(member),
        event="content_viewed",
        now=now,
        case_code=case.code,
        detail={"messages": len(messages)},
    )
    return len(messages)
