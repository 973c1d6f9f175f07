"""bot/delivery/notices.py: a notice becomes the outbox rows that say it, in the recipient's
language, whole (long texts in parts), with its buttons, and no chat id in clear."""

from __future__ import annotations

import os
from typing import Any

import pytest

from bot.callbacks import SafetyAnswer, TakeCase
from bot.config import Settings
from bot.crypto import MasterKey, MasterKeyring, PseudonymKeys
from bot.db.models import Member, OutboxMessage
from bot.delivery import notices, outbox
from bot.delivery.notices import Button, Entries, Joined, Keyboard, Media, Notice, Text
from bot.delivery.text_parts import TEXT_LIMIT, utf16_len
from bot.domain import ContentKind
from bot.i18n import Translator, make_i18n
from bot.services.runtime import Runtime
from bot.services.security.vault import Vault


class Rows:
    """Stands in for the session: `outbox.enqueue` only adds rows to it."""

    def __init__(self) -> None:
        self.added: list[OutboxMessage] = []

    def add(self, row: OutboxMessage) -> None:
        self.added.append(row)


@pytest.fixture(scope="module")
def rt() -> Runtime:
    vault = Vault(MasterKeyring(MasterKey.generate()), PseudonymKeys.from_root(os.urandom(32)))
    return Runtime(
        vault=vault,
        tr=Translator(make_i18n()),
        settings=Settings(bot_token="1:x", _env_file=None),  # type: ignore[call-arg]
    )


def _member(rt: Runtime, language: str) -> Member:
    member = Member(id=7, pseudonym=os.urandom(32), language=language, role="psychologist")
    rt.vault.new_member_key(member)
    return member


def _only(calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    assert len(calls) == 1
    method, params = calls[0]
    assert method == "sendMessage"
    return params


@pytest.mark.parametrize(
    ("lang", "expected"),
    [("ru", "Получено ✓"), ("ky", "Алынды ✓"), ("kk", "Қабылданды ✓")],
)
def test_a_text_key_is_said_in_the_recipients_language(
    rt: Runtime, lang: str, expected: str
) -> None:
    params = _only(notices.calls(rt, Notice(_member(rt, lang), Text("Received ✓"))))
    assert params == {"text": expected}


def test_arguments_are_translated_in_the_same_language(rt: Runtime) -> None:
    card = Joined(
        (
            Text("Priority: {priority}", priority=Text("urgent")),
            Text("Waiting: {wait}", wait=Text("{minutes} min", minutes=5)),
            "#7KQ2-M9XD",  # a ready string stays as it is
        )
    )
    for lang in ("ky", "kk", "ru"):
        text = _only(notices.calls(rt, Notice(_member(rt, lang), card)))["text"]
        first, second, third = text.split("\n")
        assert first == rt.tr(lang, "Priority: {priority}", priority=rt.tr(lang, "urgent"))
        assert second == rt.tr(
            lang, "Waiting: {wait}", wait=rt.tr(lang, "{minutes} min", minutes=5)
        )
        assert third == "#7KQ2-M9XD"
    assert notices.render(rt, "ru", card) != notices.render(rt, "kk", card)


def test_buttons_carry_packed_callback_data_and_translated_labels(rt: Runtime) -> None:
    notice = Notice(
        _member(rt, "kk"),
        Text("New case in your pool"),
        buttons=(
            (Button(Text("I'm in danger now"), SafetyAnswer(answer="danger", code="7KQ2M9XD")),),
            (Button(Text("Take this case"), TakeCase(code="7KQ2M9XD")),),
        ),
    )
    markup = _only(notices.calls(rt, notice))["reply_markup"]
    assert markup == {
        "inline_keyboard": [
            [
                {
                    "text": rt.tr("kk", "I'm in danger now"),
                    "callback_data": "safe:danger:7KQ2M9XD",
                }
            ],
            [{"text": rt.tr("kk", "Take this case"), "callback_data": "take:7KQ2M9XD"}],
        ]
    }


def test_a_reply_keyboard_and_options(rt: Runtime) -> None:
    notice = Notice(
        outbox.Chat(5),
        "x",
        keyboard=Keyboard(((Text("🆘 I need help now"),),)),
        lang="ky",
        protect_content=True,
        parse_mode="HTML",
    )
    params = _only(notices.calls(rt, notice))
    assert params["reply_markup"] == {
        "keyboard": [[{"text": rt.tr("ky", "🆘 I need help now")}]],
        "resize_keyboard": True,
        "is_persistent": True,
    }
    assert params["protect_content"] is True and params["parse_mode"] == "HTML"


def test_a_bare_chat_needs_a_language(rt: Runtime) -> None:
    with pytest.raises(ValueError):
        notices.calls(rt, Notice(outbox.Chat(5), Text("Received ✓")))


def test_a_long_text_goes_whole_in_numbered_parts_buttons_under_the_last(rt: Runtime) -> None:
    words = " ".join(f"слово{n}" for n in range(2000))  # ~15,000 units
    notice = Notice(
        _member(rt, "ru"),
        words,
        header=Text("💬 The psychologist:"),
        buttons=((Button(Text("Take this case"), TakeCase(code="7KQ2M9XD")),),),
    )
    calls = notices.calls(rt, notice)
    assert len(calls) >= 4
    header = rt.tr("ru", "💬 The psychologist:")
    bodies = []
    for number, (method, params) in enumerate(calls, 1):
        assert method == "sendMessage"
        assert utf16_len(params["text"]) <= TEXT_LIMIT
        first_line, body = params["text"].split("\n", 1)
        assert first_line == f"{header} ({number}/{len(calls)})"
        bodies.append(body)
        assert ("reply_markup" in params) == (number == len(calls))
    assert " ".join(bodies).split() == words.split()


def test_a_file_carries_the_start_of_the_text_as_its_caption(rt: Runtime) -> None:
    notice = Notice(
        _member(rt, "ru"),
        "а" * 3000,
        header="💬",
        media=Media.stored(ContentKind.PHOTO, "file-1"),
    )
    (method, first), *rest = notices.calls(rt, notice)
    assert method == "sendPhoto" and first["photo"] == "file-1"
    assert utf16_len(first["caption"]) <= 1024
    assert rest and all(m == "sendMessage" for m, _ in rest)
    sticker = Notice(_member(rt, "ru"), "hi", media=Media.stored(ContentKind.STICKER, "s-1"))
    assert [m for m, _ in notices.calls(rt, sticker)] == ["sendMessage", "sendSticker"]


def test_a_header_on_a_file_is_drawn_above_it(rt: Runtime) -> None:
    photo = Media.stored(ContentKind.PHOTO, "file-1")
    labelled = Notice(_member(rt, "ru"), "подпись", header="💬 #7KQ2-M9XD", media=photo)
    ((method, params),) = notices.calls(rt, labelled)
    assert method == "sendPhoto" and params["caption"] == "💬 #7KQ2-M9XD\nподпись"
    assert params["show_caption_above_media"] is True
    # A caption of its own (no label) stays under the file, as Telegram draws captions.
    ((_, plain),) = notices.calls(rt, Notice(_member(rt, "ru"), "подпись", media=photo))
    assert "show_caption_above_media" not in plain
    # A voice message takes no such parameter: its caption stays where Telegram puts it.
    voice = Notice(
        _member(rt, "ru"), "x", header="💬", media=Media.stored(ContentKind.VOICE, "v-1")
    )
    ((method, params),) = notices.calls(rt, voice)
    assert method == "sendVoice" and "show_caption_above_media" not in params


def test_entries_are_packed_whole_per_page(rt: Runtime) -> None:
    lines = tuple(f"[{n:04}] " + "ж" * 300 for n in range(40))
    pages = notices.calls(rt, Notice(_member(rt, "ru"), Entries(lines), header="#7KQ2-M9XD"))
    assert len(pages) > 1
    seen = [line for _, p in pages for line in p["text"].split("\n")[1:]]
    assert seen == list(lines)  # every line, whole, in order


def test_rows_are_queued_in_order_sealed_and_name_no_chat(rt: Runtime) -> None:
    session = Rows()
    chat_id = 987654321
    member = _member(rt, "ru")
    rows = notices.send(
        session,  # type: ignore[arg-type]
        rt,
        [
            Notice(outbox.Chat(chat_id), Text("Received ✓"), lang="kk"),
            Notice(member, Text("Received ✓"), relay_case_id=12),
        ],
    )
    assert session.added == rows and len(rows) == 2
    direct, to_member = rows
    assert direct.created_at == to_member.created_at and direct.id < to_member.id
    assert to_member.member_id == member.id and to_member.relay_case_id == 12
    # The chat is reached by a keyed hash; the id is nowhere in clear, the text neither.
    assert direct.case_id is None and direct.member_id is None
    assert direct.chat_key == outbox.chat_key(rt.vault, chat_id)
    for row in rows:
        for value in vars(row).values():
            clear = value if isinstance(value, bytes) else str(value).encode()
            assert str(chat_id).encode() not in clear
            assert rt.tr("kk", "Received ✓").encode() not in clear
    opened = outbox.open_payload(rt.vault, direct, None)
    assert opened == {
        "method": "sendMessage",
        "params": {"text": rt.tr("kk", "Received ✓")},
        "chat_id": chat_id,
    }


def test_tell_queues_a_ready_text_for_a_member(rt: Runtime) -> None:
    session = Rows()
    member = _member(rt, "ky")
    (row,) = notices.tell(session, rt, member, "Даяр")  # type: ignore[arg-type]
    payload = outbox.open_payload(rt.vault, row, member)
    assert payload == {"method": "sendMessage", "params": {"text": "Даяр"}}
