"""The statistics chart: one PNG a supervisor reads on a phone (1080 px wide, large type).

Drawn with matplotlib's object API on the Agg canvas (no pyplot, no global state), so a
chart can be rendered in a worker thread while the bot serves others. The layout is in
pixels on one full-figure axes: blocks flow from the top and the image is exactly as tall
as its content (`chart_height`), so nothing floats in empty space.

Text uses PT Sans from the `fontpkg-pt-sans` wheel, which has every Kazakh and Kyrgyz letter
(ә ғ қ ң ө ұ ү һ і); DejaVu Sans, bundled with matplotlib, backs it up glyph by glyph.
Labels come translated through `rt.tr`.
"""

from __future__ import annotations

import io
import textwrap
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import fontpkg_pt_sans
from matplotlib import font_manager
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle

from bot.domain import Category, Priority
from bot.services.labels import CATEGORY_LABELS, N_, PRIORITY_LABELS
from bot.services.reporting import stats
from bot.services.reporting.stats_text import (
    Translate,
    format_duration,
    period_label,
    scope_label,
)

WIDTH_PX = 1080
DPI = 150
MARGIN = 54
MAX_PLACES = 6  # bars by district or school; the rest are summed in one more bar

FONT_FILES = ("PT_Sans-Web-Regular.ttf", "PT_Sans-Web-Bold.ttf")
FONT_FAMILY = ["PT Sans", "DejaVu Sans"]
INK = "#1f2933"
MUTED = "#52606d"
TILE = "#f1f4f8"
ALERT = "#c62828"
BAR = "#2f6fb0"
PRIORITY_COLOURS = {
    Priority.URGENT: "#d32f2f",
    Priority.HIGH: "#f28c28",
    Priority.NORMAL: "#43a047",
}

# Heights of the blocks, in pixels.
HEADER = 170
TILE_H, TILE_GAP = 164, 20
SECTION_GAP = 50
HEADING = 56
LEGEND = 48
ROW = 76
EMPTY_ROW = 80
BOTTOM = 40

_fonts_lock = threading.Lock()
_fonts_ready = False


def font_files() -> list[Path]:
    return [Path(fontpkg_pt_sans.ROOT) / "files" / name for name in FONT_FILES]


def _register_fonts() -> None:
    global _fonts_ready
    with _fonts_lock:
        if not _fonts_ready:
            for path in font_files():
                font_manager.fontManager.addfont(str(path))
            _fonts_ready = True


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    parts: tuple[tuple[int, str], ...]  # (value, colour), stacked left to right
    # The sum of the places not shown: written as a number only, since a bar for it would
    # dwarf every real bar.
    rest: bool = False

    @property
    def total(self) -> int:
        return sum(value for value, _colour in self.parts)


def _category_bars(result: stats.RegionStats, t: Callable[..., str]) -> list[Bar]:
    counts = result.total.by_category
    ordered = sorted((c for c in Category if counts[c]), key=lambda c: -counts[c])
    return [Bar(t(CATEGORY_LABELS[c]), ((counts[c], BAR),)) for c in ordered]


def _place_bars(result: stats.RegionStats, t: Callable[..., str]) -> list[Bar]:
    rows: list[tuple[str, stats.Figures]]
    if result.scope.district_id is not None:
        rows = [(s.name, s.figures) for s in result.schools]
        rows += [(t(N_("(school not given)")), d.without_school) for d in result.districts]
    else:
        rows = [(d.name, d.figures) for d in result.districts]
        rows.append((t(N_("(district not given)")), result.without_district))
    rows = sorted((r for r in rows if r[1].cases), key=lambda r: -r[1].cases)
    shown = rows if len(rows) <= MAX_PLACES + 1 else rows[:MAX_PLACES]
    bars = [Bar(name, _by_priority(f)) for name, f in shown]
    if len(shown) < len(rows):
        rest = stats.Figures()
        for _name, figures in rows[len(shown) :]:
            rest.add(figures)
        bars.append(
            Bar(
                t(N_("and {count} more"), count=len(rows) - len(shown)),
                _by_priority(rest),
                rest=True,
            )
        )
    return bars


def _by_priority(figures: stats.Figures) -> tuple[tuple[int, str], ...]:
    return tuple((figures.by_priority[p], PRIORITY_COLOURS[p]) for p in Priority)


def _section_height(bars: list[Bar], legend: bool) -> int:
    if not bars:
        return SECTION_GAP + HEADING + EMPTY_ROW
    return SECTION_GAP + HEADING + (LEGEND if legend else 0) + ROW * len(bars)


def chart_height(result: stats.RegionStats, tr: Translate, lang: str) -> int:
    """The height in pixels of the chart `render_stats_chart` draws for this result."""
    t = _translator(tr, lang)
    return (
        HEADER
        + 2 * TILE_H
        + TILE_GAP
        + _section_height(_category_bars(result, t), legend=False)
        + (_section_height(_place_bars(result, t), legend=True) if result.total.cases else 0)
        + BOTTOM
    )


def _translator(tr: Translate, lang: str) -> Callable[..., str]:
    """`t(N_("text"))`: translate into the chart's language (N_ marks it for extraction)."""

    def t(msgid: str, **kwargs: object) -> str:
        return tr(lang, msgid, **kwargs)

    return t


def render_stats_chart(result: stats.RegionStats, tr: Translate, lang: str) -> bytes:
    """PNG bytes, WIDTH_PX wide: key figures, cases by category, cases by place."""
    _register_fonts()
    t = _translator(tr, lang)
    height = chart_height(result, tr, lang)
    fig = Figure(figsize=(WIDTH_PX / DPI, height / DPI), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_axis_off()
    ax.set_xlim(0, WIDTH_PX)
    ax.set_ylim(height, 0)  # pixels, y downwards

    _text(ax, MARGIN, 48, scope_label(tr, lang, result.scope), 22, bold=True)
    _text(ax, MARGIN, 108, period_label(tr, lang, result.period), 14, colour=MUTED)
    y = _tiles(ax, HEADER, result.total, tr, lang)

    y = _section(ax, y, t(N_("Cases by category")), _category_bars(result, t), t)
    heading = (
        t(N_("Cases by school and priority"))
        if result.scope.district_id is not None
        else t(N_("Cases by district and priority"))
    )
    legend = [(t(PRIORITY_LABELS[p]), PRIORITY_COLOURS[p]) for p in Priority]
    if result.total.cases:  # with no cases, the one "no cases" line says it all
        _section(ax, y, heading, _place_bars(result, t), t, legend)

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white")
    return buffer.getvalue()


def _text(
    ax: Axes,
    x: float,
    y: float,
    text: str,
    size: float,
    *,
    bold: bool = False,
    colour: str = INK,
    ha: str = "left",
    va: str = "top",
) -> None:
    ax.text(
        x,
        y,
        text,
        fontsize=size,
        fontweight="bold" if bold else "normal",
        color=colour,
        ha=ha,
        va=va,
        family=FONT_FAMILY,
    )


def _tiles(ax: Axes, top: int, total: stats.Figures, tr: Translate, lang: str) -> int:
    """Six key figures in two rows of three; returns the y below them."""
    t = _translator(tr, lang)
    tiles = [
        (t(N_("Cases")), str(total.cases), INK),
        (t(N_("Still open")), str(total.open), INK),
        (t(N_("Not answered yet")), str(total.unanswered), ALERT if total.unanswered else INK),
        (
            t(N_("Median time to first answer")),
            format_duration(tr, lang, total.median_answer),
            INK,
        ),
        (t(N_("90% answered within")), format_duration(tr, lang, total.p90_answer), INK),
        (t(N_("Deadline breaches")), str(total.breaches), ALERT if total.breaches else INK),
    ]
    width = (WIDTH_PX - 2 * MARGIN - 2 * TILE_GAP) / 3
    for i, (label, value, colour) in enumerate(tiles):
        left = MARGIN + (i % 3) * (width + TILE_GAP)
        y = top + (i // 3) * (TILE_H + TILE_GAP)
        ax.add_patch(
            FancyBboxPatch(
                (left, y),
                width,
                TILE_H,
                facecolor=TILE,
                edgecolor="none",
                boxstyle="round,pad=0,rounding_size=18",
            )
        )
        centre = left + width / 2
        _text(
            ax,
            centre,
            y + 54,
            value,
            24 if len(value) <= 7 else 17,
            bold=True,
            colour=colour,
            ha="center",
            va="center",
        )
        lines = textwrap.wrap(label, 24)[:2]
        _text(
            ax,
            centre,
            y + (118 if len(lines) == 1 else 124),
            "\n".join(lines),
            11,
            colour=MUTED,
            ha="center",
            va="center",
        )
    return top + 2 * TILE_H + TILE_GAP


def _section(
    ax: Axes,
    top: int,
    title: str,
    bars: list[Bar],
    t: Callable[..., str],
    legend: list[tuple[str, str]] | None = None,
) -> int:
    """A heading, an optional colour key and horizontal bars, each labelled above its bar
    (long Kyrgyz and Kazakh names get the full width). Returns the y below the section."""
    y = top + SECTION_GAP
    _text(ax, MARGIN, y, title, 16, bold=True)
    y += HEADING
    if not bars:
        _text(ax, MARGIN, y + 10, t(N_("No cases in this period")), 14, colour=MUTED)
        return y + EMPTY_ROW
    if legend:
        x = MARGIN
        for label, colour in legend:
            ax.add_patch(Rectangle((x, y + 4), 26, 26, facecolor=colour))
            _text(ax, x + 38, y + 17, label, 13, va="center")
            x += 38 + 14 * len(label) + 56
        y += LEGEND
    span = WIDTH_PX - 2 * MARGIN - 90
    biggest = max((bar.total for bar in bars if not bar.rest), default=0) or 1
    for bar in bars:
        _text(ax, MARGIN, y, textwrap.shorten(bar.label, 56, placeholder="…"), 13)
        if bar.rest:
            _text(ax, MARGIN, y + 50, str(bar.total), 13, bold=True, va="center")
            y += ROW
            continue
        left = float(MARGIN)
        for value, colour in bar.parts:
            width = span * value / biggest
            if width:
                ax.add_patch(Rectangle((left, y + 38), width, 24, facecolor=colour))
            left += width
        _text(ax, left + 14, y + 50, str(bar.total), 13, bold=True, va="center")
        y += ROW
    return y
