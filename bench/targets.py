"""Issue 17's targets, each with its value from one run's results and whether it is met (None: not measured)."""

from __future__ import annotations

from typing import Any

from bench.ratios import NOT_WORKERS


def _row(target: str, goal: str, value: Any, met: bool | None, note: str = "") -> dict[str, Any]:
    return {"target": target, "goal": goal, "value": value, "met": met, **({"note": note} if note else {})}


def _per_round(s: dict[str, Any], key: str) -> str:
    """`per round a, b, c` from the summary's `<key>_per_round` ("" where the run has no pairs)."""
    return f"per round {', '.join(map(str, s[f'{key}_per_round']))}" if f"{key}_per_round" in s else ""


RATIO_TARGETS = (  # summary key (bench.run's PAIRED), the target, its goal
    ("ratio_to_aiokafka", "unthrottled ours ÷ plain aiokafka loops", "0.5"),
    ("ratio_to_faust_take", "unthrottled ours ÷ Faust with stream.take", "1.0"),
    ("tracing_on_to_off", "tracing exported ÷ disabled (metrics on in both)", "0.85"),
)


def _ratio_rows(s: dict[str, Any], key: str, target: str, goal: str) -> list[dict[str, Any]]:
    """A ratio target by throughput: the median of per-round paired ratios (the ratio of medians when there are
    no pairs), then a secondary row by the workers' CPU per report, same rounds, that does not decide the target."""
    paired, of_medians = s.get(f"{key}_paired"), s.get(key)
    value = paired if paired is not None else of_medians
    note = "; ".join(
        part
        for part in (
            _per_round(s, key),
            f"ratio of medians {of_medians}" if paired is not None and of_medians is not None else "",
        )
        if part
    )
    how = "median of per-round pairs" if paired is not None else "ratio of medians"
    rows = [_row(f"{target} ({how}, same run)", f"≥ {goal}", value, _met(value, float(goal)), note)]
    cpu = s.get(f"{key}_cpu_paired")
    cpu_note = _per_round(s, f"{key}_cpu")
    secondary = "secondary, by CPU: the same as the workers' CPU ms per report inverted, per-round pairs (not the "
    rows.append(_row(f"{secondary}issue's definition)", f"≥ {goal}", cpu, _met(cpu, float(goal)), cpu_note))
    return rows


def _sampled_row(s: dict[str, Any]) -> dict[str, Any]:
    """Beside the tracing target, not it (that one traces every report): tracing exported for a share of reports."""
    key, share = "tracing_sampled_to_off", s.get("tracing_sampled_share")
    value = s.get(f"{key}_paired", s.get(key))
    note = "; ".join(
        part
        for part in (
            _per_round(s, key),
            f"by CPU {s[f'{key}_cpu_paired']}" if f"{key}_cpu_paired" in s else "",
        )
        if part
    )
    shown = f"{share:g}" if share is not None else "a share"
    target = (
        f"beside it, not the target: tracing exported for {shown} of reports, each whole "
        "(OTEL_TRACES_SAMPLER=parentbased_traceidratio) ÷ disabled, median of per-round pairs"
    )
    return _row(target, "stated", value, None, note)  # no mark: not a target of its own


def _met(value: Any, goal: float) -> bool | None:
    return None if value is None else bool(value >= goal)


def _at_least(summary: dict[str, Any], key: str, goal: float) -> tuple[Any, bool | None]:
    v = summary.get(key)
    return v, _met(v, goal)


def _correctness(results: dict[str, Any]) -> tuple[dict[str, int], bool]:
    """Lost and duplicated reports over every run of every configuration (and the P1s of the priority scenario)."""
    lost = dups = 0
    for cfg in results.get("e2e", {}).values():
        runs = [s for s in cfg.get("steps", []) if not s.get("skipped")]
        runs += cfg.get("unthrottled", {}).get("runs", [])
        lost += sum(int(r["lost"]) for r in runs)
        dups += sum(int(r["duplicates"]) for r in runs)
    if prio := results.get("priority"):
        lost += int(prio.get("p1_lost", 0))
    return {"lost": lost, "duplicates": dups}, lost == 0 and dups == 0


def evaluate(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue, in its order."""
    s = results.get("summary", {})
    rows = []
    v, met = _at_least(s, "knee_per_s", 1000)
    rows.append(_row("knee (ours): highest offered rate with p99 < 500 ms, open loop", "≥ 1,000 /s", v, met))
    for key, target, goal in RATIO_TARGETS:
        rows += _ratio_rows(s, key, target, goal)
        if key == "tracing_on_to_off":
            rows.append(_sampled_row(s))
    codec = results.get("codec") or {}
    ratios = {k: codec[f"ratio_{k}"] for k in ("encode", "decode", "decode_v1") if f"ratio_{k}" in codec}
    rows.append(
        _row(
            "codec ÷ bare fastavro (parsed once): the lowest of encode, decode, decode of v1",
            "≥ 0.8",
            min(ratios.values()) if ratios else None,
            (min(ratios.values()) >= 0.8) if ratios else None,
            ", ".join(f"{k} {r}" for k, r in ratios.items()),
        )
    )
    p1 = s.get("p1_p99_ms_with_p4_backlog")
    backlog = s.get("p4_backlog")
    rows.append(
        _row(
            f"P1 p99 behind a {backlog:,}-referral P4 backlog" if backlog else "P1 p99 behind a P4 backlog",
            "< 1,000 ms",
            p1,
            None if p1 is None else bool(p1 < 1000),
        )
    )
    per = results.get("e2e", {}).get("ours", {}).get("accounting", {}).get("cpu_ms_per_report")
    workers = {k: v for k, v in (per or {}).items() if k not in NOT_WORKERS}
    rows.append(
        _row(
            "CPU ms per report per worker (ours, utime + stime)",
            "stated",
            workers or None,
            bool(workers) if per is not None else None,
        )
    )
    counts, ok = _correctness(results)
    rows.append(
        _row("correctness in every configuration: reports lost, reports delivered twice", "0 and 0", counts, ok)
    )
    return rows


def markdown(rows: list[dict[str, Any]]) -> list[str]:
    """The targets as a Markdown table."""

    def fmt(v: Any) -> str:
        if v is None:
            return "not measured"
        if isinstance(v, dict):
            return ", ".join(f"{k} {x}" for k, x in v.items())
        return f"{v:,}" if isinstance(v, int | float) else str(v)

    lines = ["| target | goal | value | met |", "|---|---|---:|---|"]
    for r in rows:
        met = {True: "**met**", False: "**not met**", None: "–"}[r["met"]]
        note = f" ({r['note']})" if r.get("note") else ""
        lines.append(f"| {r['target']} | {r['goal']} | {fmt(r['value'])}{note} | {met} |")
    return lines
