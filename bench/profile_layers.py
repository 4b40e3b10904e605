"""Each worker's py-spy samples by layer (aiokafka, Faust, …, our code): the tables of docs/performance.md.

A sample counts to the layer of its innermost frame that belongs to one; the standard library's other frames (json,
struct, threading, …) count to their caller. py-spy sees Python frames only: compiled code (fastavro's reader and
writer, pydantic-core) runs inside its Python caller's frame and counts there.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from bench.profiles import short_file
from bench.settings import split_list

# (layer, path prefixes of its frames); "other" is a sample with no frame in any of them.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("aiokafka", ("aiokafka/",)),
    ("Faust", ("faust/", "mode/")),
    ("fastavro", ("fastavro/",)),
    ("pydantic", ("pydantic/", "pydantic_core/", "pydantic_settings/")),
    ("OpenTelemetry", ("opentelemetry/",)),
    ("structlog/logging", ("structlog/", "logging/")),
    ("asyncio/loop", ("asyncio/", "uvloop/", "selectors.py")),
    ("our code", ("referral_bus/", "services/", "referral_domain/")),
)
OTHER = "other"
CODEC = "referral_bus/codec.py"  # our Avro codec: fastavro's compiled encode and decode run inside its frames
NAMES = [name for name, _ in LAYERS] + [OTHER]


def layer_of(frame: str) -> str | None:
    """The layer a frame such as `Fetcher.run (aiokafka/consumer/fetcher.py:562)` belongs to, or None."""
    file = short_file(frame)
    return next((name for name, prefixes in LAYERS if file.startswith(prefixes)), None)


def count(collapsed: str) -> Counter[str]:
    """Samples per layer of one profile in collapsed-stack form (`frame;frame;… N` a line), and of them CODEC's."""
    out: Counter[str] = Counter()
    for line in collapsed.splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        inner = next(((f, lay) for f in reversed(stack.split(";")) if (lay := layer_of(f)) is not None), None)
        out[inner[1] if inner else OTHER] += int(n)
        if inner and short_file(inner[0]) == CODEC:
            out[CODEC] += int(n)
    return out


def table(profiles: dict[str, Counter[str]]) -> str:
    """A markdown table: one row per layer, one column per worker, the share of its samples in %."""
    workers = list(profiles)
    totals = {w: sum(n for k, n in profiles[w].items() if k != CODEC) for w in workers}
    rows = ["| layer | " + " | ".join(workers) + " |", "|---|" + "---:|" * len(workers)]
    for name in [*NAMES[:-1], CODEC, OTHER]:
        cells = (f"{100 * profiles[w][name] / totals[w]:.1f}" if totals[w] else "–" for w in workers)
        label = f"of which `{CODEC}`" if name == CODEC else name
        rows.append(f"| {label} | " + " | ".join(cells) + " |")
    rows.append("| samples | " + " | ".join(str(totals[w]) for w in workers) + " |")
    return "\n".join(rows)


def main() -> None:
    """Print the table for the workers' profiles of one run's directory."""
    parser = argparse.ArgumentParser(prog="python -m bench.profile_layers", description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="e.g. bench/results/profiles/20261205T142920Z")
    parser.add_argument("--workers", default="intake,routing,notifier", help="comma-separated profile names")
    args = parser.parse_args()
    names = split_list(args.workers) or []
    print(table({w: count((args.directory / f"{w}.txt").read_text(errors="replace")) for w in names}))


if __name__ == "__main__":
    main()
