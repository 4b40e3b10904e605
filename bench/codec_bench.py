"""Our codec (single-object header, fingerprint lookup, schema resolution) vs bare fastavro schemaless I/O."""

from __future__ import annotations

import io
import statistics
import time
from collections.abc import Callable
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from bench.reports import ReportStream
from referral_bus.codec import HEADER_SIZE, MAGIC, Codec
from referral_bus.contracts import contracts


def _rate(fn: Callable[[], None], n: int, repeats: int) -> float:
    """Median operations per second of `fn` (which does `n` operations) over `repeats` runs."""
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        rates.append(n / (time.perf_counter() - t))
    return statistics.median(rates)


def _v1_record(report: dict[str, Any]) -> dict[str, Any]:
    """The report as a v1 writer knows it (no fields added in v2)."""
    out = {k: v for k, v in report.items() if k not in ("escalation_reason", "consented_services")}
    return out


def run(n: int = 2000, repeats: int = 5) -> dict[str, Any]:
    codec = Codec()
    reg = contracts()
    current = reg.current["CaseReport"]
    v1 = next(s for s in reg.history["CaseReport"] if s.version == 1)
    # The baseline is fastavro used as its docs say: each schema parsed once, with its parsed marker.
    bare_current = parse_schema(current.expanded)
    bare_v1 = parse_schema(v1.expanded)
    reports = ReportStream(tag="codec").take(n)
    for r in reports:
        r["received_at"] = r["reported_at"]
    ours_bytes = [codec.encode("CaseReport", r) for r in reports]
    bodies = [b[HEADER_SIZE:] for b in ours_bytes]

    def ours_encode() -> None:
        for r in reports:
            codec.encode("CaseReport", r)

    def bare_encode() -> None:
        for r in reports:
            buf = io.BytesIO()
            schemaless_writer(buf, bare_current, r)
            buf.getvalue()

    def ours_decoding(blobs: list[bytes]) -> Callable[[], None]:
        def decode() -> None:
            for b in blobs:
                codec.decode(b, "CaseReport")

        return decode

    def bare_decoding(blobs: list[bytes], writer: Any, reader: Any) -> Callable[[], None]:
        def decode() -> None:
            for b in blobs:
                schemaless_reader(io.BytesIO(b), writer, reader)

        return decode

    v1_bytes = []
    for r in reports:
        buf = io.BytesIO()
        buf.write(MAGIC + v1.fingerprint)
        schemaless_writer(buf, v1.parsed, _v1_record(r))
        v1_bytes.append(buf.getvalue())
    v1_bodies = [b[HEADER_SIZE:] for b in v1_bytes]
    assert codec.decode(v1_bytes[0], "CaseReport")["consented_services"] == []

    fns = {
        "ours_encode": ours_encode,
        "fastavro_encode": bare_encode,
        "ours_decode": ours_decoding(ours_bytes),
        "fastavro_decode": bare_decoding(bodies, bare_current, None),
        "ours_decode_v1": ours_decoding(v1_bytes),
        "fastavro_decode_v1": bare_decoding(v1_bodies, bare_v1, bare_current),
    }
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):  # interleaved, so drift on a shared machine hits every variant alike
        for name, fn in fns.items():
            samples[name].append(_rate(fn, n, 1))
    rates = {name: round(statistics.median(v)) for name, v in samples.items()}
    return {
        "records": n,
        "repeats": repeats,
        "mean_bytes": round(sum(map(len, ours_bytes)) / n),
        "ops_per_s": rates,
        "ratio_encode": round(rates["ours_encode"] / rates["fastavro_encode"], 3),
        "ratio_decode": round(rates["ours_decode"] / rates["fastavro_decode"], 3),
        "ratio_decode_v1": round(rates["ours_decode_v1"] / rates["fastavro_decode_v1"], 3),
        "target_ratio": 0.8,
    }
