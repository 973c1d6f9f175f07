"""The outbox sender records outcomes in batches: the outcomes chats reach meanwhile are
committed in one transaction, each with the claim of its chat's next row; one broken
outcome does not hold the others back."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from bot.app import create_app
from bot.config import Settings
from bot.db.models import OutboxMessage
from bot.delivery import outbox
from bot.delivery.sender import Claimed, Outcome
from fake_telegram import TgUser
from tests.faults.support import add_member

CHATS = 40
PER_CHAT = 2


async def test_outcomes_reached_together_are_one_transaction(settings: Settings) -> None:
    app = await create_app(settings, migrate=False)  # its sender is driven by hand here
    try:
        async with app.sessionmaker() as session, session.begin():
            now = app.rt.now()
            for i in range(CHATS):
                member = await add_member(app, session, TgUser(2_100_000 + i, f"B{i}"), "staff")
                for n in range(PER_CHAT):
                    outbox.enqueue(
                        session,
                        app.rt.vault,
                        member,
                        "sendMessage",
                        {"text": f"B{i}/{n}"},
                        now=now + timedelta(microseconds=i * PER_CHAT + n),
                    )
        sender = app.sender
        heads = await sender._claim_heads(exclude=set(), limit=CHATS)
        assert len(heads) == CHATS
        commits = count_commits(app.engine)
        nexts = await asyncio.gather(
            *(
                sender._record(row, Outcome("sent", message_id=i + 1), claim_next=True)
                for i, row in enumerate(heads)
            )
        )
        assert commits == [1]  # forty outcomes and forty claims: one transaction
        # Each chat's next row, claimed with its outcome, is the one after it.
        assert all(isinstance(row, Claimed) for row in nexts)
        assert {row.queue for row in nexts if row} == {row.queue for row in heads}
        async with app.sessionmaker() as session:
            statuses = Counter((await session.scalars(select(OutboxMessage.status))).all())
        assert statuses == {"sent": CHATS, "sending": CHATS}
    finally:
        await app.close()


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_a_broken_outcome_is_recorded_alone_and_the_others_go_through(
    settings: Settings,
) -> None:
    app = await create_app(settings, migrate=False)
    try:
        async with app.sessionmaker() as session, session.begin():
            for i in range(3):
                member = await add_member(app, session, TgUser(2_200_000 + i, f"C{i}"), "staff")
                outbox.enqueue(
                    session, app.rt.vault, member, "sendMessage", {"text": "x"}, now=app.rt.now()
                )
        sender = app.sender
        heads = await sender._claim_heads(exclude=set(), limit=3)
        broken = Outcome("failed", "e" * 500)  # longer than the error column takes
        results: list[Any] = await asyncio.gather(
            sender._record(heads[0], Outcome("sent", message_id=1), claim_next=True),
            sender._record(heads[1], broken, claim_next=True),
            sender._record(heads[2], Outcome("sent"), claim_next=True),
            return_exceptions=True,
        )
        assert results[0] is None and results[2] is None
        assert isinstance(results[1], Exception)
        async with app.sessionmaker() as session:
            rows = {
                row.id: row.status for row in (await session.scalars(select(OutboxMessage))).all()
            }
        assert rows == {heads[0].id: "sent", heads[1].id: "sending", heads[2].id: "sent"}
    finally:
        await app.close()


def count_commits(engine: Any) -> list[int]:
    """How many transactions commit from now on (a one-item list, read at the end)."""
    counted = [0]

    @event.listens_for(engine.sync_engine, "commit")
    def _commit(_conn: Any) -> None:
        counted[0] += 1

    return counted
