"""`trustline org import`: all or nothing, idempotent, clear line numbers; the example file."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.cli import main as cli_main
from bot.db.models import AuditEntry, District, Region, School
from bot.db.session import make_engine, make_sessionmaker
from bot.services.errors import NotFound
from bot.services.organisation import org

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "schools.csv"


@pytest.fixture
async def session(database_url: str) -> AsyncIterator[AsyncSession]:
    """A session whose reads end their transaction (`_counts` commits), so the CLI's own
    transactions are never kept waiting by the test."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as s:
            yield s
    finally:
        await engine.dispose()


async def _counts(session: AsyncSession) -> tuple[int, int, int]:
    found = tuple(
        [
            await session.scalar(select(func.count()).select_from(model))
            for model in (Region, District, School)
        ]
    )
    await session.commit()
    return found  # type: ignore[return-value]


def test_parse_accepts_bom_semicolons_quotes_and_default_languages() -> None:
    text = (
        "\ufeffCountry;Region;District;School\n"
        'kg;Бишкек;Ленинский район;"Школа № 1; имени Айтматова"\n'
        "\n"
        "KZ;Жамбыл облысы;Тараз;№ 5 мектеп\n"
    )
    rows = org.parse_csv(text)
    assert [(r.country, r.school, r.languages) for r in rows] == [
        ("KG", "Школа № 1; имени Айтматова", "ky,ru"),
        ("KZ", "№ 5 мектеп", "kk,ru"),
    ]


def test_bad_rows_are_named_by_line() -> None:
    text = (
        "country,region,district,school,languages\n"
        "KG,Бишкек,Ленинский район,Школа 1,ky\n"
        "UZ,Ташкент,Юнусабад,Школа 2,ru\n"
        "KZ,Жамбыл облысы,,Школа 3,kk\n"
        'KG,Бишкек,Ленинский район,Школа 4,"ky,en"\n'
        "KG,Бишкек,Ленинский район,Школа 5,ru,extra\n"
    )
    with pytest.raises(org.OrgFileError) as caught:
        org.parse_csv(text)
    problems = caught.value.problems
    assert len(problems) == 4
    assert problems[0].startswith("line 3:") and "UZ" in problems[0]
    assert problems[1].startswith("line 4:") and "district" in problems[1]
    assert problems[2].startswith("line 5:") and "en" in problems[2]
    assert problems[3].startswith("line 6:") and "more fields" in problems[3]


def test_missing_columns_are_named() -> None:
    with pytest.raises(org.OrgFileError) as caught:
        org.parse_csv("country,region,school\nKG,Бишкек,Школа 1\n")
    assert "district" in str(caught.value) and "line 1" in str(caught.value)


async def test_import_is_idempotent_and_updates_languages(session: AsyncSession) -> None:
    rows = org.parse_csv(EXAMPLE.read_text(encoding="utf-8"))
    async with session.begin():
        first = await org.import_rows(session, rows)
    assert (first.regions_added, first.districts_added, first.schools_added) == (2, 8, 10)
    assert await _counts(session) == (2, 8, 10)
    async with session.begin():
        again = await org.import_rows(session, rows)
    assert (again.regions_added, again.districts_added, again.schools_added) == (0, 0, 0)
    assert again.schools_unchanged == 10
    assert await _counts(session) == (2, 8, 10)
    changed = org.parse_csv(
        "country,region,district,school,languages\n"
        "KG,Бишкек,Ленинский район,Средняя школа № 902 «Ала-Тоо»,ky\n"
    )
    async with session.begin():
        report = await org.import_rows(session, changed)
    assert report.schools_updated == 1
    school = await session.scalar(select(School).where(School.name.like("%902 «Ала-Тоо»%")))
    assert school is not None and school.languages == "ky"
    kz = await session.scalar(select(Region).where(Region.country == "KZ"))
    assert kz is not None and kz.timezone == "Asia/Almaty"
    await session.commit()


async def test_find_places_by_name_path_and_id(session: AsyncSession) -> None:
    text = (
        "country,region,district,school\nKG,Бишкек,Центр,Школа 1\nKZ,Жамбыл облысы,Центр,Школа 1\n"
    )
    async with session.begin():
        await org.import_rows(session, org.parse_csv(text))
    region = await org.find_region(session, "KZ/Жамбыл облысы")
    assert region.country == "KZ"
    with pytest.raises(NotFound, match="2 places match"):
        await org.find_district(session, "Центр")
    district = await org.find_district(session, "Бишкек/Центр")
    assert (await org.find_district(session, str(district.id))).id == district.id
    school = await org.find_school(session, "Жамбыл облысы/Центр/Школа 1")
    assert school.district_id != district.id
    with pytest.raises(NotFound, match="import the schools first"):
        await org.find_school(session, "Школа 99")


async def _run_cli(
    monkeypatch: pytest.MonkeyPatch, database_url: str, master_key: str, *argv: str
) -> int:
    monkeypatch.setenv("TRUSTLINE_DATABASE_URL", database_url)
    monkeypatch.setenv("TRUSTLINE_MASTER_KEY", master_key)
    return await asyncio.to_thread(cli_main, list(argv))


async def test_cli_imports_the_example_then_nothing_new(
    session: AsyncSession,
    database_url: str,
    master_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    assert (
        await _run_cli(monkeypatch, database_url, master_key, "org", "import", str(EXAMPLE)) == 0
    )
    assert "10 new schools" in capsys.readouterr().out
    assert (
        await _run_cli(monkeypatch, database_url, master_key, "org", "import", str(EXAMPLE)) == 0
    )
    assert "0 new schools" in capsys.readouterr().out
    assert await _counts(session) == (2, 8, 10)
    events = (await session.scalars(select(AuditEntry.event))).all()
    assert list(events).count("org_imported") == 2
    await session.commit()


async def test_cli_bad_file_writes_nothing(
    session: AsyncSession,
    database_url: str,
    master_key: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "country,region,district,school\nKG,Бишкек,Ленинский район,Школа 1\nKG,Бишкек,,Школа 2\n",
        encoding="utf-8",
    )
    assert await _run_cli(monkeypatch, database_url, master_key, "org", "import", str(bad)) == 1
    err = capsys.readouterr().err
    assert "line 3: empty district" in err and "nothing was changed" in err
    assert await _counts(session) == (0, 0, 0)
    missing = tmp_path / "missing.csv"
    assert (
        await _run_cli(monkeypatch, database_url, master_key, "org", "import", str(missing)) == 2
    )
    assert "does not exist" in capsys.readouterr().err
