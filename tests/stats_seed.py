"""A seeded organisation with cases whose statistics are worked out by hand in the tests.

Region "Жамбыл облысы" (KZ, Asia/Almaty, UTC+5) has two districts: Тараз with schools
S1 and S2, Байзақ with S3 (posters, no cases, no scans). November 2026 in local time is
the period under test; cases just outside it (by local time) must not count, nor must the
case of the Kyrgyz region.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, District, Member, Poster, PosterScan, Region, School
from bot.domain import PRIORITY_RANK, CaseStatus, Category, Outcome, Priority, Role
from bot.services.posters.posters import iso_week
from bot.services.runtime import Runtime

ALMATY = timedelta(hours=5)


def local(month: int, day: int, hour: int = 12, minute: int = 0, year: int = 2026) -> datetime:
    """A wall-clock time in Almaty (UTC+5), as the UTC instant the database stores."""
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - ALMATY


async def add_member(
    session: AsyncSession,
    rt: Runtime,
    user_id: int,
    role: Role,
    *,
    region_id: int | None = None,
    district_id: int | None = None,
    school_id: int | None = None,
    language: str = "ru",
    created_at: datetime | None = None,
) -> Member:
    """A member row as onboarding will create it (as organisation/members.py does)."""
    member = Member(
        pseudonym=rt.vault.pseudonyms.member_id(user_id),
        role=role.value,
        region_id=region_id,
        district_id=district_id,
        school_id=school_id,
        language=language,
        active=True,
        created_at=created_at or rt.now(),
    )
    rt.vault.new_member_key(member)
    member.chat_id_enc = rt.vault.seal_for_member(member, "member", "chat_id", str(user_id))
    session.add(member)
    await session.flush()
    return member


@dataclass
class Seed:
    region: Region
    other_region: Region
    taraz: District
    baizak: District
    s1: School
    s2: School
    s3: School
    cases: dict[str, Case] = field(default_factory=dict)


def _case(
    name: str,
    region: Region,
    district: District | None,
    school: School | None,
    *,
    category: Category,
    priority: Priority,
    created: datetime,
    answer_after: timedelta | None = None,
    closed: Outcome | None = None,
    breaches: int = 0,
    escalations: int = 0,
    psychologist_id: int | None = None,
) -> Case:
    status = (
        CaseStatus.CLOSED
        if closed
        else (CaseStatus.CLAIMED if psychologist_id else CaseStatus.OPEN)
    )
    return Case(
        code=uuid.uuid4().hex[:8].upper(),
        school_id=school.id if school else None,
        district_id=district.id if district else None,
        region_id=region.id,
        pool_district_id=district.id if district else None,
        pool_region_id=region.id,
        language="ru",
        status=status,
        priority=priority,
        priority_rank=PRIORITY_RANK[priority],
        category=category,
        psychologist_id=psychologist_id,
        outcome=closed,
        muted=False,
        unreachable=False,
        created_at=created,
        first_answer_at=created + answer_after if answer_after else None,
        closed_at=created + timedelta(days=2) if closed else None,
        escalation_level=0,
        escalations=escalations,
        deadline_breaches=breaches,
        message_count=1,
    )


async def seed(session: AsyncSession, psychologist_id: int | None = None) -> Seed:
    region = Region(country="KZ", name="Жамбыл облысы", timezone="Asia/Almaty")
    other = Region(country="KG", name="Чүй облусу", timezone="Asia/Bishkek")
    session.add_all([region, other])
    await session.flush()
    taraz = District(region_id=region.id, name="Тараз қаласы")
    baizak = District(region_id=region.id, name="Байзақ ауданы")
    sokuluk = District(region_id=other.id, name="Сокулук району")
    session.add_all([taraz, baizak, sokuluk])
    await session.flush()
    s1 = School(district_id=taraz.id, name="№5 мектеп-гимназия", languages="kk,ru")
    s2 = School(district_id=taraz.id, name="Абай атындағы №12 мектеп", languages="kk")
    s3 = School(district_id=baizak.id, name="Сарыкемер орта мектебі", languages="kk,ru")
    s_kg = School(district_id=sokuluk.id, name="Шопоков орто мектеби", languages="ky,ru")
    session.add_all([s1, s2, s3, s_kg])
    await session.flush()
    result = Seed(region, other, taraz, baizak, s1, s2, s3)
    minutes = lambda m: timedelta(minutes=m)  # noqa: E731
    c = result.cases
    c["c1"] = _case(
        "c1",
        region,
        taraz,
        s1,
        category=Category.BULLYING,
        priority=Priority.NORMAL,
        created=local(11, 3, 10),
        answer_after=minutes(30),
        closed=Outcome.RESOLVED,
    )
    c["c2"] = _case(
        "c2",
        region,
        taraz,
        s1,
        category=Category.BULLYING,
        priority=Priority.HIGH,
        created=local(11, 5),
        answer_after=minutes(120),
        breaches=1,
        psychologist_id=psychologist_id,
    )
    c["c3"] = _case(
        "c3",
        region,
        taraz,
        s1,
        category=Category.VIOLENCE,
        priority=Priority.URGENT,
        created=local(11, 10),
        answer_after=minutes(10),
        closed=Outcome.REFERRED_POLICE,
        escalations=1,
    )
    c["c4"] = _case(
        "c4",
        region,
        taraz,
        s1,
        category=Category.DISTRESS,
        priority=Priority.NORMAL,
        created=local(11, 20),
        breaches=2,
        escalations=1,
    )
    c["c5"] = _case(
        "c5",
        region,
        taraz,
        s2,
        category=Category.SUICIDE_SELF_HARM,
        priority=Priority.URGENT,
        created=local(11, 2),
        answer_after=minutes(5),
        closed=Outcome.REFERRED_MEDICAL,
    )
    c["c6"] = _case(
        "c6",
        region,
        taraz,
        s2,
        category=Category.OTHER,
        priority=Priority.NORMAL,
        created=local(11, 28),
        closed=Outcome.NOT_A_CASE,
    )
    c["c7"] = _case(
        "c7",
        region,
        taraz,
        None,
        category=Category.HOME_ABUSE,
        priority=Priority.HIGH,
        created=local(11, 15),
        answer_after=minutes(60),
        psychologist_id=psychologist_id,
    )
    c["c8"] = _case(
        "c8",
        region,
        None,
        None,
        category=Category.BULLYING,
        priority=Priority.NORMAL,
        created=local(11, 16),
    )
    # Outside November by local time, though c10 is still 30 November in UTC.
    c["c9"] = _case(
        "c9",
        region,
        taraz,
        s1,
        category=Category.VIOLENCE,
        priority=Priority.URGENT,
        created=local(10, 31, 23, 59),
        answer_after=minutes(1),
        breaches=5,
    )
    c["c10"] = _case(
        "c10",
        region,
        taraz,
        s1,
        category=Category.VIOLENCE,
        priority=Priority.URGENT,
        created=local(12, 1, 0, 30),
        breaches=5,
    )
    c["c11"] = _case(
        "c11",
        other,
        sokuluk,
        s_kg,
        category=Category.BULLYING,
        priority=Priority.NORMAL,
        created=local(11, 12),
        breaches=7,
    )
    session.add_all(c.values())

    posted = local(9, 1)
    p1a = Poster(school_id=s1.id, classroom="5А", languages="kk", created_at=posted)
    p1b = Poster(school_id=s1.id, classroom="6Б", languages="kk", created_at=posted)
    p2 = Poster(school_id=s2.id, classroom="7В", languages="kk", created_at=posted)
    p3 = Poster(school_id=s3.id, classroom="8А", languages="kk", created_at=posted)
    p3_old = Poster(
        school_id=s3.id, classroom="9А", languages="kk", created_at=posted, retired_at=local(10, 1)
    )
    session.add_all([p1a, p1b, p2, p3, p3_old])
    await session.flush()
    session.add_all(
        [
            PosterScan(poster_id=p1a.id, iso_week=iso_week(local(11, 2)), count=4),  # W45
            PosterScan(poster_id=p1a.id, iso_week=iso_week(local(11, 18)), count=3),  # W47
            PosterScan(poster_id=p1b.id, iso_week=iso_week(local(10, 26)), count=10),  # W44: Oct
            PosterScan(poster_id=p2.id, iso_week=iso_week(local(11, 11)), count=2),  # W46
            PosterScan(poster_id=p3_old.id, iso_week=iso_week(local(9, 14)), count=6),
        ]
    )
    await session.flush()
    return result
