"""One routing policy (bot.services.routing.pool_policy): who is told of a case and who may see and
take it are the same people, a case with no place reaches a duty pool, and a place given
later moves the open case there."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.app import App, create_app
from bot.cli import doctor, main
from bot.config import Settings
from bot.db.models import AuditEntry, Case, CaseRecusal, District, Member, Poster
from bot.domain import CaseStatus, Priority, Role
from bot.services.casework import codes
from bot.services.posters import poster_tokens
from bot.services.routing import pool_policy, queue
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.deadline_helpers import Place, make_case, make_member, make_place
from tests.queue_helpers import (
    card_for,
    case_by_id,
    join,
    next_to,
    seed_places,
    settings,  # noqa: F401  (fixture: no per-chat rate limit)
    student_case,
    take,
)


@pytest.fixture
async def quiet_app(settings: Settings, clock: FakeClock) -> AsyncIterator[App]:  # noqa: F811
    """The app without polling or workers: the policy is read straight from the database."""
    application = await create_app(settings, clock=clock, migrate=False)
    try:
        yield application
    finally:
        await application.close()


@dataclass
class World:
    kg: Place  # a KG region with districts `kg` (school) and `empty`
    empty_district: int  # a district of the same region that nobody serves
    other_district: int
    kz: Place
    psy: dict[str, int]
    supervisors: dict[str, int]


async def make_world(app: App) -> World:
    rt = app.rt
    async with app.sessionmaker() as session, session.begin():
        kg = await make_place(session, name="Chüy")
        kz = await make_place(session, name="Zhambyl", country="KZ", timezone="Asia/Almaty")
        empty = District(region_id=kg.region_id, name="Nobody's district")
        other = District(region_id=kg.region_id, name="Other district")
        session.add_all([empty, other])
        await session.flush()
        specs = {
            "district_a": (kg.region_id, kg.district_id, True),
            "district_b": (kg.region_id, kg.district_id, True),
            "district_off": (kg.region_id, kg.district_id, False),  # deactivated
            "region_wide": (kg.region_id, None, True),
            "other": (kg.region_id, other.id, True),
            "kz": (kz.region_id, kz.district_id, True),
        }
        psy: dict[str, int] = {}
        for number, (name, (region, district, active)) in enumerate(specs.items()):
            member = await make_member(
                session,
                rt,
                user_id=7100 + number,
                role=Role.PSYCHOLOGIST,
                region_id=region,
                district_id=district,
            )
            member.active = active
            psy[name] = member.id
        supervisors = {
            "kg": (
                await make_member(
                    session, rt, user_id=7200, role=Role.SUPERVISOR, region_id=kg.region_id
                )
            ).id,
            "kz": (
                await make_member(
                    session, rt, user_id=7201, role=Role.SUPERVISOR, region_id=kz.region_id
                )
            ).id,
        }
    return World(kg, empty.id, other.id, kz, psy, supervisors)


async def new_case(
    app: App,
    *,
    school: int | None = None,
    district: int | None = None,
    region: int | None = None,
    language: str = "ru",
) -> Case:
    async with app.sessionmaker() as session, session.begin():
        case = await make_case(session, app.rt, None, priority=Priority.NORMAL, language=language)
        if school is not None:
            found = await pool_policy.place_of_school(session, school)
            assert found is not None
            place = found
        else:
            place = pool_policy.Place(None, district, region)
        pool_policy.place_case(case, place)
        return case


async def recuse(app: App, case: Case, member_id: int) -> None:
    async with app.sessionmaker() as session, session.begin():
        session.add(CaseRecusal(case_id=case.id, member_id=member_id))


async def notified(app: App, case: Case) -> set[int]:
    async with app.sessionmaker() as session:
        stored = await session.get(Case, case.id)
        assert stored is not None
        return {m.id for m in await pool_policy.notified_members(session, stored)}


async def may_take(app: App, case: Case) -> set[int]:
    """Every member for whom the queue's SQL clause selects the case."""
    async with app.sessionmaker() as session:
        everyone = (await session.scalars(select(Member))).all()
        return {
            m.id
            for m in everyone
            if await session.scalar(
                select(Case.id).where(Case.id == case.id, await queue.pool_clause(session, m))
            )
            is not None
        }


async def agree(app: App, case: Case) -> set[int]:
    told, allowed = await notified(app, case), await may_take(app, case)
    assert told == allowed, (told, allowed)
    return told


async def test_notified_and_may_take_agree_everywhere(quiet_app: App) -> None:
    app = quiet_app
    w = await make_world(app)
    p = w.psy
    at_school = await new_case(app, school=w.kg.school_id)
    await recuse(app, at_school, p["district_b"])
    # A school's district: its psychologists and the region-wide one; not the recused one,
    # not the deactivated one, not a neighbour.
    assert await agree(app, at_school) == {p["district_a"], p["region_wide"]}
    at_district = await new_case(app, district=w.other_district, region=w.kg.region_id)
    assert await agree(app, at_district) == {p["other"], p["region_wide"]}
    region_only = await new_case(app, region=w.kg.region_id)
    await recuse(app, region_only, p["other"])
    assert await agree(app, region_only) == {p["district_a"], p["district_b"], p["region_wide"]}
    kg_all = {p["district_a"], p["district_b"], p["region_wide"], p["other"]}
    # Nowhere: the duty pool, the psychologists of the language's country...
    assert await agree(app, await new_case(app, language="ky")) == kg_all
    assert await agree(app, await new_case(app, language="kk")) == {p["kz"]}
    # ... and, when the language names no country, every active psychologist.
    assert await agree(app, await new_case(app, language="ru")) == kg_all | {p["kz"]}


async def test_empty_tiers_fall_through_the_same_way(quiet_app: App) -> None:
    app = quiet_app
    w = await make_world(app)
    p = w.psy
    async with app.sessionmaker() as session, session.begin():
        wide = await session.get(Member, p["region_wide"])
        assert wide is not None
        wide.active = False
    # A district nobody serves: the region's psychologists cover it.
    empty = await new_case(app, district=w.empty_district, region=w.kg.region_id)
    assert await agree(app, empty) == {p["district_a"], p["district_b"], p["other"]}
    # The only psychologist of a place steps aside: the country's duty pool (empty in KZ
    # beyond them), then everyone.
    kz = await new_case(app, school=w.kz.school_id, language="kk")
    assert await agree(app, kz) == {p["kz"]}
    await recuse(app, kz, p["kz"])
    assert await agree(app, kz) == {p["district_a"], p["district_b"], p["other"]}


async def test_transfer_candidates_are_the_pool_without_the_holder(quiet_app: App) -> None:
    app = quiet_app
    w = await make_world(app)
    p = w.psy
    case = await new_case(app, school=w.kg.school_id)
    async with app.sessionmaker() as session, session.begin():
        holder = await session.get(Member, p["district_a"])
        assert holder is not None
        await queue.claim(session, app.rt, holder, case.code)
        stored = await session.get(Case, case.id)
        assert stored is not None
        found = {m.id for m in await queue.transfer_candidates(session, holder, stored)}
    assert found == {p["district_b"], p["region_wide"]}


async def test_with_no_psychologist_anywhere_the_supervisors_get_the_card(quiet_app: App) -> None:
    app = quiet_app
    w = await make_world(app)
    async with app.sessionmaker() as session, session.begin():
        for member in (await session.scalars(select(Member))).all():
            if member.role == Role.PSYCHOLOGIST:
                member.active = False
    assert await may_take(app, await new_case(app, language="kk")) == set()
    assert await notified(app, await new_case(app, language="kk")) == {w.supervisors["kz"]}
    assert await notified(
        app, await new_case(app, district=w.kg.district_id, region=w.kg.region_id)
    ) == {w.supervisors["kg"]}
    assert await notified(app, await new_case(app)) == set(w.supervisors.values())


# --- through the bot -----------------------------------------------------------------------


async def test_a_case_with_no_place_reaches_the_duty_pool(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    kg_psy, kz_psy = TgUser(7301, "P", language_code="ru"), TgUser(7302, "Q", language_code="kk")
    await join(app, fake_api, kg_psy, Role.PSYCHOLOGIST, district=places.oktyabr)
    await join(app, fake_api, kz_psy, Role.PSYCHOLOGIST, district=places.kz_district)
    student = TgUser(7310, "S", language_code="ky")
    start = len(fake_api.calls)
    fake_api.text_message(student, "мени класста кордошот")  # writes before any question
    await next_to(fake_api, student.id, start)
    case = await student_case(app, student)
    assert case.pool_region_id is None
    await card_for(fake_api, kg_psy.id, case.code, start)  # Kyrgyz: Kyrgyzstan's duty pool
    assert not [c for c in fake_api.calls[start:] if c.chat_id == kz_psy.id and c.is_send]


async def _moved_event(app: App, code: str) -> list[str]:
    async with app.sessionmaker() as session:
        return list(
            (
                await session.scalars(
                    select(AuditEntry.event)
                    .where(
                        AuditEntry.case_code == code,
                        AuditEntry.event.in_(("case_moved", "case_place_changed")),
                    )
                    .order_by(AuditEntry.id)
                )
            ).all()
        )


async def test_picking_region_and_district_after_writing_moves_the_case(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    lenin, oktyabr = TgUser(7401, "L", language_code="ru"), TgUser(7402, "O", language_code="ru")
    await join(app, fake_api, lenin, Role.PSYCHOLOGIST, district=places.lenin)
    await join(app, fake_api, oktyabr, Role.PSYCHOLOGIST, district=places.oktyabr)
    student = TgUser(7410, "S", language_code="ru")
    start = len(fake_api.calls)
    fake_api.start(student)
    question = await fake_api.wait_for(
        lambda c: c.chat_id == student.id and "region:skip" in str(c.params), 10, start=start
    )
    assert question.message is not None
    start = len(fake_api.calls)
    fake_api.text_message(student, "мне плохо в школе")  # writes instead of answering
    await next_to(fake_api, student.id, start)
    case = await student_case(app, student)
    await card_for(fake_api, oktyabr.id, case.code, start)  # the duty pool has everyone
    start = len(fake_api.calls)
    fake_api.callback_query(student, f"region:{places.region}")
    await fake_api.wait_for(
        lambda c: c.chat_id == student.id and f"district:{places.lenin}" in str(c.params),
        10,
        start=start,
    )
    fake_api.callback_query(student, f"district:{places.lenin}")
    headline = app.rt.tr("ru", "A case moved to your pool")
    await next_to(
        fake_api,
        student.id,
        start,
        app.rt.tr("ru", "Thank you. Just write whenever you are ready."),
    )
    moved = await case_by_id(app, case.id)
    assert (moved.pool_district_id, moved.pool_region_id) == (places.lenin, places.region)
    assert (moved.district_id, moved.school_id) == (places.lenin, None)
    after_district = await next_to(fake_api, lenin.id, start, headline)
    assert codes.display(case.code) in (after_district.text or "")
    assert await _moved_event(app, case.code) == ["case_moved", "case_moved"]
    async with app.sessionmaker() as session:
        member = await session.scalar(
            select(Member).where(Member.pseudonym == app.rt.vault.pseudonyms.member_id(oktyabr.id))
        )
        assert member is not None
        assert (await queue.list_queue(session, member))[0] == []  # no longer theirs
    # Later messages join the moved case.
    start = len(fake_api.calls)
    fake_api.text_message(student, "ещё")
    await next_to(fake_api, student.id, start)
    assert (await student_case(app, student)).id == case.id


async def _poster_token(app: App, school_id: int) -> str:
    async with app.sessionmaker() as session, session.begin():
        poster = Poster(
            school_id=school_id, classroom="5A", languages="ky,ru", created_at=app.rt.now()
        )
        session.add(poster)
        await session.flush()
        return poster_tokens.make_poster_token(app.rt.vault.pseudonyms.poster, poster.id)


async def test_a_poster_scanned_after_writing_moves_the_case(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    lenin, kz = TgUser(7501, "L", language_code="ru"), TgUser(7502, "K", language_code="ru")
    await join(app, fake_api, lenin, Role.PSYCHOLOGIST, district=places.lenin)
    await join(app, fake_api, kz, Role.PSYCHOLOGIST, district=places.kz_district)
    student = TgUser(7510, "S", language_code="ru")
    start = len(fake_api.calls)
    fake_api.text_message(student, "помогите")
    await next_to(fake_api, student.id, start)
    case = await student_case(app, student)
    # A case of no known place is everyone's (both countries): their cards out first, so
    # what comes after the scan is the scan's doing.
    for psychologist in (lenin, kz):
        await card_for(fake_api, psychologist.id, case.code)
    token = await _poster_token(app, places.school)
    start = len(fake_api.calls)
    fake_api.start(student, token)
    card = await next_to(fake_api, lenin.id, start, app.rt.tr("ru", "A case moved to your pool"))
    assert codes.display(case.code) in (card.text or "")
    moved = await case_by_id(app, case.id)
    assert (moved.school_id, moved.pool_district_id) == (places.school, places.lenin)
    assert moved.status == CaseStatus.OPEN
    assert await _moved_event(app, case.code) == ["case_moved"]
    await next_to(fake_api, student.id, start, "111")  # the greeting, as for any scan
    assert not [c for c in fake_api.calls[start:] if c.chat_id == kz.id and c.is_send]


async def test_a_taken_case_keeps_its_psychologist_and_takes_the_place(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    holder, other = TgUser(7601, "H", language_code="ru"), TgUser(7602, "O", language_code="ru")
    await join(app, fake_api, holder, Role.PSYCHOLOGIST, district=places.oktyabr)
    await join(app, fake_api, other, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(7610, "S", language_code="ru")
    start = len(fake_api.calls)
    fake_api.text_message(student, "помогите")
    await next_to(fake_api, student.id, start)
    case = await student_case(app, student)
    await take(app, fake_api, holder, case.code)
    start = len(fake_api.calls)
    fake_api.start(student, await _poster_token(app, places.school))
    await next_to(fake_api, student.id, start, "111")
    kept = await case_by_id(app, case.id)
    assert kept.status == CaseStatus.CLAIMED
    assert (kept.school_id, kept.pool_district_id) == (places.school, places.lenin)
    async with app.sessionmaker() as session:
        assert kept.psychologist_id == (
            await session.scalar(
                select(Member.id).where(
                    Member.pseudonym == app.rt.vault.pseudonyms.member_id(holder.id)
                )
            )
        )
    assert await _moved_event(app, case.code) == ["case_place_changed"]
    moved_headline = app.rt.tr("ru", "A case moved to your pool")
    assert not [c for c in fake_api.calls[start:] if moved_headline in (c.text or "")]


# --- coverage: start-up and `trustline doctor` ----------------------------------------------


async def test_doctor_and_start_up_warn_about_an_uncovered_district(
    quiet_app: App,
    settings: Settings,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = quiet_app
    w = await make_world(app)
    async with app.sessionmaker() as session, session.begin():
        wide = await session.get(Member, w.psy["region_wide"])
        assert wide is not None
        wide.active = False  # now the KG region's districts stand on their own
    said: list[str] = []
    assert await doctor.diagnose(settings, said.append) == 1
    assert said[0] == "database: reachable, migrations current"
    uncovered = [line for line in said if line.startswith("coverage:")]
    assert len(uncovered) == 1 and "«Nobody's district»" in uncovered[0]
    with caplog.at_level(logging.WARNING, logger="bot.services.routing.pool_policy"):
        async with app.sessionmaker() as session:
            await pool_policy.warn_uncovered(session)
    assert [r.getMessage() for r in caplog.records] == [
        f"place_uncovered level=district id={w.empty_district}"
    ]
    # A psychologist joins there: nothing left to say, exit code 0.
    async with app.sessionmaker() as session, session.begin():
        await make_member(
            session,
            app.rt,
            user_id=7199,
            role=Role.PSYCHOLOGIST,
            region_id=w.kg.region_id,
            district_id=w.empty_district,
        )
    said.clear()
    assert await doctor.diagnose(settings, said.append) == 0
    assert said[-1] == "coverage: every region and district has a psychologist"


async def test_doctor_names_a_region_without_psychologists_and_exits_1(
    quiet_app: App,
    settings: Settings,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with quiet_app.sessionmaker() as session, session.begin():
        await make_place(session, name="Talas")
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", settings.database_url)
    assert await asyncio.to_thread(main, ["doctor"]) == 1
    out = capsys.readouterr().out
    assert "region «Talas» has no active psychologist" in out
    assert "district «Talas district» (Talas)" in out


async def test_doctor_says_when_migrations_are_missing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    empty = Settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}", _env_file=None
    )
    said: list[str] = []
    assert await doctor.diagnose(empty, said.append) == 1
    assert said == [
        "database: not usable (OperationalError); run `trustline db upgrade` or "
        "check TRUSTLINE_DATABASE_URL"
    ]
