"""The bot's Prometheus metrics: their own registry (never the library's global one), and
the metric objects the update loop and the outbox sender count into.

Labels take only fixed sets of values (an update's kind, an outcome, a Bot API method, a
send's result, a priority): never a case code, a member, a student or a chat. The gauges
that need a query (outbox, open cases, the oldest urgent case nobody took, dead letters)
are not kept here: bot.health reads them from the database when /metrics is scraped.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aiogram import methods
from aiogram.types import Update
from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# An update's kind is the name of the field it carries (message, callback_query, ...).
UPDATE_KINDS = frozenset(name for name in Update.model_fields if name != "update_id")
# How handle_update ended with an update: committed (or a duplicate), set aside as a dead
# letter, or not confirmed (stopping, or the database could not take the dead letter).
UPDATE_OUTCOMES = ("handled", "dead_letter", "unconfirmed")
# Bot API methods by their API name (sendMessage, editMessageText, ...).
API_METHODS = frozenset(
    name[0].lower() + name[1:] for name in getattr(methods, "__all__", ()) if name[0].isupper()
)
SEND_RESULTS = ("ok", "429", "403", "other")
OTHER = "other"

UPDATES = Counter(
    "trustline_updates",
    "Updates handled, by kind and outcome",
    ["kind", "outcome"],
    registry=REGISTRY,
)
HANDLING_SECONDS = Histogram(
    "trustline_update_handling_seconds",
    "Time to handle one update through the dispatcher (one try, in its transaction)",
    ["kind"],
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
SENDS = Counter(
    "trustline_sends",
    "Outbox sends to the Bot API, by method and result (ok, 429, 403, other)",
    ["method", "result"],
    registry=REGISTRY,
)


def update_kind(update: Update) -> str:
    try:
        kind = update.event_type
    except Exception:  # noqa: BLE001 - an update of a kind this aiogram does not know
        return OTHER
    return kind if kind in UPDATE_KINDS else OTHER


def update_done(update: Update, outcome: str) -> None:
    """Count how handle_update ended with `update` (one of UPDATE_OUTCOMES)."""
    UPDATES.labels(update_kind(update), outcome if outcome in UPDATE_OUTCOMES else OTHER).inc()


@contextmanager
def handling(update: Update) -> Iterator[None]:
    """Time one try of an update through the dispatcher (failed tries included)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        HANDLING_SECONDS.labels(update_kind(update)).observe(time.perf_counter() - started)


def send_result(status: str, error: str | None) -> str:
    """The result label of an outbox send's Outcome (bot.delivery.sender)."""
    if status == "sent":
        return "ok"
    if status == "retry" and error == "429":
        return "429"
    if status == "blocked":
        return "403"
    return OTHER


def count_send(method: str, outcome: Any) -> None:
    """Count one send the outbox sender made, by its method and its Outcome."""
    SENDS.labels(
        method if method in API_METHODS else OTHER,
        send_result(str(outcome.status), outcome.error),
    ).inc()
