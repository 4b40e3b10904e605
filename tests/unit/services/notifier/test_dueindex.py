"""services/notifier/dueindex.py: the SLA timer's index by due time, against a plain dict scanned in full."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from services.notifier.dueindex import DueIndex

KEYS = st.sampled_from([f"r{i}" for i in range(12)])
DUE = st.one_of(st.none(), st.integers(0, 1_000))
OPS = st.lists(
    st.one_of(
        st.tuples(st.just("put"), KEYS, DUE, st.booleans()),
        st.tuples(st.just("pop"), st.integers(0, 1_000)),
    ),
    max_size=200,
)


def test_pop_due_takes_only_what_fell_due_earliest_first_and_keeps_it_tracked() -> None:
    index: DueIndex[str] = DueIndex()
    index.rebuild(frozenset({0, 1}), [("a", 30, "A"), ("b", 10, "B"), ("c", None, "C"), ("d", 20, "D")])
    assert not index.stale(frozenset({0, 1})) and index.stale(frozenset({0}))
    assert index.pop_due(5) == []
    assert index.pop_due(20) == ["b", "d"]
    assert index.pop_due(20) == []  # popped: no due time until put again
    assert sorted(index.payloads()) == ["A", "B", "C", "D"] and len(index) == 4
    index.put("b", 40, "B2")
    index.put("a", 35, "A2")  # moved later: the old heap item at 30 is stale
    assert index.pop_due(34) == []
    assert index.pop_due(40) == ["a", "b"]
    index.put("d", None, None)  # acknowledged: no longer tracked
    assert "D" not in index.payloads() and index.due_of("d") is None
    index.invalidate()
    assert index.stale(frozenset({0, 1})) and index.partitions is None


def test_many_moves_keep_the_heap_bounded() -> None:
    index: DueIndex[int] = DueIndex()
    index.rebuild(frozenset(), [])
    for i in range(10_000):
        index.put("only", i, i)
    assert len(index._heap) <= 2 * len(index) + 65
    assert index.pop_due(10**6) == ["only"]


@given(OPS)
def test_the_index_agrees_with_a_full_scan(ops: list[tuple[object, ...]]) -> None:
    """Whatever order of puts, removals and pops: pop_due returns exactly what a scan of a dict would."""
    index: DueIndex[str] = DueIndex()
    index.rebuild(frozenset({0}), [])
    model: dict[str, tuple[int | None, str]] = {}
    for op in ops:
        if op[0] == "put":
            _, key, due, keep = op
            assert isinstance(key, str)
            payload = f"{key}@{due}" if keep else None
            index.put(key, due if isinstance(due, int) else None, payload)
            if payload is None:
                model.pop(key, None)
            else:
                model[key] = (due if isinstance(due, int) else None, payload)
        else:
            now = op[1]
            assert isinstance(now, int)
            expected = sorted(
                ((due, key) for key, (due, _) in model.items() if due is not None and due <= now),
            )
            got = index.pop_due(now)
            assert sorted(got) == sorted(key for _, key in expected)
            dues = [model[key][0] or 0 for key in got]
            assert dues == sorted(dues)  # earliest first
            for key in got:
                model[key] = (None, model[key][1])
        assert sorted(index.payloads()) == sorted(p for _, p in model.values())
        for key, (due, _) in model.items():
            assert index.due_of(key) == due
