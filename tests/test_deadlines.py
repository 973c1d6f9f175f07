"""Working hours per region (its own time zone) and what a student is told at night."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.app import App
from bot.db.models import Region
from bot.services.casework import cases
from bot.services.casework.hours import next_opening, within_hours
from fake_telegram import FakeBotAPI, TgUser
from tests.conftest import FakeClock
from tests.deadline_helpers import make_place

TODAY = (
    "Psychologists are not at work right now. Your message is saved; expect an answer "
    "after {time} today. If you need to talk to someone now, call 111: it answers around the "
    "clock and is free."
)
TOMORROW = TODAY.replace("{time} today", "{time} tomorrow")
BISHKEK = ZoneInfo("Asia/Bishkek")


def region(timezone: str = "Asia/Bishkek", start: int = 9, end: int = 18) -> Region:
    return Region(
        id=1,
        country="KG",
        name="Chüy",
        timezone=timezone,
        work_start_hour=start,
        work_end_hour=end,
    )


def local(hour: int, minute: int = 0, zone: ZoneInfo = BISHKEK) -> datetime:
    return datetime(2026, 11, 24, hour, minute, tzinfo=zone).astimezone(UTC)


@pytest.mark.parametrize(
    ("hour", "minute", "expected"),
    [
        (8, 59, ("09:00", True)),
        (9, 0, None),
        (17, 59, None),
        (18, 0, ("09:00", False)),
        (23, 30, ("09:00", False)),
        (0, 15, ("09:00", True)),
    ],
)
def test_next_opening_in_the_regions_own_time(
    hour: int, minute: int, expected: tuple[str, bool] | None
) -> None:
    opening = next_opening(region(), local(hour, minute))
    if expected is None:
        assert opening is None
        return
    assert opening is not None
    assert (opening.at.strftime("%H:%M"), opening.today) == expected
    assert opening.at.utcoffset() == timedelta(hours=6)


def test_the_same_instant_differs_between_time_zones() -> None:
    # 03:30 UTC is 08:30 in Almaty (UTC+5) but 09:30 in Bishkek (UTC+6).
    instant = datetime(2026, 11, 24, 3, 30, tzinfo=UTC)
    assert next_opening(region("Asia/Bishkek"), instant) is None
    almaty = next_opening(region("Asia/Almaty"), instant)
    assert almaty is not None and almaty.today
    assert almaty.at == datetime(2026, 11, 24, 9, 0, tzinfo=ZoneInfo("Asia/Almaty"))


def test_hours_that_wrap_past_midnight_and_around_the_clock() -> None:
    assert within_hours(20, 8, 23) and within_hours(20, 8, 3) and not within_hours(20, 8, 12)
    night_shift = next_opening(region(start=20, end=8), local(12))
    assert night_shift is not None and night_shift.today
    assert night_shift.at.hour == 20
    assert next_opening(region(start=0, end=0), local(3)) is None  # around the clock


def test_an_unknown_time_zone_promises_nothing() -> None:
    assert next_opening(region("Mars/Olympus"), local(23)) is None


def advance_to_local(clock: FakeClock, hour: int, zone: ZoneInfo) -> None:
    """Move the clock forward to the next `hour`:10 in `zone`."""
    now = clock().astimezone(zone)
    target = now.replace(hour=hour, minute=10, second=0, microsecond=0)
    if target <= now:
        target += timedelta(days=1)
    clock.advance(seconds=(target - now).total_seconds())


async def test_a_student_writing_at_night_learns_when_to_expect_an_answer(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    async with app.sessionmaker() as session, session.begin():
        place = await make_place(session, timezone="Asia/Bishkek", hours=(9, 18))
    runs = [(6101, "ky", 23, TOMORROW), (6102, "kk", 6, TODAY), (6103, "ru", 12, None)]
    for user_id, lang, hour, note in runs:
        advance_to_local(clock, hour, BISHKEK)
        async with app.sessionmaker() as session, session.begin():
            student = await cases.get_or_create_student(session, app.rt, user_id)
            student.language = lang
            student.region_id, student.district_id = place.region_id, place.district_id
        user = TgUser(user_id, "X", language_code=lang)
        start = len(fake_api.calls)
        fake_api.text_message(user, "салам")
        ack = await fake_api.wait_for_send(user_id, start=start)
        text = ack.text or ""
        thanks = app.rt.tr(
            lang,
            "Thank you for writing. Your message is saved safely. A psychologist will "
            "read it and answer you right here. You can keep writing.",
        )
        assert text.startswith(thanks)
        if note is None:
            assert text == thanks
            continue
        expected = app.rt.tr(lang, note, time="09:00")
        assert expected != note.format(time="09:00")  # translated
        assert text == f"{thanks}\n\n{expected}"
        assert "111" in text
        later = len(fake_api.calls)
        fake_api.text_message(user, "дагы")
        again = await fake_api.wait_for_send(user_id, start=later)
        assert "111" not in (again.text or "")  # said once, when the case opened


async def test_a_student_without_a_region_gets_no_promised_time(
    app: App, fake_api: FakeBotAPI, clock: FakeClock
) -> None:
    advance_to_local(clock, 2, BISHKEK)
    user = TgUser(6104, "Y", language_code="ru")
    fake_api.text_message(user, "привет")
    ack = await fake_api.wait_for_send(user.id)
    assert ack.text == app.rt.tr(
        "ru",
        "Thank you for writing. Your message is saved safely. A psychologist will read "
        "it and answer you right here. You can keep writing.",
    )
