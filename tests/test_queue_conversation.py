"""A conversation end to end: take, answer (text and media), replies that pick the case,
notes, history, transfer, release, close, stepping aside — each audited."""

from __future__ import annotations

from sqlalchemy import delete, select, update

from bot.app import App
from bot.db.models import AuditEntry, CaseMessage, CaseRecusal, Member, Relay
from bot.domain import Author, CaseStatus, ContentKind, Outcome, Role
from bot.services.casework import codes
from bot.services.security import audit
from fake_telegram import FakeBotAPI, TgUser
from tests.queue_helpers import (
    card_for,
    case_by_id,
    command,
    join,
    next_to,
    relayed,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
    student_case,
    student_opens_case,
    take,
)

LABEL = "💬 The psychologist:"


async def _events(app: App, code: str) -> list[str]:
    async with app.sessionmaker() as session:
        rows = await session.scalars(
            select(AuditEntry.event).where(AuditEntry.case_code == code).order_by(AuditEntry.id)
        )
        return list(rows.all())


async def test_take_answer_and_hear_back(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    psy = TgUser(6101, "Asel", language_code="ru")
    member = await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(6102, "Timur", language_code="ru")
    start = len(fake_api.calls)
    case = await student_opens_case(
        app, fake_api, student, "Меня обижают в классе", district=places.lenin
    )
    card = await card_for(fake_api, psy.id, case.code, start)
    # The card says what the case is, never what the student wrote (issue 15): the words
    # come with the take, to the one who takes it.
    assert codes.display(case.code) in (card.text or "")
    assert "Меня обижают в классе" not in (card.text or "")

    start = len(fake_api.calls)
    fake_api.callback_query(psy, f"take:{case.code}", message=card.message)
    history = await next_to(fake_api, psy.id, start, "Меня обижают в классе")
    assert codes.display(case.code) in (history.text or "")
    assert history.params.get("protect_content") is True
    await next_to(fake_api, student.id, start)  # "a psychologist has taken ..."

    start = len(fake_api.calls)
    fake_api.text_message(psy, "Здравствуй, я здесь. Расскажи, что случилось?")
    answer = await next_to(fake_api, student.id, start, "Расскажи, что случилось?")
    assert (answer.text or "").startswith(app.rt.tr("ru", LABEL))
    stored = await case_by_id(app, case.id)
    assert stored.first_answer_at is not None and stored.awaiting_since is None
    first_answer = stored.first_answer_at

    # The student answers: it reaches the psychologist at once, and waits for an answer.
    start = len(fake_api.calls)
    fake_api.text_message(student, "Они забирают мой телефон")
    relay = await next_to(fake_api, psy.id, start, "Они забирают мой телефон")
    assert codes.display(case.code) in (relay.text or "")
    assert (await case_by_id(app, case.id)).awaiting_since is not None

    # A photo from the psychologist is copied from their own chat, labelled; never forwarded.
    start = len(fake_api.calls)
    fake_api.photo_message(psy, caption="Вот номер школьного психолога")
    copied = await fake_api.wait_for(
        lambda c: c.method == "copyMessage" and c.chat_id == student.id, 10, start=start
    )
    assert copied.params["from_chat_id"] == psy.id
    assert (copied.text or "").startswith(app.rt.tr("ru", LABEL))
    assert "Вот номер школьного психолога" in (copied.text or "")
    assert copied.message is not None and "photo" in copied.message
    stored = await case_by_id(app, case.id)
    assert stored.first_answer_at == first_answer and stored.awaiting_since is None

    async with app.sessionmaker() as session:
        messages = (
            await session.scalars(
                select(CaseMessage)
                .where(CaseMessage.case_id == case.id)
                .order_by(CaseMessage.created_at)
            )
        ).all()
        assert [(m.author, m.kind) for m in messages] == [
            (Author.STUDENT, ContentKind.TEXT),
            (Author.PSYCHOLOGIST, ContentKind.TEXT),
            (Author.STUDENT, ContentKind.TEXT),
            (Author.PSYCHOLOGIST, ContentKind.PHOTO),
        ]
        assert messages[1].member_id == member.id
        opened = app.rt.vault.open_text_for_case(
            stored, f"msg/{messages[1].id}", "body", messages[1].body_enc
        )
        assert opened.startswith("Здравствуй")
        assert (messages[1].body_enc or b"").find("Здравствуй".encode()) == -1
    assert not fake_api.calls_of("forwardMessage")
    events = await _events(app, case.code)
    assert "case_claimed" in events and "content_viewed" in events
    assert events.count("psychologist_message") == 2


async def test_replies_route_to_their_case(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    psy = TgUser(6201, "Psy", language_code="ru")
    await join(app, fake_api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    first_student = TgUser(6202, "A", language_code="ru")
    second_student = TgUser(6203, "B", language_code="ru")
    first = await student_opens_case(
        app, fake_api, first_student, "первая история", district=places.lenin
    )
    second = await student_opens_case(
        app, fake_api, second_student, "вторая история", district=places.lenin
    )
    await take(app, fake_api, psy, first.code)
    await take(app, fake_api, psy, second.code)  # now the active case
    start = len(fake_api.calls)
    fake_api.text_message(first_student, "ещё от первого")
    relay_id = await relayed(app, fake_api, psy, start, "ещё от первого")
    start = len(fake_api.calls)
    fake_api.reply_to(psy, relay_id, "ответ первому")
    fake_api.text_message(psy, "ответ второму")
    to_first = await next_to(fake_api, first_student.id, start, "ответ")
    to_second = await next_to(fake_api, second_student.id, start, "ответ")
    assert "ответ первому" in (to_first.text or "")
    assert "ответ второму" in (to_second.text or "")
    assert not [t for t in fake_api.sent_texts(second_student.id) if "первому" in t]
    async with app.sessionmaker() as session:
        relays = (
            await session.scalars(select(Relay.case_id).where(Relay.message_id == relay_id))
        ).all()
        assert list(relays) == [first.id]


async def test_note_history_transfer_and_close(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    alice, bob = TgUser(6301, "Alice", language_code="ru"), TgUser(6302, "Bob", language_code="kk")
    a = await join(app, fake_api, alice, Role.PSYCHOLOGIST, district=places.lenin)
    b = await join(app, fake_api, bob, Role.PSYCHOLOGIST, region=places.region)
    student = TgUser(6303, "Kid", language_code="ru")
    case = await student_opens_case(
        app, fake_api, student, "мне страшно идти домой", district=places.lenin
    )
    await take(app, fake_api, alice, case.code)

    start = len(fake_api.calls)
    command(fake_api, alice, "/note Possible abuse at home, check again on Monday")
    await next_to(fake_api, alice.id, start, codes.display(case.code))
    command(fake_api, alice, f"/case {codes.display(case.code)}")
    history = await next_to(fake_api, alice.id, start, "check again on Monday")
    assert "мне страшно идти домой" in (history.text or "")
    assert not [t for t in fake_api.sent_texts(student.id) if "Monday" in t]

    # Transfer: Alice sees Bob (by number only) and hands the case over.
    start = len(fake_api.calls)
    command(fake_api, alice, "/transfer")
    offer = await fake_api.wait_for(
        lambda c: c.chat_id == alice.id and "reply_markup" in c.params, 10, start=start
    )
    buttons = [btn for row in offer.params["reply_markup"]["inline_keyboard"] for btn in row]
    assert [btn["callback_data"] for btn in buttons] == [
        f"tr:{case.code}:{b.id}",
        f"tr:{case.code}:pool",
    ]
    assert "Bob" not in str(offer.params) and f"№{b.id}" in buttons[0]["text"]
    fake_api.callback_query(alice, f"tr:{case.code}:{b.id}", message=offer.message)
    # The hand-over asks for a note for Bob (tests/test_desk.py); Alice skips it.
    await fake_api.wait_for(lambda c: f"hskip:{case.code}" in str(c.params), 10, start=start)
    fake_api.callback_query(alice, f"hskip:{case.code}:{b.id}")
    await next_to(fake_api, bob.id, start, codes.display(case.code))
    await next_to(
        fake_api,
        alice.id,
        start,
        app.rt.tr(
            "ru",
            "Case {code} was handed over to {number}.",
            code=codes.display(case.code),
            number=f"№{b.id}",
        ),
    )
    stored = await case_by_id(app, case.id)
    assert stored.psychologist_id == b.id and stored.status == CaseStatus.CLAIMED
    async with app.sessionmaker() as session:
        bob_row = await session.get(Member, b.id)
        alice_row = await session.get(Member, a.id)
        assert bob_row is not None and bob_row.active_case_id == case.id
        assert alice_row is not None and alice_row.active_case_id is None

    # Alice can no longer write to the student or read the case.
    start = len(fake_api.calls)
    command(fake_api, alice, f"/case {case.code}")
    refusal = await next_to(fake_api, alice.id, start)
    assert refusal.text == app.rt.tr(
        "ru",
        "Case {code} is not with you. /queue shows the cases you can take.",
        code=codes.display(case.code),
    )

    # Bob closes it with an outcome; the student is told; a new message opens a new case.
    start = len(fake_api.calls)
    command(fake_api, bob, "/close")
    outcomes = await fake_api.wait_for(
        lambda c: c.chat_id == bob.id and "reply_markup" in c.params, 10, start=start
    )
    data = [
        btn["callback_data"]
        for row in outcomes.params["reply_markup"]["inline_keyboard"]
        for btn in row
    ]
    assert data == [f"close:{case.code}:{o.value}" for o in Outcome]
    fake_api.callback_query(bob, f"close:{case.code}:referred_111", message=outcomes.message)
    await next_to(
        fake_api,
        student.id,
        start,
        app.rt.tr(
            "ru",
            "The psychologist has closed this conversation. If something worries you again, "
            "just write here: a new conversation will start.",
        ),
    )
    stored = await case_by_id(app, case.id)
    assert stored.status == CaseStatus.CLOSED and stored.outcome == Outcome.REFERRED_111
    assert stored.closed_at is not None and stored.next_deadline_at is None
    start = len(fake_api.calls)
    fake_api.text_message(student, "снова я")
    await next_to(fake_api, student.id, start)
    assert (await student_case(app, student)).id != case.id

    events = await _events(app, case.code)
    for event in (
        "case_claimed",
        "note_added",
        "content_viewed",
        "case_transferred",
        "case_closed",
    ):
        assert event in events
    async with app.sessionmaker() as session:
        assert (await audit.verify(session)).ok
    # An edited or deleted audit row is detected.
    async with app.sessionmaker() as session, session.begin():
        await session.execute(
            update(AuditEntry)
            .where(AuditEntry.event == "content_viewed")
            .values(actor="member:999")
        )
    async with app.sessionmaker() as session:
        report = await audit.verify(session)
        assert not report.ok and "does not match" in report.problem
    async with app.sessionmaker() as session, session.begin():
        await session.execute(
            update(AuditEntry)
            .where(AuditEntry.actor == "member:999")
            .values(actor=f"member:{a.id}")
        )
        await session.execute(delete(AuditEntry).where(AuditEntry.event == "case_closed"))
    async with app.sessionmaker() as session:
        assert not (await audit.verify(session)).ok


async def test_release_and_recuse_return_the_case_to_the_pool(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    alice, bob = TgUser(6401, "Alice", language_code="ru"), TgUser(6402, "Bob", language_code="ru")
    a = await join(app, fake_api, alice, Role.PSYCHOLOGIST, district=places.lenin)
    await join(app, fake_api, bob, Role.PSYCHOLOGIST, district=places.lenin)
    student = TgUser(6403, "Kid", language_code="ru")
    case = await student_opens_case(app, fake_api, student, "помогите", district=places.lenin)
    await take(app, fake_api, alice, case.code)

    start = len(fake_api.calls)
    command(fake_api, alice, "/release")
    await fake_api.wait_for(lambda c: f"hskip:{case.code}" in str(c.params), 10, start=start)
    fake_api.callback_query(alice, f"hskip:{case.code}:pool")  # no note (tests/test_desk.py)
    await card_for(fake_api, bob.id, case.code, start)  # Bob is told again
    stored = await case_by_id(app, case.id)
    assert stored.status == CaseStatus.OPEN and stored.psychologist_id is None
    await next_to(fake_api, alice.id, start, codes.display(case.code))
    assert not [
        c
        for c in fake_api.calls[start:]
        if c.chat_id == alice.id and "take:" in str(c.params.get("reply_markup", ""))
    ]

    # Alice takes it again, then steps aside: back to the pool, and gone from her view.
    await take(app, fake_api, alice, case.code)
    start = len(fake_api.calls)
    command(fake_api, alice, f"/recuse {case.code}")
    bob_card = await card_for(fake_api, bob.id, case.code, start)
    await next_to(
        fake_api,
        alice.id,
        start,
        app.rt.tr(
            "ru",
            "You stepped aside from case {code}. Nobody is told why, and you will not see it "
            "again.",
            code=codes.display(case.code),
        ),
    )
    release_headline = app.rt.tr("ru", "A case came back to the pool")
    assert (bob_card.text or "").startswith(release_headline)  # the same as a release
    stored = await case_by_id(app, case.id)
    assert stored.status == CaseStatus.OPEN and stored.psychologist_id is None
    async with app.sessionmaker() as session:
        assert await session.get(CaseRecusal, (case.id, a.id)) is not None
    start = len(fake_api.calls)
    command(fake_api, alice, f"/take {case.code}")
    refusal = await next_to(fake_api, alice.id, start)
    assert refusal.text == app.rt.tr("ru", "This case is not in your pool.")
    start = len(fake_api.calls)
    command(fake_api, alice, "/queue")
    empty = await next_to(fake_api, alice.id, start)
    assert empty.text == app.rt.tr("ru", "No open cases in your pool right now.")
    events = await _events(app, case.code)
    assert events.count("case_released") == 2 and "case_stepped_aside" not in events
