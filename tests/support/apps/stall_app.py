"""A worker whose handler hangs for good on the value b'hang': the stall watchdog must end it (exit 70)."""

from __future__ import annotations

import asyncio

from referral_bus.message import SourceMessage
from referral_bus.settings import ServiceSettings
from referral_bus.shell import Service

service = Service("stallprobe", ServiceSettings())
app = service.app
source = service.topic("stallprobe.in.v1")
sink = service.topic("stallprobe.out.v1")


async def handle(msg: SourceMessage) -> None:
    """Forward every message; never return for b'hang' (a send that never resolves looks like this)."""
    if msg.value == b"hang":
        await asyncio.Event().wait()
    await service.send(sink, msg.key, msg.value or b"")


@app.agent(source)
async def probe(stream):
    """Same shell as the real services."""
    await service.run_guarded(stream, handle)
