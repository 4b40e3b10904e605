"""Results files: the Markdown table and the PNG chart, from the results dictionary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import targets


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.0f}" if abs(v) >= 100 else f"{v:,.1f}"
    return f"{v:,}" if isinstance(v, int) else str(v)


def _latency_row(name: str, offered: str, throughput: str, lat: dict[str, Any], run: dict[str, Any]) -> str:
    """One row of the latency table: a configuration at one offered load, or unthrottled."""
    cells = [name, offered, throughput, *(_fmt(lat[p]) for p in ("p50", "p95", "p99", "max"))]
    return "| " + " | ".join([*cells, str(run["lost"]), str(run["duplicates"])]) + " |"


def markdown(results: dict[str, Any]) -> str:
    """What `make bench` prints and writes to latest.md: the targets, the table, the ratios, how it was run."""
    rows = results.get("targets") or targets.evaluate(results)
    lines = [
        "## Targets (issue 17)",
        "",
        *targets.markdown(rows),
        "",
        "## Runs",
        "",
        *_table(results),
        *_run_record(results),
    ]
    return "\n".join(lines) + "\n"


def _table(results: dict[str, Any]) -> list[str]:
    lines = [
        "| configuration | offered /s | throughput /s | p50 ms | p95 ms | p99 ms | max ms | lost | dup |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, cfg in results["e2e"].items():
        for e in cfg.get("errors", []):
            lines.append(f"| {name} | round {e['round'] + 1} | **failed**: {e['error'][:200]} |||||||")
        for step in cfg.get("steps", []):
            if step.get("skipped"):
                lines.append(f"| {name} | {_fmt(step['offered_per_s'])} | {step['skipped']} |||||||")
                continue
            offered, throughput = _fmt(step["offered_per_s"]), _fmt(step["throughput_per_s"])
            lines.append(_latency_row(name, offered, throughput, step["latency_ms"], step))
        un = cfg.get("unthrottled")
        if un:
            offered = f"unthrottled ({un['in_flight']} in flight{_window(un['runs'])}, median of {len(un['runs'])})"
            each = ", ".join(_fmt(r["throughput_per_s"]) for r in un["runs"])
            throughput = f"**{_fmt(un['median_throughput_per_s'])}** ({each})"
            lines.append(_latency_row(name, offered, throughput, un["median_latency_ms"], un))
    s = results.get("summary", {})
    lines.append("")
    for key, label in (
        ("ratio_to_faust", "ours ÷ plain Faust pass-through"),
        ("ratio_to_faust_take", "ours ÷ plain Faust with stream.take batching"),
        ("ratio_to_aiokafka", "ours ÷ plain aiokafka loops"),
        ("ratio_to_aiokafka_records", "ours ÷ aiokafka loops writing as many records a report as ours"),
        (
            "records_baseline_to_aiokafka",
            "aiokafka loops writing as many records a report as ours ÷ plain aiokafka loops",
        ),
        ("faust_take_to_faust", "Faust with stream.take batching ÷ naive Faust"),
        ("faust_to_aiokafka", "naive Faust ÷ plain aiokafka loops"),
        ("httpx_to_aiohttp_aiokafka", "aiokafka loops: httpx client ÷ aiohttp client (the last hop's client)"),
        ("tracing_on_to_off", "ours with tracing exported ÷ tracing disabled"),
        (
            "tracing_sampled_to_off",
            "ours with tracing exported for a share of reports (parentbased_traceidratio) ÷ tracing disabled",
        ),
        ("ledger_on_to_off", "ours with the ledger worker and per-case sealing ÷ without them (target ≥ 0.85)"),
        ("ledger_cpu_off_to_on", "workers' CPU per report without ÷ with the ledger and sealing"),
        ("batched_to_unbatched", "ours with the batch loop ÷ one event at a time (BATCH_MAX_EVENTS=1)"),
        ("here_to_hops", "ours (correlation here) ÷ every report through the hops (INTAKE_LOCAL_CORRELATION=false)"),
        ("here_cpu_hops_to_here", "workers' CPU per report through the hops ÷ correlated here"),
        ("knee_per_s", "knee: highest offered rate with p99 < 500 ms (ours)"),
    ):
        if f"{key}_paired" in s:
            lines.append(f"- {label}: {_paired(s, key)}")
        elif key in s:
            lines.append(f"- {label}: **{_fmt(s[key]) if key == 'knee_per_s' else s[key]}**")
    if (cpu := _cpu_line(results["e2e"])) is not None:
        lines.append(cpu)
    codec = results.get("codec")
    if codec:
        lines.append(
            f"- codec ÷ bare fastavro, parsed once (target ≥ 0.8): encode **{codec['ratio_encode']}**, decode "
            f"**{codec['ratio_decode']}**, decode of a v1-written report **{codec['ratio_decode_v1']}** "
            f"({codec['ops_per_s']['ours_decode']:,} decodes/s)"
        )
    prio = results.get("priority")
    if prio and "error" in prio:
        lines.append(f"- P1 behind a P4 backlog: **failed**: {prio['error'][:300]}")
    elif prio:
        lat = prio["p1_latency_ms"]
        lines.append(
            f"- P1 behind a {prio['scenario']['backlog']:,}-referral P4 backlog (target p99 < 1 s): p50 "
            f"{_fmt(lat['p50'])} ms, p99 **{_fmt(lat['p99'])} ms**, {prio['p1_lost']} of {prio['p1_sent']} lost; "
            f"{prio['p4_still_waiting']:,} P4 still waiting; load average {prio['load_average_before']}"
        )
    rules = results.get("rules")
    if isinstance(rules, dict) and "indexed" in rules and "naive" in rules:
        lines.append(
            f"- routing over {rules.get('rules')} rules: **{rules['indexed'].get('decisions_per_s'):,}** decisions/s "
            f"vs naive {rules['naive'].get('decisions_per_s'):,} (×{rules.get('speedup')}; rules.json)"
        )
    elif isinstance(rules, dict) and "error" not in rules and "skipped" not in rules:
        lines.append(f"- routing: see rules.json ({', '.join(f'{k}={v}' for k, v in _flat(rules)[:4])})")
    elif isinstance(rules, dict):
        lines.append(f"- routing: {rules.get('error') or rules.get('skipped')}")
    return lines


def _window(runs: list[dict[str, Any]]) -> str:
    """`, counted from a–b s`: where the runs' steady windows began (empty for results without them)."""
    starts = [r["window_from_s"] for r in runs if "window_from_s" in r]
    if not starts:
        return ""
    lo, hi = min(starts), max(starts)
    return f", counted from {lo:g} s" if lo == hi else f", counted from {lo:g}–{hi:g} s"


def _paired(s: dict[str, Any], key: str) -> str:
    """A ratio as the median of per-round pairs, each pair, the ratio of medians and the same by CPU per report."""
    text = f"**{s[f'{key}_paired']}** (median of per-round pairs {', '.join(map(str, s[f'{key}_per_round']))}"
    text += f"; ratio of medians {s[key]}" if key in s else ""
    if f"{key}_cpu_paired" in s:
        each = ", ".join(map(str, s[f"{key}_cpu_per_round"]))
        text += f"; by the workers' CPU per report, inverted: {s[f'{key}_cpu_paired']} ({each})"
    return text + ")"


def _age(load: dict[str, Any]) -> str:
    """` (N)`: how many minutes the broker had run when the round started (empty when not recorded)."""
    return f" ({age / 60:.0f})" if (age := load.get("broker_age_s")) is not None else ""


def _run_record(results: dict[str, Any]) -> list[str]:
    """Commit, versions, settings, order, load, CPU and records per report: what the figures were measured with."""
    git, m, par = results.get("git", {}), results.get("machine", {}), results.get("parameters", {})
    lines = [
        "",
        "## How it was measured",
        "",
        f"- commit `{git.get('commit', 'unknown')}`{' (with uncommitted changes)' if git.get('dirty') else ''}",
        f"- machine: {m.get('cpus')} × {m.get('cpu_model', '?')}, {m.get('memory_gb')} GB, Python {m.get('python')}, "
        f"Kafka {m.get('kafka_broker', {}).get('version')}; {m.get('note', '')}",
        "- versions: " + ", ".join(f"{k} {v}" for k, v in m.get("packages", {}).items()),
        "- settings: " + ", ".join(f"{k} {v}" for k, v in par.get("tuning", {}).items()),
        f"- plan: knee grid {par.get('rates')} /s × {par.get('step_seconds')} s for {par.get('stepped')}; "
        f"unthrottled {par.get('unthrottled_seconds')} s × {par.get('unthrottled_repeats')} rounds, "
        f"{par.get('in_flight')} in flight",
    ]
    if order := results.get("order"):
        lines.append("- order: " + "; ".join(f"round {i + 1}: {', '.join(o)}" for i, o in enumerate(order)))
    if t := results.get("timings_seconds"):
        est = results.get("estimate_seconds", {}).get("total")
        lines.append(
            f"- duration: {t.get('total', 0) / 60:.1f} min (estimated {est / 60:.0f} min): "
            + ", ".join(f"{k} {v:g} s" for k, v in t.items() if k != "total")
            if est
            else f"- duration: {t.get('total', 0) / 60:.1f} min"
        )
    lines += [
        "",
        "| configuration | load average before → after (broker up, min), per round | CPU ms per report (utime + stime) "
        "| records produced / consumed per report |",
        "|---|---|---|---|",
    ]
    for name, cfg in results.get("e2e", {}).items():
        load = "; ".join(f"{la.get('before')} → {la.get('after')}{_age(la)}" for la in cfg.get("load_average", []))
        acct = cfg.get("accounting", {})
        cpu = ", ".join(f"{k} {v:.2f}" for k, v in acct.get("cpu_ms_per_report", {}).items())
        lines.append(
            f"| {name} | {load} | {cpu} | {acct.get('records_per_report', '–')} / "
            f"{acct.get('records_consumed_per_report', '–')} |"
        )
    lines += ["", "Records per report per topic (produced / consumed):", ""]
    for name, cfg in results.get("e2e", {}).items():
        acct = cfg.get("accounting", {})
        made, used = acct.get("records_per_report_per_topic", {}), acct.get("records_consumed_per_report_per_topic", {})
        busy = sorted(k for k in {*made, *used} if made.get(k) or used.get(k))  # topics this run wrote or read
        per = ", ".join(f"`{k}` {made.get(k, 0):g} / {used.get(k, 0):g}" for k in busy)
        lines.append(f"- {name}: {per}")
    return lines


def _cpu_line(e2e: dict[str, Any]) -> str | None:
    """CPU ms per report of each process, ours → ours_ledger, when both ran."""
    a, b = (e2e.get(n, {}).get("accounting", {}).get("cpu_ms_per_report") for n in ("ours", "ours_ledger"))
    if not a or not b:
        return None
    parts = [f"{n} {a.get(n, 0):.2f} → {b[n]:.2f}" for n in b]
    return "- CPU ms per report, ours → ours_ledger (utime + stime): " + ", ".join(parts)


def _flat(d: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        if isinstance(v, dict):
            out += _flat(v, f"{prefix}{k}.")
        elif isinstance(v, int | float):
            out.append((f"{prefix}{k}", v))
    return out


def chart(results: dict[str, Any], path: Path) -> None:
    """Left: latency percentiles over offered load per configuration. Right: unthrottled throughput."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    styles = {"p50": ":", "p95": "--", "p99": "-"}
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown", "tab:pink", "tab:gray"]
    names, values, lows, highs = [], [], [], []
    for i, (name, cfg) in enumerate(results["e2e"].items()):
        colour = colours[i % len(colours)]
        steps = [s for s in cfg.get("steps", []) if not s.get("skipped")]
        if steps:
            xs = [s["offered_per_s"] for s in steps]
            for p, style in styles.items():
                left.plot(xs, [s["latency_ms"][p] for s in steps], style, marker="o", color=colour, label=f"{name} {p}")
        un = cfg.get("unthrottled")
        if un:
            runs = [r["throughput_per_s"] for r in un["runs"]]
            names.append(name)
            values.append(un["median_throughput_per_s"])
            lows.append(un["median_throughput_per_s"] - min(runs))
            highs.append(max(runs) - un["median_throughput_per_s"])
    left.axhline(500, color="grey", linewidth=0.8)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("offered load (reports/s)")
    left.set_ylabel("latency produce → webhook arrival (ms)")
    left.set_title("Latency percentiles over offered load")
    if left.get_lines():
        left.legend(fontsize=7, ncol=2)
    right.bar(names, values, yerr=[lows, highs], color=colours[: len(names)], capsize=4)
    right.set_ylabel("reports/s delivered (median, min–max)")
    right.set_title("Unthrottled throughput per configuration")
    right.tick_params(axis="x", rotation=20)
    fig.suptitle(f"referral-bus benchmark {results['started_at']} ({results['machine']['cpus']} cores, shared)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
