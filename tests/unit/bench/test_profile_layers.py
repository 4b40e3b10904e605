"""Each worker's py-spy samples by layer (bench/profile_layers.py): the tables of docs/performance.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import profile_layers
from bench.profile_layers import CODEC, count, table

LOOP = "BaseEventLoop._run_once (asyncio/base_events.py:1922);Handle._run (asyncio/events.py:80)"
SITE = "/srv/checkout/.venv/lib/python3.11/site-packages"
FAUST_ONLY = f"{LOOP};f (mode/services.py:1) 1"
SAMPLE = "\n".join(
    [
        # innermost frame of a layer wins: our handler called by Faust's agent, encoding in our codec
        f"{LOOP};Agent._execute_actor (faust/agents/agent.py:698);handle (services/intake/handlers.py:40);"
        "Codec.encode (referral_bus/codec.py:90) 5",
        # a standard library frame counts to its caller: json under our code, struct under aiokafka
        f"{LOOP};handle (services/routing/handlers.py:12);dumps (json/__init__.py:231) 2",
        f"{LOOP};Fetcher.fetch ({SITE}/aiokafka/consumer/fetcher.py:562);pack (struct.py:1) 3",
        # the loop's own machinery, with nothing of a library below it
        f"{LOOP};BaseEventLoop.call_soon (asyncio/base_events.py:761) 4",
        f"{LOOP};Service.log (structlog/_native.py:12);Logger.info (logging/__init__.py:1477) 1",
        f"{LOOP};Span.end ({SITE}/opentelemetry/sdk/trace/__init__.py:900) 1",
        # our codec on the stack, but a layer's frame inside it: not the codec's
        f"{LOOP};handle (services/notifier/handlers.py:9);Codec.decode (referral_bus/codec.py:120);"
        "Logger.warning (logging/__init__.py:1501) 1",
        # nothing of any layer: a thread's bootstrap, and a sample py-spy wrote without frames
        "Thread._bootstrap (threading.py:1002);Thread.run (threading.py:975) 1",
        " 1",
        "",
    ]
)


def test_a_sample_counts_to_its_innermost_layer() -> None:
    """Stdlib frames count to their caller, the loop only for its own work, our codec also on a row of its own."""
    assert count(SAMPLE) == {
        "our code": 7,
        CODEC: 5,
        "aiokafka": 3,
        "asyncio/loop": 4,
        "structlog/logging": 2,
        "OpenTelemetry": 1,
        "other": 2,
    }


def test_the_table_gives_each_worker_its_shares_in_percent() -> None:
    """A column per worker, a row per layer in a fixed order, shares of that worker's samples (codec not twice)."""
    rows = table({"intake": count(SAMPLE), "routing": count(FAUST_ONLY)}).splitlines()
    assert rows[0] == "| layer | intake | routing |"
    assert [r.split(" | ")[0].lstrip("| ") for r in rows[2:]] == [
        *[name for name, _ in profile_layers.LAYERS],
        f"of which `{CODEC}`",
        "other",
        "samples",
    ]
    by_row = {r.split(" | ")[0].lstrip("| "): r for r in rows}
    assert by_row["our code"] == "| our code | 36.8 | 0.0 |"
    assert by_row["Faust"] == "| Faust | 0.0 | 100.0 |"
    assert by_row["samples"] == "| samples | 19 | 1 |"


def test_the_command_reads_one_file_per_worker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m bench.profile_layers DIR --workers a,b` prints the table of DIR/a.txt and DIR/b.txt."""
    (tmp_path / "a.txt").write_text(SAMPLE)
    (tmp_path / "b.txt").write_text(FAUST_ONLY + "\n")
    monkeypatch.setattr("sys.argv", ["profile_layers", str(tmp_path), "--workers", "a,b"])
    profile_layers.main()
    assert capsys.readouterr().out.strip() == table({"a": count(SAMPLE), "b": count(FAUST_ONLY)})
