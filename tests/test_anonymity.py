"""After a whole conversation, nothing in the database or the logs names the student or the
psychologist, or holds what was written; nothing is ever forwarded."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from bot.app import App
from bot.db.base import Base
from bot.db.session import is_sqlite
from fake_telegram import FakeBotAPI, TgUser
from tests.faults.support import case_of, command, psychologist, settled

# Ids beyond 32 bits, as Telegram hands out now: no chance of meeting them by accident.
STUDENT = TgUser(
    5_731_945_288,
    "Айгерим",
    last_name="Сатпаева",
    username="aigerim_secret_2011",
    language_code="kk",
)
PSY = TgUser(6_845_512_307, "Нурлан", last_name="Психологов", username="nurlan_psy_kz")
FRIEND = {
    "type": "user",
    "date": 1_700_000_000,
    "sender_user": {
        "id": 7_112_334_455,
        "is_bot": False,
        "first_name": "Досым",
        "username": "dosym_forwarded",
    },
}
MARKERS = ("МАРКЕР-ЛИСА-9371", "ҚҰПИЯ-СӨЗ-4410", "ОТВЕТ-МАРКЕР-5521", "ЗАМЕТКА-8830")


def secrets() -> list[str]:
    people = [STUDENT, PSY]
    words = [w for p in people for w in (p.first_name, p.last_name, p.username) if w]
    ids = [str(p.id) for p in people] + [str(FRIEND["sender_user"]["id"])]
    return [*words, *ids, "Досым", "dosym_forwarded", *MARKERS]


def binary_forms(number: int) -> list[bytes]:
    """How an integer column could hold an id: SQLite's 6- and 8-byte big-endian forms."""
    return [number.to_bytes(6, "big"), number.to_bytes(8, "big"), number.to_bytes(8, "little")]


async def converse(app: App, fake_api: FakeBotAPI) -> None:
    await psychologist(app, PSY)
    fake_api.start(STUDENT)
    fake_api.text_message(STUDENT, f"Мені сыныпта ұрады. {MARKERS[0]}")
    await settled(app, fake_api)
    case = await case_of(app, STUDENT)
    command(fake_api, PSY, f"/take {case.code}")
    await settled(app, fake_api)
    fake_api.photo_message(STUDENT, caption=f"суретте {MARKERS[1]}")
    fake_api.text_message(STUDENT, "қараңыз", forward_origin=FRIEND)
    fake_api.text_message(PSY, f"Сен кінәлі емессің. {MARKERS[2]}")
    command(fake_api, PSY, f"/note {MARKERS[3]}")
    await settled(app, fake_api)


async def test_nothing_names_anyone_in_the_database_or_the_logs(
    app: App, fake_api: FakeBotAPI, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)  # every logger, at its most talkative
    caplog.set_level(logging.DEBUG, logger="sqlalchemy.engine")
    await converse(app, fake_api)
    answer = [t for t in fake_api.sent_texts(STUDENT.id) if MARKERS[2] in t]
    assert len(answer) == 1  # the conversation really happened
    to_psy = " ".join(fake_api.sent_texts(PSY.id))
    assert MARKERS[0] in to_psy  # relayed by copy, names left behind
    for word in (
        STUDENT.first_name,
        STUDENT.last_name,
        STUDENT.username,
        str(STUDENT.id),
        "Досым",
        "dosym_forwarded",
    ):
        assert word not in to_psy
    assert PSY.first_name not in " ".join(fake_api.sent_texts(STUDENT.id))
    assert fake_api.calls_of("forwardMessage") == []

    logged = caplog.text
    assert "student_message case=" in logged and "Update id=" in logged  # they were heard
    assert "INSERT INTO case_messages" in logged  # even the SQL and its parameters
    found = [s for s in secrets() if s in logged]
    assert not found, f"logs hold {found}"

    dump = await database_bytes(app)
    found = [s for s in secrets() if s.encode() in dump]
    found += [
        str(p.id) for p in (STUDENT, PSY) if any(form in dump for form in binary_forms(p.id))
    ]
    assert not found, f"the database holds {found}"


async def database_bytes(app: App) -> bytes:
    """Every byte the database keeps: the SQLite files (main, -wal, -shm), or every row of
    every table on PostgreSQL, values in their raw and printed forms."""
    url = app.settings.database_url
    if is_sqlite(url):
        path = Path(url.split("///", 1)[1])
        files = [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
        assert files[1].exists() or files[0].stat().st_size > 0
        return b"".join(f.read_bytes() for f in files if f.exists())
    parts: list[bytes] = []
    async with app.sessionmaker() as session:
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                parts.extend(_as_bytes(value) for value in row)
    assert parts
    return b"\x00".join(parts)


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return (
            b"\x00".join([str(value).encode(), *binary_forms(value)])
            if value >= 0
            else str(value).encode()
        )
    return str(value).encode()
