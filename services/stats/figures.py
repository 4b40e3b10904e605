"""The counters of every partition merged into one week's figures, before any disclosure control."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from services.stats.aggregate import ACK_MS


@dataclass
class Figures:
    """One week's true counts: metric → cell (tuple of dimension values) → count; ack times per cell."""

    week: str
    counts: dict[str, Counter[tuple[str, ...]]] = field(default_factory=dict)
    ack_ms: dict[tuple[str, str], list[int]] = field(default_factory=dict)

    def metric(self, name: str) -> Counter[tuple[str, ...]]:
        """Counts of one metric (empty when none)."""
        return self.counts.get(name, Counter())

    def margin(self, name: str, *positions: int) -> Counter[tuple[str, ...]]:
        """Counts of one metric summed onto some of its dimensions (by position in the cell)."""
        out: Counter[tuple[str, ...]] = Counter()
        for cell, n in self.metric(name).items():
            out[tuple(cell[p] for p in positions)] += n
        return out


def collect(counts: Iterable[tuple[str, int]]) -> dict[str, Figures]:
    """Merge `week|partition|metric|cell|member` entries (any order, any partitions) into Figures per week."""
    weeks: dict[str, Figures] = {}
    for key, value in counts:
        week, _partition, metric, rest = key.split("|", 3)
        fig = weeks.setdefault(week, Figures(week))
        parts = tuple(rest.rsplit("|", 1)[0].split("|"))
        if metric == ACK_MS:
            fig.ack_ms.setdefault((parts[0], parts[1]), []).append(int(value))
        else:
            fig.counts.setdefault(metric, Counter())[parts] += 1
    for fig in weeks.values():
        for times in fig.ack_ms.values():
            times.sort()
    return weeks
