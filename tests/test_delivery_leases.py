"""Outbox leases: short (a row a dead process left `sending` goes again within seconds), kept
by a live sender for every claim it holds, never for a claim someone else took over, and
released back to pending when the sender stops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.app import App, create_app
from bot.config import Settings
from bot.db.models import OutboxMessage
from bot.delivery import outbox
from bot.delivery.sender import LEASE, SEND_TIMEOUT
from fake_telegram import TgUser
from tests.conftest import FakeClock
from tests.faults.support import add_member

CHATS = 30


@pytest.fixture
async def idle_app(settings: Settings, clock: FakeClock) -> AsyncIterator[App]:
    """The app without its sender running: the test claims rows itself."""
    application = await create_app(settings, clock=clock, migrate=False)
    try:
        yield application
    finally:
        await application.close()


async def _queue(app: App) -> None:
    async with app.sessionmaker() as session, session.begin():
        for i in range(CHATS):
            member = await add_member(app, session, TgUser(9100 + i, f"M{i}"))
            outbox.enqueue(
                session, app.rt.vault, member, "sendMessage", {"text": f"m{i}"}, now=app.rt.now()
            )


async def _row(app: App, row_id: object) -> OutboxMessage:
    async with app.sessionmaker() as session:
        row = await session.get(OutboxMessage, row_id)
        assert row is not None
        return row


def test_the_lease_covers_one_send_and_is_not_a_minute() -> None:
    assert SEND_TIMEOUT < LEASE.total_seconds() <= 12


async def test_held_claims_are_renewed_and_a_taken_over_one_is_not(
    idle_app: App, clock: FakeClock
):
    app = idle_app
    await _queue(app)
    claimed = await app.sender._claim_heads(exclude=set(), limit=CHATS)
    assert len(claimed) == CHATS
    stolen = claimed[0]
    async with app.sessionmaker() as session, session.begin():  # another instance's claim
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == stolen.id)
            .values(attempts=stolen.token + 1)
        )
    clock.advance(seconds=LEASE.total_seconds() - 1)  # nearly out
    assert await app.sender.renew_held() == CHATS - 1
    for row in claimed[1:]:
        lease = (await _row(app, row.id)).lease_until
        assert lease is not None and lease - app.rt.now() > LEASE - timedelta(seconds=1)
    lease = (await _row(app, stolen.id)).lease_until
    assert lease is not None and lease - app.rt.now() < timedelta(seconds=2)


async def test_claims_still_held_at_stop_go_back_to_pending(idle_app: App):
    app = idle_app
    await _queue(app)
    claimed = await app.sender._claim_heads(exclude=set(), limit=CHATS)
    accepted = claimed[0]
    app.sender._accepted.add(accepted.id)  # Telegram took it; its sent note covers it
    await app.sender._release_held()
    for row in claimed[1:]:
        stored = await _row(app, row.id)
        assert (stored.status, stored.lease_until, stored.attempts) == ("pending", None, row.token)
    assert (await _row(app, accepted.id)).status == "sending"  # never sent twice by us
    assert await app.sender.renew_held() == 0  # nothing held any more
