"""Builders for deadline and escalation tests: a place, members, cases, and what the outbox
holds for someone. Members are made directly (pseudonym, own key, sealed chat id) so these
tests do not depend on the invite flow."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.app import App
from bot.db.models import (
    AuditEntry,
    Case,
    CaseMessage,
    District,
    Member,
    OutboxMessage,
    Region,
    School,
)
from bot.delivery import outbox
from bot.domain import PRIORITY_RANK, Author, CaseStatus, Category, ContentKind, Priority, Role
from bot.services.casework import codes, deadlines
from bot.services.routing import escalation
from bot.services.runtime import Runtime
from bot.services.security import audit


@dataclass(frozen=True)
class Place:
    region_id: int
    district_id: int
    school_id: int


async def make_place(
    session: AsyncSession,
    *,
    name: str = "Chüy",
    country: str = "KG",
    timezone: str = "Asia/Bishkek",
    hours: tuple[int, int] = (0, 0),
) -> Place:
    """A region with one district and school. Hours (0, 0) mean "around the clock", so the
    acknowledgement does not depend on when the test runs."""
    region = Region(
        country=country,
        name=name,
        timezone=timezone,
        work_start_hour=hours[0],
        work_end_hour=hours[1],
    )
    session.add(region)
    await session.flush()
    district = District(region_id=region.id, name=f"{name} district")
    session.add(district)
    await session.flush()
    school = School(district_id=district.id, name=f"{name} school 1", languages="ky,ru")
    session.add(school)
    await session.flush()
    return Place(region.id, district.id, school.id)


async def make_member(
    session: AsyncSession,
    rt: Runtime,
    *,
    user_id: int,
    role: Role,
    region_id: int | None = None,
    district_id: int | None = None,
    language: str = "ru",
) -> Member:
    member = Member(
        pseudonym=rt.vault.pseudonyms.member_id(user_id),
        role=role,
        region_id=region_id,
        district_id=district_id,
        language=language,
        active=True,
        created_at=rt.now(),
    )
    rt.vault.new_member_key(member)
    member.chat_id_enc = rt.vault.seal_for_member(member, "member", "chat_id", str(user_id))
    session.add(member)
    await session.flush()
    return member


async def make_case(
    session: AsyncSession,
    rt: Runtime,
    place: Place | None,
    *,
    priority: Priority,
    chat_id: int = 777000,
    language: str = "ru",
    text: str = "",
    category: Category = Category.OTHER,
) -> Case:
    """An open case as the student flow leaves it, with one sealed message if `text`."""
    now = rt.now()
    case = Case(
        code=codes.new_code(),
        school_id=place.school_id if place else None,
        district_id=place.district_id if place else None,
        region_id=place.region_id if place else None,
        pool_district_id=place.district_id if place else None,
        pool_region_id=place.region_id if place else None,
        language=language,
        status=CaseStatus.OPEN,
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        category=category,
        created_at=now,
        muted=False,
        unreachable=False,
        escalation_level=0,
        escalations=0,
        deadline_breaches=0,
        message_count=0,
        awaiting_since=now,
        last_student_at=now,
    )
    rt.vault.new_case_key(case)
    case.chat_id_enc = rt.vault.seal_for_case(case, "case", "chat_id", str(chat_id))
    session.add(case)
    await session.flush()
    await audit.record(session, actor="student", event="case_opened", now=now, case_code=case.code)
    if text:
        message = CaseMessage(
            id=uuid.uuid4(),
            case_id=case.id,
            author=Author.STUDENT,
            kind=ContentKind.TEXT,
            created_at=now,
        )
        message.body_enc = rt.vault.seal_for_case(case, f"msg/{message.id}", "body", text)
        session.add(message)
        case.message_count = 1
    deadlines.schedule(case, rt.settings, now)
    return case


def take(case: Case, member: Member, rt: Runtime) -> None:
    """What claiming does to the deadline fields (set directly, as the queue would)."""
    now = rt.now()
    case.status = CaseStatus.CLAIMED
    case.psychologist_id = member.id
    case.claimed_at = now
    deadlines.schedule(case, rt.settings, now)


def answer(case: Case, rt: Runtime) -> None:
    """What a psychologist's answer does to the deadline fields."""
    now = rt.now()
    case.awaiting_since = None
    case.first_answer_at = case.first_answer_at or now
    deadlines.schedule(case, rt.settings, now)


async def run_due(app: App, *, limit: int = escalation.BATCH) -> list[escalation.Step]:
    """One cycle of the deadline worker, committed."""
    async with app.sessionmaker() as session, session.begin():
        return await escalation.run_due(session, app.rt, limit=limit)


async def sent_to(app: App, member_id: int) -> list[dict[str, Any]]:
    """The Bot API calls queued for a member, oldest first, opened with their key."""
    async with app.sessionmaker() as session:
        member = await session.get(Member, member_id)
        assert member is not None
        rows = (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.member_id == member_id)
                .order_by(OutboxMessage.created_at)
            )
        ).all()
        result = []
        for row in rows:
            payload = outbox.open_payload(app.rt.vault, row, member)
            payload["relay_case_id"] = row.relay_case_id
            result.append(payload)
        return result


async def audit_events(app: App, case_code: str) -> list[tuple[str, dict[str, Any]]]:
    async with app.sessionmaker() as session:
        rows = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.case_code == case_code).order_by(AuditEntry.id)
            )
        ).all()
        return [(row.event, json.loads(row.detail)) for row in rows]


async def reload(app: App, case_id: int) -> Case:
    async with app.sessionmaker() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        return case
