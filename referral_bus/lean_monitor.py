"""Faust's Monitor sensor without its per-event statistics: nothing of ours reads them (Faust's stats pages are off).

Faust calls its Monitor on every message in and out, stream event, send, table access and commit, and
keeps counters, deques of latencies and a per-second median sampler that only its web stats pages, its
metrics/statsd/Prometheus sensors and `Monitor.asdict` read. `LeanMonitor` (the `Monitor` setting,
shell.Service) keeps only what Faust itself reads: each partition's last stream event time
(`stream_inbound_time`, for the consumer's "slow processing" diagnostics). Rebalance and assignment
hooks (rare) keep Faust's behaviour. Each event's process span is opened by the shell itself
(`span_keys.ProcessSpanSensor`, called from `shell.Service`, not registered with Faust).
"""

from __future__ import annotations

from time import monotonic
from typing import Any

from faust.sensors.monitor import Monitor


class LeanMonitor(Monitor):
    """Faust's Monitor, its per-event, per-send, per-table and per-commit bookkeeping left out."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        """Nothing: message counts and times are not read."""

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        """Only the partition's last event time (Faust's consumer reads it to tell an idle stream)."""
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        """Nothing: event run times are not read."""

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        """Nothing."""

    def on_topic_buffer_full(self, tp: Any) -> None:
        """Nothing."""

    def on_table_get(self, table: Any, key: Any) -> None:
        """Nothing: table access counts are not read."""

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        """Nothing."""

    def on_table_del(self, table: Any, key: Any) -> None:
        """Nothing."""

    def on_commit_initiated(self, consumer: Any) -> Any:
        """Nothing: commit latencies are not read."""
        return None

    def on_commit_completed(self, consumer: Any, state: Any) -> None:
        """Nothing."""

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int, valsize: int) -> Any:
        """Nothing: send counts and latencies are not read."""
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        """Nothing."""

    def on_send_error(self, producer: Any, exc: BaseException, state: Any) -> None:
        """Nothing."""

    def count(self, metric_name: str, count: int = 1) -> None:
        """Nothing."""

    def on_tp_commit(self, tp_offsets: Any) -> None:
        """Nothing: the consumer keeps its committed offsets itself (kafka.committed_offset)."""

    def track_tp_end_offset(self, tp: Any, offset: int) -> None:
        """Nothing: called for every record fetched; lag is read from the consumer (shell._consumer_lag)."""

    def on_web_request_start(self, app: Any, request: Any, *, view: Any = None) -> dict[str, Any]:
        """Nothing: response times and codes are not read (the state is Faust's, passed back at the end)."""
        return {}

    def on_web_request_end(
        self, app: Any, request: Any, response: Any, state: dict[str, Any], *, view: Any = None
    ) -> None:
        """Nothing."""

    def _sample(self, prev_event_total: int, prev_message_total: int) -> tuple[int, int]:
        """Nothing: the per-second rates and medians are of statistics not kept."""
        return prev_event_total, prev_message_total
