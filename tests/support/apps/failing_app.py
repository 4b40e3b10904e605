"""A worker whose handler fails on purpose: proves run_guarded dead-letters instead of losing events."""

from __future__ import annotations

from referral_bus.message import SourceMessage
from referral_bus.settings import ServiceSettings
from referral_bus.shell import Service

service = Service("probe", ServiceSettings())
app = service.app
source = service.topic("probe.in.v1")
sink = service.topic("probe.out.v1")
small = service.topic("probe.small.v1")  # the test creates it first with a 1 KiB max.message.bytes


async def handle(msg: SourceMessage) -> None:
    """Forward every message, but raise a plain bug-like error for b'boom' and send too much for b'big'."""
    if msg.value == b"boom":
        raise ZeroDivisionError("a bug in a handler")
    if msg.value == b"big":  # the broker refuses this output after the handler has returned
        await service.send(small, msg.key, b"x" * 4096)
        return
    await service.send(sink, msg.key, msg.value or b"")


@app.agent(source)
async def probe(stream):
    """Same shell as the real services."""
    await service.run_guarded(stream, handle)
