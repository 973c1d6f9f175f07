"""The student-message path, lean against ORM, in one run (issue 17).

`python -m benchmarks.student_path [--students N] [--rounds R] [--sqlite]`

In this process, on a fresh PostgreSQL database (or an SQLite file with --sqlite): N
students each open a case with a first message (the ORM path), then write 2 + R rounds of one
ordinary message each on that open case, every round taken alternately by the ORM path
(TRUSTLINE_LEAN_STUDENT_PATH off) and the lean path (on), so both see the same machine
load; the first two rounds warm up and are not counted. Updates are fed to the real
dispatcher (`App.feed_update`: the transaction
middleware, identity, routers, services), without polling and without the outbox sender,
so the figures are the update's own transaction: SQL statements sent to the driver per
message (cursor executes, plus BEGIN/COMMIT counted apart), and this process's CPU per
message, user and system apart. PostgreSQL's own CPU is not in it. Nothing is asserted;
the figures are printed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import logging
import os
import resource
import tempfile
import time
from collections.abc import Callable
from typing import Any

from aiogram.types import Update
from pydantic import SecretStr
from sqlalchemy import event

from benchmarks.common import create_database, drop_database, fresh_database_name
from bot.app import App, create_app
from bot.config import Settings
from bot.services.casework import lean
from fake_telegram import FakeBotAPI

# Texts the triage reads as ordinary (NORMAL, no hints): the lean path's case.
ORDINARY = (
    "мне просто хочется с кем-то поговорить",
    "бүгүн сабакта көп нерсе үйрөндүк",
    "мен кітап оқығанды жақсы көремін",
    "после уроков мы ходили в библиотеку",
)


def text_update(update_id: int, user_id: int, text: str) -> dict[str, Any]:
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": int(time.time()),
            "chat": {"id": user_id, "type": "private", "first_name": "S"},
            "from": {"id": user_id, "is_bot": False, "first_name": "S", "language_code": "ru"},
            "text": text,
        },
    }


class Counter:
    """Statements the engine sends, and transactions begun and committed."""

    def __init__(self) -> None:
        self.executes = 0
        self.commits = 0

    def install(self, app: App) -> None:
        sync_engine = app.core.engine.sync_engine

        def on_execute(*_args: Any) -> None:
            self.executes += 1

        def on_commit(*_args: Any) -> None:
            self.commits += 1

        event.listen(sync_engine, "before_cursor_execute", on_execute)
        event.listen(sync_engine, "commit", on_commit)


class HandoverReasons(logging.Handler):
    def __init__(self, outcomes: collections.Counter[str]) -> None:
        super().__init__(logging.DEBUG)
        self.outcomes = outcomes

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("lean_handover"):
            self.outcomes[message.removeprefix("lean_handover ")] += 1


def counting_outcomes() -> collections.Counter[str]:
    outcomes: collections.Counter[str] = collections.Counter()
    lean_log = logging.getLogger(lean.__name__)
    lean_log.addHandler(HandoverReasons(outcomes))
    lean_log.setLevel(logging.DEBUG)
    submit: Callable[..., Any] = lean.submit

    async def counted(*args: Any) -> lean.Outcome:
        result: lean.Outcome = await submit(*args)
        outcomes[result.value] += 1
        return result

    lean.submit = counted  # type: ignore[assignment]
    return outcomes


async def run(students: int, rounds: int, sqlite: bool) -> dict[str, Any]:
    workdir = tempfile.mkdtemp(prefix="trustline_student_path_")
    os.chdir(workdir)
    name = fresh_database_name("student_path")
    url = f"sqlite+aiosqlite:///{workdir}/bench.db" if sqlite else await create_database(name)
    outcomes = counting_outcomes()
    try:
        async with FakeBotAPI() as api:
            settings = Settings(  # type: ignore[call-arg]  # pydantic-settings' _env_file
                bot_token=SecretStr("123456:" + "A" * 35),
                database_url=url,
                master_key=SecretStr(base64.urlsafe_b64encode(os.urandom(32)).decode()),
                telegram_api=api.base_url,
                bot_username="trustline_bench_bot",
                student_messages_per_minute=1000,
                _env_file=None,
            )
            app = await create_app(settings, migrate=True)
            try:
                counter = Counter()
                counter.install(app)
                users = [9_000_000 + i for i in range(students)]
                next_id = 1

                async def feed(user: int, text: str) -> None:
                    nonlocal next_id
                    raw = text_update(next_id, user, text)
                    next_id += 1
                    await app.feed_update(Update.model_validate(raw, context={"bot": app.bot}))

                for user in users:  # each opens a case (ORM path in both modes)
                    await feed(user, ORDINARY[0])
                figures: dict[str, dict[str, float]] = {}
                totals = {
                    m: {"executes": 0, "commits": 0, "user": 0.0, "system": 0.0, "n": 0}
                    for m in MODES
                }
                for r in range(-2, rounds):  # two rounds to warm up: caches, statements
                    for mode in MODES if r % 2 == 0 else tuple(reversed(MODES)):
                        settings.lean_student_path = mode == "lean"
                        before = (counter.executes, counter.commits, *cpu_times())
                        for i, user in enumerate(users):
                            await feed(user, f"{ORDINARY[(i + r) % len(ORDINARY)]} {r}")
                        if r < 0:
                            continue
                        t = totals[mode]
                        t["executes"] += counter.executes - before[0]
                        t["commits"] += counter.commits - before[1]
                        user, system = cpu_times()
                        t["user"] += user - before[2]
                        t["system"] += system - before[3]
                        t["n"] += len(users)
                for mode, t in totals.items():
                    figures[mode] = {
                        "statements_per_message": t["executes"] / t["n"],
                        "commits_per_message": t["commits"] / t["n"],
                        "cpu_ms_per_message": 1000 * (t["user"] + t["system"]) / t["n"],
                        "user_ms_per_message": 1000 * t["user"] / t["n"],
                        "system_ms_per_message": 1000 * t["system"] / t["n"],
                        "messages": t["n"],
                    }
                return {"engine": "sqlite" if sqlite else "postgresql", **figures}
            finally:
                await app.close()
    finally:
        print("lean outcomes:", dict(outcomes))
        if not sqlite:
            await drop_database(name)


MODES = ("orm", "lean")


def cpu_times() -> tuple[float, float]:
    """This process's user and system CPU seconds (a round trip to a local PostgreSQL
    costs system time here: the loopback's work is done in the sender's context)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--sqlite", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(run(args.students, args.rounds, args.sqlite))
    print(result["engine"])
    for mode in MODES:
        f = result[mode]
        print(
            f"  {mode:4}: {f['statements_per_message']:.2f} statements/message "
            f"(+{f['commits_per_message']:.2f} commits), "
            f"{f['cpu_ms_per_message']:.2f} ms CPU/message (user {f['user_ms_per_message']:.2f}, "
            f"system {f['system_ms_per_message']:.2f}) over {f['messages']:.0f} messages"
        )


if __name__ == "__main__":
    main()
