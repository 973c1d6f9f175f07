"""Complementary suppression: no hidden count can be recovered exactly from what is published.

The attacker here is stronger than a reader with a calculator: given every published
number, every line's sum and what the file says of hidden cells (`x`, or a cell that is
never published, is 0 or more; a `<5` would be 1 to 4), an exhaustive search over whole
numbers looks, for each hidden cell, for a second table that fits everything published. If
none exists, the cell was given away. Subtraction along a row or column, hidden cells under
a total of 0 and chains through hidden totals are all special cases of that search.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.services.reporting.suppression import Line, Suppression, disclosed, suppress

Cell = Hashable
SMALL, MARK = "<5", "x"


def publish(values: Mapping[Cell, int], hidden: set[Cell], result: Suppression) -> dict:
    """What a reader sees: a number, `x`, or nothing at all (a cell never published)."""
    seen: dict[Cell, int | str | None] = {}
    for cell, value in values.items():
        if cell in hidden:
            seen[cell] = None
        elif cell in result.cells:
            seen[cell] = MARK
        else:
            seen[cell] = value
    return seen


def _narrow(
    lines: Sequence[Line], bounds: dict[Cell, tuple[int, int]]
) -> dict[Cell, tuple[int, int]] | None:
    """Bounds implied by the lines (repeated until stable), or None when nothing fits."""
    bounds = dict(bounds)
    lines_of: dict[Cell, list[Line]] = {}
    for line in lines:
        for cell in line.cells:
            lines_of.setdefault(cell, []).append(line)
    waiting = list(lines)
    queued = set(lines)
    while waiting:
        line = waiting.pop()
        queued.discard(line)
        terms = [(line.total, 1)] + [(p, -1) for p in line.parts]
        for i, (cell, sign) in enumerate(terms):
            rest = terms[:i] + terms[i + 1 :]
            lo_rest = sum(bounds[c][0] if s > 0 else -bounds[c][1] for c, s in rest)
            hi_rest = sum(bounds[c][1] if s > 0 else -bounds[c][0] for c, s in rest)
            lo, hi = (-hi_rest, -lo_rest) if sign > 0 else (lo_rest, hi_rest)
            old = bounds[cell]
            new = (max(old[0], lo), min(old[1], hi))
            if new[0] > new[1]:
                return None
            if new != old:
                bounds[cell] = new
                for other in lines_of[cell]:
                    if other not in queued:
                        queued.add(other)
                        waiting.append(other)
    return bounds


def _fits(lines: Sequence[Line], bounds: dict[Cell, tuple[int, int]]) -> bool:
    """Is there a whole-number table within `bounds` where every line adds up?"""
    narrowed = _narrow(lines, bounds)
    if narrowed is None:
        return False
    open_cells = [c for c, (lo, hi) in narrowed.items() if lo < hi]
    if not open_cells:
        return True
    cell = min(open_cells, key=lambda c: narrowed[c][1] - narrowed[c][0])
    lo, hi = narrowed[cell]
    return any(_fits(lines, {**narrowed, cell: (v, v)}) for v in range(lo, hi + 1))


def recoverable(
    seen: Mapping[Cell, int | str | None], values: Mapping[Cell, int], lines: Sequence[Line]
) -> list[Cell]:
    """Hidden cells (`<5` or `x`) with a single value consistent with the published table."""
    cap = 2 * max(values.values(), default=0) + 10
    bounds: dict[Cell, tuple[int, int]] = {}
    for cell, shown in seen.items():
        if shown == SMALL:
            bounds[cell] = (1, 4)
        elif shown == MARK or shown is None:
            bounds[cell] = (0, cap)
        else:
            assert isinstance(shown, int)
            bounds[cell] = (shown, shown)
    assert _fits(lines, bounds), "the true table must fit what is published"
    found = []
    for cell, shown in seen.items():
        if shown not in (SMALL, MARK):
            continue
        lo, hi = bounds[cell]
        true = values[cell]
        below = true > lo and _fits(lines, {**bounds, cell: (lo, true - 1)})
        above = true < hi and _fits(lines, {**bounds, cell: (true + 1, hi)})
        if not (below or above):
            found.append(cell)
    return found


def subtracted(seen: Mapping[Cell, int | str | None], lines: Sequence[Line]) -> list[Line]:
    """The plain reader's attacks on one line with its total shown: total minus the
    visible cells when one cell is hidden, and hidden cells under a total of 0."""
    exposed = []
    for line in lines:
        total = seen[line.total]
        covered = [p for p in line.parts if not isinstance(seen[p], int)]
        if isinstance(total, int) and covered and (len(covered) == 1 or total == 0):
            exposed.append(line)
    return exposed


def table(
    districts: list[list[list[int]]],
) -> tuple[dict[Cell, int], list[Line]]:
    """Schools' counts per column, grouped in districts; rows get a total column, districts
    and the whole a total row, each total row again with its total column."""
    width = len(districts[0][0])
    values: dict[Cell, int] = {}
    lines: list[Line] = []
    columns = [*range(width), "total"]
    for d, schools in enumerate(districts):
        for s, counts in enumerate(schools):
            for k, n in enumerate(counts):
                values[(d, s, k)] = n
            values[(d, s, "total")] = sum(counts)
        for k in columns:
            values[(d, "all", k)] = sum(values[(d, s, k)] for s in range(len(schools)))
            lines.append(Line((d, "all", k), tuple((d, s, k) for s in range(len(schools)))))
    for k in columns:
        values[("all", "all", k)] = sum(values[(d, "all", k)] for d in range(len(districts)))
        lines.append(Line(("all", "all", k), tuple((d, "all", k) for d in range(len(districts)))))
    rows = {cell[:2] for cell in values}
    for row in sorted(rows, key=str):
        lines.append(Line((*row, "total"), tuple((*row, k) for k in range(width))))
    return values, lines


small_counts = st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 9, 12])


@st.composite
def tables(draw: st.DrawFn) -> list[list[list[int]]]:
    width = draw(st.integers(1, 4))
    return draw(
        st.lists(
            st.lists(
                st.lists(small_counts, min_size=width, max_size=width), min_size=1, max_size=3
            ),
            min_size=1,
            max_size=2,
        )
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tables())
def test_no_hidden_count_of_a_table_can_be_recovered(districts: list[list[list[int]]]) -> None:
    values, lines = table(districts)
    result = suppress(values, lines)
    assert result.primary == {c for c, v in values.items() if 1 <= v <= 4}
    assert not result.primary & result.complementary
    seen = publish(values, set(), result)
    assert subtracted(seen, lines) == []
    assert recoverable(seen, values, lines) == []


def test_the_issue_example() -> None:
    """ "cases 6, bullying 5, suicide <5" gave suicide = 6 - 5 = 1."""
    values = {"cases": 6, "bullying": 5, "suicide": 1, "violence": 0, "other": 0}
    lines = [Line("cases", ("bullying", "suicide", "violence", "other"))]
    result = suppress(values, lines)
    assert result.primary == {"suicide"}
    assert result.complementary == {"bullying"}  # the smallest count beside it
    seen = publish(values, set(), result)
    assert seen == {"cases": 6, "bullying": "x", "suicide": "x", "violence": 0, "other": 0}
    assert recoverable(seen, values, lines) == []
    # Without the complement the search finds it, as the issue did.
    bare = {**seen, "bullying": 5}
    assert subtracted(bare, lines) == lines
    assert recoverable(bare, values, lines) == ["suicide"]


def test_small_counts_are_not_marked_apart() -> None:
    """Total 14, 6 shown: two hidden cells add up to 8. Marked `<5`, both would be 4; as
    `x` they could be 8 and 0 or 2 and 6, so no third cell has to go."""
    values = {"total": 14, "a": 4, "b": 4, "c": 6, "d": 0}
    lines = [Line("total", ("a", "b", "c", "d"))]
    result = suppress(values, lines)
    assert result.primary == {"a", "b"}
    assert result.complementary == set()
    seen = publish(values, set(), result)
    assert recoverable(seen, values, lines) == []
    assert recoverable({**seen, "a": SMALL, "b": SMALL}, values, lines) == ["a", "b"]


def test_hidden_cells_under_a_total_of_zero() -> None:
    """A zero total gives away every cell under it: a hidden zero there protects nothing,
    so a small count's complement is never taken from such a line."""
    values = {
        ("s1", "total"): 3, ("s1", "a"): 3, ("s1", "b"): 0,
        ("s2", "total"): 0, ("s2", "a"): 0, ("s2", "b"): 0,
        ("all", "total"): 3, ("all", "a"): 3, ("all", "b"): 0,
    }  # fmt: skip
    lines = [Line((r, "total"), ((r, "a"), (r, "b"))) for r in ("s1", "s2", "all")]
    lines += [Line(("all", k), (("s1", k), ("s2", k))) for k in ("total", "a", "b")]
    result = suppress(values, lines)
    seen = publish(values, set(), result)
    assert recoverable(seen, values, lines) == []
    assert all(seen[("s2", k)] == 0 for k in ("total", "a", "b"))


def test_a_hidden_total_links_its_row_and_its_column() -> None:
    """A school's small total is hidden; the district total beside it would give it away
    by subtraction, and that complement must not be given away by its own row either."""
    values, lines = table([[[3, 0], [6, 7]]])
    result = suppress(values, lines)
    seen = publish(values, set(), result)
    assert result.primary == {(0, 0, 0), (0, 0, "total")}
    assert result.complementary == {(0, 1, 0), (0, 1, "total")}  # 6 and 13, not 7 and 9
    assert recoverable(seen, values, lines) == []
    assert subtracted(seen, lines) == []


def test_a_chain_through_a_cell_that_is_never_published() -> None:
    """Closed cases are not a column, but cases - open = closed = the outcomes' sum: with
    cases 6 and open 5 shown, the one `resolved` case is given away through it."""
    values = {"cases": 6, "open": 5, "closed": 1, "resolved": 1, "referred": 0}
    lines = [Line("cases", ("open", "closed")), Line("closed", ("resolved", "referred"))]
    hidden = {"closed"}
    result = suppress(values, lines, hidden)
    assert result.primary == {"resolved"}
    assert result.complementary == {"open"}
    seen = publish(values, hidden, result)
    assert recoverable(seen, values, lines) == []
    assert recoverable({**seen, "open": 5}, values, lines) == ["resolved"]


def test_a_hidden_cell_linking_two_hidden_blocks_is_found_by_linear_algebra() -> None:
    """Two 2x2 blocks of hidden cells joined by one more: every row and column holds two or
    more hidden cells, so no single subtraction works, but rows 1 and 2 minus columns 1 and
    2 leave the joining cell alone. `disclosed` must see it, and so must the search."""
    values: dict[Cell, int] = {(r, c): 10 + r + 2 * c for r in range(4) for c in range(4)}
    for r in range(4):
        values[(r, "total")] = sum(values[(r, c)] for c in range(4))
    for c in range(4):
        values[("total", c)] = sum(values[(r, c)] for r in range(4))
    lines = [Line((r, "total"), tuple((r, c) for c in range(4))) for r in range(4)]
    lines += [Line(("total", c), tuple((r, c) for r in range(4))) for c in range(4)]
    blocks = {(0, 0), (0, 1), (1, 0), (1, 1), (2, 2), (2, 3), (3, 2), (3, 3)}
    link = (1, 2)
    assert disclosed(values, lines, blocks | {link}) == {link}
    assert disclosed(values, lines, blocks) == set()
    seen = {cell: MARK if cell in blocks | {link} else value for cell, value in values.items()}
    assert recoverable(seen, values, lines) == [link]
