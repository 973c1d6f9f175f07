"""The chart is a real PNG of the expected size in every language, drawn with a font that
has every letter it needs (matplotlib warns on a missing glyph, and warnings are errors)."""

from __future__ import annotations

import io
from datetime import UTC, date
from pathlib import Path

import pytest
from matplotlib import ft2font
from PIL import Image

from bot.app import App
from bot.domain import Category, Country, Language, Priority
from bot.services.labels import CATEGORY_LABELS, PRIORITY_LABELS
from bot.services.reporting import stats
from bot.services.reporting.charts import WIDTH_PX, chart_height, font_files, render_stats_chart
from bot.services.reporting.periods import PeriodKind, period_containing
from tests.stats_seed import seed
from tools.i18n_extract import extract_msgids

KAZAKH_KYRGYZ = "әғқңөұүһіӘҒҚҢӨҰҮҺІ"
# At most about two phone screens, whatever the data: long lists are cut to the largest.
MAX_HEIGHT = 2100


async def _results(app: App) -> dict[str, stats.RegionStats]:
    async with app.sessionmaker() as session, session.begin():
        s = await seed(session)
    november = period_containing(PeriodKind.MONTH, date(2026, 11, 15), Country.KZ)
    summer = period_containing(PeriodKind.WEEK, date(2026, 7, 1), Country.KZ)
    async with app.sessionmaker() as session:
        region = await stats.scope_for(session, s.region.id)
        district = await stats.scope_for(session, s.region.id, s.taraz.id)
        everything = await stats.scope_for(session, None)
        return {
            "region": await stats.compute(session, region, november),
            "district": await stats.compute(session, district, november),
            "all": await stats.compute(session, everything, november),
            "empty": await stats.compute(session, region, summer),
        }


@pytest.mark.parametrize("lang", [lang.value for lang in Language])
async def test_chart_png_in_every_language(app: App, lang: str, artifacts_dir: Path) -> None:
    results = await _results(app)
    for name, result in results.items():
        png = render_stats_chart(result, app.rt.tr, lang)
        assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 20_000
        image = Image.open(io.BytesIO(png))
        assert image.size == (WIDTH_PX, chart_height(result, app.rt.tr, lang))
        assert 700 <= image.height <= MAX_HEIGHT
        # Not a blank canvas: dark text and coloured bars are there.
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 50
        (artifacts_dir / f"stats-{name}-{lang}.png").write_bytes(png)


async def test_chart_grows_with_its_bars(app: App) -> None:
    results = await _results(app)
    assert chart_height(results["empty"], app.rt.tr, "ru") < chart_height(
        results["region"], app.rt.tr, "ru"
    )


def test_font_has_every_letter_the_chart_uses() -> None:
    """Each translated label the chart can draw is covered by PT Sans (no tofu)."""
    regular, bold = (ft2font.FT2Font(str(path)) for path in font_files())
    covered = set(regular.get_charmap()) & set(bold.get_charmap())
    assert {ord(ch) for ch in KAZAKH_KYRGYZ} <= covered
    chart_ids = [
        m
        for m, places in extract_msgids().items()
        if any("charts.py" in p or "stats_text.py" in p for p in places)
    ]
    chart_ids += [CATEGORY_LABELS[c] for c in Category] + [PRIORITY_LABELS[p] for p in Priority]
    from bot.i18n import Translator, make_i18n

    tr = Translator(make_i18n())
    for lang in Language:
        for msgid in chart_ids:
            text = tr(lang.value, msgid)
            missing = {ch for ch in text if not ch.isspace() and ord(ch) not in covered}
            assert not missing, f"{lang.value}: {msgid!r} needs {missing}"


def test_a_crowded_region_still_fits(artifacts_dir: Path) -> None:
    """Every category and twenty districts with long Kyrgyz names: the chart keeps its
    width, cuts the districts to the largest ones plus one "and N more" bar."""
    from bot.i18n import Translator, make_i18n

    tr = Translator(make_i18n())
    districts = []
    for n in range(20):
        figures = stats.Figures(cases=40 - n)
        figures.by_priority.update({Priority.URGENT: n % 3, Priority.NORMAL: 40 - n - n % 3})
        school = stats.SchoolFigures(n, f"Жусуп Баласагын атындагы №{n} орто мектеби", figures)
        districts.append(stats.DistrictFigures(n, f"Ысык-Ата району №{n}", figures, [school]))
    total = stats.Figures(cases=sum(d.figures.cases for d in districts))
    total.by_category.update({c: 10 + i for i, c in enumerate(Category)})
    total.by_priority.update({Priority.NORMAL: total.cases})
    scope = stats.Scope(1, "Чүй облусу", Country.KG, UTC)
    period = period_containing(PeriodKind.TERM, date(2026, 11, 15), Country.KG)
    result = stats.RegionStats(scope, period, total, districts)
    png = render_stats_chart(result, tr, "ky")
    image = Image.open(io.BytesIO(png))
    assert image.width == WIDTH_PX and image.height == chart_height(result, tr, "ky")
    assert image.height <= MAX_HEIGHT
    (artifacts_dir / "stats-crowded-ky.png").write_bytes(png)
