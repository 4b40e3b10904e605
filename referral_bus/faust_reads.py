"""Two Faust settings read per record, read once per object instead (issue 17, bench/results/micro.md).

A Faust setting read (`app.conf.x`) runs `SettingsRegistry.__getattribute__` twice and the setting's
descriptor: ≈ 1.4 µs. Faust reads `producer_threaded` for every record a worker consumes (the stream's
`wait_until_ebb` measures the producer buffer) and for every changelog record we send (`kafka.started_producer`),
and `Event` for every record it decodes (`App.create_event`). Both are fixed once the app is configured
(Faust warns when a setting changes after it was read), so each object keeps the value it read first.
The buffer is measured and ebbs exactly as before; the event is the configured type.
"""

from __future__ import annotations

from typing import Any

from faust.app.base import App
from faust.transport.producer import ProducerBuffer

_ORIGINAL_SIZE: Any = ProducerBuffer.__dict__.get("size")
_ORIGINAL_CREATE_EVENT: Any = getattr(App, "create_event", None)


def _buffer_size(self: Any) -> int:
    """Records waiting in Faust's producer buffer: Faust's `size`, `producer_threaded` read once per buffer."""
    threaded = self.__dict__.get("_rb_threaded")
    if threaded is None:
        threaded = self._rb_threaded = bool(self.app.conf.producer_threaded)
    if threaded:
        return int(_ORIGINAL_SIZE.fget(self))
    return len(self.pending._queue)


def _create_event(self: Any, key: Any, value: Any, headers: Any, message: Any) -> Any:
    """Faust's `App.create_event` with the app's `Event` type read once per app."""
    event_type = self.__dict__.get("_rb_event_type")
    if event_type is None:
        event_type = self._rb_event_type = self.conf.Event
    return event_type(self, key, value, headers, message)


def install() -> bool:
    """Replace the two reads (idempotent); False, and Faust's own code kept, if either is not what it was."""
    if not isinstance(_ORIGINAL_SIZE, property) or not callable(_ORIGINAL_CREATE_EVENT):
        return False
    if ProducerBuffer.__dict__["size"].fget is _buffer_size:
        return True
    buffer: Any = ProducerBuffer
    app: Any = App
    buffer.size = property(_buffer_size, doc=_ORIGINAL_SIZE.__doc__)
    app.create_event = _create_event
    return True
