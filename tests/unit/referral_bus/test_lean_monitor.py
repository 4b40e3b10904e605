"""Faust's Monitor sensor keeps none of its per-event statistics in our workers, only what Faust itself reads."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from referral_bus.lean_monitor import LeanMonitor
from referral_bus.settings import ServiceSettings
from referral_bus.shell import Service

TP0 = TP("topic", 0)


class _Stream:
    def __init__(self) -> None:
        self.task_owner = self  # Faust keys its per-task counts by a weak reference to it


def _every_hook(monitor: Any) -> None:
    """Each hook Faust calls per message, event, send, table access, commit, fetched record or web request."""
    message = SimpleNamespace(time_in=None, time_out=None, time_total=None)
    stream = _Stream()
    table = SimpleNamespace(name="t")
    monitor.on_message_in(TP0, 1, message)
    state = monitor.on_stream_event_in(TP0, 1, stream, object())
    monitor.on_stream_event_out(TP0, 1, stream, object(), state)
    monitor.on_message_out(TP0, 1, message)
    monitor.on_topic_buffer_full(TP0)
    monitor.on_table_get(table, "k")
    monitor.on_table_set(table, "k", 1)
    monitor.on_table_del(table, "k")
    monitor.on_commit_completed(None, monitor.on_commit_initiated(None))
    monitor.on_send_completed(None, monitor.on_send_initiated(None, "topic", None, 1, 1), None)
    monitor.on_send_error(None, RuntimeError(), None)
    monitor.count("metric")
    monitor.on_tp_commit({TP0: 1})
    monitor.track_tp_end_offset(TP0, 9)
    request_state = monitor.on_web_request_start(None, None)
    monitor.on_web_request_end(None, None, SimpleNamespace(status=200), request_state)


def test_no_statistics_are_kept() -> None:
    monitor = LeanMonitor()
    _every_hook(monitor)
    assert (monitor.messages_received_total, monitor.events_total, monitor.messages_sent) == (0, 0, 0)
    assert not (monitor.messages_received_by_topic or monitor.events_by_stream or monitor.events_by_task)
    assert not (monitor.events_runtime or monitor.send_latency or monitor.commit_latency)
    assert not (monitor.tables or monitor.tp_committed_offsets or monitor.tp_end_offsets or monitor.metric_counts)
    assert not (monitor.http_response_latency or monitor.http_response_codes or monitor.topic_buffer_full)
    assert monitor._sample(3, 4) == (3, 4)


def test_keeps_the_last_event_time_faust_reads() -> None:
    """The consumer's "slow processing" check reads `stream_inbound_time` (faust/transport/drivers/aiokafka.py)."""
    monitor = LeanMonitor()
    monitor.on_stream_event_in(TP0, 1, _Stream(), object())
    assert TP0 in monitor.stream_inbound_time


def test_the_default_monitor_would_have_kept_them() -> None:
    """The hooks above are the ones that cost: Faust's own Monitor records something in each of them."""
    from faust.sensors.monitor import Monitor

    monitor = Monitor()
    _every_hook(monitor)
    assert monitor.messages_received_total and monitor.events_total and monitor.messages_sent
    assert monitor.send_latency and monitor.commit_latency and monitor.tables and monitor.tp_end_offsets


def test_workers_use_it_and_keep_their_own_sensors(tmp_path: Path) -> None:
    worker = Service("monitor-test", ServiceSettings(data_dir=tmp_path, web_port=16999))
    assert type(worker.app.monitor) is LeanMonitor
    worker.app.on_init_dependencies()
    assert worker.app.monitor in set(worker.app.sensors), "Faust still adds it (its consumer reads it)"
