"""Saved replies: short answers a member keeps per language, and uses as ordinary answers.

A template is staff-written text, sealed under its author's own key (never a student's
words, so never under a case key). A psychologist sees their own templates in a language,
and beside them those a supervisor of their district shared. Using one is exactly a typed
answer: `conversation.answer_student` (stored under the case key, audited, sent through
the outbox).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, Member, ReplyTemplate
from bot.domain import ContentKind, Language, Role
from bot.services.casework import conversation
from bot.services.casework.cases import IncomingContent
from bot.services.errors import InvalidInput, NotAllowed, NotFound
from bot.services.runtime import Runtime
from bot.services.security import audit

TELEGRAM_LIMIT = 4096  # UTF-16 code units in one Telegram message
PER_LANGUAGE = 30  # a member's own templates in one language: a screen of buttons


class TemplateNotFound(NotFound):
    """No template with that number that this member may use."""


class TemplateTooLong(InvalidInput):
    """Longer than one Telegram message (4096 UTF-16 units), or empty."""


class TooManyTemplates(InvalidInput):
    """The member already keeps PER_LANGUAGE templates in this language."""


class NotSharable(NotAllowed):
    """Only a supervisor of a district shares templates with it."""


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def check_text(text: str | None) -> str:
    body = (text or "").strip()
    if not body or utf16_units(body) > TELEGRAM_LIMIT:
        raise TemplateTooLong()
    return body


def _row(template: ReplyTemplate) -> str:
    return f"tpl/{template.id}"


@dataclass(frozen=True, slots=True)
class Saved:
    id: int
    text: str
    own: bool


async def add(
    session: AsyncSession, rt: Runtime, member: Member, language: str, text: str | None
) -> ReplyTemplate:
    body = check_text(text)
    if member.role not in (Role.PSYCHOLOGIST, Role.SUPERVISOR):
        raise NotAllowed()
    lang = Language(language).value
    count = len(
        (
            await session.scalars(
                select(ReplyTemplate.id).where(
                    ReplyTemplate.member_id == member.id, ReplyTemplate.language == lang
                )
            )
        ).all()
    )
    if count >= PER_LANGUAGE:
        raise TooManyTemplates()
    now = rt.now()
    template = ReplyTemplate(
        member_id=member.id,
        language=lang,
        shared=False,
        body_enc=b"",
        created_at=now,
    )
    session.add(template)
    await session.flush()  # its id is part of what the ciphertext is bound to
    template.body_enc = rt.vault.seal_for_member(member, _row(template), "body", body)
    await audit.record(
        session,
        actor=f"member:{member.id}",
        event="template_added",
        now=now,
        detail={"id": template.id},
    )
    return template


async def _visible(
    session: AsyncSession, member: Member, language: str | None = None
) -> list[tuple[ReplyTemplate, Member]]:
    """The member's own templates and those shared with their district, with their authors."""
    sharers = select(Member.id).where(
        Member.role == Role.SUPERVISOR,
        Member.active.is_(True),
        Member.district_id == member.district_id,
    )
    whose = ReplyTemplate.member_id == member.id
    if member.district_id is not None:
        whose = or_(whose, ReplyTemplate.shared.is_(True) & ReplyTemplate.member_id.in_(sharers))
    query = (
        select(ReplyTemplate, Member)
        .join(Member, Member.id == ReplyTemplate.member_id)
        .where(whose)
    )
    if language is not None:
        query = query.where(ReplyTemplate.language == language)
    rows = await session.execute(query.order_by(ReplyTemplate.id))
    return [(t, m) for t, m in rows.all()]


async def listing(
    session: AsyncSession, rt: Runtime, member: Member, language: str
) -> list[Saved]:
    """Own templates in `language`, then the district's shared ones."""
    found = [
        Saved(
            t.id,
            rt.vault.open_for_member(author, _row(t), "body", t.body_enc).decode(),
            t.member_id == member.id,
        )
        for t, author in await _visible(session, member, language)
    ]
    return sorted(found, key=lambda s: (not s.own, s.id))


async def _find(
    session: AsyncSession, member: Member, template_id: int
) -> tuple[ReplyTemplate, Member]:
    for template, author in await _visible(session, member):
        if template.id == template_id:
            return template, author
    raise TemplateNotFound()


async def delete(session: AsyncSession, rt: Runtime, member: Member, template_id: int) -> None:
    """Delete one of the member's own templates (a shared one is its author's to delete)."""
    template = await session.get(ReplyTemplate, template_id)
    if template is None or template.member_id != member.id:
        raise TemplateNotFound()
    await session.delete(template)
    await audit.record(
        session,
        actor=f"member:{member.id}",
        event="template_deleted",
        now=rt.now(),
        detail={"id": template_id},
    )


async def share(session: AsyncSession, rt: Runtime, member: Member) -> int:
    """A district's supervisor shares all their templates with its psychologists."""
    if member.role != Role.SUPERVISOR or member.district_id is None:
        raise NotSharable()
    result = await session.execute(
        update(ReplyTemplate).where(ReplyTemplate.member_id == member.id).values(shared=True)
    )
    await audit.record(
        session, actor=f"member:{member.id}", event="templates_shared", now=rt.now()
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def use(
    session: AsyncSession, rt: Runtime, member: Member, case: Case, template_id: int
) -> None:
    """Send a template to the student of a case the member holds: an ordinary answer."""
    template, author = await _find(session, member, template_id)
    text = rt.vault.open_for_member(author, _row(template), "body", template.body_enc).decode()
    content = IncomingContent(ContentKind.TEXT, text, None, None)
    await conversation.answer_student(session, rt, member, case, content)
