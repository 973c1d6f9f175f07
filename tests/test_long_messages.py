"""Whole, both ways (issue 12): long texts reach the other side in full, through the fake Bot
API, which refuses what Telegram refuses (over 4,096 UTF-16 code units for a text, 1,024 for
a caption). Parts are numbered, arrive in order, and put back together give the original
(only the whitespace where a cut fell is dropped). On SQLite and PostgreSQL."""

from __future__ import annotations

import re

from bot.app import App
from bot.delivery.text_parts import utf16_len
from bot.domain import Role
from bot.services.casework import codes
from fake_telegram import Call, FakeBotAPI, TgUser
from tests.queue_helpers import (
    Places,
    command,
    join,
    relayed,
    seed_places,
    settings,  # noqa: F401 - faster per-chat sending
    student_opens_case,
    take,
)

STUDENT_WRITES = "💬 {code} — the student writes:"
PSYCHOLOGIST = "💬 The psychologist:"
SENTENCES = [
    "Мен мектепте қорқамын, үзілісте олар мені дәлізде күтіп тұрады.",
    "Меня обижают в классе, и я никому об этом не говорил!",
    "Мугалимге айткым келбейт, анткени ал директорго айтып коёт…",
    "Что мне делать?",
]
EMOJI_SENTENCES = [
    "😢😢 мне страшно 😭.",
    "🔪 они сказали, что побьют 🩸!",
    "👩‍👧 мама не знает 🙏",
    "😂" * 12 + ".",
]
_NUMBER = re.compile(r" \((\d+)/(\d+)\)$")
_BLANKS = re.compile(r"\s+")


def long_text(units: int, sentences: list[str], seed: int = 0) -> str:
    """Prose of exactly `units` UTF-16 code units: sentences, some paragraphs, no whitespace
    at either end (as Telegram delivers a message)."""
    out: list[str] = []
    total, index = 0, seed
    while total < units + 200:
        sentence = sentences[index % len(sentences)]
        out.append(sentence + ("\n\n" if index % 5 == 4 else " "))
        total += utf16_len(out[-1])
        index += 1
    text = "".join(out)
    while utf16_len(text) > units - 1 or text[-1:].isspace():
        text = text[:-1]
    text += "я" * (units - utf16_len(text))
    assert utf16_len(text) == units and text == text.strip()
    return text


def paste(text: str, limit: int = 4096) -> list[str]:
    """What a Telegram client sends for a long paste: messages of at most 4,096 units, cut
    at the last space that fits (dropped), never inside a character."""
    messages: list[str] = []
    while text:
        if utf16_len(text) <= limit:
            messages.append(text)
            break
        end = len(text)
        while utf16_len(text[:end]) > limit:
            end -= max(1, (utf16_len(text[:end]) - limit) // 2)
        cut = text.rfind(" ", 0, end + 1)
        cut = cut if cut > 0 else end
        messages.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    return messages


def split_header(text: str, label: str) -> tuple[int, int, str]:
    """(number, total, body) of one part: "label (k/n)\\nbody", or "label\\nbody" alone."""
    first, _sep, body = text.partition("\n")
    found = _NUMBER.search(first)
    if found is None:
        assert first == label, first
        return 1, 1, body
    assert first[: found.start()] == label, first
    return int(found.group(1)), int(found.group(2)), body


def assert_whole(original: str, bodies: list[str]) -> None:
    """The bodies, in order, are the original with only whitespace dropped between them."""
    position = 0
    for body in bodies:
        assert body.strip(), "an empty part"
        while (
            position < len(original)
            and original[position].isspace()
            and not original.startswith(body, position)
        ):
            position += 1
        assert original.startswith(body, position), (position, body[:40])
        position += len(body)
    assert not original[position:].strip(), "the end of the text never arrived"


async def parts_to(
    api: FakeBotAPI,
    chat_id: int,
    start: int,
    label: str,
    timeout: float = 20.0,  # noqa: ASYNC109
) -> list[Call]:
    """The parts of one labelled message sent to `chat_id` after `start`, all of them, in
    the order they were sent (waits for the last one)."""

    def labelled(call: Call) -> bool:
        return call.chat_id == chat_id and call.is_send and (call.text or "").startswith(label)

    first = await api.wait_for(labelled, timeout, start=start)
    _k, total, _body = split_header(first.text or "", label)
    await api.wait_for_count(labelled, total, timeout, start=start)
    calls = [c for c in api.calls[start:] if c.ok and labelled(c)][:total]
    numbers = [split_header(c.text or "", label)[:2] for c in calls]
    assert numbers == [(k, total) for k in range(1, total + 1)]  # in order, none missing
    return calls


def bodies_of(calls: list[Call], label: str) -> list[str]:
    return [split_header(c.text or "", label)[2] for c in calls]


def assert_nothing_refused(api: FakeBotAPI, start: int) -> None:
    refused = [c.describe() for c in api.calls[start:] if c.is_send and not c.ok]
    assert refused == []


async def _taken_case(
    app: App, api: FakeBotAPI, places: Places, psy: TgUser, student: TgUser
) -> str:
    await join(app, api, psy, Role.PSYCHOLOGIST, district=places.lenin)
    case = await student_opens_case(app, api, student, "Мне нужна помощь", district=places.lenin)
    await take(app, api, psy, case.code)
    return case.code


async def test_a_4096_character_message_reaches_the_psychologist_whole(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    psy, student = TgUser(7101, "Psy", language_code="ru"), TgUser(7102, "S", language_code="ru")
    code = await _taken_case(app, fake_api, places, psy, student)
    label = app.rt.tr("ru", STUDENT_WRITES, code=codes.display(code))

    start = 0
    for text in (long_text(4096, SENTENCES), long_text(4096, EMOJI_SENTENCES, seed=1)):
        assert utf16_len(text) == 4096  # the most one Telegram message can carry
        start = len(fake_api.calls)
        fake_api.text_message(student, text)
        parts = await parts_to(fake_api, psy.id, start, label)
        assert len(parts) == 2  # the label pushed it over: two parts, not a lost message
        assert all(utf16_len(p.text or "") <= 4096 for p in parts)
        assert_whole(text, bodies_of(parts, label))
        assert_nothing_refused(fake_api, start)

    # A reply to the last part is a reply in the case: it reaches the student.
    relay_id = await relayed(app, fake_api, psy, start, f"{label} (2/2)")
    start = len(fake_api.calls)
    fake_api.reply_to(psy, relay_id, "Я прочитал всё, спасибо, что написал.")
    answer = await fake_api.wait_for(
        lambda c: c.chat_id == student.id and "спасибо, что написал" in (c.text or ""),
        10,
        start=start,
    )
    assert (answer.text or "").startswith(app.rt.tr("ru", PSYCHOLOGIST))


async def test_a_4096_character_answer_reaches_the_student_whole(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    psy, student = TgUser(7201, "Psy", language_code="kk"), TgUser(7202, "S", language_code="kk")
    await _taken_case(app, fake_api, places, psy, student)
    label = app.rt.tr("kk", PSYCHOLOGIST)
    for text in (long_text(4096, SENTENCES, seed=2), long_text(4096, EMOJI_SENTENCES)):
        start = len(fake_api.calls)
        fake_api.text_message(psy, text)
        parts = await parts_to(fake_api, student.id, start, label)
        assert len(parts) == 2
        assert_whole(text, bodies_of(parts, label))
        assert_nothing_refused(fake_api, start)
    # Short answers are unchanged: one message, label and text.
    start = len(fake_api.calls)
    fake_api.text_message(psy, "Мен осындамын 🙂")
    parts = await parts_to(fake_api, student.id, start, label)
    assert [p.text for p in parts] == [f"{label}\nМен осындамын 🙂"]


async def test_a_long_caption_arrives_whole_both_ways(app: App, fake_api: FakeBotAPI) -> None:
    places = await seed_places(app)
    psy, student = TgUser(7301, "Psy", language_code="ru"), TgUser(7302, "S", language_code="ru")
    code = await _taken_case(app, fake_api, places, psy, student)

    # A Premium student may caption a photo with up to 4,096 units; a bot only 1,024.
    caption = long_text(3000, EMOJI_SENTENCES + SENTENCES)
    label = app.rt.tr("ru", STUDENT_WRITES, code=codes.display(code))
    start = len(fake_api.calls)
    fake_api.photo_message(student, caption=caption)
    parts = await parts_to(fake_api, psy.id, start, label)
    assert parts[0].method == "sendPhoto" and parts[0].message is not None
    assert "photo" in parts[0].message and utf16_len(parts[0].text or "") <= 1024
    assert [p.method for p in parts[1:]] == ["sendMessage"] * (len(parts) - 1)
    assert len(parts) == 2
    assert_whole(caption, bodies_of(parts, label))
    assert_nothing_refused(fake_api, start)

    # The psychologist's photo with a caption that fits 1,024 only without the label.
    answer = long_text(1020, SENTENCES)
    label = app.rt.tr("ru", PSYCHOLOGIST)
    start = len(fake_api.calls)
    fake_api.photo_message(psy, caption=answer)
    parts = await parts_to(fake_api, student.id, start, label)
    assert [p.method for p in parts] == ["copyMessage", "sendMessage"]
    assert parts[0].message is not None and "photo" in parts[0].message
    assert_whole(answer, bodies_of(parts, label))
    assert_nothing_refused(fake_api, start)
    assert not fake_api.calls_of("forwardMessage")


async def test_a_10000_character_paste_arrives_whole_and_case_shows_it_all(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    psy, student = TgUser(7401, "Psy", language_code="ky"), TgUser(7402, "S", language_code="ky")
    code = await _taken_case(app, fake_api, places, psy, student)
    label = app.rt.tr("ky", STUDENT_WRITES, code=codes.display(code))
    text = long_text(10_000, EMOJI_SENTENCES + SENTENCES, seed=3)
    messages = paste(text)
    assert len(messages) == 3 and all(utf16_len(m) <= 4096 for m in messages)

    received: list[str] = []
    for message in messages:  # the client sends the pieces one by one
        start = len(fake_api.calls)
        fake_api.text_message(student, message)
        parts = await parts_to(fake_api, psy.id, start, label)
        assert_whole(message, bodies_of(parts, label))
        received += bodies_of(parts, label)
        assert_nothing_refused(fake_api, start)
    assert _BLANKS.sub("", "".join(received)) == _BLANKS.sub("", text)

    answer = long_text(5000, SENTENCES, seed=1)
    answer_pieces = paste(answer)
    psy_label = app.rt.tr("ky", PSYCHOLOGIST)
    for piece in answer_pieces:
        start = len(fake_api.calls)
        fake_api.text_message(psy, piece)
        assert_whole(
            piece, bodies_of(await parts_to(fake_api, student.id, start, psy_label), psy_label)
        )

    # /case: the whole conversation, paged under the case code, nothing cut off.
    start = len(fake_api.calls)
    command(fake_api, psy, f"/case {codes.display(code)}")
    pages = await parts_to(fake_api, psy.id, start, codes.display(code))
    assert len(pages) >= 4  # 15,000 units of conversation do not fit three messages
    assert all(p.method == "sendMessage" and utf16_len(p.text or "") <= 4096 for p in pages)
    shown = _BLANKS.sub("", "".join(bodies_of(pages, codes.display(code))))
    for written in [*messages, *answer_pieces]:
        assert _BLANKS.sub("", written) in shown
    assert_nothing_refused(fake_api, start)


async def test_parts_keep_their_order_when_telegram_says_wait(
    app: App, fake_api: FakeBotAPI
) -> None:
    places = await seed_places(app)
    psy, student = TgUser(7501, "Psy", language_code="ru"), TgUser(7502, "S", language_code="ru")
    code = await _taken_case(app, fake_api, places, psy, student)
    label = app.rt.tr("ru", STUDENT_WRITES, code=codes.display(code))
    caption = long_text(4000, EMOJI_SENTENCES + SENTENCES, seed=2)  # a Premium caption
    text = long_text(4096, SENTENCES, seed=3)
    start = len(fake_api.calls)
    # The first two sends (the heads of the two chats: the student's "received" and the
    # first part) are told to wait; the later parts must not overtake the first.
    fake_api.fail_next(2, status=429, retry_after=1, methods=["sendMessage", "sendPhoto"])
    fake_api.photo_message(student, caption=caption)
    fake_api.text_message(student, text)
    first = await parts_to(fake_api, psy.id, start, label)
    assert [c for c in fake_api.calls[start:] if c.status == 429 and c.chat_id == psy.id]
    second = await parts_to(fake_api, psy.id, fake_api.calls.index(first[-1]) + 1, label)
    assert [c.method for c in first] == ["sendPhoto", "sendMessage"]
    assert_whole(caption, bodies_of(first, label))
    assert_whole(text, bodies_of(second, label))
