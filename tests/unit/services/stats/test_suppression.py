"""Disclosure control: one test per rule, and a property test that no suppressed value can be worked
out exactly from what is published (checked by linear programming, independently of the graph audit)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from services.stats.suppression import TOTAL, Grid, Suppression, determined, suppress


def cell(s: Suppression, i: int, j: int = 0) -> int | None:
    return s.published(("cell", i, j))


def test_primary_hides_every_count_below_k_and_keeps_zeros_and_large_counts() -> None:
    s = suppress(Grid([[0], [3], [4], [40], [50]], one_dim=True), k=5)
    assert [cell(s, i) for i in range(5)] == [0, None, None, 40, 50]
    assert s.published(TOTAL) == 97


def test_complementary_hides_a_second_cell_when_one_would_follow_from_the_total() -> None:
    s = suppress(Grid([[2], [9], [7], [30]], one_dim=True), k=5)
    assert cell(s, 0) is None
    # 2 = 48 - 9 - 7 - 30 would be exact: the smallest other cell goes too, the others stay
    assert cell(s, 2) is None and cell(s, 1) == 9 and cell(s, 3) == 30
    assert determined(s) == []


def test_complementary_in_two_way_table_protects_against_row_and_column_totals() -> None:
    values = [[3, 10, 0], [7, 8, 2], [6, 6, 6]]
    s = suppress(Grid(values), k=5)
    assert cell(s, 0, 0) is None and cell(s, 1, 2) is None and cell(s, 0, 2) == 0
    assert determined(s) == []
    assert lp_exact(s) == []


def test_suppressed_cells_that_must_all_be_one_are_protected() -> None:
    # five cells of 1 with a published total of 5: each is known to be >= 1, so each would be exactly 1
    s = suppress(Grid([[1], [1], [1], [1], [1], [0]], one_dim=True), k=5)
    assert s.withheld and all(cell(s, i) is None for i in range(6))  # the zero is hidden too
    assert s.published(TOTAL) == 5 and determined(s) == []


def test_province_below_minimum_is_withheld_whole_zeros_included() -> None:
    values = [[20, 3, 12], [15, 0, 9], [11, 4, 30]]  # column 1 totals 7 < 10
    s = suppress(Grid(values), k=3, withheld_columns=[1], min_total=10)
    assert [cell(s, i, 1) for i in range(3)] == [None, None, None]
    assert s.published(("col", 1, 0)) is None
    # its total would follow from the grand total and the other columns: another column is hidden too
    assert sum(s.published(("col", j, 0)) is None for j in range(3)) >= 2
    assert determined(s) == [] and lp_exact(s) == []


def test_hide_total_protects_the_total_against_its_published_cells() -> None:
    s = suppress(Grid([[10], [12], [8]], one_dim=True), k=5, hide_total=True)
    assert s.published(TOTAL) is None and sum(cell(s, i) is None for i in range(3)) >= 1
    assert determined(s) == []


def test_the_audits_see_a_disclosure_when_there_is_one() -> None:
    exposed = Suppression(Grid([[2], [9], [7]], one_dim=True))
    exposed.hide(("cell", 0, 0))  # primary only: 2 = 18 - 9 - 7
    assert determined(exposed) == [("cell", 0, 0)] and lp_exact(exposed) == [("cell", 0, 0)]
    ones = Suppression(Grid([[1, 5], [1, 5]]))
    for e in (("cell", 0, 0), ("cell", 1, 0), ("cell", 0, 1), ("cell", 1, 1)):
        ones.hide(e)  # a cycle, but the 1s cannot go lower and so cannot move at all
    assert set(determined(ones)) == set(lp_exact(ones)) == set(ones.hidden)


def test_true_zero_stays_zero_in_two_way_tables() -> None:
    s = suppress(Grid([[0, 12], [9, 0], [2, 14]]), k=5)
    assert cell(s, 0, 0) == 0 and cell(s, 1, 1) == 0


def lp_exact(s: Suppression) -> list[tuple[str, int, int]]:
    """Hidden entries whose value a reader pins down exactly, by LP over what is published.

    The reader knows every published entry, the table's equations, that a hidden entry is >= 1 unless its
    column (or the table) is withheld, and that a withheld column totals fewer than the minimum.
    """
    grid, values = s.grid, s.grid.entries()
    hidden = sorted(s.hidden)
    index = {e: n for n, e in enumerate(hidden)}
    rows, cols = len(grid.values), len(grid.values[0])
    equations: list[list[tuple[int, tuple[str, int, int]]]] = []
    if grid.one_dim:
        equations.append([(1, ("cell", i, 0)) for i in range(rows)] + [(-1, TOTAL)])
    else:
        for i in range(rows):
            equations.append([(1, ("cell", i, j)) for j in range(cols)] + [(-1, ("row", i, 0))])
        for j in range(cols):
            equations.append([(1, ("cell", i, j)) for i in range(rows)] + [(-1, ("col", j, 0))])
        equations.append([(1, ("row", i, 0)) for i in range(rows)] + [(-1, TOTAL)])
        equations.append([(1, ("col", j, 0)) for j in range(cols)] + [(-1, TOTAL)])
    a_eq, b_eq = [], []
    for eq in equations:
        row = np.zeros(len(hidden))
        rhs = 0.0
        for coef, e in eq:
            if e in index:
                row[index[e]] += coef
            else:
                rhs -= coef * values[e]
        if row.any():
            a_eq.append(row)
            b_eq.append(rhs)
    bounds = [(s.lower.get(e, 1), None if s.upper.get(e, 1 << 62) >= 1 << 62 else s.upper[e]) for e in hidden]
    exact = []
    for e in hidden:
        c = np.zeros(len(hidden))
        c[index[e]] = 1
        lo = linprog(c, A_eq=a_eq or None, b_eq=b_eq or None, bounds=bounds, method="highs")
        hi = linprog(-c, A_eq=a_eq or None, b_eq=b_eq or None, bounds=bounds, method="highs")
        assert lo.status == 0 and hi.status in (0, 3)  # the true table is feasible; 3 = unbounded above
        if hi.status == 0 and -hi.fun - lo.fun < 0.5:
            exact.append(e)
    return exact


small = st.integers(0, 12).map(lambda v: v if v > 6 else v % 4)  # many zeros and small counts


@st.composite
def tables(draw: st.DrawFn) -> tuple[Grid, int, list[int], int]:
    one_dim = draw(st.booleans())
    rows = draw(st.integers(1, 6 if one_dim else 4))
    cols = 1 if one_dim else draw(st.integers(1, 5))
    values = [[draw(small) for _ in range(cols)] for _ in range(rows)]
    k = draw(st.integers(2, 6))
    min_total = draw(st.integers(k, 12))
    withheld = [] if one_dim else [j for j in range(cols) if 0 < sum(r[j] for r in values) < min_total]
    return Grid(values, one_dim=one_dim), k, withheld, min_total


@settings(max_examples=300, deadline=None)
@given(tables())
def test_no_suppressed_value_is_exactly_recoverable(case: tuple[Grid, int, list[int], int]) -> None:
    grid, k, withheld, min_total = case
    s = suppress(grid, k=k, withheld_columns=withheld, min_total=min_total)
    values = grid.entries()
    for e, v in values.items():
        if 0 < v < k:
            assert e in s.hidden, f"{e}={v} below k={k} published"
        if v == 0 and e not in s.hidden:
            assert s.published(e) == 0
    assert lp_exact(s) == []
