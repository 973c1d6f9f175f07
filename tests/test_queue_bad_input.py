"""Bad input on the psychologist's side: strangers, switched-off accounts, closed, unknown
and foreign cases, replies to what is not a relay, forged buttons, a student who blocked
the bot. Each gets a clear answer in the reader's language and leaves the data as it was."""

from __future__ import annotations

from sqlalchemy import func, select

from bot.app import App
from bot.db.models import Case, CaseMessage, Member
from bot.domain import Author, CaseStatus, Outcome, Role
from bot.services.casework import codes
from bot.services.organisation import members
from bot.services.routing import queue
from fake_telegram import FakeBotAPI, TgUser
from tests.queue_helpers import (
    answered_callback,
    card_for,
    case_by_id,
    command,
    join,
    member_of,
    next_to,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
    student_opens_case,
    take,
)


async def _snapshot(app: App) -> list[tuple[object, ...]]:
    async with app.sessionmaker() as session:
        rows = (await session.scalars(select(Case).order_by(Case.id))).all()
        count = await session.scalar(select(func.count()).select_from(CaseMessage))
        return [(c.id, c.status, c.psychologist_id, c.outcome, c.message_count) for c in rows] + [
            ("messages", count)
        ]


async def test_strangers_and_switched_off_accounts(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    psy = TgUser(6801, "Psy", language_code="kk")
    member = await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    case = await student_opens_case(
        app, fake_api, TgUser(6802, "S", language_code="ru"), "помогите", district=places.lenin
    )
    before = await _snapshot(app)

    # Someone who was never invited: the student's flow answers, nobody is registered.
    stranger = TgUser(6803, "Who", language_code="ru")
    start = len(fake_api.calls)
    for text in (f"/take {case.code}", f"/case {case.code}", "/queue"):
        command(fake_api, stranger, text)
    answers = await fake_api.wait_for_count(
        lambda c: c.chat_id == stranger.id and c.is_send, 3, 10, start=start
    )
    assert all(case.code[:4] not in (a.text or "") for a in answers)
    fake_api.callback_query(stranger, f"take:{case.code}")
    await answered_callback(fake_api, start)
    assert await member_of(app, stranger) is None
    assert await _snapshot(app) == before

    # A switched-off psychologist is told so, in their language, and changes nothing.
    async with app.sessionmaker() as session, session.begin():
        await members.deactivate(session, app.rt, None, member.id)
    start = len(fake_api.calls)
    command(fake_api, psy, f"/take {case.code}")
    off = app.rt.tr(
        "kk",
        "This account has been switched off. If that is a mistake, ask your "
        "supervisor for a new invite link.",
    )
    assert (await next_to(fake_api, psy.id, start, off)).text == off
    start = len(fake_api.calls)
    fake_api.callback_query(psy, f"take:{case.code}")
    alert = await answered_callback(fake_api, start)
    assert alert.params.get("text") == app.rt.tr("kk", "This account has been switched off.")
    fake_api.text_message(psy, "сәлем")
    await next_to(fake_api, psy.id, start, off)
    assert (await case_by_id(app, case.id)).status == CaseStatus.OPEN
    assert (await _snapshot(app))[:-1] == before[:-1]


async def test_take_of_closed_unknown_and_foreign_cases(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    psy = TgUser(6901, "Psy", language_code="ru")
    other_psy = TgUser(6902, "Other", language_code="ru")
    member = await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    await join(app, fake_api, other_psy, Role.PSYCHOLOGIST, district=places.lenin)
    # Kazakhstan's own psychologist: a case there is not in psy's pool.
    await join(
        app,
        fake_api,
        TgUser(6907, "Kz", language_code="kk"),
        Role.PSYCHOLOGIST,
        district=places.kz_district,
    )
    closed = await student_opens_case(
        app, fake_api, TgUser(6903, "A", language_code="ru"), "раз", district=places.lenin
    )
    foreign = await student_opens_case(
        app, fake_api, TgUser(6904, "B", language_code="ru"), "два", district=places.kz_district
    )
    theirs = await student_opens_case(
        app, fake_api, TgUser(6905, "C", language_code="ru"), "три", district=places.lenin
    )
    async with app.sessionmaker() as session, session.begin():
        me = await session.get(Member, member.id)
        assert me is not None
        await queue.claim(session, app.rt, me, closed.code)
        await queue.close(
            session, app.rt, me, await queue.find_case(session, closed.code), Outcome.NOT_A_CASE
        )
    await take(app, fake_api, other_psy, theirs.code)
    for case in (closed, theirs):  # the pool's cards have reached psy before the checks
        await card_for(fake_api, psy.id, case.code)
    before = await _snapshot(app)

    cases_and_answers = [
        (
            f"/take {codes.display(closed.code)}",
            app.rt.tr("ru", "Case {code} is already closed.", code=codes.display(closed.code)),
        ),
        (
            "/take #ZZZZ-ZZZZ",
            app.rt.tr("ru", "There is no case with this code. A code looks like #7KQ2-M9XD."),
        ),
        (
            "/take hello",
            app.rt.tr("ru", "There is no case with this code. A code looks like #7KQ2-M9XD."),
        ),
        (f"/take {foreign.code.lower()}", app.rt.tr("ru", "This case is not in your pool.")),
        (
            f"/take {theirs.code}",
            app.rt.tr("ru", "Another psychologist has already taken this case."),
        ),
        (
            f"/case {theirs.code}",
            app.rt.tr(
                "ru",
                "Case {code} is not with you. /queue shows the cases you can take.",
                code=codes.display(theirs.code),
            ),
        ),
        (
            f"/close {theirs.code}",
            app.rt.tr(
                "ru",
                "Case {code} is not with you. /queue shows the cases you can take.",
                code=codes.display(theirs.code),
            ),
        ),
        (
            "/release",
            app.rt.tr(
                "ru", "No case is active. Take one from /queue, or reply to a message of the case."
            ),
        ),
    ]
    for text, expected in cases_and_answers:
        start = len(fake_api.calls)
        command(fake_api, psy, text)
        answer = await next_to(fake_api, psy.id, start)
        assert answer.text == expected, text
    # Writing with no active case sends nothing anywhere.
    start = len(fake_api.calls)
    fake_api.text_message(psy, "кому это?")
    assert (await next_to(fake_api, psy.id, start)).text == app.rt.tr(
        "ru", "No case is active. Take one from /queue, or reply to a message of the case."
    )
    assert await _snapshot(app) == before


async def test_reply_to_a_message_that_is_not_a_relay(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    psy = TgUser(7001, "Psy", language_code="ky")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(7002, "S", language_code="ru")
    case = await student_opens_case(app, fake_api, student, "помогите", district=places.lenin)
    await take(app, fake_api, psy, case.code)
    start = len(fake_api.calls)
    command(fake_api, psy, "/help")
    help_message = await next_to(fake_api, psy.id, start)
    assert help_message.message is not None
    before = await _snapshot(app)
    start = len(fake_api.calls)
    fake_api.reply_to(psy, help_message.message["message_id"], "это ответ не туда")
    refusal = await next_to(fake_api, psy.id, start)
    assert refusal.text == app.rt.tr(
        "ky",
        "I cannot tell which case this reply belongs to: the message you replied to is "
        "not from a case. Reply to a message the bot sent about the case, or write without a "
        "reply to reach your active case. Nothing was sent.",
    )
    assert not [c for c in fake_api.calls[start:] if c.chat_id == student.id]
    assert await _snapshot(app) == before


async def test_forged_buttons(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    psy = TgUser(7101, "Psy", language_code="ru")
    other_psy = TgUser(7102, "Other", language_code="ru")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    far = await join(
        app,
        fake_api,
        TgUser(7103, "Far", language_code="kk"),
        Role.PSYCHOLOGIST,
        district=places.kz_district,
    )
    await join(app, fake_api, other_psy, Role.PSYCHOLOGIST, district=places.lenin)
    mine = await student_opens_case(
        app, fake_api, TgUser(7104, "A", language_code="ru"), "раз", district=places.lenin
    )
    theirs = await student_opens_case(
        app, fake_api, TgUser(7105, "B", language_code="ru"), "два", district=places.lenin
    )
    for user, case in ((psy, mine), (other_psy, theirs)):
        await take(app, fake_api, user, case.code)
    before = await _snapshot(app)
    forged = (
        "take:",
        "take:!!!!!!!!",
        "take:" + "A" * 60,
        f"tr:{mine.code}:{far.id}",
        f"tr:{theirs.code}:pool",
        f"close:{mine.code}:bogus",
        f"close:{theirs.code}:resolved",
        "close:x",
        "zzz",
        f"tr:{mine.code}:-1",
    )
    for data in forged:
        start = len(fake_api.calls)
        fake_api.callback_query(psy, data)
        answer = await answered_callback(fake_api, start)
        assert answer.ok, data
    assert await _snapshot(app) == before


async def test_student_who_blocked_the_bot(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    psy = TgUser(7201, "Psy", language_code="ru")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(7202, "S", language_code="ru")
    case = await student_opens_case(app, fake_api, student, "помогите", district=places.lenin)
    await take(app, fake_api, psy, case.code)
    fake_api.block(student.id)
    start = len(fake_api.calls)
    fake_api.text_message(psy, "Ты здесь? Напиши, если можешь.")
    warning = await next_to(
        fake_api,
        psy.id,
        start,
        app.rt.tr(
            "ru",
            "⚠️ {code}: the student can no longer be reached (they blocked the bot or left). "
            "Nothing is lost; the case stays with you.",
            code=codes.display(case.code),
        ),
    )
    assert warning.ok
    stored = await case_by_id(app, case.id)
    assert stored.unreachable and stored.status == CaseStatus.CLAIMED
    async with app.sessionmaker() as session:
        answers = await session.scalar(
            select(func.count())
            .select_from(CaseMessage)
            .where(CaseMessage.case_id == case.id, CaseMessage.author == Author.PSYCHOLOGIST)
        )
    assert answers == 1  # what the psychologist wrote is kept
    # The student comes back: they can be reached again and the conversation goes on.
    fake_api.unblock(student.id)
    start = len(fake_api.calls)
    fake_api.text_message(student, "я вернулся")
    await next_to(fake_api, psy.id, start, "я вернулся")
    assert not (await case_by_id(app, case.id)).unreachable
