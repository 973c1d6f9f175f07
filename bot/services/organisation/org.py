"""The organisation: regions → districts → schools, imported from a CSV and looked up by name.

An import is all or nothing: every row is checked first, and only a file without a single bad
row is written, in the caller's one transaction. Importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import District, Region, School
from bot.domain import Country, Language
from bot.services.errors import InvalidInput, NotFound

REQUIRED_COLUMNS = ("country", "region", "district", "school")
MAX_ERRORS_SHOWN = 20
# Both countries' schools teach in the state language and in Russian, by default.
DEFAULT_LANGUAGES = {Country.KG: "ky,ru", Country.KZ: "kk,ru"}
# Kazakhstan moved to one time zone (UTC+5) in 2024; Asia/Almaty follows it in tzdata.
TIMEZONES = {Country.KG: "Asia/Bishkek", Country.KZ: "Asia/Almaty"}
NAME_LIMITS = {"region": 200, "district": 200, "school": 300}

T = TypeVar("T")


class OrgFileError(InvalidInput):
    """The file has bad rows; `problems` are one line each, with the file's line number."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        shown = problems[:MAX_ERRORS_SHOWN]
        more = len(problems) - len(shown)
        text = "\n".join(shown) + (f"\n… and {more} more" if more > 0 else "")
        super().__init__(text)


@dataclass(frozen=True, slots=True)
class OrgRow:
    line: int
    country: str
    region: str
    district: str
    school: str
    languages: str


@dataclass
class ImportReport:
    regions_added: int = 0
    districts_added: int = 0
    schools_added: int = 0
    schools_updated: int = 0
    schools_unchanged: int = 0
    rows: int = 0
    added_school_ids: list[int] = field(default_factory=list)


def _clean(value: str | None) -> str:
    return " ".join((value or "").split())


def _languages(raw: str, country: Country, line: int, problems: list[str]) -> str:
    if not raw.strip():
        return DEFAULT_LANGUAGES[country]
    codes = [c.strip().lower() for c in raw.replace(";", ",").replace(" ", ",").split(",")]
    codes = [c for c in codes if c]
    known = {lang.value for lang in Language}
    unknown = [c for c in codes if c not in known]
    if unknown:
        problems.append(
            f'line {line}: unknown language {", ".join(unknown)!s} (use ky, kk, ru, e.g. "ky,ru")'
        )
        return ""
    return ",".join(dict.fromkeys(codes))


def parse_csv(text: str) -> list[OrgRow]:
    """Rows of an org file, or OrgFileError naming every bad line (1 = the header)."""
    text = text.lstrip("\ufeff")  # Excel writes a byte-order mark
    first_line = text.split("\n", 1)[0]
    # Spreadsheets set to Russian or Kazakh locales save with semicolons.
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    header = [(_clean(h)).lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    if missing:
        raise OrgFileError(
            [
                f"line 1: missing column(s) {', '.join(missing)}; the header must "
                f"be country,region,district,school[,languages]"
            ]
        )
    reader.fieldnames = header
    rows: list[OrgRow] = []
    problems: list[str] = []
    for record in reader:
        line = reader.line_num
        values = {k: _clean(v) for k, v in record.items() if isinstance(k, str)}
        if not any(values.values()):
            continue  # blank line
        if None in record:
            problems.append(
                f"line {line}: more fields than columns (a comma inside a name? "
                f"put the name in double quotes)"
            )
            continue
        empty = [c for c in REQUIRED_COLUMNS if not values.get(c)]
        if empty:
            problems.append(f"line {line}: empty {', '.join(empty)}")
            continue
        country_raw = values["country"].upper()
        if country_raw not in {c.value for c in Country}:
            problems.append(f"line {line}: unknown country {values['country']!r} (use KG or KZ)")
            continue
        country = Country(country_raw)
        too_long = [c for c, limit in NAME_LIMITS.items() if len(values[c]) > limit]
        if too_long:
            problems.append(f"line {line}: {', '.join(too_long)} too long")
            continue
        languages = _languages(values.get("languages", ""), country, line, problems)
        if not languages:
            continue
        rows.append(
            OrgRow(
                line,
                country.value,
                values["region"],
                values["district"],
                values["school"],
                languages,
            )
        )
    if problems:
        raise OrgFileError(problems)
    if not rows:
        raise OrgFileError(["the file has a header but no schools"])
    return rows


async def import_rows(session: AsyncSession, rows: list[OrgRow]) -> ImportReport:
    """Create what is missing; a known school only gets its languages updated."""
    report = ImportReport(rows=len(rows))
    regions: dict[tuple[str, str], Region] = {}
    districts: dict[tuple[int, str], District] = {}
    for row in rows:
        region = regions.get((row.country, row.region))
        if region is None:
            region = await session.scalar(
                select(Region).where(Region.country == row.country, Region.name == row.region)
            )
            if region is None:
                region = Region(
                    country=row.country,
                    name=row.region,
                    timezone=TIMEZONES[Country(row.country)],
                    work_start_hour=9,
                    work_end_hour=18,
                )
                session.add(region)
                await session.flush()
                report.regions_added += 1
            regions[(row.country, row.region)] = region
        district = districts.get((region.id, row.district))
        if district is None:
            district = await session.scalar(
                select(District).where(
                    District.region_id == region.id, District.name == row.district
                )
            )
            if district is None:
                district = District(region_id=region.id, name=row.district)
                session.add(district)
                await session.flush()
                report.districts_added += 1
            districts[(region.id, row.district)] = district
        school = await session.scalar(
            select(School).where(School.district_id == district.id, School.name == row.school)
        )
        if school is None:
            school = School(district_id=district.id, name=row.school, languages=row.languages)
            session.add(school)
            await session.flush()
            report.schools_added += 1
            report.added_school_ids.append(school.id)
        elif school.languages != row.languages:
            school.languages = row.languages
            report.schools_updated += 1
        else:
            report.schools_unchanged += 1
    return report


# --- looking places up by what an operator types ------------------------------------------


def _split_path(text: str) -> list[str]:
    return [part.strip() for part in text.split("/") if part.strip()]


async def find_region(session: AsyncSession, text: str) -> Region:
    """A region by id, by name, or by "KG/Name" when the name exists in both countries."""
    text = text.strip()
    if text.isdigit():
        found = await session.get(Region, int(text))
        if found is None:
            raise NotFound(f"no region with id {text}")
        return found
    parts = _split_path(text)
    query = select(Region)
    if len(parts) == 2 and parts[0].upper() in {c.value for c in Country}:
        query = query.where(Region.country == parts[0].upper(), Region.name == parts[1])
    else:
        query = query.where(Region.name == text)
    return _one(
        list((await session.scalars(query)).all()),
        "region",
        text,
        lambda r: f"{r.country}/{r.name}",
    )


async def find_district(session: AsyncSession, text: str) -> District:
    """A district by id, by name, or by "Region/District"."""
    text = text.strip()
    if text.isdigit():
        found = await session.get(District, int(text))
        if found is None:
            raise NotFound(f"no district with id {text}")
        return found
    parts = _split_path(text)
    query = select(District, Region).join(Region, Region.id == District.region_id)
    if len(parts) >= 2:
        query = query.where(Region.name == parts[-2], District.name == parts[-1])
    else:
        query = query.where(District.name == text)
    pairs = [(d, r) for d, r in (await session.execute(query)).all()]
    chosen = _one(pairs, "district", text, lambda p: f"{p[1].name}/{p[0].name}")
    return chosen[0]


async def find_school(session: AsyncSession, text: str) -> School:
    """A school by id, by name, or by "District/School" (or "Region/District/School")."""
    text = text.strip()
    if text.isdigit():
        found = await session.get(School, int(text))
        if found is None:
            raise NotFound(f"no school with id {text}")
        return found
    parts = _split_path(text)
    query = (
        select(School, District, Region)
        .join(District, District.id == School.district_id)
        .join(Region, Region.id == District.region_id)
    )
    if len(parts) >= 3:
        query = query.where(
            Region.name == parts[-3], District.name == parts[-2], School.name == parts[-1]
        )
    elif len(parts) == 2:
        query = query.where(District.name == parts[0], School.name == parts[1])
    else:
        query = query.where(School.name == text)
    rows = [(s, d, r) for s, d, r in (await session.execute(query)).all()]
    chosen = _one(rows, "school", text, lambda t: f"{t[2].name}/{t[1].name}/{t[0].name}")
    return chosen[0]


def _one(found: list[T], kind: str, text: str, describe: Callable[[T], str]) -> T:
    if not found:
        raise NotFound(
            f"no {kind} named {text!r}; import the schools first (trustline org import FILE.csv)"
        )
    if len(found) > 1:
        names = "; ".join(describe(item) for item in found[:5])
        raise NotFound(
            f"{len(found)} places match {text!r} ({names}); write the full path or the id"
        )
    return found[0]
