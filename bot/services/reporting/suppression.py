"""Complementary suppression: which cells of a table of counts must be hidden.

The rule. A count from 1 to `threshold - 1` is hidden (primary suppression). Then, as long
as any hidden value can still be worked out from what is published, one more cell is
hidden (complementary suppression): the smallest published count, non-zero if there is
one, in the line (a total and the parts that add up to it) that gives the value away.

Why. Hiding a small count alone protects nothing when its total is published: in a row
"cases 6, bullying 5, suicide <5" and every other category 0, suicide = 6 - 5 = 1. Two hidden
cells in one line are not enough either when they are both small: "total 8, a <5, b <5"
means a = b = 4. So a value counts as given away when an attacker who knows every published
number, every line's sum and the bounds the file states (a `<5` cell is 1 to 4, any other
hidden cell is 0 or more) can pin it to one number, by two attacks:
- subtraction, repeated: each line bounds each of its hidden cells by its total minus the
  other cells' bounds, and the bounds are narrowed line by line until nothing changes
  (this also catches chains through several lines and totals that are themselves hidden);
- linear algebra: a hidden cell whose value follows from adding and subtracting whole lines
  (in a table of rows and columns, a hidden cell that is the only link between two groups
  of hidden cells), found by exact elimination modulo a large prime.
A line may also hold cells that are never published (`hidden`: e.g. closed cases that were
never answered); they are unknowns for the attacker and need no protection themselves.

Pure: values in, the cells to hide out; no database, no text.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

Cell = Hashable
THRESHOLD = 5
_PRIME = (1 << 61) - 1  # ranks modulo this prime equal the rational ones for ±1 matrices
_PASSES = 200  # bound narrowing stops by then at the latest (it is sound at any point)


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
    primary: frozenset[Cell]  # published as `<5`: known to be 1 to threshold - 1
    complementary: frozenset[Cell]  # published as a mark that says nothing of the value

    def __contains__(self, cell: object) -> bool:
        return cell in self.primary or cell in self.complementary


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
    complementary: set[Cell] = set()
    order = {cell: i for i, cell in enumerate(values)}
    lines_of: dict[Cell, list[Line]] = {}
    for line in lines:
        for cell in line.cells:
            lines_of.setdefault(cell, []).append(line)

    def published(cell: Cell) -> bool:
        return cell not in hidden and cell not in primary and cell not in complementary

    def smallest(candidates: Iterable[Cell]) -> Cell | None:
        visible = [cell for cell in candidates if published(cell)]
        if not visible:
            return None
        return min(visible, key=lambda c: (values[c] == 0, values[c], order[c]))

    while True:
        exposed = disclosed(values, lines, primary, complementary, hidden, threshold)
        if not exposed:
            break
        widened: set[Line] = set()
        for cell in sorted(exposed, key=order.__getitem__):
            own = lines_of.get(cell, [])
            if any(line in widened for line in own):
                continue  # a line of this cell already got a new hidden cell this round
            choices = [(line, smallest(line.cells)) for line in own]
            choices = [(line, c) for line, c in choices if c is not None]
            if not choices:
                # Every line through this cell is hidden already: widen one step further.
                near = [c for line in own for c in line.cells]
                pick = smallest(c2 for c in near for line in lines_of[c] for c2 in line.cells)
                if pick is None:
                    continue
                complementary.add(pick)
                widened.update(lines_of[pick])
                continue
            line, pick = min(
                choices, key=lambda lc: (values[lc[1]] == 0, values[lc[1]], order[lc[1]])
            )
            complementary.add(pick)
            widened.add(line)
        if not widened:
            break  # nothing left to hide: cannot happen while any total is published
    return Suppression(primary, frozenset(complementary))


def disclosed(
    values: Mapping[Cell, int],
    lines: Sequence[Line],
    primary: Collection[Cell],
    complementary: Collection[Cell],
    hidden: Collection[Cell] = (),
    threshold: int = THRESHOLD,
) -> set[Cell]:
    """Suppressed cells an attacker pins to one value: by narrowing bounds line by line,
    or, when that finds nothing, by linear algebra over the hidden cells."""
    pinned = _narrowed(values, lines, primary, complementary, hidden, threshold)
    if pinned:
        return pinned
    unknown = set(primary) | set(complementary) | set(hidden)
    return _determined(lines, unknown) - set(hidden)


def _narrowed(
    values: Mapping[Cell, int],
    lines: Sequence[Line],
    primary: Collection[Cell],
    complementary: Collection[Cell],
    hidden: Collection[Cell],
    threshold: int,
) -> set[Cell]:
    low: dict[Cell, float] = {}
    high: dict[Cell, float] = {}
    for cell in primary:
        low[cell], high[cell] = 1, threshold - 1
    for cell in (*complementary, *hidden):
        low[cell], high[cell] = 0, math.inf
    for cell, value in values.items():
        low.setdefault(cell, value)
        high.setdefault(cell, value)
    unknown = set(primary) | set(complementary) | set(hidden)
    active = [line for line in lines if any(c in unknown for c in line.cells)]
    for _ in range(_PASSES):
        changed = False
        for line in active:
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
                if new_low > low[cell]:
                    low[cell], changed = new_low, True
                if new_high < high[cell]:
                    high[cell], changed = new_high, True
        if not changed:
            break
    suppressed = set(primary) | set(complementary)
    return {cell for cell in suppressed if low[cell] >= high[cell]}


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
