"""Helpers for the queue, members and org tests: places, members who joined through a real
invite link, students who write, and waiting for what the bot sent."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App
from bot.config import Settings
from bot.db.models import Case, District, Member, Region, Relay, School
from bot.services.casework import cases, codes
from bot.services.organisation import invites, members, org
from fake_telegram import Call, FakeBotAPI, TgUser

ORG_CSV = """country,region,district,school,languages
KG,Бишкек,Ленинский район,Школа № 901,"ky,ru"
KG,Бишкек,Ленинский район,Школа № 902,ru
KG,Бишкек,Октябрьский район,Школа № 903,ky
KZ,Жамбыл облысы,Тараз,№ 901 мектеп,"kk,ru"
"""


@dataclass
class Places:
    region: int  # Бишкек
    lenin: int  # Ленинский район
    oktyabr: int  # Октябрьский район
    school: int  # Школа № 901 (Ленинский)
    school_oktyabr: int  # Школа № 903
    kz_region: int
    kz_district: int
    kz_school: int


async def seed_places(app: App) -> Places:
    async with app.sessionmaker() as session, session.begin():
        await org.import_rows(session, org.parse_csv(ORG_CSV))
    async with app.sessionmaker() as session:

        async def one(model: Any, name: str) -> int:
            found = await session.scalar(select(model.id).where(model.name == name))
            assert found is not None, name
            return int(found)

        return Places(
            region=await one(Region, "Бишкек"),
            lenin=await one(District, "Ленинский район"),
            oktyabr=await one(District, "Октябрьский район"),
            school=await one(School, "Школа № 901"),
            school_oktyabr=await one(School, "Школа № 903"),
            kz_region=await one(Region, "Жамбыл облысы"),
            kz_district=await one(District, "Тараз"),
            kz_school=await one(School, "№ 901 мектеп"),
        )


def command(api: FakeBotAPI, user: TgUser, text: str, **fields: Any) -> dict[str, Any]:
    name = text.split(" ", 1)[0]
    return api.text_message(
        user, text, entities=[{"type": "bot_command", "offset": 0, "length": len(name)}], **fields
    )


async def invite_link(
    app: App,
    role: str,
    *,
    region: int | None = None,
    district: int | None = None,
    school: int | None = None,
) -> str:
    async with app.sessionmaker() as session, session.begin():
        scope = await members.scope_of(
            session, region_id=region, district_id=district, school_id=school
        )
        created = await invites.create_invite(session, app.rt, role, scope, by=None)
    return created.link


def payload(link: str) -> str:
    return link.split("?start=", 1)[1]


async def join(app: App, api: FakeBotAPI, user: TgUser, role: str, **scope: int) -> Member:
    """A member who opened a real invite link, as Telegram delivers it."""
    link = await invite_link(app, role, **scope)
    start = len(api.calls)
    api.start(user, payload(link))
    await api.wait_for_count(lambda c: c.chat_id == user.id and c.is_send, 2, start=start)
    member = await member_of(app, user)
    assert member is not None and member.role == role
    return member


async def member_of(app: App, user: TgUser) -> Member | None:
    async with app.sessionmaker() as session:
        pseudonym = app.rt.vault.pseudonyms.member_id(user.id)
        return await session.scalar(select(Member).where(Member.pseudonym == pseudonym))


async def student_case(app: App, user: TgUser) -> Case:
    async with app.sessionmaker() as session:
        student = await cases.get_student(session, app.rt, user.id)
        assert student is not None and student.active_case_id is not None
        case = await session.get(Case, student.active_case_id)
        assert case is not None
        return case


async def case_by_id(app: App, case_id: int) -> Case:
    async with app.sessionmaker() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        return case


async def student_opens_case(
    app: App, api: FakeBotAPI, user: TgUser, text: str, district: int | None = None
) -> Case:
    """A student (placed in `district`, as after the region/district picker) writes."""
    if district is not None:
        async with app.sessionmaker() as session, session.begin():
            student = await cases.get_or_create_student(session, app.rt, user.id)
            found = await session.get(District, district)
            assert found is not None
            student.district_id, student.region_id = found.id, found.region_id
            student.language = user.language_code
    start = len(api.calls)
    api.text_message(user, text)
    await api.wait_for(lambda c: c.chat_id == user.id and c.is_send, start=start, timeout=10)
    return await student_case(app, user)


async def next_to(
    api: FakeBotAPI,
    chat_id: int,
    start: int,
    contains: str = "",
    timeout: float = 10.0,  # noqa: ASYNC109
) -> Call:
    return await api.wait_for(
        lambda c: c.chat_id == chat_id and c.is_send and contains in (c.text or ""),
        timeout,
        start=start,
    )


async def card_for(api: FakeBotAPI, chat_id: int, code: str, start: int = 0) -> Call:
    """The case card (with its Take button) sent to a pool member."""
    return await api.wait_for(
        lambda c: (
            c.chat_id == chat_id
            and c.method == "sendMessage"
            and any(
                b.get("callback_data") == f"take:{code}"
                for row in c.params.get("reply_markup", {}).get("inline_keyboard", [])
                for b in row
            )
        ),
        10,
        start=start,
    )


async def answered_callback(api: FakeBotAPI, start: int) -> Call:
    return await api.wait_for(lambda c: c.method.lower() == "answercallbackquery", 10, start=start)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """Import into a test module to lift Telegram's one message per second per chat: long
    conversations would otherwise spend most of their time waiting (the limit has its own
    tests with the outbox)."""
    return settings.model_copy(update={"send_per_chat_per_second": 20.0})


TOOK = (
    "You took case {code}. What you write now goes to the student, signed only as "
    '"the psychologist". The conversation so far follows.'
)


async def take(app: App, api: FakeBotAPI, psy: TgUser, code: str) -> Call:
    """`/take CODE`, waiting for the confirmation (sent once the claim is committed) and the
    first part of the history that follows it; returns that history part."""
    start = len(api.calls)
    command(api, psy, f"/take {code}")
    member = await member_of(app, psy)
    assert member is not None
    took = app.rt.tr(member.language, TOOK, code=codes.display(code))
    confirmation = await next_to(api, psy.id, start, took)
    # Per chat the outbox keeps order: the next message naming the case is the history.
    after = api.calls.index(confirmation) + 1
    history = await next_to(api, psy.id, after, codes.display(code))
    # The student's "a psychologist took your case" goes out in parallel; let it land so
    # later checks of "nothing reached the student" see only what they caused.
    await _outbox_empty(app)
    return history


async def _outbox_empty(app: App, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    from sqlalchemy import func

    from bot.db.models import OutboxMessage

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        async with app.sessionmaker() as session:
            pending = await session.scalar(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.status.in_(("pending", "sending")))
            )
        if not pending:
            return
        assert loop.time() < deadline, f"{pending} outbox rows still unsent"
        await asyncio.sleep(0.05)


async def relayed(app: App, api: FakeBotAPI, psy: TgUser, start: int, text: str) -> int:
    """The message id of a relay that reached a psychologist, once its Relay row (written by
    the outbox sender just after Telegram accepted it) is committed: a reply sent before
    that instant could not be routed yet."""
    call = await next_to(api, psy.id, start, text)
    assert call.message is not None
    message_id = int(call.message["message_id"])
    member = await member_of(app, psy)
    assert member is not None
    for _attempt in range(100):
        async with app.sessionmaker() as session:
            if await session.get(Relay, (member.id, message_id)) is not None:
                return message_id
        await asyncio.sleep(0.05)
    raise AssertionError("the relay was never recorded")
