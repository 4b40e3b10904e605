"""Disclosure control: primary, province-minimum and complementary suppression of one count table.

A table is cells (rows × columns, or rows only) with its margins and grand total. Rules, in order:

1. primary: every entry (cell, margin, total) with 0 < value < k is suppressed; a zero stays published;
2. province minimum: a column (a province) whose total is below `min_total` is withheld whole,
   zeros included, so nothing about that province is published that week;
3. complementary: more entries are suppressed until no suppressed entry can be worked out exactly
   from what is published (the table, its margins, and that a suppressed entry is ≥ 1 unless its
   column or table is withheld). The audit is exact for such tables: an entry is determined iff its
   edge lies on no cycle of the residual graph (rows, columns and the two margin nodes).
   If nothing more can be suppressed and something is still determined, the table is withheld.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

INF = 1 << 62
Entry = tuple[str, int, int]  # ("cell", i, j) | ("row", i, 0) | ("col", j, 0) | ("total", 0, 0)
TOTAL: Entry = ("total", 0, 0)


@dataclass
class Grid:
    """Counts: `values[i][j]`; `one_dim` tables have one column and no row margins."""

    values: list[list[int]]
    one_dim: bool = False

    def entries(self) -> dict[Entry, int]:
        """Every publishable entry and its true value."""
        out: dict[Entry, int] = {}
        for i, row in enumerate(self.values):
            for j, v in enumerate(row):
                out[("cell", i, j)] = v
            if not self.one_dim:
                out[("row", i, 0)] = sum(row)
        if not self.one_dim:
            for j in range(len(self.values[0]) if self.values else 0):
                out[("col", j, 0)] = sum(row[j] for row in self.values)
        out[TOTAL] = sum(map(sum, self.values))
        return out

    def arc(self, e: Entry) -> tuple[object, object]:
        """(tail, head) of an entry's edge: increasing it moves one unit from tail to head."""
        kind, i, j = e
        if self.one_dim:
            return ("P", "Q") if kind == "cell" else ("Q", "P")
        return {
            "cell": (("r", i), ("c", j)),
            "row": ("SR", ("r", i)),
            "col": (("c", i), "SC"),
            "total": ("SC", "SR"),
        }[kind]


@dataclass
class Suppression:
    """Which entries are hidden, and what a reader may infer about each (lower/upper bounds)."""

    grid: Grid
    hidden: set[Entry] = field(default_factory=set)
    lower: dict[Entry, int] = field(default_factory=dict)
    upper: dict[Entry, int] = field(default_factory=dict)
    withheld: bool = False

    def hide(self, e: Entry, lower: int = 1, upper: int = INF) -> None:
        """Suppress one entry; a reader knows it is in [lower, upper]."""
        self.hidden.add(e)
        self.lower[e] = min(self.lower.get(e, lower), lower)
        self.upper[e] = max(self.upper.get(e, upper), upper) if e in self.upper else upper

    def published(self, e: Entry) -> int | None:
        """The value as published (None when suppressed)."""
        return None if e in self.hidden else self.grid.entries()[e]


def _residual(s: Suppression, values: dict[Entry, int]) -> dict[object, list[tuple[object, Entry]]]:
    """Arcs along which a hidden entry can move while every equation still holds and bounds are kept."""
    arcs: dict[object, list[tuple[object, Entry]]] = {}
    for e in s.hidden:
        tail, head = s.grid.arc(e)
        if values[e] < s.upper.get(e, INF):
            arcs.setdefault(tail, []).append((head, e))
        if values[e] > s.lower.get(e, 1):
            arcs.setdefault(head, []).append((tail, e))
    return arcs


def _reaches(arcs: dict[object, list[tuple[object, Entry]]], start: object, goal: object, without: Entry) -> bool:
    todo, seen = [start], {start}
    while todo:
        node = todo.pop()
        if node == goal:
            return True
        for nxt, e in arcs.get(node, ()):
            if e != without and nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return False


def _fixed(s: Suppression, values: dict[Entry, int], arcs: dict[object, list[tuple[object, Entry]]], e: Entry) -> bool:
    tail, head = s.grid.arc(e)
    up = values[e] < s.upper.get(e, INF) and _reaches(arcs, head, tail, e)
    down = values[e] > s.lower.get(e, 1) and _reaches(arcs, tail, head, e)
    return not (up or down)


def determined(s: Suppression, values: dict[Entry, int] | None = None) -> list[Entry]:
    """Suppressed entries a reader can work out exactly from the published entries and the bounds."""
    values = values or s.grid.entries()
    arcs = _residual(s, values)
    return [e for e in sorted(s.hidden) if _fixed(s, values, arcs, e)]


def suppress(
    grid: Grid,
    *,
    k: int,
    withheld_columns: Iterable[int] = (),
    min_total: int = 0,
    hide_total: bool = False,
) -> Suppression:
    """Apply the three rules to one table (see the module docstring)."""
    s = Suppression(grid)
    values = grid.entries()
    for e, v in values.items():
        if 0 < v < k:
            s.hide(e)
    for j in withheld_columns:
        for i in range(len(grid.values)):
            s.hide(("cell", i, j), lower=0)
        s.hide(("col", j, 0), lower=1, upper=max(min_total - 1, 1))
    if hide_total and values[TOTAL] > 0:
        s.hide(TOTAL)
    while True:
        exposed = determined(s, values)
        if not exposed:
            return s
        path = _cheapest_cycle(s, values, exposed[0])
        if not path:
            break
        for c in path:
            s.hide(c)
    _withhold(s, values)
    return s


MARGIN_COST = 10_000  # hide a margin only when no path through cells exists


def _cheapest_cycle(s: Suppression, values: dict[Entry, int], e: Entry) -> list[Entry]:
    """Published entries whose hiding puts `e` on a cycle, at the least total value (Dijkstra).

    Hidden entries cost nothing along their residual arcs; a published non-zero entry (never the
    total) costs its value, a margin far more, so cells are used first. Empty when there is no way.
    """
    tail, head = s.grid.arc(e)
    arcs: dict[object, list[tuple[object, Entry, int]]] = {}
    for c, v in values.items():
        if c == e or (c == TOTAL and c not in s.hidden):
            continue
        a, b = s.grid.arc(c)
        if c in s.hidden:
            if v < s.upper.get(c, INF):
                arcs.setdefault(a, []).append((b, c, 0))
            if v > s.lower.get(c, 1):
                arcs.setdefault(b, []).append((a, c, 0))
        elif v > 0:
            cost = v + (MARGIN_COST if c[0] != "cell" else 0)
            arcs.setdefault(a, []).append((b, c, cost))
            if v > 1:
                arcs.setdefault(b, []).append((a, c, cost))
    best: list[Entry] = []
    best_cost = INF
    directions = [(head, tail)] if values[e] < s.upper.get(e, INF) else []
    if values[e] > s.lower.get(e, 1):
        directions.append((tail, head))
    for start, goal in directions:
        cost, path = _dijkstra(arcs, start, goal)
        if path is not None and cost < best_cost:
            best_cost, best = cost, [c for c in path if c not in s.hidden]
    return best


def _dijkstra(
    arcs: dict[object, list[tuple[object, Entry, int]]], start: object, goal: object
) -> tuple[int, list[Entry] | None]:
    """Cheapest path from start to goal as the entries along it (None when unreachable)."""
    import heapq

    queue: list[tuple[int, int, object]] = [(0, 0, start)]
    came: dict[object, tuple[object, Entry] | None] = {start: None}
    done: set[object] = set()
    dist: dict[object, int] = {start: 0}
    tie = 0
    while queue:
        d, _, node = heapq.heappop(queue)
        if node in done:
            continue
        if node == goal:
            path = []
            while (step := came[node]) is not None:
                node, entry = step
                path.append(entry)
            return d, path
        done.add(node)
        for nxt, entry, cost in arcs.get(node, ()):
            nd = d + cost
            if nd < dist.get(nxt, INF):
                dist[nxt] = nd
                came[nxt] = (node, entry)
                tie += 1
                heapq.heappush(queue, (nd, tie, nxt))
    return INF, None


def _withhold(s: Suppression, values: dict[Entry, int]) -> None:
    """Last resort: hide every entry, zeros too (the total only if still determined)."""
    s.withheld = True
    for e in values:
        if e != TOTAL:
            s.hide(e, lower=0)
    if determined(s, values):
        s.hide(TOTAL, lower=0)
