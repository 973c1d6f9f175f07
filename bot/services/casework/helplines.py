"""Emergency numbers a student is told to call, per country, each with what it is.

Kazakhstan: 111 (trust line for children and families, free, 24/7), 150 (children's
helpline), 112 (emergency), 102 (police), 103 (ambulance). Kyrgyzstan: 111 (children's
helpline), 112, 102, 103.

The country is the case's (its school's or region's). When nothing names a place, the
student's language stands for it: Kyrgyz → Kyrgyzstan, Kazakh → Kazakhstan. Russian with no
place gives only the numbers that work in both countries (111, 112, 102, 103), so nobody in
Kyrgyzstan is told to call 150.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.db.models import Case, District, Region, School
from bot.delivery import notices
from bot.delivery.notices import Joined, Text
from bot.domain import Country, Language
from bot.services.labels import N_
from bot.services.runtime import Runtime


@dataclass(frozen=True, slots=True)
class HelpNumber:
    number: str
    label: str  # an English msgid, translated when shown


_CHILDREN = N_("children's helpline")
_EMERGENCY = HelpNumber("112", N_("emergency services"))
_POLICE = HelpNumber("102", N_("police"))
_AMBULANCE = HelpNumber("103", N_("ambulance"))

HELP_NUMBERS: dict[Country, tuple[HelpNumber, ...]] = {
    Country.KZ: (
        HelpNumber("111", N_("trust line for children and families, free, 24/7")),
        HelpNumber("150", _CHILDREN),
        _EMERGENCY,
        _POLICE,
        _AMBULANCE,
    ),
    Country.KG: (HelpNumber("111", _CHILDREN), _EMERGENCY, _POLICE, _AMBULANCE),
}
# Valid in both countries: what a Russian-speaking student with no known place is given.
COMMON_NUMBERS: tuple[HelpNumber, ...] = (
    HelpNumber("111", _CHILDREN),
    _EMERGENCY,
    _POLICE,
    _AMBULANCE,
)
COUNTRY_OF_LANGUAGE: dict[str, Country] = {Language.KY: Country.KG, Language.KK: Country.KZ}


def numbers_for(country: Country | None, language: str) -> tuple[HelpNumber, ...]:
    """The numbers for a known country; else the language's country; else the common ones."""
    if country is None:
        country = COUNTRY_OF_LANGUAGE.get(language)
    if country is None:
        return COMMON_NUMBERS
    return HELP_NUMBERS[country]


async def country_of_place(
    session: AsyncSession, *, school_id: int | None, region_id: int | None
) -> Country | None:
    """The country of a school (through its district) or of a region; None if unknown."""
    if region_id is None and school_id is not None:
        region_id = await session.scalar(
            select(District.region_id)
            .join(School, School.district_id == District.id)
            .where(School.id == school_id)
        )
    if region_id is None:
        return None
    region = await session.get(Region, region_id)
    if region is None or region.country not in {c.value for c in Country}:
        return None
    return Country(region.country)


async def case_numbers(session: AsyncSession, case: Case) -> tuple[HelpNumber, ...]:
    country = await country_of_place(
        session, school_id=case.school_id, region_id=case.region_id or case.pool_region_id
    )
    return numbers_for(country, case.language)


def numbers_text(numbers: tuple[HelpNumber, ...]) -> Joined:
    """One line per number: "111 — children's helpline", translated when said."""
    return Joined(tuple(Joined((n.number, Text(n.label)), " — ") for n in numbers))


def format_numbers(rt: Runtime, lang: str, numbers: tuple[HelpNumber, ...]) -> str:
    """The numbers as text in `lang` (for /help)."""
    return notices.render(rt, lang, numbers_text(numbers))
