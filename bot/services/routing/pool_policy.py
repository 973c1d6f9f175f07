"""The pool of a case: the one definition of who is told of it, who may see and take it,
who it may be transferred to, and which supervisors hear when it waits too long.

A case's place is its pool district and pool region (taken from the poster's school, or
from the region and district the student picked). Its pool is the first of these tiers
that holds an active psychologist who has not stepped aside from the case:

1. the place's own psychologists: for a district, the district's psychologists and the
   region-wide psychologists of its region; for a region only, every psychologist of it;
2. for a district only: every psychologist of the region (neighbours cover a district
   that nobody serves);
3. the duty pool, the psychologists of the case's country: the region's country, or for a
   case with no region the country of the student's language (ky → KG, kk → KZ; Russian or
   an unknown language names no country, so this tier is skipped);
4. every active psychologist.

So a case with no place goes to the duty pool, which exists as long as one psychologist
does. When no psychologist is active anywhere, the supervisors who would get the case's
escalations receive its card (without content, without a Take button) and it waits in the
queue for the first psychologist to join.

Everything is derived from `_tiers`, written once over "sides" whose fields are either SQL
columns or plain values (constants are folded in Python):

- `pool_members` (a case → its psychologists): the notification set and the transfer
  candidates;
- `pool_clause` (a psychologist → the cases they may see and take): the queue and the claim;
- `escalation_supervisors`: the supervisors of the place (its region's, its district's),
  else of its country, else every supervisor.

tests/test_routing_policy.py checks that the first two agree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, literal, or_, select, true
from sqlalchemy import case as sql_case
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import (
    BinaryExpression,
    BindParameter,
    BooleanClauseList,
    ClauseElement,
    False_,
    True_,
)

from bot.db.models import Case, CaseRecusal, District, Member, Region, School, Student
from bot.domain import Country, Language, Role

log = logging.getLogger(__name__)

# The country a student's language names, for a case with no region.
LANGUAGE_COUNTRY: dict[str, str] = {Language.KY: Country.KG, Language.KK: Country.KZ}

Value = Any  # an SQL expression, or a plain value (int, str, None)


@dataclass(frozen=True, slots=True)
class Side:
    """The fields the policy reads, of a member or of a case."""

    id: Value
    district_id: Value
    region_id: Value
    country: Value


def _sql(value: Value) -> bool:
    return isinstance(value, ClauseElement) or hasattr(value, "__clause_element__")


def _eq(a: Value, b: Value) -> ColumnElement[bool]:
    """a = b, where a NULL equals nothing (as in SQL)."""
    if not _sql(a) and not _sql(b):
        return true() if a is not None and a == b else false()
    if a is None or b is None:
        return false()
    if not _sql(a):
        a, b = b, a
    return a == b  # type: ignore[no-any-return]


def _and(*parts: ColumnElement[bool]) -> ColumnElement[bool]:
    """and_, with the constants of `_eq` and friends folded away."""
    if any(isinstance(p, False_) for p in parts):
        return false()
    kept = [p for p in parts if not isinstance(p, True_)]
    return true() if not kept else kept[0] if len(kept) == 1 else and_(*kept)


def _or(*parts: ColumnElement[bool]) -> ColumnElement[bool]:
    if any(isinstance(p, True_) for p in parts):
        return true()
    kept = [p for p in parts if not isinstance(p, False_)]
    return false() if not kept else kept[0] if len(kept) == 1 else or_(*kept)


def _is_null(a: Value) -> ColumnElement[bool]:
    if not _sql(a):
        return true() if a is None else false()
    return a.is_(None)  # type: ignore[no-any-return]


def _is_set(a: Value) -> ColumnElement[bool]:
    if not _sql(a):
        return false() if a is None else true()
    return a.is_not(None)  # type: ignore[no-any-return]


def _tiers(m: Side, c: Side) -> list[ColumnElement[bool]]:
    """Whether psychologist m is in each tier of case c (false where a tier does not apply
    to the case). The one definition of a pool: see the module's docstring."""
    own = _or(
        _and(
            _is_set(c.district_id),
            _or(
                _eq(m.district_id, c.district_id),
                _and(_is_null(m.district_id), _eq(m.region_id, c.region_id)),
            ),
        ),
        _and(_is_null(c.district_id), _eq(m.region_id, c.region_id)),
    )
    neighbours = _and(_is_set(c.district_id), _eq(m.region_id, c.region_id))
    country = _eq(m.country, c.country)
    return [own, neighbours, country, true()]


def _region_country(region_id: Value) -> Value:
    return (
        select(Region.country)
        .where(Region.id == region_id)
        .correlate_except(Region)
        .scalar_subquery()
    )


# A member as columns (any psychologist), and a case as columns (any case).
_MEMBER = Side(Member.id, Member.district_id, Member.region_id, _region_country(Member.region_id))
_CASE = Side(
    Case.id,
    Case.pool_district_id,
    Case.pool_region_id,
    sql_case(
        (Case.pool_region_id.is_not(None), _region_country(Case.pool_region_id)),
        # plain strings, not the enums: a statement compiled with literal values (EXPLAIN in
        # benchmarks/queue_scale.py) has no renderer for an enum member
        else_=sql_case(
            {str(lang): str(country) for lang, country in LANGUAGE_COUNTRY.items()},
            value=Case.language,
            else_=literal(None),
        ),
    ),
)


def _eligible(c: Side, without: int | None = None) -> ColumnElement[bool]:
    """Psychologists (as columns) who count for case c: active, not stepped aside."""
    recused = (
        exists()
        .where(CaseRecusal.case_id == c.id, CaseRecusal.member_id == Member.id)
        .correlate_except(CaseRecusal)
    )
    clause = and_(Member.active.is_(True), Member.role == Role.PSYCHOLOGIST, ~recused)
    if without is not None:
        clause = and_(clause, Member.id != without)
    return clause


async def case_country(session: AsyncSession, case: Case) -> str | None:
    if case.pool_region_id is not None:
        region = await session.get(Region, case.pool_region_id)
        return region.country if region else None
    return LANGUAGE_COUNTRY.get(case.language)


async def _case_side(session: AsyncSession, case: Case) -> Side:
    return Side(
        case.id, case.pool_district_id, case.pool_region_id, await case_country(session, case)
    )


async def pool_members(
    session: AsyncSession, case: Case, *, without: int | None = None
) -> list[Member]:
    """The psychologists of the case's pool (the first tier with anyone in it), by number.

    `without` leaves one psychologist out as if they had stepped aside (the holder, when
    the candidates for a transfer are listed). Empty only when no psychologist is active
    anywhere (see `notified_members`).
    """
    side = await _case_side(session, case)
    for tier in _tiers(_MEMBER, side):
        if isinstance(tier, False_):
            continue
        found = (
            await session.scalars(
                select(Member).where(_eligible(side, without), tier).order_by(Member.id)
            )
        ).all()
        if found:
            return list(found)
    return []


async def notified_members(session: AsyncSession, case: Case) -> list[Member]:
    """Who receives the case's card: its pool, else (nobody active anywhere) the supervisors
    who would get its escalations."""
    return await pool_members(session, case) or await escalation_supervisors(session, case)


def _shape(a: ClauseElement) -> Any:
    """What identifies an expression, values included (cheaper than compiling it)."""
    key = a._generate_cache_key()
    if key is None:
        return str(a)
    return key.key, tuple(repr(b.value) for b in key.bindparams)


def _merged_or(parts: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    """The OR of parts, with the terms that differ only in one `column = value` merged into
    `column IN (values)` (the same condition, shorter, and one an index can use)."""
    groups: dict[tuple[Any, ...], tuple[list[ColumnElement[bool]], Any, set[Any]]] = {}
    others: list[ColumnElement[bool]] = []
    for part in parts:
        if isinstance(part, True_):
            return true()
        terms = (
            part.clauses
            if isinstance(part, BooleanClauseList) and part.operator is operators.or_
            else [part]
        )
        for term in terms:
            if isinstance(term, False_):
                continue
            atoms = (
                list(term.clauses)
                if isinstance(term, BooleanClauseList) and term.operator is operators.and_
                else [term]
            )
            eqs = [
                a
                for a in atoms
                if isinstance(a, BinaryExpression)
                and a.operator is operators.eq
                and isinstance(a.right, BindParameter)
            ]
            if len(eqs) != 1:
                others.append(term)
                continue
            eq = eqs[0]
            rest = [a for a in atoms if a is not eq]
            key = (_shape(eq.left), frozenset(map(_shape, rest)))
            groups.setdefault(key, (rest, eq.left, set()))[2].add(eq.right.value)
    merged = [_and(*rest, column.in_(sorted(values))) for rest, column, values in groups.values()]
    return _or(*merged, *others)


def _not_true(a: ColumnElement[bool]) -> ColumnElement[bool]:
    """Not true (false or NULL): `NOT a` would drop the rows where a is NULL."""
    if isinstance(a, True_):
        return false()
    if isinstance(a, False_):
        return true()
    return a.is_not(true())


@dataclass(frozen=True, slots=True)
class _Staff:
    """The facts the tiers depend on that are not per case, read once per clause: each
    region's country, and the places of the active psychologists."""

    region_country: dict[int, str]
    psychologists: list[Side]  # one per distinct place (district, region, country)

    def _country_of(self, region_id: Any, else_: Any) -> Any:
        """The country of a region column, from the regions read (no subquery per row)."""
        by_country: dict[str, list[int]] = {}
        for rid, country in sorted(self.region_country.items()):
            by_country.setdefault(country, []).append(rid)
        return sql_case(
            *(
                (region_id.in_(ids), literal(country))
                for country, ids in sorted(by_country.items())
            ),
            (region_id.is_not(None), literal(None)),
            else_=else_,
        )

    def case_side(self) -> Side:
        """A case as columns (as `_CASE`, its country without a subquery)."""
        return Side(
            Case.id,
            Case.pool_district_id,
            Case.pool_region_id,
            self._country_of(
                Case.pool_region_id,
                sql_case(
                    {str(lang): str(c) for lang, c in LANGUAGE_COUNTRY.items()},
                    value=Case.language,
                    else_=literal(None),
                ),
            ),
        )

    def member_side(self) -> Side:
        """Any psychologist as columns (as `_MEMBER`, its country without a subquery)."""
        return Side(
            Member.id,
            Member.district_id,
            Member.region_id,
            self._country_of(Member.region_id, literal(None)),
        )


async def _facts(
    session: AsyncSession,
) -> tuple[tuple[tuple[int, str], ...], tuple[tuple[int | None, int | None], ...]]:
    """Each region's country, and the places (district, region) of the active
    psychologists: two small queries."""
    regions = tuple(
        sorted(
            (rid, str(country))
            for rid, country in (await session.execute(select(Region.id, Region.country))).all()
        )
    )
    places = (
        await session.execute(
            select(Member.district_id, Member.region_id)
            .distinct()
            .where(Member.active.is_(True), Member.role == Role.PSYCHOLOGIST)
        )
    ).all()
    return regions, tuple(
        sorted(((d, r) for d, r in places), key=lambda p: (p[1] or 0, p[0] or 0))
    )


@lru_cache(maxsize=8)
def _shared(
    regions: tuple[tuple[int, str], ...], places: tuple[tuple[int | None, int | None], ...]
) -> tuple[_Staff, Side, tuple[ColumnElement[bool], ...], tuple[ColumnElement[bool], ...]]:
    """The parts of the clause that are the same for every psychologist, built once for
    given facts: the case as columns, each tier's emptiness from the facts (no recusal),
    and each tier's exact emptiness per case (with recusals)."""
    country = dict(regions)
    staff = _Staff(
        country, [Side(None, d, r, country.get(r) if r is not None else None) for d, r in places]
    )
    case = staff.case_side()
    anyone = _tiers(staff.member_side(), case)
    taken = [_tiers(p, case) for p in staff.psychologists]
    empty = tuple(_not_true(_merged_or([t[k] for t in taken])) for k in range(len(anyone)))
    exact_empty = tuple(~exists(select(Member.id).where(_eligible(case), tier)) for tier in anyone)
    return staff, case, empty, exact_empty


def _first_tier_with(
    mine: list[ColumnElement[bool]], empty: list[ColumnElement[bool]]
) -> ColumnElement[bool]:
    """In tier k and nobody in the tiers before it, for some k; nested from the last tier
    out (t0 or (empty0 and (t1 or (empty1 and ...)))), so each emptiness is tested once."""
    visible: ColumnElement[bool] = false()
    for k in reversed(range(len(mine))):
        if k + 1 < len(mine):
            visible = _and(empty[k], visible)
        visible = _or(mine[k], visible)
    return visible


async def pool_clause(session: AsyncSession, member: Member) -> ColumnElement[bool]:
    """The cases (as columns) this psychologist may see and take: those whose pool, by the
    same tiers as `pool_members`, contains them.

    Whether a case's earlier tiers are empty is read once per call, not per case: the
    active psychologists' places are read, and the tiers of each place, as conditions on
    the case's columns, are joined into IN lists (`Case.pool_district_id IN (...)`, ...),
    so the queue stays an index scan. Those facts do not know who stepped aside from which
    case: the few cases with a recusal take the exact branch, with per-case subqueries.
    """
    if member.role != Role.PSYCHOLOGIST or not member.active:
        return false()
    staff, case, empty, exact_empty = _shared(*await _facts(session))
    me = Side(
        member.id,
        member.district_id,
        member.region_id,
        staff.region_country.get(member.region_id) if member.region_id is not None else None,
    )
    mine = _tiers(me, case)
    fast = _first_tier_with(mine, list(empty))

    # A case someone stepped aside from: the tiers' emptiness per case, without them.
    exact = _first_tier_with(mine, list(exact_empty))
    recused = (
        exists()
        .where(CaseRecusal.case_id == Case.id, CaseRecusal.member_id == member.id)
        .correlate_except(CaseRecusal)
    )
    with_recusal = Case.id.in_(select(CaseRecusal.case_id))
    # Its own statement over the cases with a recusal, run once (not correlated with the
    # caller's cases): its per-case subqueries then cost nothing for the other cases, and
    # PostgreSQL's estimate stays small (a large one switches on JIT, ~70 ms per query).
    exact_cases = (
        select(Case.id).where(with_recusal, exact, ~recused).correlate(None).scalar_subquery()
    )
    return _or(_and(~with_recusal, fast), Case.id.in_(exact_cases))


async def escalation_supervisors(session: AsyncSession, case: Case) -> list[Member]:
    """Active supervisors to tell about the case: those of its place (the region's, and the
    district's), else those of its country, else every supervisor."""
    base = select(Member).where(Member.active.is_(True), Member.role == Role.SUPERVISOR)
    tiers: list[ColumnElement[bool]] = []
    if case.pool_region_id is not None:
        own = and_(Member.region_id == case.pool_region_id, Member.district_id.is_(None))
        if case.pool_district_id is not None:
            own = or_(own, Member.district_id == case.pool_district_id)
        tiers.append(or_(own, Member.region_id.is_(None)))
    country = await case_country(session, case)
    if country is not None:
        in_country = Member.region_id.in_(select(Region.id).where(Region.country == country))
        tiers.append(or_(in_country, Member.region_id.is_(None)))
    tiers.append(true())
    for tier in tiers:
        found = (await session.scalars(base.where(tier).order_by(Member.id))).all()
        if found:
            return list(found)
    return []


# --- places ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """Where a case is: a school (with its district and region), a district, a region, or
    nowhere."""

    school_id: int | None = None
    district_id: int | None = None
    region_id: int | None = None

    @property
    def level(self) -> str:
        if self.school_id is not None:
            return "school"
        if self.district_id is not None:
            return "district"
        return "region" if self.region_id is not None else "none"


async def place_of_school(session: AsyncSession, school_id: int) -> Place | None:
    row = (
        await session.execute(
            select(District.id, District.region_id)
            .join(School, School.district_id == District.id)
            .where(School.id == school_id)
        )
    ).first()
    return Place(school_id, row[0], row[1]) if row else None


async def place_of_student(session: AsyncSession, student: Student) -> Place:
    """The place a student gave: a poster's school, else the region and district picked."""
    if student.school_id is not None:
        found = await place_of_school(session, student.school_id)
        if found is not None:
            return found
    return Place(None, student.district_id, student.region_id)


def place_case(case: Case, place: Place) -> None:
    """Put a case at a place: the place shown on its card and its pool."""
    case.school_id = place.school_id
    case.district_id = place.district_id
    case.region_id = place.region_id
    case.pool_district_id = place.district_id
    case.pool_region_id = place.region_id


# --- coverage ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Uncovered:
    """A region or district whose own tier is empty: its cases fall to a wider pool."""

    level: str  # "region" or "district"
    id: int
    name: str
    region_name: str


async def uncovered_places(session: AsyncSession) -> list[Uncovered]:
    """Regions and districts that no active psychologist covers at the first tier: a
    district without its own or a region-wide psychologist, a region without any."""
    psychologists = (
        await session.execute(
            select(Member.region_id, Member.district_id).where(
                Member.active.is_(True), Member.role == Role.PSYCHOLOGIST
            )
        )
    ).all()
    regions_with_any = {r for r, _ in psychologists if r is not None}
    region_wide = {r for r, d in psychologists if r is not None and d is None}
    districts = {d for _, d in psychologists if d is not None}
    found: list[Uncovered] = []
    regions = await session.scalars(select(Region).order_by(Region.country, Region.name))
    for region in regions.all():
        if region.id not in regions_with_any:
            found.append(Uncovered("region", region.id, region.name, region.name))
        if region.id in region_wide:
            continue
        rows = await session.scalars(
            select(District).where(District.region_id == region.id).order_by(District.name)
        )
        found.extend(
            Uncovered("district", d.id, d.name, region.name)
            for d in rows.all()
            if d.id not in districts
        )
    return found


async def warn_uncovered(session: AsyncSession) -> list[Uncovered]:
    """At start-up: one warning per uncovered region or district (our ids, no names)."""
    found = await uncovered_places(session)
    for place in found:
        log.warning("place_uncovered level=%s id=%s", place.level, place.id)
    return found
