"""`held_partitions` reads Faust's assignment per topic: the same answer as from `assigned_actives()`."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from faust.assignor.client_assignment import ClientAssignment
from faust.assignor.partition_assignor import PartitionAssignor
from hypothesis import given
from hypothesis import strategies as st

from referral_bus.kafka import held_partitions

TOPIC, CONTENT, CLAIMS = "ns.referrals.correlation.v1", "ns.content-changelog", "ns.claims-changelog"
PARTITIONS = 8
_TOPICS = st.sampled_from([TOPIC, CONTENT, CLAIMS, "ns.referrals.intake.a.v1", "ns.referrals.intake.b.v1"])
_ACTIVES = st.dictionaries(_TOPICS, st.lists(st.integers(0, PARTITIONS - 1), unique=True))


def _app(assignor: Any) -> Any:
    cluster = SimpleNamespace(partitions_for_topic=lambda topic: set(range(PARTITIONS)))
    return SimpleNamespace(
        rebalancing=False,
        tables=SimpleNamespace(recovery=SimpleNamespace(completed=SimpleNamespace(is_set=lambda: True))),
        consumer=SimpleNamespace(
            _thread=SimpleNamespace(_consumer=SimpleNamespace(_client=SimpleNamespace(cluster=cluster)))
        ),
        assignor=assignor,
    )


@given(_ACTIVES)
def test_faust_assignment_and_its_tp_set_give_the_same_held_partitions(actives: dict[str, list[int]]) -> None:
    faust_assignor = SimpleNamespace(_assignment=ClientAssignment(actives=actives, standbys={}))
    tps = PartitionAssignor.assigned_actives(faust_assignor)  # type: ignore[arg-type]  # Faust's own method on a stand-in
    only_the_set = SimpleNamespace(assigned_actives=lambda: tps)  # no `_assignment`: the fallback path
    expected = {tp.partition for tp in tps if tp.topic == TOPIC}
    for changelog in (CONTENT, CLAIMS):
        expected &= {tp.partition for tp in tps if tp.topic == changelog}
    for assignor in (faust_assignor, only_the_set):
        assert held_partitions(_app(assignor), TOPIC, CONTENT, CLAIMS) == (PARTITIONS, frozenset(expected))
