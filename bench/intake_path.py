"""Microbenchmark of intake's own work per accepted report, without Kafka.

What a new report costs intake's CPU besides the Faust and aiokafka plumbing: decode and validate the
CaseReport, the dedup look-up and case id, the content keys and their correlation partitions, the local
correlation decision with its claims (`Correlator.decide_here`), the Case and the INTAKE_ACCEPTED status
encoded, and the dedup mark.

    python -m bench.intake_path [--reports 1000] [--repeats 15] [--profile]

Run it on two trees (PYTHONPATH=<tree>) to compare; it prints CPU µs per report (median of the repeats). On a
loaded machine count instructions instead (valgrind, bench/results/icpu.md): the difference between
`--repeats 3` and `--repeats 1` is two passes over the same reports.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import statistics
import time

from bench.intake_drain import encoded_reports
from referral_bus.clock import now_ms
from referral_bus.codec import Codec
from referral_bus.kafka import key_partition
from referral_bus.status import status_record
from services.intake.accept import Accepted, Intake
from services.intake.content import content_keys
from services.intake.correlate import Correlator

PARTITIONS = 4


def one_pass(codec: Codec, items: list[tuple[bytes, bytes]]) -> float:
    """CPU seconds for intake's own work on every report of `items` (fresh tables; the cyclic GC held off)."""
    intake = Intake(codec, {}, clock_skew_ms=60_000)
    correlator = Correlator({}, window_ms=72 * 3_600_000)
    gc.collect()
    gc.disable()  # a collection's cost depends on the whole heap, not on this code: it only adds noise here
    start = time.process_time()
    for key, value in items:
        now = now_ms()
        outcome = intake.handle(key, value, now_ms=now)
        assert isinstance(outcome, Accepted)
        case = outcome.case
        keys = content_keys(case["report"])
        places = {k.digest: key_partition(k.digest.encode(), PARTITIONS) for k in keys}
        step = correlator.decide_here(case, keys, places)
        intake.remember(outcome)
        codec.encode("Case", step.case)
        agency_id, report_id = case["report"]["agency_id"], case["report"]["report_id"]
        status = status_record(agency_id, report_id, "INTAKE_ACCEPTED", now, case_id=case["case_id"])
        codec.encode("ReportStatus", status)
    spent = time.process_time() - start
    gc.enable()
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reports", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--profile", action="store_true", help="cProfile one pass (top functions by own time)")
    args = parser.parse_args()
    codec = Codec(schema_registry=None)
    batch = encoded_reports(
        codec, args.reports, "path"
    )  # each pass starts from empty tables: every report is new to it
    one_pass(codec, batch)  # warm-up
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(one_pass, codec, batch)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    times = [one_pass(codec, batch) for _ in range(args.repeats)]
    per = sorted(1e6 * t / args.reports for t in times)
    print(f"intake own work: {statistics.median(per):.1f} µs per report (median of {len(per)}; min {per[0]:.1f})")


if __name__ == "__main__":
    main()
