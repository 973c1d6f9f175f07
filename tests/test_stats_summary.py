"""The monthly summary: last month's facts to each region's supervisors through the outbox,
once per region and month even when several instances try at the same moment."""

from __future__ import annotations

import asyncio
from datetime import datetime

from sqlalchemy import func, select

from bot.app import App
from bot.db.models import AuditEntry, Case, Member, MonthlySummary, OutboxMessage
from bot.delivery import outbox
from bot.domain import Role
from bot.services.reporting import monthly_summary
from bot.workers import background_tasks
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.stats_seed import Seed, add_member, local, seed

REGIONAL = TgUser(8201, "Жанар", language_code="kk")
DISTRICT = TgUser(8202, "Ерлан", language_code="ru")
LATECOMER = TgUser(8203, "Асель", language_code="ru")


def pin(clock: FakeClock, moment: datetime) -> None:
    clock.offset += moment - clock()


async def _setup(app: App, clock: FakeClock) -> Seed:
    # The app's own monthly worker would race the test's passes once the clock is moved to
    # the 1st (it looks at start and then every few minutes): these tests are the worker.
    worker = [t for t in app.background if t.get_name() == "monthly_summary.run_forever"]
    assert len(worker) == 1
    worker[0].cancel()
    await asyncio.wait(worker)
    pin(clock, local(10, 20))
    async with app.sessionmaker() as session, session.begin():
        s = await seed(session)
        await add_member(
            session,
            app.rt,
            REGIONAL.id,
            Role.SUPERVISOR,
            region_id=s.region.id,
            language="kk",
            created_at=local(10, 1),
        )
        await add_member(
            session,
            app.rt,
            DISTRICT.id,
            Role.SUPERVISOR,
            region_id=s.region.id,
            district_id=s.baizak.id,
            language="ru",
            created_at=local(10, 1),
        )
        await add_member(
            session,
            app.rt,
            LATECOMER.id,
            Role.SUPERVISOR,
            region_id=s.region.id,
            language="ru",
            created_at=local(12, 1, 8),
        )
    return s


async def _queued_texts(app: App) -> dict[int, list[str]]:
    """Outbox messages per member, opened as the sender would open them."""
    async with app.sessionmaker() as session:
        rows = (await session.scalars(select(OutboxMessage))).all()
        texts: dict[int, list[str]] = {}
        for row in rows:
            member = await session.get(Member, row.member_id)
            assert member is not None
            payload = outbox.open_payload(app.rt.vault, row, member)
            texts.setdefault(member.id, []).append(payload["params"]["text"])
        return texts


async def _member_id(app: App, user: TgUser) -> int:
    async with app.sessionmaker() as session:
        found = await session.scalar(
            select(Member.id).where(Member.pseudonym == app.rt.vault.pseudonyms.member_id(user.id))
        )
        assert found is not None
        return int(found)


async def test_summary_of_november_goes_out_on_the_first_morning(
    app: App, clock: FakeClock
) -> None:
    await _setup(app, clock)
    app.sender.stop()  # keep the rows in the outbox to read them here
    pin(clock, local(12, 1, 8, 30))  # before 09:00 in Almaty: not yet
    assert await monthly_summary.send_due(app.sessionmaker, app.rt) == 0
    pin(clock, local(12, 1, 9, 5))
    assert await monthly_summary.send_due(app.sessionmaker, app.rt) == 2
    texts = await _queued_texts(app)
    regional = texts[await _member_id(app, REGIONAL)]
    assert len(regional) == 1
    text = regional[0]
    assert "2026 жылғы қараша" in text and "Жамбыл облысы" in text
    assert "Өтініштер: 8; әлі ашық: 4; әлі жауап берілмегені: 2." in text
    assert (
        "Өтініш түскен мектептер (3 ішінен 2): №5 мектеп-гимназия (4), "
        "Абай атындағы №12 мектеп (2)" in text
    )
    assert "Жауап беру мерзімі бұзылған мектептер (1): №5 мектеп-гимназия (3)" in text
    assert "Плакаттары бірде-бір рет сканерленбеген мектептер (1): Сарыкемер орта мектебі" in text
    # The district supervisor hears about Байзақ only; the latecomer joined in December.
    district = texts[await _member_id(app, DISTRICT)]
    assert len(district) == 1 and "Байзақ ауданы" in district[0]
    assert "Тараз" not in district[0] and "№5" not in district[0]
    assert await _member_id(app, LATECOMER) not in texts
    async with app.sessionmaker() as session:
        codes = list(await session.scalars(select(Case.code)))
    assert codes and not any(code in text for code in codes)
    async with app.sessionmaker() as session:
        audit_rows = (
            await session.scalars(
                select(AuditEntry).where(AuditEntry.event == "monthly_summary_sent")
            )
        ).all()
        assert len(audit_rows) == 1 and '"month": "2026-11"' in audit_rows[0].detail
    # Later the same month: nothing more.
    clock.advance(days=3)
    assert await monthly_summary.send_due(app.sessionmaker, app.rt) == 0


async def test_several_instances_send_it_once(app: App, clock: FakeClock) -> None:
    await _setup(app, clock)
    app.sender.stop()
    pin(clock, local(12, 2, 10))
    results = await asyncio.gather(
        *(monthly_summary.send_due(app.sessionmaker, app.rt) for _ in range(4))
    )
    assert sorted(results) == [0, 0, 0, 2]
    async with app.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(MonthlySummary)) == 1
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 2


async def test_the_worker_in_trustline_run_delivers_it(
    app: App, clock: FakeClock, fake_api: FakeBotAPI
) -> None:
    names = []
    for coro in background_tasks(app):
        names.append(coro.__qualname__)
        coro.close()
    assert "run_forever" in names
    await _setup(app, clock)
    pin(clock, local(12, 1, 11))
    worker = asyncio.create_task(
        monthly_summary.run_forever(app.sessionmaker, app.rt, app.sender.poke, every=0.05)
    )
    try:
        call = await fake_api.wait_for_send(REGIONAL.id, "Айлық қорытынды", timeout=10)
        await fake_api.wait_for_send(DISTRICT.id, "Итоги месяца", timeout=10)
        await asyncio.sleep(0.3)  # several more passes of the worker
    finally:
        worker.cancel()
        await asyncio.gather(worker, return_exceptions=True)
    assert "Сарыкемер орта мектебі" in (call.text or "")
    assert len([c for c in fake_api.calls_to(REGIONAL.id) if c.is_send]) == 1


async def test_new_installation_does_not_report_months_it_never_saw(
    app: App, clock: FakeClock
) -> None:
    s = await _setup(app, clock)
    app.sender.stop()
    pin(clock, local(12, 1, 12))
    async with app.sessionmaker() as session, session.begin():
        # Only a supervisor who joined today in another region: nothing is due there.
        await add_member(session, app.rt, 8299, Role.SUPERVISOR, region_id=s.other_region.id)
    await monthly_summary.send_due(app.sessionmaker, app.rt)
    async with app.sessionmaker() as session:
        scopes = set(await session.scalars(select(MonthlySummary.scope)))
    assert scopes == {f"region:{s.region.id}"}
