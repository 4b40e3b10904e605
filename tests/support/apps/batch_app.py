"""A worker for the batch loop (tests/integration/test_batch_loop.py): poison events, a crash, table writes.

Every event is checked to be Faust's current event while it is handled (a table write takes its
changelog partition from it), writes its offset to a changelogged table under its value (so the test can
see which changelog partition each write took), its value as its case's last one (`probe-last`: one key
rewritten by every event of a case) after noting the value it replaces (`probe-previous`), and is forwarded.
`b"boom"` raises; `b"crash"` kills the process once (PROBE_CRASH_MARKER: the file that says it already did).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import faust
from pydantic_settings import BaseSettings, SettingsConfigDict

from referral_bus.message import SourceMessage
from referral_bus.settings import ServiceSettings
from referral_bus.shell import Service
from referral_bus.tables import Table


class ProbeSettings(BaseSettings):
    """`PROBE_CRASH_MARKER`: the file that says the probe already crashed once (empty: never crash)."""

    model_config = SettingsConfigDict(env_prefix="PROBE_", extra="ignore")

    crash_marker: str = ""


MARKER = ProbeSettings().crash_marker

service = Service("batch-probe", ServiceSettings())
app = service.app
source = service.topic("probe.batch.in.v1")
sink = service.topic("probe.batch.out.v1")
written = Table(app, name="probe-written", default=None, partitions=service.kafka.topic_partitions, key_type=str)
app.tables.add(written)
# per case: its last value (one key written by every event of the case), and each value's predecessor as seen then
last = Table(app, name="probe-last", default=None, partitions=service.kafka.topic_partitions, key_type=str)
app.tables.add(last)
previous = Table(app, name="probe-previous", default=None, partitions=service.kafka.topic_partitions, key_type=str)
app.tables.add(previous)


async def handle(msg: SourceMessage) -> None:
    """Check the current event, write the table, forward; fail on b'boom', die once on b'crash'."""
    event = faust.current_event()
    if event is None or (event.message.partition, event.message.offset) != (msg.partition, msg.offset):
        raise RuntimeError("handled outside its own event")
    if msg.value == b"boom":
        raise ZeroDivisionError("a bug in a handler")
    if msg.value == b"crash" and MARKER and not Path(MARKER).exists():
        Path(MARKER).write_text("crashed", encoding="utf-8")
        os.kill(os.getpid(), signal.SIGKILL)
    value = (msg.value or b"").decode()
    written[value] = msg.offset
    case = (msg.key or b"").decode()
    previous[value] = last.get(case) or ""  # after a restart: what the changelog restored
    last[case] = value
    await service.send(sink, msg.key, msg.value or b"")


@app.agent(source)
async def probe(stream: Any) -> None:
    """Same shell as the real services."""
    await service.run_guarded(stream, handle)
