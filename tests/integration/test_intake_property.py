"""Property: whatever bytes reach the intake topic, the real worker keeps running and explains each one.

Random, truncated and bit-flipped bytes and random-but-valid reports go through a real intake worker on
the real broker. Valid reports become cases; every other message is in the dead-letter topic at its own
source position with its original bytes and the reason the intake logic gives for it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referral_bus.codec import MAGIC, Codec
from referral_bus.errors import RejectedMessage
from referral_devstack.workers import Workers
from referral_domain import jurisdictions
from referral_domain.vocabulary import CATEGORIES
from services.intake.accept import Accepted, Intake, Rekey
from tests.support.intake import MAX_BYTES, Message, intake_worker, now_ms_, produce, tally, wait_drained
from tests.support.reports import key_of

pytestmark = [pytest.mark.kafka]

AGE = {"UNKNOWN": None, "UNDER_13": True, "AGE_13_15": True, "AGE_16_17": True, "ADULT": False}
NOW = now_ms_()  # fixed per run: strategies must not depend on the clock (hypothesis replays them)
TEXT_CHARS = st.characters(exclude_categories=("Cs",))
TEXT = st.text(TEXT_CHARS, max_size=80)
OPT_TEXT = st.none() | TEXT


@st.composite
def valid_reports(draw: st.DrawFn) -> dict[str, Any]:
    band = draw(st.sampled_from(sorted(AGE)))
    minor = AGE[band] if AGE[band] is not None else draw(st.booleans())
    consent = draw(st.sampled_from(["NOT_ASKED", "GIVEN", "REFUSED"] + (["NOT_REQUIRED_CHILD"] if minor else [])))
    now = NOW
    return {
        "report_id": f"P-{uuid.uuid4().hex}",
        "agency_id": draw(st.from_regex(r"\A[a-z0-9][a-z0-9-]{0,20}\Z")),
        "source_system": draw(st.text(TEXT_CHARS, min_size=1, max_size=40)),
        "reported_at": draw(st.integers(1, now)),
        "received_at": draw(st.none() | st.integers(1, now)),
        "category": draw(st.sampled_from(CATEGORIES)),
        "severity": draw(st.sampled_from(["UNKNOWN", "LOW", "MEDIUM", "HIGH", "IMMINENT_DANGER"])),
        "escalation_reason": draw(OPT_TEXT),
        "victim": {
            "age_band": band,
            "is_minor": minor,
            "jurisdiction": draw(st.sampled_from([*sorted(jurisdictions.vn_units()), "FR", "PH", "US-CA"])),
            "name": draw(OPT_TEXT),
            "contact": draw(OPT_TEXT),
            "account_handle": draw(OPT_TEXT),
        },
        "offender": {
            "country": draw(st.none() | st.sampled_from(["VN", "PH", "US", "KH"])),
            "account_handle": draw(OPT_TEXT),
            "ip_address": draw(st.none() | st.ip_addresses().map(str)),
            "name": draw(OPT_TEXT),
        },
        "hosting_country": draw(st.none() | st.sampled_from(["US", "NL", "SG"])),
        "platform": draw(st.none() | st.text(TEXT_CHARS, max_size=40)),
        "content_hashes": draw(
            st.lists(
                st.builds(lambda b: {"algorithm": "sha256", "value": b.hex()}, st.binary(min_size=32, max_size=32)),
                max_size=3,
            )
        ),
        "content_urls": draw(
            st.lists(st.from_regex(r"\Ahttps://[a-z]{1,12}\.example\.invalid/[a-z0-9]{0,12}\Z"), max_size=3)
        ),
        "preservation_requested": draw(st.booleans()),
        "consent": consent,
        "consented_services": draw(st.lists(st.sampled_from(["police", "hotline", "health"]), max_size=2, unique=True)),
        "reporter_contact": draw(OPT_TEXT),
        "narrative": draw(st.none() | st.text(TEXT_CHARS, max_size=400)),
    }


@st.composite
def messages(draw: st.DrawFn) -> Message:
    """One message of one of four kinds; `expect` is filled in by the oracle below."""
    kind = draw(st.sampled_from(["valid", "random", "truncated", "bitflip"]))
    codec = Codec()
    if kind == "random":
        return Message(draw(st.none() | st.binary(max_size=20)), draw(st.binary(max_size=600)), "random")
    report = draw(valid_reports())
    data = codec.encode("CaseReport", report)
    if kind == "valid":
        return Message(key_of(report), data, "valid", report["report_id"])
    if kind == "truncated":
        return Message(key_of(report), data[: draw(st.integers(0, len(data) - 1))], "truncated")
    bit = draw(st.integers(0, len(data) * 8 - 1))
    flipped = bytearray(data)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return Message(key_of(report), bytes(flipped), "bitflip")


def oracle(m: Message) -> tuple[str, str | None]:
    """What intake must do with `m`: ("accepted", report_id) or (reason, None)."""
    intake = Intake(Codec(max_bytes=MAX_BYTES), {}, clock_skew_ms=300_000)
    try:
        out = intake.handle(m.key, m.value, now_ms=now_ms_())
    except RejectedMessage as exc:
        return exc.reason, None
    assert isinstance(out, Accepted | Rekey)
    return "accepted", Codec().decode(m.value, "CaseReport")["report_id"]


@pytest.fixture(scope="module")
def worker(kafka: str) -> Iterator[tuple[str, Workers]]:
    """One intake worker for every example (starting one per example would take minutes)."""
    ns = "tp" + uuid.uuid4().hex[:10]
    with intake_worker(ns, kafka) as workers:
        yield ns, workers


@settings(
    max_examples=12,
    deadline=None,
    derandomize=False,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.large_base_example,
    ],
)
@given(batch=st.lists(messages(), min_size=1, max_size=25))
def test_every_message_is_accepted_or_dead_lettered_with_its_reason(
    kafka: str, worker: tuple[str, Workers], batch: list[Message]
) -> None:
    ns, workers = worker
    expected = [oracle(m) for m in batch]
    for m, (outcome, _) in zip(batch, expected, strict=True):
        if m.expect == "valid":
            assert outcome == "accepted"
        elif m.expect == "truncated":
            assert outcome == "undecodable"
        elif m.expect == "random":
            assert outcome in ("undecodable", "unknown_schema") or m.value.startswith(MAGIC)

    async def run() -> None:
        positions = await produce(ns, kafka, batch)
        await wait_drained(ns, kafka, timeout=60)
        t = await tally(ns, kafka)
        for pos, m, (outcome, report_id) in zip(positions, batch, expected, strict=True):
            if outcome == "accepted":
                assert report_id in t.report_ids, f"{m.expect} message at {pos} not accepted"
                assert pos not in t.dead_by_position
            else:
                d = t.dead_by_position.get(pos)
                assert d is not None, f"{m.expect} message at {pos} not dead-lettered ({outcome})"
                assert d["reason"] == outcome
                assert d["original_value"] == m.value
                assert d["original_key"] == m.key

    asyncio.run(run())
    assert workers.procs["intake"].poll() is None, workers.tail("intake")
    assert httpx.get(f"http://127.0.0.1:{workers.ports['intake']}/healthz", timeout=5).status_code == 200
