"""Posters as printed: every QR reads back as its link, is big enough, is vector, and every
Kazakh and Kyrgyz letter is in the font and on the page."""

from __future__ import annotations

import io
import re
from dataclasses import replace

import pypdfium2 as pdfium
import pytest
import zxingcpp
from fontTools.ttLib import TTFont as FontToolsFont
from reportlab.pdfgen.canvas import Canvas

from qr_posters import render as render_module
from qr_posters.fonts import (
    BOLD,
    KAZAKH_KYRGYZ_LETTERS,
    REGULAR,
    font_path,
    missing_glyphs,
    register_fonts,
)
from qr_posters.model import PosterDataError, PosterPage, PosterSheet, PosterText
from qr_posters.qr import QRSymbol, QRVerificationError, make_symbol, verify_symbol
from qr_posters.render import render_posters
from tests.poster_fakes import BOT, KK, KY, RU, link, rasterise_pdf, sheet

DPI = 150
MM_PER_PX = 25.4 / DPI


def _decode(page_image) -> list[zxingcpp.Barcode]:
    return zxingcpp.read_barcodes(page_image, formats=zxingcpp.BarcodeFormat.QRCode)


def _side_mm(barcode: zxingcpp.Barcode) -> float:
    p = barcode.position
    top = ((p.top_right.x - p.top_left.x) ** 2 + (p.top_right.y - p.top_left.y) ** 2) ** 0.5
    left = ((p.bottom_left.x - p.top_left.x) ** 2 + (p.bottom_left.y - p.top_left.y) ** 2) ** 0.5
    return (top + left) / 2 * MM_PER_PX


@pytest.fixture(scope="module")
def kyrgyz_pdf() -> bytes:
    return render_posters(sheet(7, "a4", (KY, RU), ("111", "112")))


def test_every_page_decodes_to_its_own_link(kyrgyz_pdf: bytes) -> None:
    pages = rasterise_pdf(kyrgyz_pdf, DPI)
    assert len(pages) == 7
    for i, page in enumerate(pages):
        found = _decode(page)
        assert [b.text for b in found] == [link(i)], f"page {i + 1}"
        assert found[0].ec_level in ("M", "Q", "H")


def test_qr_is_at_least_10_cm_on_a4_and_larger_on_a3(kyrgyz_pdf: bytes) -> None:
    a4 = _decode(rasterise_pdf(kyrgyz_pdf, DPI)[0])[0]
    # zxing's corners sit on the centres of the outer modules: add one module back.
    symbol = make_symbol(link(0))
    a4_side = _side_mm(a4) * symbol.size / (symbol.size - 1)
    assert a4_side >= 100.0
    a3_pdf = render_posters(sheet(1, "a3", (KK, RU), ("111", "150", "112")))
    a3_page = rasterise_pdf(a3_pdf, DPI)[0]
    assert a3_page.size[0] == pytest.approx(297 / 25.4 * DPI, abs=2)
    a3 = _decode(a3_page)[0]
    assert a3.text == link(0)
    assert _side_mm(a3) * symbol.size / (symbol.size - 1) >= 100.0 * 1.41


def test_quiet_zone_is_clear_on_the_page(kyrgyz_pdf: bytes) -> None:
    page = rasterise_pdf(kyrgyz_pdf, DPI)[0].convert("L")
    barcode = _decode(page)[0]
    symbol = make_symbol(link(0))
    p = barcode.position
    module = (p.top_right.x - p.top_left.x) / (symbol.size - 1)
    # Outer edge of the symbol, then four modules of quiet zone around it (minus a pixel
    # of anti-aliasing at the symbol's edge).
    left = p.top_left.x - module / 2
    top = p.top_left.y - module / 2
    right = p.top_right.x + module / 2
    bottom = p.bottom_left.y + module / 2
    ring = 4 * module
    darkest = 255
    for y in range(int(top - ring), int(bottom + ring)):
        for x in range(int(left - ring), int(right + ring)):
            inside = left - 1 <= x <= right + 1 and top - 1 <= y <= bottom + 1
            if not inside:
                darkest = min(darkest, page.getpixel((x, y)))
    assert darkest > 200


def test_qr_is_vector_and_pages_are_small(kyrgyz_pdf: bytes) -> None:
    assert b"/Subtype /Image" not in kyrgyz_pdf
    assert len(kyrgyz_pdf) / 7 <= 60_000
    one_page = render_posters(sheet(1))
    assert len(one_page) <= 60_000  # the fonts are in it too


def test_generation_fails_loudly_when_a_code_does_not_read_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good = make_symbol(link(1))

    def wrong_symbol(target: str) -> QRSymbol:
        # The modules of another link, labelled as if they were this one.
        return replace(good, link=target)

    monkeypatch.setattr(render_module, "make_symbol", wrong_symbol)
    with pytest.raises(QRVerificationError, match=re.escape(link(1))):
        render_posters(sheet(1))


def test_verification_rejects_a_damaged_symbol() -> None:
    symbol = make_symbol(link(3))
    verify_symbol(symbol, 102.0)
    # Wipe the modules in the middle third of the code: beyond what level M corrects.
    third = symbol.size // 3
    damaged = replace(
        symbol,
        runs=tuple(r for r in symbol.runs if not third <= r[0] < 2 * third),
    )
    with pytest.raises(QRVerificationError):
        verify_symbol(damaged, 102.0)


def test_font_covers_every_kazakh_and_kyrgyz_letter() -> None:
    assert len(KAZAKH_KYRGYZ_LETTERS) == 18
    letters = (
        KAZAKH_KYRGYZ_LETTERS
        + "АБВГДЕЁЖЗИЙКЛМНОПРСТУФХЦЧШЩЪЫЬЭЮЯабвгдеёжзийклмнопрстуфхцчшщъыьэюя№"
    )
    for name in (REGULAR, BOLD):
        cmap = FontToolsFont(str(font_path(name))).getBestCmap()
        assert {c for c in letters if ord(c) not in cmap} == set()
        assert missing_glyphs(letters, name) == set()  # the font as embedded
    assert missing_glyphs("\ue000", REGULAR) == {"\ue000"}  # the check can say no


def test_pdf_text_carries_the_letters() -> None:
    all_letters = PosterText(
        headline="Әә Ғғ Ққ Ңң Өө",
        purpose=("Ұұ Үү Һһ Іі", "қазақша, кыргызча"),
        scan_hint="ӘҒҚҢӨҰҮҺІ әғқңөұүһі",
        call_label="Тегін, тәулік бойы",
    )
    pdf = render_posters(sheet(1, texts=(all_letters, KY)))
    document = pdfium.PdfDocument(pdf)
    try:
        page_text = " ".join(document[0].get_textpage().get_text_range().split())
    finally:
        document.close()
    for ch in KAZAKH_KYRGYZ_LETTERS:
        assert ch in page_text, ch
    assert "Сен жалгыз эмессиң" in page_text
    assert "@TrustLineKgBot" in page_text
    assert "111" in page_text and "112" in page_text


def test_each_letter_draws_its_own_glyph() -> None:
    """If a letter fell back to .notdef (an empty box) or to its base letter, two of these
    rasters would be equal. (Һ һ are compared with no base: they are drawn like Latin H h.)"""
    register_fonts()
    letters = KAZAKH_KYRGYZ_LETTERS + "агкноуиАГКНОУИ" + "\ue000"
    buffer = io.BytesIO()
    canvas = Canvas(buffer, pagesize=(60, 60))
    for ch in letters:
        canvas.setFont(BOLD, 40)
        canvas.drawString(10, 14, ch)
        canvas.showPage()
    canvas.save()
    images = rasterise_pdf(buffer.getvalue(), 144)
    rasters = [im.convert("L").tobytes() for im in images]
    notdef = rasters[-1]
    blank = bytes([255]) * len(notdef)
    for ch, raster in zip(letters[:-1], rasters[:-1], strict=True):
        assert raster != notdef, f"{ch} is drawn as .notdef"
        assert raster != blank, f"{ch} draws nothing"
    assert len(set(rasters[:-1])) == len(letters) - 1


def test_long_texts_wrap_and_nothing_is_lost() -> None:
    wordy = PosterText(
        headline="Сенин үнүң маанилүү: бизге каалаган убакта жаз, биз сени угабыз",
        purpose=(
            " ".join(["Кордоо, коркутуу, зордук-зомбулук, кайгы, жалгыздык"] * 2),
            " ".join(["Сенин атыңды, классыңды эч ким билбейт"] * 2),
        ),
        scan_hint="Телефонуңдун камерасын кодго кармап, шилтемени ач же бизге жаз:",
        call_label="Акысыз, күнү-түнү чал, сени угушат",
    )
    pdf = render_posters(sheet(1, texts=(wordy, RU)))
    document = pdfium.PdfDocument(pdf)
    try:
        text = " ".join(document[0].get_textpage().get_text_range().split())
    finally:
        document.close()
    for word in wordy.headline.split() + wordy.purpose[0].split():
        assert word in text
    assert _decode(rasterise_pdf(pdf, DPI)[0])[0].text == link(0)


def test_one_language_alone() -> None:
    pdf = render_posters(sheet(2, texts=(KK,), numbers=("111", "150", "112")))
    pages = rasterise_pdf(pdf, DPI)
    assert [[b.text for b in _decode(p)] for p in pages] == [[link(0)], [link(1)]]


def test_same_sheet_same_bytes() -> None:
    assert render_posters(sheet(2)) == render_posters(sheet(2))


@pytest.mark.parametrize(
    "change",
    [
        {"texts": (KY, KK, RU)},
        {"texts": ()},
        {"paper": "letter"},
        {"bot_username": "no spaces allowed"},
        {"bot_username": "бот_кириллицей"},
        {"emergency_numbers": ()},
        {"pages": ()},
    ],
)
def test_bad_sheets_are_refused(change: dict[str, object]) -> None:
    base = sheet(1)
    fields = {
        "school_name": base.school_name,
        "bot_username": base.bot_username,
        "paper": base.paper,
        "texts": base.texts,
        "emergency_numbers": base.emergency_numbers,
        "pages": base.pages,
    } | change
    with pytest.raises(PosterDataError):
        PosterSheet(**fields)  # type: ignore[arg-type]


def test_page_carries_classroom_and_code_for_staff() -> None:
    page = PosterPage(classroom="11Ү", poster_code="P-00K7", link=link(9))
    pdf = render_posters(replace(sheet(1), pages=(page,)))
    document = pdfium.PdfDocument(pdf)
    try:
        text = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    assert "11Ү" in text and "P-00K7" in text


def test_mask_choice_matches_qrcode_exactly() -> None:
    """Our numpy mask scoring must pick what qrcode's own pure-Python scoring picks."""
    import random
    import string

    import numpy as np
    import qrcode
    from qrcode.constants import ERROR_CORRECT_M

    from qr_posters.qr import _encode

    rng = random.Random(18004)
    alphabet = string.ascii_letters + string.digits + "-_"
    links = [
        f"https://t.me/{BOT}?start=p{''.join(rng.choices(alphabet, k=rng.randint(8, 40)))}"
        for _ in range(60)
    ] + ["https://t.me/x" + "y" * n for n in (0, 60, 140, 260)]  # up to version 10
    for text in links:
        reference = qrcode.QRCode(error_correction=ERROR_CORRECT_M, border=0)
        reference.add_data(text.encode())
        reference.make(fit=True)
        assert np.array_equal(_encode(text), np.array(reference.get_matrix(), dtype=bool))
        symbol = make_symbol(text)
        drawn = np.zeros((symbol.size, symbol.size), dtype=bool)
        for row, col, length in symbol.runs:
            drawn[row, col : col + length] = True
        assert np.array_equal(drawn, np.array(reference.get_matrix(), dtype=bool))
