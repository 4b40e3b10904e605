"""Which content keys this intake worker holds: their correlation partitions, when it holds every one of them.

A report whose content keys all hash to partitions of the correlation topic this worker holds (with the
`content` changelog partitions of the same numbers, recovered) is correlated here, against
the worker's own table (`Correlator.decide_here`), without the hops; otherwise it takes the hop path.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from referral_bus import logging as rb_logging
from referral_bus.kafka import held_partitions, key_partition

log = rb_logging.get_logger()


@dataclass
class Locality:
    """The ownership test of intake's correlation fast path (INTAKE_LOCAL_CORRELATION)."""

    app: Any  # the Faust app (its assignment and the topic's metadata)
    topic: str  # the correlation topic (broker name)
    changelogs: Sequence[str]  # the changelogs written for a key: content (with its claim count, quotas.py)
    sweep: Callable[[int], None]  # expire those tables' entries of one partition (held here)

    def places(self, digests: Sequence[str]) -> dict[str, int] | None:
        """Each digest's partition when this worker holds them all now, else None (take the hop path)."""
        held = self.held(digests)
        return held if len(held) == len(set(digests)) else None

    def held(self, digests: Sequence[str]) -> dict[str, int]:
        """The partition of each digest whose partition this worker holds now (none while partitions move)."""
        held = held_partitions(self.app, self.topic, *self.changelogs)
        if held is None:
            log.debug("correlation partitions moving or not known yet")
            return {}
        count, mine = held
        places = {d: key_partition(d.encode("utf-8"), count) for d in digests}
        if not set(places.values()) <= mine:
            log.debug("correlation partitions held elsewhere", held=sorted(mine), partitions=count)
        return {d: p for d, p in places.items() if p in mine}
