"""The splitter of long texts: every part within Telegram's limit counted in UTF-16 code
units, nothing lost but the whitespace at a cut, order kept, no empty part."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.delivery.text_parts import (
    CAPTION_LIMIT,
    TEXT_LIMIT,
    compose,
    messages,
    pack,
    pieces,
    shorten,
    split,
    utf16_len,
)

# Words from the scripts students write in, emoji outside the BMP (2 UTF-16 units each),
# a joined family emoji, combining marks, and every kind of boundary the splitter knows.
WORDS = [
    "мен",
    "қорқамын",
    "Саламатсызбы",
    "ӨҮҢ",
    "мне",
    "страшно",
    "school",
    "😢",
    "🔪🩸",
    "👩‍👧",
    "e\u0301",
    "ﷺ",
    "a" * 40,
    "😂" * 30,
    "«да»",
    "(нет)",
]
SEPARATORS = [" ", "  ", "\n", "\n\n", ". ", "! ", "? ", "… ", ".\n\n", "\t", " \n "]
texts = st.lists(
    st.one_of(
        st.sampled_from(WORDS), st.sampled_from(SEPARATORS), st.text(min_size=1, max_size=30)
    ),
    max_size=400,
).map("".join)
lines = st.lists(st.one_of(st.sampled_from(WORDS), st.sampled_from(SEPARATORS)), max_size=60).map(
    "".join
)
limits = st.integers(min_value=2, max_value=300)
HEADERS = ["", "💬 The psychologist:", "💬 #7KQ2-M9XD — the student writes:", "🔴"]
_BLANKS = re.compile(r"\s+")


def squeezed(text: str) -> str:
    """The text without its whitespace: what must survive splitting (a cut drops the
    whitespace where it falls, and a cut inside a long word adds a break)."""
    return _BLANKS.sub("", text)


def _units_of_code_points(text: str) -> int:
    return sum(2 if ord(c) > 0xFFFF else 1 for c in text)


@given(st.text())
def test_utf16_length_counts_astral_characters_twice(text: str) -> None:
    assert utf16_len(text) == _units_of_code_points(text)


def test_utf16_length_examples() -> None:
    assert utf16_len("я" * 4096) == 4096
    assert utf16_len("😀") == 2
    assert utf16_len("👩‍👧") == 5  # two astral emoji joined by U+200D
    assert utf16_len("\ud83d\ude00") == 2  # a pair held as two code points


@given(texts, limits, st.one_of(st.none(), limits))
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_pieces_are_within_limits_and_give_the_text_back(
    text: str, limit: int, first_limit: int | None
) -> None:
    found = pieces(text, limit, first_limit)
    if not text.strip():
        assert found == []  # nothing to send
        return
    # Whole: the text is every piece's dropped whitespace and body, in order.
    assert "".join(p.before + p.body + p.after for p in found) == text
    for index, piece in enumerate(found):
        room = first_limit if (index == 0 and first_limit is not None) else limit
        assert utf16_len(piece.body) <= room
        assert piece.body.strip()  # no empty part
        assert not piece.before.strip() and not piece.after.strip()  # only whitespace dropped


@given(texts, limits)
@settings(max_examples=200)
def test_split_keeps_order_and_loses_only_whitespace(text: str, limit: int) -> None:
    parts = split(text, limit)
    assert squeezed(" ".join(parts)) == squeezed(text)
    assert all(utf16_len(p) <= limit and p.strip() for p in parts)


@given(
    st.text(
        alphabet=st.characters(min_codepoint=0x1F600, max_codepoint=0x1F64F),
        min_size=1,
        max_size=500,
    ),
    st.integers(min_value=2, max_value=50),
)
def test_a_cut_never_falls_inside_a_surrogate_pair(text: str, limit: int) -> None:
    parts = split(text, limit)
    assert "".join(parts) == text
    for part in parts:
        part.encode("utf-8")  # a torn pair would be a lone surrogate: not encodable
        assert utf16_len(part) <= limit


def test_a_pair_held_as_two_code_points_is_not_torn() -> None:
    text = "\ud83d\ude00" * 10  # as a lone-surrogate-preserving decoder hands it over
    parts = split(text, 3)
    assert all(len(p) % 2 == 0 and p.startswith("\ud83d") for p in parts)
    assert "".join(parts) == text


@given(
    texts,
    st.integers(min_value=100, max_value=400),
    st.sampled_from(HEADERS),
    st.one_of(st.none(), st.integers(min_value=100, max_value=400)),
)
@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
def test_composed_parts_carry_header_and_number_inside_the_limit(
    text: str, limit: int, header: str, first_limit: int | None
) -> None:
    parts = compose(text, limit, header=header, first_limit=first_limit)
    if not text.strip():
        assert parts == ([header] if header else [])
        return
    for index, part in enumerate(parts):
        room = first_limit if (index == 0 and first_limit is not None) else limit
        assert utf16_len(part) <= room
    if len(parts) == 1:
        assert parts[0] == (f"{header}\n{text}" if header else text)
        return
    bodies = []
    for number, part in enumerate(parts, 1):
        first_line, body = part.split("\n", 1)
        mark = f"({number}/{len(parts)})"
        assert first_line == (f"{header} {mark}" if header else mark)
        assert body.strip()
        bodies.append(body)
    assert squeezed(" ".join(bodies)) == squeezed(text)


def test_a_text_that_fits_is_sent_as_it_is() -> None:
    assert compose("я" * 4096) == ["я" * 4096]
    assert compose("Салам", header="💬 The psychologist:") == ["💬 The psychologist:\nСалам"]
    assert compose("   ", header="H") == ["H"]
    assert compose("") == []


def test_4096_characters_with_a_header_become_two_numbered_parts() -> None:
    text = ("Мен мектепте қорқамын. Олар мені ұрады!\n\n" * 200)[:4096]
    label = "💬 #7KQ2-M9XD — the student writes:"
    parts = compose(text, TEXT_LIMIT, header=label)
    assert len(parts) == 2
    assert parts[0].startswith(f"{label} (1/2)\n") and parts[1].startswith(f"{label} (2/2)\n")
    assert all(utf16_len(p) <= TEXT_LIMIT for p in parts)
    first, second = (p.split("\n", 1)[1] for p in parts)
    # Cut at a paragraph break: the first part ends a paragraph, the second starts one.
    assert first.endswith("ұрады!") and second.startswith("Мен")
    assert first + "\n\n" + second == text


def test_emoji_count_double_so_2048_of_them_fill_a_message() -> None:
    assert compose("😢" * 2048) == ["😢" * 2048]
    parts = compose("😢" * 2049)
    assert len(parts) == 2 and all(utf16_len(p) <= TEXT_LIMIT for p in parts)
    assert "".join(p.split("\n", 1)[1] for p in parts) == "😢" * 2049


def test_boundaries_are_preferred_paragraph_then_sentence_then_word() -> None:
    paragraph = "Бірінші абзац. " * 3 + "\n\n" + "екінші абзац сөздері " * 3
    assert split(paragraph, 60)[0] == ("Бірінші абзац. " * 3).strip()
    sentence = "Бұл бірінші сөйлем, ол ұзындау. Екінші сөйлем мұнда ұзын болып келеді"
    assert split(sentence, 40)[0] == "Бұл бірінші сөйлем, ол ұзындау."
    # A boundary in the first half of a part is not worth a part that short.
    assert split("Иә. " + "сөз " * 20, 40)[0] != "Иә."
    words = "бір екі үш төрт бес алты жеті сегіз тоғыз он"
    assert split(words, 20) == ["бір екі үш төрт бес", "алты жеті сегіз", "тоғыз он"]
    assert split("x" * 25, 10) == ["x" * 10, "x" * 10, "x" * 5]


def test_a_caption_first_then_texts() -> None:
    caption = "Суретте не болғанын жазамын. " * 100
    parts = compose(caption, TEXT_LIMIT, header="💬 The psychologist:", first_limit=CAPTION_LIMIT)
    assert utf16_len(parts[0]) <= CAPTION_LIMIT
    assert all(utf16_len(p) <= TEXT_LIMIT for p in parts[1:])
    assert len(parts) == 2


def test_a_header_without_room_is_refused() -> None:
    with pytest.raises(ValueError):
        compose("x" * 100, 40, header="h" * 30)


@given(
    st.lists(st.one_of(st.sampled_from(["", "  "]), lines), max_size=30),
    st.integers(min_value=80, max_value=500),
    st.sampled_from(HEADERS),
)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_pages_hold_every_block_in_order(blocks: list[str], limit: int, header: str) -> None:
    pages = pack(blocks, limit, header=header)
    assert all(utf16_len(p) <= limit for p in pages)
    if len(pages) > 1:
        bodies = []
        for number, page in enumerate(pages, 1):
            first_line, body = page.split("\n", 1)
            mark = f"({number}/{len(pages)})"
            assert first_line == (f"{header} {mark}" if header else mark)
            assert body.strip()
            bodies.append(body)
        assert squeezed(" ".join(bodies)) == squeezed(" ".join(blocks))
    elif pages and pages != [header]:
        assert squeezed(pages[0]) == squeezed(" ".join(blocks))


def test_short_blocks_stay_whole_on_pages() -> None:
    blocks = [f"[07.12 10:{i:02}] Оқушы: " + " ".join(["сөз"] * 30) for i in range(60)]
    pages = pack(blocks, 1000, header="#7KQ2-M9XD")
    bodies = [page.split("\n", 1)[1] for page in pages]
    assert [line for body in bodies for line in body.split("\n")] == blocks
    assert len(pages) > 1


def test_messages_for_a_text_a_captioned_file_and_a_sticker() -> None:
    label = "💬 #7KQ2-M9XD — the student writes:"
    assert messages("Салам", header=label) == [("sendMessage", {"text": f"{label}\nСалам"})]
    long = "Мен қорқамын. " * 400  # 5,600 units
    calls = messages(long, header=label)
    assert [m for m, _p in calls] == ["sendMessage", "sendMessage"]
    photo = ("sendPhoto", {"photo": "file-1"})
    calls = messages(long[:2800], header=label, media=photo)
    assert [m for m, _p in calls] == ["sendPhoto", "sendMessage"]
    assert calls[0][1]["photo"] == "file-1" and utf16_len(calls[0][1]["caption"]) <= 1024
    assert calls[0][1]["caption"].startswith(f"{label} (1/2)\n")
    assert calls[1][1]["text"].startswith(f"{label} (2/2)\n")
    assert photo == ("sendPhoto", {"photo": "file-1"})  # the caller's parameters untouched
    assert messages("", header=label, media=photo) == [
        ("sendPhoto", {"photo": "file-1", "caption": label})
    ]
    assert messages("", media=photo) == [("sendPhoto", {"photo": "file-1"})]
    sticker = ("sendSticker", {"sticker": "file-2"})
    assert messages("", header=label, media=sticker, captioned=False) == [
        ("sendMessage", {"text": label}),
        sticker,
    ]


def test_a_preview_is_cut_at_a_word_and_marked() -> None:
    text = "Мен мектепте қорқамын және ешкімге айтпадым " * 10
    short = shorten(text, 60)
    assert short.endswith("…") and utf16_len(short) <= 60
    assert text.startswith(short[:-1]) and text[len(short) - 1] == " "
    assert shorten("😢" * 100, 21) == "😢" * 10 + "…"
    assert shorten("  Салам  ", 60) == "Салам"
