"""Classroom posters as one print-ready PDF: a pure function from a PosterSheet to bytes.

Everything that is the same on every page (background, words, the 111 band) is drawn once as
a PDF form and placed on each page, so a page costs only its QR path and its staff label:
a thousand pages render in seconds and stay far below 60 KB a page.
"""

from __future__ import annotations

import contextlib
import io
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from reportlab import rl_config
from reportlab.lib import units
from reportlab.lib.colors import Color, HexColor
from reportlab.lib.pagesizes import A3, A4
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from qr_posters.fonts import BOLD, REGULAR, register_fonts
from qr_posters.model import PosterPage, PosterSheet
from qr_posters.qr import QUIET_ZONE, QRSymbol, make_symbol, verify_symbol
from qr_posters.text import Block, fit_blocks, steps

mm: float = units.mm  # points in a millimetre (reportlab has no types: say what it is)

# Warm, calm colours: cream paper, deep teal words, a terracotta band for the number.
PAPER = HexColor("#FFF8EF")
INK = HexColor("#1F4B48")
BODY = HexColor("#3E3833")
MUTED = HexColor("#8C8178")
ACCENT = HexColor("#C4553D")
ACCENT_SOFT = HexColor("#F3C9B4")
SUN = HexColor("#FCE4CB")
SAGE = HexColor("#DCEBE4")
SHADOW = HexColor("#EEDDCB")
WHITE = HexColor("#FFFFFF")
QR_DARK = HexColor("#13222A")

# The layout is drawn on A4 (millimetres from the top-left corner) and scaled up for A3,
# which is A4 enlarged by the square root of two.
PAGE_W = 210.0
PAGE_H = 297.0
MARGIN = 14.0
COLUMN_GAP = 10.0
QR_BOX = 132.0  # symbol plus its 4-module quiet zone; the symbol alone is >= 100 mm
MIN_SYMBOL_MM = 100.0
HEADER_TOP = 17.0
HEADER_MAX = 58.0
BAND_H = 36.0
BAND_BOTTOM = PAGE_H - 15.0
FORM = "poster-static"


@dataclass(frozen=True, slots=True)
class _Column:
    x: float  # left edge, mm
    width: float  # mm
    headline: Block
    purpose: tuple[Block, Block]
    hint: Block
    call: Block


def symbol_mm(symbol: QRSymbol) -> float:
    """Printed side of the QR symbol (quiet zone excluded) on A4, in millimetres."""
    return QR_BOX * symbol.size / (symbol.size + 2 * QUIET_ZONE)


def paper_scale(paper: str) -> float:
    return math.sqrt(2.0) if paper == "a3" else 1.0


def render_posters(sheet: PosterSheet) -> bytes:
    """Render every page of `sheet` and return the PDF.

    Every QR code is decoded at print resolution before anything is written; a code that does
    not read back as its link raises QRVerificationError and no PDF is produced.
    """
    register_fonts()
    scale = paper_scale(sheet.paper)
    symbols = [make_symbol(page.link) for page in sheet.pages]
    for page, symbol in zip(sheet.pages, symbols, strict=True):
        side = symbol_mm(symbol)
        if side < MIN_SYMBOL_MM:
            raise ValueError(f"QR symbol would be {side:.1f} mm, under {MIN_SYMBOL_MM} mm")
        verify_symbol(symbol, side * scale, label=f"{page.classroom} {page.poster_code}")

    columns = _fit_columns(sheet)
    with _binary_streams():
        return _write_pdf(sheet, columns, symbols, scale)


_config_lock = threading.Lock()


@contextlib.contextmanager
def _binary_streams() -> Iterator[None]:
    """Deflate streams without ASCII85 on top: a quarter smaller, and reportlab's pure-Python
    ASCII85 encoder was the slowest step of a print job."""
    with _config_lock:
        previous = rl_config.useA85
        rl_config.useA85 = 0
        try:
            yield
        finally:
            rl_config.useA85 = previous


def _write_pdf(
    sheet: PosterSheet, columns: list[_Column], symbols: list[QRSymbol], scale: float
) -> bytes:
    buffer = io.BytesIO()
    canvas = Canvas(
        buffer,
        pagesize=A3 if sheet.paper == "a3" else A4,
        pageCompression=1,
        invariant=1,
    )
    canvas.setTitle(f"{sheet.school_name} — @{sheet.bot_username}")
    canvas.setAuthor("TrustLine")
    canvas.setCreator("TrustLine qr_posters")

    box_top = qr_box_top(columns)
    canvas.beginForm(FORM)
    _draw_static(canvas, sheet, columns)
    canvas.endForm()

    for page, symbol in zip(sheet.pages, symbols, strict=True):
        canvas.saveState()
        canvas.scale(scale, scale)
        canvas.doForm(FORM)
        _draw_qr(canvas, symbol, box_top)
        _draw_staff_label(canvas, sheet, page)
        canvas.restoreState()
        canvas.showPage()
    canvas.save()
    return buffer.getvalue()


def _y(top_mm: float) -> float:
    """Millimetres from the top edge to reportlab points from the bottom."""
    return (PAGE_H - top_mm) * mm


def _fit_columns(sheet: PosterSheet) -> list[_Column]:
    count = len(sheet.texts)
    if count == 2:
        width = (PAGE_W - 2 * MARGIN - COLUMN_GAP) / 2
        xs = [MARGIN, MARGIN + width + COLUMN_GAP]
    else:
        width = 160.0
        xs = [(PAGE_W - width) / 2]
    w_pt = width * mm
    headline_max, purpose_max = (30.0, 14.0) if count == 2 else (36.0, 16.0)
    # Shrink the header until it fits its share of the page; both columns share each size.
    for shrink in steps(1.0, 0.7, 0.05):
        headlines = fit_blocks(
            [t.headline for t in sheet.texts],
            BOLD,
            steps(headline_max * shrink, 16),
            w_pt,
            2,
            1.12,
        )
        purposes = fit_blocks(
            [line for t in sheet.texts for line in t.purpose],
            REGULAR,
            steps(purpose_max * shrink, 9),
            w_pt,
            3,
        )
        height = (
            max(b.height for b in headlines)
            + max(purposes[2 * i].height + purposes[2 * i + 1].height for i in range(count))
        ) / mm + 7
        if height <= HEADER_MAX:
            break
    hints = fit_blocks(
        [t.scan_hint for t in sheet.texts], REGULAR, steps(purpose_max - 2, 8), w_pt, 2
    )
    band_w = (PAGE_W - 2 * MARGIN - 62) * mm
    calls = fit_blocks([t.call_label for t in sheet.texts], BOLD, steps(13, 8), band_w, 1)
    return [
        _Column(
            x=xs[i],
            width=width,
            headline=headlines[i],
            purpose=(purposes[2 * i], purposes[2 * i + 1]),
            hint=hints[i],
            call=calls[i],
        )
        for i in range(count)
    ]


def _draw_block(
    canvas: Canvas, block: Block, x_mm: float, width_mm: float, top_mm: float, colour: Color
) -> float:
    """Draw a block centred in a column; return the top of what comes after it, in mm."""
    canvas.setFillColor(colour)
    canvas.setFont(block.font, block.size)
    baseline = top_mm * mm + block.size * 0.92
    centre = (x_mm + width_mm / 2) * mm
    for line in block.lines:
        canvas.drawCentredString(centre, PAGE_H * mm - baseline, line)
        baseline += block.leading
    return top_mm + block.height / mm


def _header_bottom(columns: list[_Column]) -> float:
    headline_h = max(c.headline.height for c in columns)
    purpose_h = max(c.purpose[0].height + c.purpose[1].height for c in columns)
    return HEADER_TOP + (headline_h + purpose_h) / mm + 7


def qr_box_top(columns: list[_Column]) -> float:
    """Top of the QR box in mm: centred in the room between the header and the hint."""
    hint_h = max(c.hint.height for c in columns) / mm
    group = QR_BOX + 4 + hint_h + 3 + 10  # box, gap, hint, gap, @name
    room_top = _header_bottom(columns) + 3
    room_bottom = BAND_BOTTOM - BAND_H - 5
    return room_top + max(0.0, (room_bottom - room_top - group) / 2)


def _draw_static(canvas: Canvas, sheet: PosterSheet, columns: list[_Column]) -> None:
    canvas.setFillColor(PAPER)
    canvas.rect(0, 0, PAGE_W * mm, PAGE_H * mm, stroke=0, fill=1)
    # Two soft circles half off the page: warmth without clutter.
    canvas.setFillColor(SUN)
    canvas.circle((PAGE_W - 8) * mm, _y(12), 46 * mm, stroke=0, fill=1)
    canvas.setFillColor(SAGE)
    canvas.circle(6 * mm, _y(178), 34 * mm, stroke=0, fill=1)

    # Header: headline and two lines of purpose per language. A shorter headline is centred
    # in the headline row so that both columns' purpose lines start at one height.
    headline_h = max(c.headline.height for c in columns) / mm
    for column in columns:
        offset = (headline_h - column.headline.height / mm) / 2
        _draw_block(canvas, column.headline, column.x, column.width, HEADER_TOP + offset, INK)
        top = HEADER_TOP + headline_h + 4
        top = _draw_block(canvas, column.purpose[0], column.x, column.width, top, BODY)
        top += 1.2
        _draw_block(canvas, column.purpose[1], column.x, column.width, top, BODY)
    if len(columns) == 2:
        canvas.setStrokeColor(ACCENT_SOFT)
        canvas.setLineWidth(0.8)
        x = (MARGIN + columns[0].width + COLUMN_GAP / 2) * mm
        canvas.line(x, _y(HEADER_TOP + 2), x, _y(_header_bottom(columns) - 5))

    # The white box that carries the QR code and its quiet zone.
    box_top = qr_box_top(columns)
    box_x = (PAGE_W - QR_BOX) / 2
    canvas.setFillColor(SHADOW)
    canvas.roundRect(
        (box_x + 1.6) * mm,
        _y(box_top + QR_BOX + 1.6),
        QR_BOX * mm,
        QR_BOX * mm,
        7 * mm,
        stroke=0,
        fill=1,
    )
    canvas.setFillColor(WHITE)
    canvas.setStrokeColor(ACCENT_SOFT)
    canvas.setLineWidth(1.2)
    canvas.roundRect(
        box_x * mm, _y(box_top + QR_BOX), QR_BOX * mm, QR_BOX * mm, 7 * mm, stroke=1, fill=1
    )

    # How to reach the line without a camera.
    top = box_top + QR_BOX + 4
    hint_bottom = top
    for column in columns:
        hint_bottom = max(
            hint_bottom, _draw_block(canvas, column.hint, column.x, column.width, top, BODY)
        )
    canvas.setFillColor(INK)
    name = f"@{sheet.bot_username}"
    size = 24.0
    while stringWidth(name, BOLD, size) > (PAGE_W - 2 * MARGIN) * mm and size > 12:
        size -= 1
    canvas.setFont(BOLD, size)
    canvas.drawCentredString(PAGE_W / 2 * mm, _y(hint_bottom + 3) - size * 0.92, name)

    _draw_band(canvas, sheet, columns)

    canvas.setFillColor(MUTED)
    canvas.setFont(REGULAR, 7.5)
    canvas.drawString(MARGIN * mm, _y(PAGE_H - 8), sheet.school_name[:90])


def _draw_band(canvas: Canvas, sheet: PosterSheet, columns: list[_Column]) -> None:
    """The terracotta band: 111 large, what it is, and the country's other numbers."""
    top = BAND_BOTTOM - BAND_H
    canvas.setFillColor(ACCENT)
    canvas.roundRect(
        MARGIN * mm,
        _y(BAND_BOTTOM),
        (PAGE_W - 2 * MARGIN) * mm,
        BAND_H * mm,
        6 * mm,
        stroke=0,
        fill=1,
    )
    _draw_heart_bubble(canvas, PAGE_W - MARGIN - 17, top + BAND_H / 2 - 1.5, 19)
    main, *others = sheet.emergency_numbers
    canvas.setFillColor(WHITE)
    size = 62.0
    canvas.setFont(BOLD, size)
    canvas.drawString((MARGIN + 7) * mm, _y(top + BAND_H / 2) - size * 0.35, main)
    number_w = stringWidth(main, BOLD, size) / mm

    text_x = MARGIN + 7 + number_w + 7
    lines = [(c.call.lines[0] if c.call.lines else "", c.call.size) for c in columns]
    if others:
        lines.append(("  ·  ".join(others), 17.0))
    total = sum(s * 1.25 for _, s in lines) / mm
    baseline = top + (BAND_H - total) / 2
    for i, (text, line_size) in enumerate(lines):
        font = BOLD if i == len(lines) - 1 and others else REGULAR
        canvas.setFont(font, line_size)
        baseline += line_size * 1.25 / mm
        canvas.drawString(text_x * mm, _y(baseline - line_size * 0.3 / mm), text)


def _draw_heart_bubble(canvas: Canvas, cx: float, cy: float, size: float) -> None:
    """A speech bubble with a heart in it, outlined in white; centre and size in mm."""
    w, h = size, size * 0.78
    x0, y0 = cx - w / 2, cy - h / 2  # y0 is the top edge, mm from the top of the page
    canvas.setStrokeColor(WHITE)
    canvas.setLineWidth(2.2)
    canvas.setLineJoin(1)
    bubble = canvas.beginPath()
    r = h * 0.32
    bubble.roundRect(x0 * mm, _y(y0 + h), w * mm, h * mm, r * mm)
    canvas.drawPath(bubble, stroke=1, fill=0)
    tail = canvas.beginPath()
    tail.moveTo((x0 + w * 0.22) * mm, _y(y0 + h) + 1.1)
    tail.lineTo((x0 + w * 0.14) * mm, _y(y0 + h + size * 0.22))
    tail.lineTo((x0 + w * 0.42) * mm, _y(y0 + h) + 1.1)
    canvas.setFillColor(ACCENT)
    canvas.drawPath(tail, stroke=1, fill=1)
    # Cover the bubble's outline where the tail joins it.
    canvas.rect(
        (x0 + w * 0.22 + 0.6) * mm, _y(y0 + h) - 0.4, (w * 0.2 - 1.6) * mm, 2.2, stroke=0, fill=1
    )
    heart = canvas.beginPath()
    s = h * 0.5
    hx, hy = cx, cy - s * 0.28  # top notch of the heart, mm from the top
    # Four cubic curves around the heart, as (dx, dy) offsets in units of `s`.
    curves = (
        ((0.1, -0.42), (0.75, -0.4), (0.72, 0.05)),
        ((0.7, 0.4), (0.25, 0.6), (0.0, 0.95)),
        ((-0.25, 0.6), (-0.7, 0.4), (-0.72, 0.05)),
        ((-0.75, -0.4), (-0.1, -0.42), (0.0, 0.0)),
    )
    heart.moveTo(hx * mm, _y(hy))
    for curve in curves:
        points = [((hx + dx * s) * mm, _y(hy + dy * s)) for dx, dy in curve]
        heart.curveTo(*points[0], *points[1], *points[2])
    heart.close()
    canvas.setFillColor(WHITE)
    canvas.drawPath(heart, stroke=0, fill=1)


def _draw_qr(canvas: Canvas, symbol: QRSymbol, box_top: float) -> None:
    """The QR code as one vector path of rectangles, from the runs that were verified.

    Written as raw PDF operators in a coordinate system of one unit a module (y down), so
    every rectangle is four small integers: compact, and far faster than reportlab's path
    objects formatting floats for each of some 600 rectangles a page.
    """
    module = QR_BOX / (symbol.size + 2 * QUIET_ZONE) * mm
    left = ((PAGE_W - QR_BOX) / 2) * mm + QUIET_ZONE * module
    top = _y(box_top) - QUIET_ZONE * module
    rects = " ".join(f"{col} {row} {length} 1 re" for row, col, length in symbol.runs)
    r, g, b = QR_DARK.red, QR_DARK.green, QR_DARK.blue
    canvas.addLiteral(
        f"q {r:.3f} {g:.3f} {b:.3f} rg {module:.4f} 0 0 {-module:.4f} {left:.3f} {top:.3f} cm "
        f"{rects} f Q"
    )


def _draw_staff_label(canvas: Canvas, sheet: PosterSheet, page: PosterPage) -> None:
    canvas.setFillColor(MUTED)
    canvas.setFont(BOLD, 9)
    label = f"{page.classroom}   ·   {page.poster_code}"
    canvas.drawRightString((PAGE_W - MARGIN) * mm, _y(PAGE_H - 8), label)
