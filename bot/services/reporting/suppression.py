"""Complementary suppression: which cells of a table of counts must be hidden.

The rule. A count from 1 to `threshold - 1` is hidden (primary suppression). Then, as long
as any hidden value can still be worked out from what is published, one more cell is
hidden (complementary suppression): in the line (a total and the parts that add up to it)
that gives the value away, the smallest published count, preferring a non-zero one and one
that its other lines would not give away in turn. Every hidden cell is published with the
same mark, which says nothing of its value: 0, 3 or 40 alike.

Why. Hiding a small count alone protects nothing when its total is published: in a row
"cases 6, bullying 5, suicide hidden" and every other category 0, suicide = 6 - 5 = 1. Nor
may the mark tell small counts from the others: "total 8, a <5, b <5" would mean a = b = 4,
and the bounds 1 to 4 pin so many cells that most of a sparse table would have to go. So a
hidden value counts as given away when an attacker who knows every published number and
every line's sum, and that a hidden count is 0 or more, can pin it to one number, by:
- subtraction, repeated: each line bounds each of its hidden cells by its total minus the
  other cells' bounds, narrowed line by line until nothing changes (this catches a lone
  hidden cell in a line, hidden cells under a total of 0, and chains through several lines
  and through totals that are themselves hidden);
- linear algebra: a hidden cell whose value follows from adding and subtracting whole lines
  (in a table of rows and columns, a hidden cell that is the only link between two groups
  of hidden cells), found by exact elimination modulo a large prime.
A line may also hold cells that are never published (`hidden`: e.g. closed cases that were
never answered); they are unknowns to the attacker and need no protection themselves.

Pure: values in, the cells to hide out; no database, no text.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import (
    Callable,
    Collection,
    Hashable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass

Cell = Hashable
THRESHOLD = 5
_PRIME = (1 << 61) - 1  # ranks modulo this prime equal the rational ones for ±1 matrices
_PASSES = 200  # bound narrowing stops by then at the latest (it is sound at any point)
_STARTS = 8  # exposed cells whose surroundings are searched for the next cell to hide
_SHORTLIST = 4  # the smallest candidates whose other lines are checked before choosing
Bounds = Callable[[Cell], tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Line:
    """`total` is the sum of `parts` (cells of the same table)."""

    total: Cell
    parts: tuple[Cell, ...]

    @property
    def cells(self) -> tuple[Cell, ...]:
        return (self.total, *self.parts)


@dataclass(frozen=True, slots=True)
class Suppression:
    primary: frozenset[Cell]  # the small counts
    complementary: frozenset[Cell]  # hidden so that none of them can be worked out

    @property
    def cells(self) -> frozenset[Cell]:
        """Every cell to publish as hidden."""
        return self.primary | self.complementary


def suppress(
    values: Mapping[Cell, int],
    lines: Sequence[Line],
    hidden: Collection[Cell] = (),
    threshold: int = THRESHOLD,
) -> Suppression:
    """The cells to hide so that no hidden value can be recovered exactly (module docstring).

    `values` holds every cell, the `hidden` (never published) ones included; the order of
    `values` breaks ties between equally small candidates, so the result is stable."""
    primary = frozenset(
        cell for cell, value in values.items() if cell not in hidden and 0 < value < threshold
    )
    unknown = set(primary) | set(hidden)  # what the attacker does not see
    order = {cell: i for i, cell in enumerate(values)}
    lines_of: dict[Cell, list[Line]] = {}
    for line in lines:
        for cell in line.cells:
            lines_of.setdefault(cell, []).append(line)

    def bounds(cell: Cell) -> tuple[float, float]:
        return (0, math.inf) if cell in unknown else (values[cell], values[cell])

    def given_away(cell: Cell) -> int:
        """How many of the cell's lines would pin it once hidden (a zero under a total of
        0, a cell alone in a line): each would need yet another cell hidden."""

        def if_hidden(c: Cell) -> tuple[float, float]:
            return (0, math.inf) if c == cell else bounds(c)

        return sum(1 for line in lines_of[cell] if _pins(line, if_hidden, (cell,)))

    def cheapest(candidates: Iterable[tuple[int, Cell]]) -> Cell | None:
        """Of (distance, cell) pairs: a published non-zero count before a zero; then the
        nearest to the exposed cell; then, of the few smallest of those, one that its lines
        would not give away in turn; then the smallest. None: nothing published."""
        ranked = sorted(
            ((0 if values[c] else 1), depth, values[c], order[c], c)
            for depth, c in candidates
            if c not in unknown
        )
        if not ranked:
            return None
        best = [r for r in ranked if r[:2] == ranked[0][:2]][:_SHORTLIST]
        return min(best, key=lambda r: (given_away(r[4]), r[2], r[3]))[4]

    # First each line on its own, from a work list: a line that pins one of its hidden
    # cells gets its cheapest published cell hidden, and that cell's lines are looked at
    # again. This settles most of a table in one sweep.
    protected = set(primary)
    waiting = deque(line for line in lines if any(c in unknown for c in line.cells))
    queued = set(waiting)
    while waiting:
        line = waiting.popleft()
        queued.discard(line)
        if not _pins(line, bounds, protected):
            continue
        pick = cheapest((1, c) for c in line.cells)
        if pick is None:
            continue  # all hidden: whether it holds is for the whole-table check below
        unknown.add(pick)
        protected.add(pick)
        for other in lines_of[pick]:
            if other not in queued:
                queued.add(other)
                waiting.append(other)

    # Then the whole table, until neither chains of lines nor linear algebra pin anything.
    while True:
        exposed, reasons = _exposure(lines, bounds, protected, unknown)
        if not exposed:
            break
        # One cell for each of a few exposed cells, each the cheapest around it; a cell
        # whose lines got a new hidden cell this round waits for the next round (it may
        # be covered already).
        touched: set[Line] = set()
        for start in sorted(exposed, key=order.__getitem__)[:_STARTS]:
            if touched.intersection(lines_of.get(start, ())):
                continue
            pick = cheapest(_around(start, reasons, lines_of))
            if pick is not None:
                unknown.add(pick)
                protected.add(pick)
                touched.update(lines_of[pick])
        if not touched:
            # Nothing published around them in the lines that pinned them (not seen in
            # practice): hide everything published in their lines rather than leak.
            rest = {c for cell in exposed for line in lines_of.get(cell, ()) for c in line.cells}
            rest -= unknown
            if not rest:
                break
            unknown.update(rest)
            protected.update(rest)
    return Suppression(primary, frozenset(protected - primary))


def disclosed(
    values: Mapping[Cell, int],
    lines: Sequence[Line],
    suppressed: Collection[Cell],
    hidden: Collection[Cell] = (),
) -> set[Cell]:
    """Suppressed cells an attacker pins to one value, knowing every other value, the
    lines, and that hidden counts are 0 or more."""
    unknown = set(suppressed) | set(hidden)

    def bounds(cell: Cell) -> tuple[float, float]:
        return (0, math.inf) if cell in unknown else (values[cell], values[cell])

    return _exposure(lines, bounds, set(suppressed), unknown)[0]


def _pins(line: Line, bounds: Bounds, protected: Collection[Cell]) -> bool:
    """Does this line alone pin a protected cell, given each cell's own bounds?"""
    signed = [(line.total, 1), *((p, -1) for p in line.parts)]
    low: list[float] = []
    high: list[float] = []
    for cell, sign in signed:
        lo, hi = bounds(cell)
        low.append(lo if sign > 0 else -hi)
        high.append(hi if sign > 0 else -lo)
    low_sum, low_inf = _finite_sum(low)
    high_sum, high_inf = _finite_sum(high)
    for (cell, sign), lo, hi in zip(signed, low, high, strict=True):
        if cell not in protected:
            continue
        others_low = -math.inf if low_inf - math.isinf(lo) else low_sum - _finite(lo)
        others_high = math.inf if high_inf - math.isinf(hi) else high_sum - _finite(hi)
        new_low, new_high = (-others_high, -others_low) if sign > 0 else (others_low, others_high)
        own_low, own_high = bounds(cell)
        if max(own_low, new_low) >= min(own_high, new_high):
            return True
    return False


Reasons = dict[Cell, set[Line]] | None  # the lines that narrowed each cell; None: all lines


def _exposure(
    lines: Sequence[Line], bounds: Bounds, protected: set[Cell], unknown: set[Cell]
) -> tuple[set[Cell], Reasons]:
    """Protected cells pinned by narrowing (with the lines that narrowed each cell), or,
    when it pins none, by linear algebra (no reasons)."""
    pinned, reasons = _narrowed(lines, bounds, protected, unknown)
    if pinned:
        return pinned, reasons
    return _determined(lines, unknown) & protected, None


def _around(
    exposed: Cell, reasons: Reasons, lines_of: Mapping[Cell, list[Line]]
) -> Iterator[tuple[int, Cell]]:
    """Cells that could cover `exposed`, with their distance: those of the lines that
    pinned it (1), of the lines that narrowed the hidden cells of those lines (2), and so
    on outwards. Without reasons (linear algebra), every line counts."""
    seen_lines: set[Line] = set()
    seen_cells = {exposed}
    frontier = [exposed]
    depth = 0
    while frontier:
        depth += 1
        here: list[Line] = []
        for cell in frontier:
            through = lines_of.get(cell, []) if reasons is None else reasons.get(cell, ())
            if cell == exposed and not through:
                through = lines_of.get(cell, [])
            for line in through:
                if line not in seen_lines:
                    seen_lines.add(line)
                    here.append(line)
        frontier = []
        for line in here:
            for cell in line.cells:
                if cell not in seen_cells:
                    seen_cells.add(cell)
                    frontier.append(cell)
                    yield depth, cell


def _narrowed(
    lines: Sequence[Line], bounds: Bounds, protected: set[Cell], unknown: set[Cell]
) -> tuple[set[Cell], dict[Cell, set[Line]]]:
    """Bounds of the unknown cells narrowed line by line (a work list of lines whose cells
    changed) until nothing changes; the protected cells left with a single value."""
    low: dict[Cell, float] = {}
    high: dict[Cell, float] = {}
    lines_of: dict[Cell, list[Line]] = {}
    active = [line for line in lines if any(c in unknown for c in line.cells)]
    for line in active:
        for cell in line.cells:
            if cell not in low:
                low[cell], high[cell] = bounds(cell)
            lines_of.setdefault(cell, []).append(line)
    reasons: dict[Cell, set[Line]] = {}
    waiting = deque(active)
    queued = set(active)
    budget = _PASSES * max(1, len(active))
    while waiting and budget:
        budget -= 1
        line = waiting.popleft()
        queued.discard(line)
        # total - sum(parts) = 0: each cell lies within minus the sum of the others.
        signed = [(line.total, 1), *((p, -1) for p in line.parts)]
        lows = [low[c] if s > 0 else -high[c] for c, s in signed]
        highs = [high[c] if s > 0 else -low[c] for c, s in signed]
        low_sum, low_inf = _finite_sum(lows)
        high_sum, high_inf = _finite_sum(highs)
        for (cell, sign), lo, hi in zip(signed, lows, highs, strict=True):
            if cell not in unknown:
                continue
            # The other terms lie within [others_low, others_high].
            others_low = -math.inf if low_inf - math.isinf(lo) else low_sum - _finite(lo)
            others_high = math.inf if high_inf - math.isinf(hi) else high_sum - _finite(hi)
            if sign > 0:
                new_low, new_high = -others_high, -others_low
            else:
                new_low, new_high = others_low, others_high
            if new_low > low[cell] or new_high < high[cell]:
                low[cell] = max(low[cell], new_low)
                high[cell] = min(high[cell], new_high)
                reasons.setdefault(cell, set()).add(line)
                for other in lines_of[cell]:
                    if other is not line and other not in queued:
                        queued.add(other)
                        waiting.append(other)
    return {cell for cell in protected if cell in low and low[cell] >= high[cell]}, reasons


def _finite_sum(bounds: list[float]) -> tuple[float, int]:
    """The sum of the finite bounds, and how many are infinite."""
    return sum(b for b in bounds if not math.isinf(b)), sum(1 for b in bounds if math.isinf(b))


def _finite(bound: float) -> float:
    return 0 if math.isinf(bound) else bound


def _determined(lines: Sequence[Line], unknown: set[Cell]) -> set[Cell]:
    """Unknown cells fixed by the lines as linear equations: the unit vector of the cell is
    in the row space, i.e. reduced row echelon form has a row with that cell alone."""
    rows: list[dict[Cell, int]] = []
    for line in lines:
        row: dict[Cell, int] = {}
        for cell, sign in ((line.total, 1), *((p, -1) for p in line.parts)):
            if cell in unknown:
                row[cell] = (row.get(cell, 0) + sign) % _PRIME
        row = {c: v for c, v in row.items() if v}
        if row:
            rows.append(row)
    holding: dict[Cell, set[int]] = {}
    for i, row in enumerate(rows):
        for cell in row:
            holding.setdefault(cell, set()).add(i)
    for i in range(len(rows)):
        row = rows[i]
        if not row:
            continue
        pivot = min(row, key=lambda c: len(holding[c]))
        inverse = pow(row[pivot], _PRIME - 2, _PRIME)
        if inverse != 1:
            for cell in row:
                row[cell] = row[cell] * inverse % _PRIME
        for j in list(holding[pivot]):
            if j == i:
                continue
            other = rows[j]
            factor = other[pivot]
            for cell, value in row.items():
                updated = (other.get(cell, 0) - factor * value) % _PRIME
                if updated:
                    if cell not in other:
                        holding[cell].add(j)
                    other[cell] = updated
                elif cell in other:
                    del other[cell]
                    holding[cell].discard(j)
    return {next(iter(row)) for row in rows if len(row) == 1}
