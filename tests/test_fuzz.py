"""Updates no one would write by hand, through the real dispatcher: mixed scripts, huge
captions, random /start payloads and button data, unknown update types, missing fields.
Nothing may raise, and every row stays whole: each ciphertext opens, counts add up and the
audit chain holds."""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from bot.app import App, handle_update, parse_update
from bot.db.models import Case, CaseMessage, Member, OutboxMessage, Student
from bot.delivery import outbox
from bot.services.security import audit
from fake_telegram import FakeBotAPI, TgUser
from tests.faults.support import case_of, settled, stored_texts

# Kazakh and Kyrgyz letters, Russian, Latin, Arabic, emoji with joiners, combining marks,
# right-to-left and zero-width controls, and whatever else hypothesis brings.
MIXED = st.lists(
    st.one_of(
        st.sampled_from("әғқңөұүһіӘҒҚҢӨҰҮҺІңөүЁёЪъ"),
        st.characters(min_codepoint=0x400, max_codepoint=0x4FF),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.characters(min_codepoint=0x600, max_codepoint=0x6FF),
        st.sampled_from(
            ["👩‍👧", "🏳️‍🌈", "\u200d", "\u200f", "\u202e", "e\u0301", "\ufeff", "\x00", "\r\n"]
        ),
        st.characters(exclude_categories=("Cs",)),
    ),
    max_size=120,
).map("".join)
HUGE = st.builds(lambda s, n: (s or "ж") * n, MIXED, st.integers(1, 60))
IDS = itertools.count(10_000_000)
USERS = st.builds(
    lambda uid, name, lang: {
        "id": uid,
        "is_bot": False,
        "first_name": name or "x",
        **({"language_code": lang} if lang else {}),
    },
    st.integers(1, 2**52),
    MIXED,
    st.sampled_from([None, "ky", "kk", "ru", "en", "zz-ZZ", ""]),
)
COMMANDS = st.sampled_from(
    [
        "/start",
        "/new",
        "/lang",
        "/help",
        "/privacy",
        "/forget",
        "/queue",
        "/take",
        "/mute",
        "/close",
        "/note",
        "/unknown",
    ]
)
BUTTONS = st.one_of(
    st.builds(
        lambda p, s: p + s,
        st.sampled_from(
            ["lang:", "region:", "district:", "forget:", "take:", "close:", "tr:", ""]
        ),
        MIXED,
    ),
    st.binary(max_size=64).map(lambda b: b.decode("latin-1")),
)


def _message(user: dict[str, Any], body: dict[str, Any], chat_type: str) -> dict[str, Any]:
    chat = {"id": user["id"], "type": chat_type, "first_name": user["first_name"]}
    if chat_type != "private":
        chat = {"id": -user["id"], "type": chat_type, "title": "g"}
    return {
        "message_id": next(IDS) % 2**31,
        "date": 1_700_000_000,
        "chat": chat,
        "from": user,
        **body,
    }


@st.composite
def updates(draw: st.DrawFn) -> dict[str, Any]:
    user = draw(USERS)
    kind = draw(
        st.sampled_from(
            [
                "text",
                "command",
                "start",
                "caption",
                "callback",
                "edited",
                "unknown",
                "missing",
                "group",
                "entities",
            ]
        )
    )
    chat_type = "private"
    if kind == "text":
        body: dict[str, Any] = {"text": draw(st.one_of(MIXED, HUGE)) or "."}
    elif kind == "command":
        text = draw(COMMANDS) + draw(st.sampled_from(["", " "])) + draw(MIXED)
        body = {
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(text.split(" ")[0])}],
        }
    elif kind == "start":
        text = "/start " + draw(
            st.one_of(MIXED, st.from_regex(r"[A-Za-z0-9_-]{0,80}", fullmatch=True))
        )
        body = {"text": text, "entities": [{"type": "bot_command", "offset": 0, "length": 6}]}
    elif kind == "caption":
        media = draw(st.sampled_from(["photo", "document", "voice", "sticker", "video"]))
        file = {"file_id": draw(MIXED) or "f", "file_unique_id": "u"}
        obj: Any = [{**file, "width": 1, "height": 1}] if media == "photo" else file
        if media == "sticker":
            obj = {
                **file,
                "type": "regular",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
            }
        if media in ("voice", "video"):
            obj = {
                **file,
                "duration": 1,
                **({"width": 1, "height": 1} if media == "video" else {}),
            }
        body = {media: obj, "caption": draw(st.one_of(MIXED, HUGE))}
    elif kind == "entities":
        text = draw(MIXED) or "x"
        body = {
            "text": text,
            "entities": [
                {
                    "type": draw(st.sampled_from(["bold", "bot_command", "mention", "text_link"])),
                    "offset": draw(st.integers(0, 50)),
                    "length": draw(st.integers(0, 50)),
                    "url": "http://x",
                }
            ],
            "forward_origin": {"type": "hidden_user", "date": 1, "sender_user_name": "n"},
        }
    elif kind == "group":
        chat_type = draw(st.sampled_from(["group", "supergroup", "channel"]))
        body = {"text": draw(MIXED) or "."}
    elif kind == "callback":
        query: dict[str, Any] = {
            "id": str(next(IDS)),
            "from": user,
            "chat_instance": "c",
            "data": draw(BUTTONS),
        }
        if draw(st.booleans()):
            query["message"] = _message(
                {"id": user["id"], "is_bot": True, "first_name": "b"}, {"text": "…"}, "private"
            )
        return {"update_id": next(IDS), "callback_query": query}
    elif kind == "edited":
        return {
            "update_id": next(IDS),
            "edited_message": {
                **_message(user, {"text": draw(MIXED) or "."}, "private"),
                "edit_date": 1,
            },
        }
    elif kind == "unknown":
        name = draw(st.sampled_from(["business_story", "chat_boost_v9", "x"]))
        return {"update_id": next(IDS), name: {"id": 1, "from": user, "payload": draw(MIXED)}}
    else:  # missing fields: drop any of them from an otherwise valid message
        message = _message(user, {"text": draw(MIXED) or "."}, "private")
        for key in draw(
            st.sets(st.sampled_from(["from", "chat", "date", "message_id", "text"]), min_size=1)
        ):
            message.pop(key, None)
        return {"update_id": next(IDS), "message": message}
    return {"update_id": next(IDS), "message": _message(user, body, chat_type)}


@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(updates(), min_size=1, max_size=4))
async def test_random_updates_never_raise_and_leave_every_row_whole(
    app: App,
    fake_api: FakeBotAPI,
    caplog: pytest.LogCaptureFixture,
    batch: list[dict[str, Any]],
):
    caplog.set_level(logging.WARNING)
    for raw in batch:
        raw = json.loads(json.dumps(raw))  # exactly what could come over the wire
        update = parse_update(app, raw)
        if update is not None:
            assert await handle_update(app, update)  # done with: committed or a duplicate
    failures = [
        r.getMessage()
        for r in caplog.records
        if r.name.startswith(("bot", "handlers", "aiogram")) and r.levelno >= logging.ERROR
    ]
    assert not failures
    await check_whole(app)


NASTY = [
    "Мен қорқамын 😢 \u202eтүн\u202c ортасында",
    "ﷺ مرحبا Саламатсызбы ӨҮҢ" * 40,
    "e\u0301" * 2000,
    "\x00\ufeff\u200d👩‍👧\r\n",
]


async def test_what_is_stored_comes_back_exactly(app: App, fake_api: FakeBotAPI):
    student = TgUser(4_000_000_001, "Ainur", language_code="kk")
    for text in NASTY:
        fake_api.text_message(student, text)
    fake_api.photo_message(student, caption="ӘҒҚ" * 5000)  # far beyond Telegram's 1024
    await settled(app, fake_api, timeout=30)
    case = await case_of(app, student)
    assert await stored_texts(app, case.id) == [*NASTY, "ӘҒҚ" * 5000]
    await check_whole(app)


async def check_whole(app: App) -> None:
    vault = app.rt.vault
    async with app.sessionmaker() as session:
        for case in (await session.scalars(select(Case))).all():
            if case.chat_id_enc is not None:
                assert isinstance(vault.student_chat_id(case), int)
            if case.signals_enc is not None:
                assert isinstance(
                    json.loads(vault.open_for_case(case, "case", "signals", case.signals_enc)),
                    list,
                )
            messages = (
                await session.scalars(select(CaseMessage).where(CaseMessage.case_id == case.id))
            ).all()
            for message in messages:
                row = f"msg/{message.id}"
                if message.body_enc is not None:
                    vault.open_text_for_case(case, row, "body", message.body_enc)
                if message.file_id_enc is not None:
                    vault.open_for_case(case, row, "file_id", message.file_id_enc)
            students = [m for m in messages if m.author == "student"]
            assert case.message_count == len(students)
        for row in (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.status.in_(("pending", "sending")))
            )
        ).all():
            target: Case | Member | None = None  # None: a direct row, sealed on its own
            if row.case_id is not None:
                target = await session.get(Case, row.case_id)
                assert target is not None
            elif row.member_id is not None:
                target = await session.get(Member, row.member_id)
                assert target is not None
            else:
                assert row.chat_key is not None  # a direct row is queued by its chat's key
            assert outbox.open_payload(vault, row, target)["method"]
        for student in (await session.scalars(select(Student))).all():
            assert len(student.pseudonym) == 32
        report = await audit.verify(session)
        assert report.ok, report.problem
