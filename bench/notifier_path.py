"""Microbenchmark of the notifier's own work per delivered referral, without Kafka or HTTP.

What a first delivery attempt costs the notifier's CPU besides the Faust, aiokafka and aiohttp
plumbing: decode the Referral, its key lock, the arrival and admission decisions, the safeguards gate, the
delivered-once check, the redacted document, its JSON body and signature (what the webhook channel
computes before it posts), the Disclosure, the referral_state entry with its lifecycle fields, and the
three records encoded (DELIVERED receipt, Disclosure, the agency's DELIVERED status).

    python -m bench.notifier_path [--referrals 2000] [--repeats 7]

Run it on two trees (PYTHONPATH=<tree>) to compare; it prints µs per referral (median of the repeats).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from typing import Any

from bench.reports import ReportStream
from bench.stackconfig import write_config
from referral_bus.codec import Codec
from referral_bus.settings import SafeguardSettings
from referral_bus.status import status_record
from referral_devstack.workers import temp_workdir
from referral_domain.directory import Recipient, load_directory
from referral_domain.safeguards import Facts, Gate, load_safeguards
from services.intake.accept import case_id_for
from services.notifier.backoff import RetryPolicy
from services.notifier.breaker import Breakers
from services.notifier.decide import on_admission, on_arrival
from services.notifier.deliver import Deliverer
from services.notifier.delivered import DeliveredMarks
from services.notifier.keylocks import KeyLocks
from services.notifier.lifecycle import lifecycle_fields
from services.notifier.payload import body
from services.notifier.signing import signed_headers
from services.notifier.sla import delivered_state, routed_state


class NullWebhook:
    """The webhook channel's CPU work (JSON body, signed headers) without the POST."""

    name = "webhook"

    async def deliver(self, recipient: Recipient, referral: dict[str, Any], doc: dict[str, Any]) -> None:
        payload = body(doc)
        signed_headers("bench-secret", referral["referral_id"], payload)

    async def close(self) -> None:
        """Nothing to release."""


def referrals(n: int, directory: Any) -> list[dict[str, Any]]:
    """Referral records as routing makes them for the bench's reports (one provincial police webhook each)."""
    by_province = {j: r.id for r in directory.recipients.values() for j in r.jurisdictions}
    out = []
    for i, r in enumerate(ReportStream(tag="notifier-path").take(n)):
        r["received_at"] = r["reported_at"]
        case_id = case_id_for(r["agency_id"], r["report_id"])
        case = {
            "case_id": case_id,
            "accepted_at": r["reported_at"],
            "report": r,
            "linked_reports": [],
            "is_update": False,
            "victim_jurisdiction_as_sent": None,
        }
        out.append(
            {
                "referral_id": f"ref-{i}",
                "case_id": case_id,
                "recipient_id": by_province[r["victim"]["jurisdiction"]],
                "decision_id": f"dec-{i}",
                "rule_ids": ["bench-police-at-province"],
                "reason": "bench",
                "priority": "P2",
                "ack_sla_seconds": 14_400,
                "escalation_target": None,
                "preservation_request": False,
                "created_at": r["reported_at"],
                "attempt": 0,
                "not_before": None,
                "last_error": None,
                "case": case,
                "link": None,
            }
        )
    return out


def run(n: int = 2000, repeats: int = 7) -> dict[str, Any]:
    """µs per referral of the notifier's own work, median of `repeats` passes over `n` referrals."""
    codec = Codec()
    with temp_workdir(prefix="bench-notifier-") as work:
        directory_path, _ = write_config(work, "http://127.0.0.1:9")
        directory = load_directory(directory_path)
    gate = Gate(load_safeguards(SafeguardSettings().safeguards_path, dev_insecure_transport=True), directory)
    policy = RetryPolicy(8, 1.0, 300.0, 86_400.0)
    breakers = Breakers(5, 30.0, saved=lambda rid: [])
    values = [codec.encode("Referral", r) for r in referrals(n, directory)]

    async def one_pass() -> float:
        deliverer = Deliverer(directory, {"webhook": NullWebhook()}, DeliveredMarks({}), safeguards_version="bench")
        locks = KeyLocks()
        t = time.process_time()  # CPU time: robust to a loaded machine
        for partition, value in enumerate(values):
            referral = codec.decode(value, "Referral")
            async with locks.hold(referral["referral_id"]):
                await one(partition, value, referral, deliverer)
        return (time.process_time() - t) / len(values) * 1e6

    async def one(partition: int, value: bytes, referral: dict[str, Any], deliverer: Deliverer) -> None:
        """One referral's work once its key lock is held."""
        rid, recipient_id = referral["referral_id"], referral["recipient_id"]
        on_arrival(referral, from_retry=False, delivered=False, now_ms=0)
        routed_state(referral, value, partition % 12, recipient_target=None)
        if gate.admit(Facts.from_case(referral["case"]), recipient_id) is not None:
            raise RuntimeError("bench referral refused by the safeguards")
        now_s = time.time()
        on_admission(referral, breakers.get(recipient_id).admit(now_s), policy, now_s=now_s, jitter=0.5)
        outcome = await deliverer.deliver(referral)
        assert outcome.receipt is not None and outcome.disclosure is not None
        at = outcome.receipt["at"]
        state = delivered_state(referral, value, partition % 12, recipient_target=None, delivered_at=at)
        state = {**state, **lifecycle_fields(referral, value, "police", at)}
        report = referral["case"]["report"]
        status = status_record(
            report["agency_id"], report["report_id"], "DELIVERED", at, case_id=referral["case_id"], step=rid
        )
        codec.encode("ReportStatus", status)
        codec.encode("DeliveryReceipt", outcome.receipt)
        codec.encode("Disclosure", outcome.disclosure)

    async def passes() -> list[float]:
        await one_pass()  # warm-up
        return [await one_pass() for _ in range(repeats)]

    times = asyncio.run(passes())
    return {"referrals": n, "repeats": repeats, "us_per_referral": round(statistics.median(times), 1), "all": times}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.notifier_path", description=__doc__.splitlines()[0])
    parser.add_argument("--referrals", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    out = run(args.referrals, args.repeats)
    print(f"notifier path: {out['us_per_referral']} µs per referral (median of {out['repeats']} × {out['referrals']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
