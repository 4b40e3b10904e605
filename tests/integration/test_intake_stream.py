"""A mixed stream through a real intake worker on the real broker: every report accounted for, exactly.

accepted (distinct case ids on the cases topic) + dead-lettered (distinct source positions on the
dead-letter topic) + duplicates (produced - accepted - dead-lettered) = produced, and the duplicates
found that way are exactly the ones the test injected; also across a SIGTERM restart of the worker.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
import uuid
from collections import Counter

import httpx
import pytest

from referral_bus.codec import MAGIC, Codec
from services.intake.accept import case_id_for, report_key
from tests.support.intake import (
    MAX_BYTES,
    Message,
    Tally,
    intake_worker,
    produce,
    tally,
    wait_drained,
)
from tests.support.reports import encode_v1, valid_report

pytestmark = [pytest.mark.kafka]


def bad_message(kind: int, rng: random.Random) -> Message:
    """One of seven kinds of bad input, each with its expected reason."""
    codec = Codec()
    report = valid_report()
    good = codec.encode("CaseReport", report)
    key = report_key(report["agency_id"], report["report_id"]).encode()
    kinds: list[tuple[bytes, str]] = [
        (rng.randbytes(rng.randint(0, 300)).lstrip(b"\x00").replace(b"\xc3\x01", b"\x01\x01", 1), "undecodable"),
        (good[: rng.randint(0, len(good) - 1)], "undecodable"),
        (MAGIC + rng.randbytes(8) + good[10:], "unknown_schema"),
        (
            codec.encode(
                "DeliveryReceipt",
                {
                    "receipt_id": "r",
                    "referral_id": "r",
                    "case_id": "c",
                    "recipient_id": "x",
                    "status": "DELIVERED",
                    "at": 1,
                    "channel": None,
                    "attempt": 0,
                    "latency_ms": None,
                    "detail": None,
                },
            ),
            "wrong_schema",
        ),
        (codec.encode("CaseReport", valid_report(victim__age_band="ADULT", victim__is_minor=True)), "invalid_field"),
        (codec.encode("CaseReport", valid_report(victim__jurisdiction="VN-99")), "unknown_jurisdiction"),
        (codec.encode("CaseReport", valid_report(narrative="n" * (MAX_BYTES + 100))), "oversized"),
    ]
    value, reason = kinds[kind % len(kinds)]
    if value.startswith(MAGIC) and reason == "undecodable" and len(value) >= 10:
        value = b"\x01" + value[1:]  # a truncated header-only prefix must still read as undecodable
    return Message(key, value, reason)


def mixed_stream(n: int, *, seed: int, bad_every: int = 10, dup_every: int = 10) -> list[Message]:
    """`n` messages: 1 in `bad_every` bad, 1 in `dup_every` a duplicate of an earlier valid one, rest new."""
    rng = random.Random(seed)
    codec = Codec()
    out: list[Message] = []
    valid: list[Message] = []
    for i in range(n):
        if i % bad_every == bad_every - 1:
            out.append(bad_message(i // bad_every, rng))
        elif i % dup_every == dup_every - 2 and valid:
            original = rng.choice(valid)
            if rng.random() < 0.5:  # byte-identical re-send
                out.append(Message(original.key, original.value, "duplicate", original.report_id))
            else:  # re-sent later by the agency: new received_at, and without a key (intake rekeys it)
                again = codec.decode(original.value, "CaseReport")
                again["received_at"] = (again["received_at"] or 0) + 1000
                out.append(Message(None, codec.encode("CaseReport", again), "duplicate", original.report_id))
        else:
            report = valid_report(report_id=f"R-{seed}-{i}-{uuid.uuid4().hex[:6]}")
            value = encode_v1(report) if i % 7 == 0 else codec.encode("CaseReport", report)
            key = None if i % 13 == 0 else report_key(report["agency_id"], report["report_id"]).encode()
            m = Message(key, value, "accepted", report["report_id"])
            out.append(m)
            valid.append(m)
    return out


def metric_counts(port: int) -> dict[str, float]:
    """intake's outcome counters from its /metrics (Prometheus text)."""
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("referral_bus_events_total{") and 'stage="intake"' in line:
            outcome = re.search(r'outcome="([^"]+)"', line)
            if outcome:
                out[outcome.group(1)] = float(line.rsplit(" ", 1)[1])
    return out


def check_equation(messages: list[Message], positions: list[tuple[int, int]], t: Tally) -> dict[str, int]:
    produced = len(messages)
    expected = Counter(m.expect for m in messages)
    bad = [(pos, m) for pos, m in zip(positions, messages, strict=True) if m.expect not in ("accepted", "duplicate")]
    accepted = len(t.case_ids)
    dead = len(t.dead_by_position)
    duplicates = produced - accepted - dead
    figures = {
        "produced": produced,
        "accepted": accepted,
        "dead_lettered": dead,
        "duplicates": duplicates,
        "case_records": t.case_records,
        "dead_letter_records": t.dead_letters,
    }
    print("mixed stream:", figures)
    assert accepted + dead + duplicates == produced
    assert accepted == expected["accepted"]
    assert dead == sum(n for k, n in expected.items() if k not in ("accepted", "duplicate"))
    assert duplicates == expected["duplicate"]
    # the right reports, each accepted once, with deterministic case ids
    want = {m.report_id for m in messages if m.expect == "accepted"}
    assert t.report_ids == want
    assert t.case_ids == {case_id_for("vn-hotline-111", r) for r in want if r}
    # every bad one dead-lettered at its own position, with its reason and original bytes
    for pos, m in bad:
        d = t.dead_by_position.get(pos)
        assert d is not None, f"{m.expect} message at {pos} not dead-lettered"
        assert d["reason"] == m.expect, (pos, d["reason"], d["message"])
        assert d["original_value"] == m.value
    assert set(t.dead_by_position) == {pos for pos, _ in bad}
    return figures


async def test_mixed_stream_of_1000_is_accounted_for_exactly(kafka: str, namespace: str) -> None:
    messages = mixed_stream(1000, seed=3)
    assert Counter(m.expect for m in messages)["duplicate"] == 100
    with intake_worker(namespace, kafka) as workers:
        positions = await produce(namespace, kafka, messages)
        await wait_drained(namespace, kafka)
        t = await tally(namespace, kafka)
        check_equation(messages, positions, t)
        # no restart: each case emitted once, each bad message dead-lettered once
        assert t.case_records == len(t.case_ids)
        assert t.dead_letters == len(t.dead_by_position)
        counts = metric_counts(workers.ports["intake"])
        print("intake metrics:", counts)
        assert counts.get("accepted") == 800
        assert counts.get("duplicate") == 100
        reasons = {k: v for k, v in counts.items() if k not in ("accepted", "duplicate", "rekeyed")}
        assert sum(reasons.values()) == 100
        assert workers.procs["intake"].poll() is None


async def test_mixed_stream_with_a_restart_in_the_middle(kafka: str, namespace: str) -> None:
    first = mixed_stream(500, seed=5)
    # second half: new reports, bad ones, and duplicates of reports accepted before the restart
    second = mixed_stream(500, seed=6)
    rng = random.Random(7)
    accepted_first = [m for m in first if m.expect == "accepted"]
    second = [
        Message(pick.key, pick.value, "duplicate", pick.report_id) if m.expect == "duplicate" else m
        for m in second
        for pick in [rng.choice(accepted_first)]
    ]
    messages = first + second
    with intake_worker(namespace, kafka) as workers:
        positions = await produce(namespace, kafka, first)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len((await tally(namespace, kafka)).case_ids) < 150:
            await asyncio.sleep(0.2)
        workers.stop("intake")  # SIGTERM, then wait for it to leave
        before = await tally(namespace, kafka)
        print(f"restart after {len(before.case_ids)} cases and {len(before.dead_by_position)} dead letters")
        positions += await produce(namespace, kafka, second)
        workers.start("intake")
        workers.wait_ready(names=["intake"], timeout=120)
        await wait_drained(namespace, kafka)
        t = await tally(namespace, kafka)
        check_equation(messages, positions, t)
        print(
            "re-emitted case records:",
            t.case_records - len(t.case_ids),
            "re-written dead letters:",
            t.dead_letters - len(t.dead_by_position),
        )
        assert workers.procs["intake"].poll() is None
