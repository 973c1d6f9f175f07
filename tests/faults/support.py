"""Small helpers shared by the delivery and fault tests: members made directly in the
database, waiting for the outbox to drain, and reading back what was stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import func, select

from bot.app import App
from bot.db.models import Case, CaseMessage, Member, OutboxMessage
from bot.domain import Role
from bot.services.casework import cases
from bot.services.runtime import Runtime
from fake_telegram import FakeBotAPI, TgUser


def command(api: FakeBotAPI, user: TgUser, text: str) -> dict[str, Any]:
    name = text.split(" ", 1)[0]
    return api.text_message(
        user, text, entities=[{"type": "bot_command", "offset": 0, "length": len(name)}]
    )


async def add_member(
    app_or_rt: App | Runtime,
    session: Any,
    user: TgUser,
    role: str = Role.PSYCHOLOGIST,
    **scope: int | None,
) -> Member:
    """A member as an invite would have made them (the invite flow has its own tests)."""
    rt = app_or_rt.rt if isinstance(app_or_rt, App) else app_or_rt
    member = Member(
        pseudonym=rt.vault.pseudonyms.member_id(user.id),
        role=role,
        language="ru",
        active=True,
        created_at=rt.now(),
        **scope,
    )
    rt.vault.new_member_key(member)
    member.chat_id_enc = rt.vault.seal_for_member(member, "member", "chat_id", str(user.id))
    session.add(member)
    await session.flush()
    return member


async def psychologist(app: App, user: TgUser) -> Member:
    async with app.sessionmaker() as session, session.begin():
        return await add_member(app, session, user)


async def eventually(
    check: Callable[[], Awaitable[bool]],
    timeout: float = 10.0,  # noqa: ASYNC109
    what: str = "condition",
) -> None:
    """Wait until `check()` holds (the bot works in other tasks); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        await asyncio.sleep(0.05)


async def unsent_rows(app: App) -> int:
    async with app.sessionmaker() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(OutboxMessage)
            .where(OutboxMessage.status.in_(("pending", "sending")))
        )
        return int(count or 0)


async def case_of(app: App, user: TgUser) -> Case:
    async with app.sessionmaker() as session:
        student = await cases.get_student(session, app.rt, user.id)
        assert student is not None and student.active_case_id is not None
        case = await session.get(Case, student.active_case_id)
        assert case is not None
        return case


async def stored_texts(app: App, case_id: int, author: str = "student") -> list[str]:
    """Bodies of a case's messages, opened with the case key, oldest first."""
    async with app.sessionmaker() as session:
        case = await session.get(Case, case_id)
        assert case is not None
        rows = (
            await session.scalars(
                select(CaseMessage)
                .where(CaseMessage.case_id == case_id, CaseMessage.author == author)
                .order_by(CaseMessage.created_at)
            )
        ).all()
        return [
            app.rt.vault.open_text_for_case(case, f"msg/{m.id}", "body", m.body_enc) for m in rows
        ]


def sent_to(api: FakeBotAPI, chat_id: int, start: int = 0) -> list[Any]:
    """Messages delivered to `chat_id` by calls from `api.calls[start]` on."""
    return [c for c in api.calls[start:] if c.ok and c.is_send and c.chat_id == chat_id]


async def settled(app: App, api: FakeBotAPI, timeout: float = 15.0) -> None:  # noqa: ASYNC109
    """Every update handed to the bot was handled (and confirmed) and the outbox is empty."""

    async def quiet() -> bool:
        return api.pending_updates == 0 and await unsent_rows(app) == 0

    await eventually(quiet, timeout, what="the bot settled")


def busiest_second(times: list[float]) -> int:
    """The most of `times` in any window of one second (the fake counts hits in (t-1, t])."""
    ordered = sorted(times)
    busiest, first = 0, 0
    for last, at in enumerate(ordered):
        while ordered[first] <= at - 1.0:
            first += 1
        busiest = max(busiest, last - first + 1)
    return busiest
