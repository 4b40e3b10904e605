"""Which content keys the worker holds: every key's partition of the correlation topic and both changelogs."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.types import TP

from referral_bus.kafka import key_partition
from services.intake.locality import Locality

TOPIC, CONTENT, CLAIMS = "ns.referrals.correlation.v1", "ns.content-changelog", "ns.claims-changelog"
DIGESTS = [f"{i:02x}" * 32 for i in range(40)]


def app(
    held: dict[str, set[int]], *, rebalancing: bool = False, partitions: int | None = 4, leader: bool = True
) -> Any:
    """The parts of a Faust app the ownership test reads: assignment, metadata, rebalance and recovery state."""
    actives = {TP(topic, p) for topic, ps in held.items() for p in ps}
    cluster = SimpleNamespace(
        partitions_for_topic=lambda topic: set(range(partitions)) if partitions and topic == TOPIC else None
    )
    return SimpleNamespace(
        rebalancing=rebalancing,
        tables=SimpleNamespace(recovery=SimpleNamespace(completed=SimpleNamespace(is_set=lambda: True))),
        consumer=SimpleNamespace(
            # Faust's own count reads aiokafka's group snapshot: only the group's leader keeps one
            topic_partitions=lambda topic: partitions if leader and topic == TOPIC else None,
            _thread=SimpleNamespace(_consumer=SimpleNamespace(_client=SimpleNamespace(cluster=cluster))),
        ),
        assignor=SimpleNamespace(assigned_actives=lambda: actives),
    )


def locality(faust_app: Any) -> Locality:
    return Locality(faust_app, TOPIC, (CONTENT, CLAIMS), sweep=lambda _p: None)


def test_one_worker_holding_every_partition_places_every_key() -> None:
    everything = {t: {0, 1, 2, 3} for t in (TOPIC, CONTENT, CLAIMS)}
    places = locality(app(everything)).places(DIGESTS)
    assert places == {d: key_partition(d.encode(), 4) for d in DIGESTS}


def test_a_key_on_a_partition_held_elsewhere_sends_the_report_through_the_hops() -> None:
    half = {TOPIC: {0, 1}, CONTENT: {0, 1}, CLAIMS: {0, 1}}
    here = locality(app(half))
    mine = [d for d in DIGESTS if key_partition(d.encode(), 4) in {0, 1}]
    other = next(d for d in DIGESTS if d not in mine)
    assert here.places(mine) == {d: key_partition(d.encode(), 4) for d in mine}
    assert here.places([*mine[:1], other]) is None
    assert here.held([*mine[:1], other]) == {mine[0]: key_partition(mine[0].encode(), 4)}


def test_a_partition_counts_only_when_both_changelogs_are_held_with_it() -> None:
    no_claims = {TOPIC: {0, 1, 2, 3}, CONTENT: {0, 1, 2, 3}, CLAIMS: {0, 1}}
    here = locality(app(no_claims))
    assert set(here.held(DIGESTS).values()) == {0, 1}


def test_nothing_is_held_while_partitions_move_or_before_the_topic_is_known() -> None:
    everything = {t: {0, 1, 2, 3} for t in (TOPIC, CONTENT, CLAIMS)}
    assert locality(app(everything, rebalancing=True)).places(DIGESTS) is None
    assert locality(app(everything, partitions=None)).places(DIGESTS) is None
    assert locality(app(everything, rebalancing=True)).held(DIGESTS) == {}


def test_a_worker_that_is_not_the_groups_leader_holds_its_keys_too() -> None:
    """The partition count comes from the consumer's cluster metadata, which every member has.

    aiokafka keeps the group's metadata snapshot (what Faust's `consumer.topic_partitions` reads) on the
    leader only: read there, every other intake worker found no count and sent every report through the hops.
    """
    half = {TOPIC: {0, 1}, CONTENT: {0, 1}, CLAIMS: {0, 1}}
    mine = [d for d in DIGESTS if key_partition(d.encode(), 4) in {0, 1}]
    assert locality(app(half, leader=False)).places(mine) == {d: key_partition(d.encode(), 4) for d in mine}
