"""The Faust table every service declares (`Service.table`): explicit changelog writes, and expiry.

Faust takes a write's changelog partition from the current event (a context variable), so a write
from a callback, a timer or another event's context fails or lands in the wrong partition; and it
sends the changelog record without waiting, so an event could be acknowledged (and, after a kill,
never replayed) before its write is on the broker. Here every write (`put`, `delete`, Faust's own
`table[key] = value` and `del table[key]`) goes to the current event's partition and, inside
`Service.run_guarded`, joins the event's sends: the event is acknowledged only once the write is on
the broker. A staged write (staged.py), which runs after the event's sends in the event's own
context, returns its send instead, and the event's acknowledgement waits for it (inflight.py).

Inside an event the changelog records are coalesced: a key written several times by one event (the
notifier's referral state: on arrival, then after delivery) costs one record, sent when the handler
returns (`flush_changelog`) with the key's value in the table at that moment (a tombstone when it is
gone), so the last record of every key is its latest value whatever order concurrent events end in.
Nothing is promised before the event's acknowledgement, which still waits for every record.

A key can be HELD (`hold`): its record is then left out of the event's flush and sent after the event's
sends, by the staged write that held it (or `release` when they failed), so a "done" mark kept in an
entry's value (the notifier's delivered-once mark in the referral's state) costs no record of its own.

Every changelog record, ours and any Faust or a service sends itself (`send_changelog`), is serialised as Faust
does (a plain JSON key or value by one encoder built once, the same bytes: changelog_json.py) and handed straight
to the worker's started aiokafka producer, in write order (changelog_sends.py), not through Faust's producer
buffer and its background task (~8 % of intake's CPU); Faust's path before that producer started.

Reads (`get`) go straight to the store: Faust's own `get` passes each read through its statistics
sensors and, for a missing key, raises and catches a KeyError (4 µs a miss, 1.3 µs a hit, against
1.5 and 0.5 through the store); the value is the same, only Faust's `keys_retrieved` statistic is not counted
(nothing reads it: Faust's statistics pages are not served, kafka.drop_builtin_pages). Faust's memory store is a
proxy of a dict whose `get` still raises and catches that KeyError (`Mapping.get` over its `__getitem__`), so a
read of a stock memory store is that dict's own `get` (`_plain_store`): the same answer, no exception.

A table may feed memory-only state DERIVED from its entries (`derived`, e.g. intake's daily claim counts,
kept in the correlation entries themselves instead of a table of their own): `restored(key, value,
partition)` for every record recovered from the changelog, `keep_only(partitions)` once recovery is over.
The writer keeps it current on its own writes.

A table may keep list or object fields of its values PACKED (`packed`, packed.py): held as JSON text in memory, so a
row holds no container the garbage collector walks; that text is set in place in the changelog record's JSON (the
same bytes as the lists or objects give: changelog_json.py) and taken back as text on recovery. Values written
through `put`, `put_in` or `table[key] = value` are packed; a value set in `data` directly is kept as it is.

Expiry (expiry.py) needs each key's changelog partition and last write time: the table notes them
on every write (ours and Faust's own `table[key] = value`) and on recovery from the changelog (the
record's partition and timestamp). `sweep(partition)` removes the expired entries of one partition
with TOMBSTONES to that partition, so a restart does not bring them back. The partition is explicit
there, and the service calls it only while handling an event of that same partition (shell.py), i.e.
on the worker that owns the partition, in line with the writes of its own events.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping
from typing import Any, Protocol

import faust
from faust.stores import memory
from faust.stores.base import Store
from mode.utils.collections import FastUserDict

from referral_bus import changelog_sends, kafka
from referral_bus.changelog_json import ChangelogJson
from referral_bus.changelog_sends import OrderedSends
from referral_bus.clock import now_ms
from referral_bus.expiry import Expiry, Written
from referral_bus.inflight import Pending, current
from referral_bus.packed import pack, unpack

GONE: Any = object()  # a deleted key: its changelog record is a tombstone


class Derived(Protocol):
    """Memory-only state derived from a table's entries, rebuilt from its changelog on recovery."""

    def restored(self, key: Hashable, value: Any, partition: int) -> None:
        """A live entry recovered from changelog `partition`."""

    def keep_only(self, partitions: set[int]) -> None:
        """Recovery is over: forget what came from partitions this worker no longer holds."""


class Table(faust.Table[str, Any]):
    """A changelogged Faust table that knows where and when each key was written, and can expire entries."""

    def __init__(
        self,
        *args: Any,
        expiry: Expiry | None = None,
        derived: Derived | None = None,
        packed: frozenset[str] = frozenset(),
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.expiry = expiry
        self.derived = derived
        self.packed = packed  # fields of its values held as JSON text in memory (packed.py)
        self.written = Written()
        self._sends: OrderedSends | None = None  # the worker's ordered hand-off, once its producer started
        self._json: ChangelogJson | None = None  # the changelog's keys and values as Faust writes them
        self._plain: Any = None  # the store whose dict `get` reads (`_plain_store`), once seen

    # --- reads ----------------------------------------------------------------------------------

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value of `key` in the store, else `default` (as Faust's `get`, without its sensor: see the module)."""
        store = self._data
        if store is not None and store is self._plain:
            return store.data.get(key, default)
        store = self.data
        if _plain_store(store):
            self._plain = store
            return store.data.get(key, default)
        return store.get(key, default)

    # --- writes ---------------------------------------------------------------------------------

    def put(self, key: Hashable, value: Any) -> Any:
        """Write `value` in the current event's changelog partition: the send outside an event, else None."""
        if self.packed:
            value = pack(value, self.packed)
        sent = self._changelog(key, value)
        self.data[key] = value
        return sent

    def put_in(self, partition: int, key: Hashable, value: Any) -> Any:
        """Write `value` in changelog `partition`, named by the caller (a key this worker owns on another partition).

        For a key whose partition is not the current event's (intake's local correlation): the caller must
        hold `partition` (its active assignment) for the whole event. Recorded like `put` (`_record`).
        """
        if self.packed:
            value = pack(value, self.packed)
        self.data[key] = value
        self.written.note(key, partition, now_ms())
        return self._record(partition, key, value)

    def delete(self, key: Hashable) -> Any:
        """Delete `key` with a tombstone in the current event's changelog partition; returned or recorded like `put`."""
        partition = self._event_partition(key)
        self.data.pop(key, None)
        self.written.forget(key)
        return self._record(partition, key, GONE)

    def __setitem__(self, key: str, value: Any) -> None:
        """Faust's `table[key] = value`, the value packed first (Faust then calls `on_key_set` and sets it)."""
        super().__setitem__(key, pack(value, self.packed) if self.packed else value)

    def on_key_set(self, key: str, value: Any) -> None:
        """Faust's `table[key] = value` (Faust then sets the value in the store)."""
        self._changelog(key, value)

    def _changelog(self, key: Hashable, value: Any) -> Any:
        partition = self._event_partition(key)
        self.written.note(key, partition, now_ms())
        return self._record(partition, key, value)

    def _record(self, partition: int, key: Hashable, value: Any) -> Any:
        """The changelog record of a write: at once outside an event (returns the send), else at its end (None)."""
        pending = current.get()
        if pending is None:
            return self._send(partition, key, value)
        if pending.flushed:  # after the handler returned (a task it started): at once, joining its sends
            sent = self._send(partition, key, value)
            pending.sends.append(sent)
            return sent
        pending.changelog[(id(self), partition, key)] = self
        return None

    def _send(self, partition: int, key: Hashable, value: Any) -> Any:
        if value is GONE:  # a tombstone
            return self.send_changelog(partition, key, None, value_serializer="raw")
        return self.send_changelog(partition, key, value)

    def send_changelog(
        self,
        partition: int | None,
        key: Any,
        value: Any,
        key_serializer: Any = None,
        value_serializer: Any = None,
    ) -> Any:
        """Faust's changelog send, serialised as Faust does (changelog_json.py), straight to the started producer.

        Returns the future of the broker's acknowledgement (changelog_sends.py: in write order). Faust's own path
        (its producer buffer) before the producer started, without an explicit partition, and for a store that
        keeps persisted offsets (Faust's `_on_changelog_sent` records them; our memory store keeps none).
        """
        if partition is None or (sends := self._ordered_sends()) is None:
            if self.packed and value is not None:
                value = unpack(value, self.packed)  # the changelog holds lists and objects, never their text
            return super().send_changelog(partition, key, value, key_serializer, value_serializer)
        serialise = self._json
        if serialise is None or serialise.topic is not self.changelog_topic:
            serialise = self._json = ChangelogJson(self.changelog_topic)
        key_bytes = serialise.key(key, self.key_serializer if key_serializer is None else key_serializer)
        value_serializer = self.value_serializer if value_serializer is None else value_serializer
        value_bytes = serialise.value(value, value_serializer, self.packed)  # packed text set in place, not decoded
        return sends.send(serialise.topic.get_topic_name(), key_bytes, value_bytes, partition)

    def _ordered_sends(self) -> OrderedSends | None:
        sends = self._sends
        if sends is None or sends.client is not kafka.producer_client(self.app):
            keeps_offsets = type(self.data).set_persisted_offset is not Store.set_persisted_offset
            sends = self._sends = None if keeps_offsets else changelog_sends.for_app(self.app)
        return sends

    def _event_partition(self, key: Hashable) -> int:
        """The current event's partition (Faust raises outside an event: never a guessed partition)."""
        partition = self.partition_for_key(key)
        if partition is None:  # only with use_partitioner, which our tables never set
            raise TypeError("table declared with use_partitioner: no event partition for its writes")
        return partition

    def on_key_del(self, key: str) -> None:
        """Faust's `del table[key]` (Faust then deletes it from the store)."""
        partition = self._event_partition(key)
        self.written.forget(key)
        self._record(partition, key, GONE)

    # --- recovery -------------------------------------------------------------------------------

    def apply_changelog_batch(self, batch: Iterable[Any]) -> None:
        """Restore from the changelog, noting each key's partition and the time its record was written."""
        events = list(batch)
        super().apply_changelog_batch(events)
        for event in events:
            key = self._to_key(event.key)
            if event.message.value is None:
                self.written.forget(key)
            else:
                stamp = event.message.timestamp
                self.written.note(key, event.message.partition, int(stamp * 1000) if stamp else now_ms())
                if self.derived is not None:
                    self.derived.restored(key, self._to_value(event.value), event.message.partition)

    def _to_value(self, v: Any) -> Any:
        """A recovered changelog value, its packed fields as JSON text (what Faust's store and `derived` get)."""
        return pack(v, self.packed) if self.packed else v

    async def on_recovery_completed(self, active_tps: set[Any], standby_tps: set[Any]) -> None:
        """Keep noting only the partitions this worker now holds (the store drops the others' keys)."""
        await super().on_recovery_completed(active_tps, standby_tps)
        self.written.keep_only({tp.partition for tp in active_tps})
        if self.derived is not None:
            self.derived.keep_only({tp.partition for tp in active_tps})

    # --- expiry ---------------------------------------------------------------------------------

    def sweep(self, partition: int, at_ms: int | None = None) -> list[Any]:
        """Tombstone every expired entry of `partition`; returns the sends (none without an expiry rule)."""
        if self.expiry is None:
            return []
        now = now_ms() if at_ms is None else at_ms
        expired = self.written.expired(partition, self.expiry, now, self.get)
        return [self._tombstone(key, partition) for key in expired]

    def _tombstone(self, key: Hashable, partition: int) -> Any:
        sent = self.send_changelog(partition, key, None, value_serializer="raw")
        self.data.pop(key, None)
        self.written.forget(key)
        return sent


def _plain_store(store: Any) -> bool:
    """`store` is Faust's memory store as shipped: its `get` answers as its dict's own `get` does."""
    kind = type(store)
    return (
        isinstance(store, memory.Store)
        and kind.get is Mapping.get
        and kind.__getitem__ is FastUserDict.__getitem__
        and not hasattr(store, "__missing__")
        and type(store.data) is dict
    )


def flush_changelog(pending: Pending) -> None:
    """One changelog record per key the event wrote, with the key's value now; the event's ack waits for them.

    A held key (`hold`) is left out: its record goes after the event's sends, with the staged write that held it.
    """
    written, pending.changelog, pending.flushed = pending.changelog, {}, True
    for noted, table in written.items():
        if noted not in pending.held:
            _, partition, key = noted
            pending.sends.append(table._send(partition, key, table.get(key, GONE)))


def hold(table: Any, key: Hashable) -> None:
    """Inside an event: this event's record of `key` is not sent with its sends, but after them (`release`).

    For a "done" mark kept in another entry's value (the notifier's delivered-once mark in the referral's
    state): the entry's record then carries both, once the outputs the mark stands for are on the broker.
    The caller must end every hold with a write of the key or `release` after the sends (both when they
    fail). A plain mapping, or outside an event: nothing to hold.
    """
    pending = current.get()
    if pending is not None and isinstance(table, Table):
        pending.held.add((id(table), table._event_partition(key), key))


def release(table: Any, key: Hashable) -> Any:
    """The held record of `key`, with its value now (after the event's sends); the event's ack waits for it."""
    pending = current.get()
    if pending is None or not isinstance(table, Table):
        return None
    partition = table._event_partition(key)
    if (id(table), partition, key) not in pending.held:
        return None
    return table._record(partition, key, table.get(key, GONE))


def write(table: Any, key: Hashable, value: Any, partition: int | None = None) -> Any:
    """`table.put(key, value)` for our tables (its changelog send); a plain mapping is just assigned (None).

    With `partition`, the write goes to that changelog partition (`Table.put_in`) instead of the current
    event's; a mapping with a `put_in` of its own (a test's) is given the partition too.
    """
    if partition is not None and hasattr(table, "put_in"):
        return table.put_in(partition, key, value)
    if isinstance(table, Table):
        return table.put(key, value)
    table[key] = value
    return None


def delete(table: Any, key: Hashable) -> Any:
    """`table.delete(key)` for our tables (its tombstone's send); a mapping's key is deleted (None)."""
    if isinstance(table, Table):
        return table.delete(key)
    del table[key]
    return None
