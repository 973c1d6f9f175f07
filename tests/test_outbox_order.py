"""Outbox rows of one transaction keep their order (they share created_at)."""

from __future__ import annotations

from bot.delivery.outbox import ordered_id


def test_ids_sort_in_creation_order() -> None:
    ids = [ordered_id() for _ in range(5000)]
    assert ids == sorted(ids)
    assert [i.hex for i in ids] == sorted(i.hex for i in ids)  # SQLite stores hex text
    assert len(set(ids)) == len(ids)
