"""The ledger's hash chain: an intact chain verifies; every kind of tampering is caught at its position."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from services.ledger.chain import (
    CHECKPOINT,
    DISCLOSURE,
    GENESIS,
    Fact,
    Head,
    append,
    entry,
    entry_digest,
    signature,
    verify,
)

KEY = b"test-ledger-key-0123456789abcdef"
Drawn = tuple[list[dict[str, Any]], int]  # a chain and a position in it


def build(n: int, *, partition: int = 0, every: int = 4) -> list[dict[str, Any]]:
    """A chain of n disclosures (plus checkpoints) as the writer appends them."""
    out: list[dict[str, Any]] = []
    head = Head()
    for i in range(n):
        fact = {"disclosure_id": f"d{i}", "case_id": f"case-{i % 3}", "fields": ["case.report.category"]}
        for e in append(
            head, partition, Fact(DISCLOSURE, f"d{i}", f"case-{i % 3}", fact, 1000 + i), key=KEY, checkpoint_every=every
        ):
            out.append(e)
            head = Head(e["seq"], e["digest"])
    return out


def positions(first: int = 0, from_end: int = 1) -> st.SearchStrategy[Drawn]:
    """A chain of 3 to 14 disclosures and a position in it, from `first` to its length less `from_end`."""
    return st.integers(3, 14).map(build).flatmap(lambda c: st.tuples(st.just(c), st.integers(first, len(c) - from_end)))


def check(entries: list[dict[str, Any]], **kw: Any) -> list[Any]:
    return verify(0, list(enumerate(entries)), key=KEY, **kw)


def test_an_intact_chain_verifies_and_carries_signed_checkpoints() -> None:
    chain = build(10)
    assert check(chain, anchor=Head(chain[-1]["seq"], chain[-1]["digest"])) == []
    assert [e["seq"] for e in chain] == list(range(len(chain)))
    assert chain[0]["prev_digest"] == GENESIS
    cps = [e for e in chain if e["kind"] == CHECKPOINT]
    assert cps and all(e["signature"] == signature(KEY, 0, e["seq"], e["prev_digest"]) for e in cps)


def test_no_key_no_checkpoints() -> None:
    e = append(Head(), 0, Fact(DISCLOSURE, "d", "c", {}, 1), key=None, checkpoint_every=1)
    assert [x["kind"] for x in e] == [DISCLOSURE]


@settings(max_examples=60, deadline=None)
@given(positions())
def test_an_edited_entry_is_caught_at_its_position(drawn: Drawn) -> None:
    chain, i = drawn
    tampered = copy.deepcopy(chain)
    tampered[i]["fact"] = tampered[i]["fact"].replace("category", "victim.name") + " "
    found = check(tampered)
    assert [(p.offset, p.kind) for p in found] == [(i, "edited")]


@settings(max_examples=60, deadline=None)
@given(positions(from_end=2))
def test_an_edit_with_its_digest_recomputed_breaks_the_next_link(drawn: Drawn) -> None:
    chain, i = drawn
    tampered = copy.deepcopy(chain)
    tampered[i]["case_id"] = "case-forged"
    tampered[i]["digest"] = entry_digest(tampered[i])
    found = check(tampered)
    assert found and found[0].offset == i + 1 and found[0].kind == "broken"


@settings(max_examples=60, deadline=None)
@given(positions(from_end=2))  # the last one: see truncation
def test_a_deleted_entry_is_caught_where_it_was(drawn: Drawn) -> None:
    chain, i = drawn
    tampered = chain[:i] + chain[i + 1 :]
    found = check(tampered)
    assert [(p.offset, p.kind, p.seq) for p in found] == [(i, "gap", i + 1)]


@settings(max_examples=60, deadline=None)
@given(positions(from_end=2))
def test_two_reordered_entries_are_caught(drawn: Drawn) -> None:
    chain, i = drawn
    tampered = list(chain)
    tampered[i], tampered[i + 1] = tampered[i + 1], tampered[i]
    found = check(tampered)
    assert found and {p.offset for p in found} <= {i, i + 1} and found[0].offset == i
    assert {p.kind for p in found} == {"gap", "reordered"}


@settings(max_examples=60, deadline=None)
@given(drawn=positions(first=1, from_end=0), recompute=st.booleans())
def test_an_inserted_entry_is_caught(drawn: Drawn, recompute: bool) -> None:
    chain, i = drawn  # inserted after entry i-1
    before = chain[i - 1]
    forged = entry(Head(before["seq"], before["digest"]), 0, Fact(DISCLOSURE, "forged", "case-x", {"x": 1}, 5))
    if not recompute:
        forged["digest"] = "f" * 64
    tampered = [*chain[:i], forged, *chain[i:]]
    found = check(tampered)
    if i == len(chain) and recompute:  # a valid entry appended at the end is what the writer would append
        assert found == []
    else:
        assert found and found[0].offset in (i, i + 1)


@settings(max_examples=40, deadline=None)
@given(positions())
def test_a_truncated_tail_is_caught_by_an_earlier_head(drawn: Drawn) -> None:
    chain, cut = drawn
    anchor = Head(chain[-1]["seq"], chain[-1]["digest"])
    found = check(chain[:cut], anchor=anchor)
    assert [(p.kind, p.seq) for p in found] == [("truncated", anchor.seq)]


def test_a_rewritten_history_differs_from_the_anchor_and_fails_at_the_next_checkpoint() -> None:
    chain = build(12, every=4)
    anchor = Head(chain[-1]["seq"], chain[-1]["digest"])
    # rebuild everything from entry 2 on with a changed fact, recomputing digests (no key: unsigned checkpoints)
    forged = chain[:2]
    head = Head(forged[-1]["seq"], forged[-1]["digest"])
    for e in chain[2:]:
        fact = {"rewritten": True} if e["seq"] == 2 else {}
        new = entry(head, 0, Fact(e["kind"], e["entry_id"], e["case_id"], fact, e["at"]), key=b"not-the-key")
        forged.append(new)
        head = Head(new["seq"], new["digest"])
    kinds = {p.kind for p in check(forged, anchor=anchor)}
    assert kinds == {"forged_checkpoint", "rewritten"}


def test_a_forged_checkpoint_is_caught() -> None:
    chain = build(8, every=4)
    i = next(k for k, e in enumerate(chain) if e["kind"] == CHECKPOINT)
    tampered = copy.deepcopy(chain)
    tampered[i]["signature"] = signature(b"someone-else", 0, tampered[i]["seq"], tampered[i]["prev_digest"])
    tampered[i]["digest"] = entry_digest(tampered[i])
    found = check(tampered)
    assert (found[0].offset, found[0].kind) == (i, "forged_checkpoint")
    unsigned = copy.deepcopy(chain)
    unsigned[i]["signature"] = None
    unsigned[i]["digest"] = entry_digest(unsigned[i])
    assert check(unsigned)[0].kind == "unsigned_checkpoint"


def test_an_entry_of_another_partition_is_misplaced() -> None:
    other = build(3, partition=1)
    assert verify(0, list(enumerate(other)), key=KEY)[0].kind == "misplaced"


def test_a_chain_shortened_by_retention_verifies_when_allowed() -> None:
    chain = build(10)
    assert check(chain[3:], from_start=False) == []
    assert check(chain[3:])[0].kind == "gap"
