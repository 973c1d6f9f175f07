"""`trustline posters`: a PDF that decodes page by page, or one sentence and nothing written."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pypdfium2 as pdfium
import pytest
import zxingcpp
from sqlalchemy import func, select

from bot.app import App
from bot.cli import main as cli_main
from bot.config import Settings
from bot.db.models import Poster
from bot.services.posters import posters
from tests.poster_fakes import rasterise_pdf
from tests.queue_helpers import Places, seed_places


@pytest.fixture
async def places(app: App, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Places:
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", settings.database_url)
    assert settings.master_key is not None
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY", settings.master_key.get_secret_value())
    monkeypatch.setenv("TRUSTLINE_BOT_USERNAME", "trustline_test_bot")
    return await seed_places(app)


async def _posters(app: App) -> int:
    async with app.sessionmaker() as session:
        return int(await session.scalar(select(func.count()).select_from(Poster)) or 0)


async def test_prints_a_decodable_pdf_in_the_schools_languages(
    app: App, places: Places, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "posters.pdf"
    code = await asyncio.to_thread(
        cli_main,
        ["posters", "--school", "Тараз/№ 901 мектеп", "--classes", "5-6 А-Б", "--out", str(out)],
    )
    assert code == 0, capsys.readouterr().err
    assert "4 posters" in capsys.readouterr().out
    pdf = out.read_bytes()
    links = []
    for page in rasterise_pdf(pdf, 100):
        found = zxingcpp.read_barcodes(page, formats=zxingcpp.BarcodeFormat.QRCode)
        links.append(found[0].text)
    async with app.sessionmaker() as session, session.begin():
        schools = [
            (await posters.resolve_start(session, app.rt, link.split("?start=")[1])).school_id
            for link in links
        ]
    assert schools == [places.kz_school] * 4
    document = pdfium.PdfDocument(pdf)
    try:
        text = document[0].get_textpage().get_text_range()
    finally:
        document.close()
    assert "жалғыз" in text and "150" in text  # Kazakh and Russian, Kazakhstan's numbers


async def test_lang_and_paper_options(
    app: App, places: Places, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "a3.pdf"
    code = await asyncio.to_thread(
        cli_main,
        [
            "posters",
            "--school",
            str(places.school),
            "--classes",
            "11Ү",
            "--lang",
            "ky",
            "--paper",
            "a3",
            "--out",
            str(out),
        ],
    )
    assert code == 0, capsys.readouterr().err
    document = pdfium.PdfDocument(out.read_bytes())
    try:
        page = document[0]
        assert round(page.get_width() / 72 * 25.4) == 297
        text = page.get_textpage().get_text_range()
    finally:
        document.close()
    assert "жалгыз" in text and "11Ү" in text and "рядом" not in text


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--school", "Школа № 999", "--classes", "5А"], "no school named"),
        (["--school", "Школа № 901", "--classes", ""], "empty"),
        (["--school", "Школа № 901", "--classes", "5А😀"], "cannot be printed"),
        (
            ["--school", "Школа № 901", "--classes", ",".join(f"К{i}" for i in range(1000))],
            "more than 200",
        ),
        (["--school", "Школа № 901", "--classes", "X" * 200], "longer than 20"),
        (["--school", "Школа № 901", "--classes", "11-5 А"], "11-5 А"),
        (["--school", "Школа № 901", "--classes", "5А", "--lang", "ky,kk,ru"], "--lang"),
        (["--school", "Школа № 901", "--classes", "5А", "--lang", "en"], "--lang"),
    ],
)
async def test_bad_input_is_one_sentence_and_nothing_is_written(
    app: App,
    places: Places,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    says: str,
) -> None:
    out = tmp_path / "never.pdf"
    code = await asyncio.to_thread(cli_main, ["posters", *args, "--out", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert says in err and err.startswith("trustline: ") and len(err.splitlines()) == 1
    assert not out.exists() and not (tmp_path / "never.pdf.part").exists()
    assert await _posters(app) == 0


async def test_needs_the_bot_name(
    app: App,
    places: Places,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("TRUSTLINE_BOT_USERNAME")
    monkeypatch.delenv("TRUSTLINE_BOT_TOKEN", raising=False)
    out = tmp_path / "never.pdf"
    code = await asyncio.to_thread(
        cli_main, ["posters", "--school", "Школа № 901", "--classes", "5А", "--out", str(out)]
    )
    assert code == 2 and "TRUSTLINE_BOT_USERNAME" in capsys.readouterr().err
    assert not out.exists()
    assert await _posters(app) == 0
