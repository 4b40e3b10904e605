"""A slow worker with a table: proves a SIGTERM restart loses no event (tests/integration/test_shutdown_no_loss.py).

The table makes the restarted worker recover state from a changelog before it processes, which is
when Faust used to commit past the first record of a partition (see referral_bus/faust_patches.py);
PROBE_HANDLER_DELAY_S slows each event so the SIGTERM lands with events in flight and in the queues;
PROBE_SEEK_DELAY_S slows Faust's seek to committed offsets, as a loaded group coordinator does, which
widens the window in which that loss happened from milliseconds to certainty.
"""

from __future__ import annotations

import asyncio
from typing import Any

from faust.transport.consumer import Consumer
from pydantic_settings import BaseSettings, SettingsConfigDict

from referral_bus.message import SourceMessage
from referral_bus.settings import ServiceSettings
from referral_bus.shell import Service


class ProbeSettings(BaseSettings):
    """`PROBE_*` variables: how slow each event and the seek to committed offsets are, in seconds."""

    model_config = SettingsConfigDict(env_prefix="PROBE_", extra="ignore")

    handler_delay_s: float = 0.0
    seek_delay_s: float = 0.0


PROBE = ProbeSettings()
DELAY_S, SEEK_DELAY_S = PROBE.handler_delay_s, PROBE.seek_delay_s

if SEEK_DELAY_S:
    _perform_seek = Consumer.perform_seek

    async def _slow_seek(self: Any) -> None:
        await asyncio.sleep(SEEK_DELAY_S)
        await _perform_seek(self)

    Consumer.perform_seek = _slow_seek

service = Service("shutdown-probe", ServiceSettings())
app = service.app
source = service.topic("probe.shutdown.in.v1")
sink = service.topic("probe.shutdown.out.v1")
seen = app.Table("probe-seen", default=int, partitions=service.kafka.topic_partitions, key_type=str, value_type=int)


async def handle(msg: SourceMessage) -> None:
    """Count the key (a changelog to recover on restart), wait, then forward the value."""
    key = (msg.key or b"").decode()
    seen[key] += 1
    await asyncio.sleep(DELAY_S)
    await service.send(sink, msg.key, msg.value or b"")


@app.agent(source)
async def probe(stream):
    """Same shell as the real services."""
    await service.run_guarded(stream, handle)
