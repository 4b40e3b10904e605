"""Tables for unit tests without a broker: a kernel `Table` whose changelog sends are recorded; a plain stand-in."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import faust
from hypothesis import strategies as st

from referral_bus.tables import Table

TOMBSTONE = "tombstone"  # what `Recording.sent` shows for a deleted key's record


class Recording(Table):
    """Our table with Faust's changelog send recorded instead of produced (no broker in a unit test)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[tuple[int | None, Any, Any]] = []

    def send_changelog(
        self, partition: int | None, key: Any, value: Any, key_serializer: Any = None, value_serializer: Any = None
    ) -> Any:
        self.sent.append((partition, key, TOMBSTONE if value_serializer == "raw" and value is None else value))
        return ("send", partition, key)


def recording_table(app_id: str, *, event_partition: int | None = None, **kwargs: Any) -> Recording:
    """A fresh recording table `t` (str keys) in an app of its own; `kwargs` as `Table` takes them (`packed`).

    `event_partition`: the current event's partition its writes take, without a Faust event.
    """
    t = Recording(faust.App(app_id, store="memory://"), name="t", default=None, key_type=str, **kwargs)
    if event_partition is not None:
        t.partition_for_key = lambda key: event_partition  # type: ignore[method-assign]  # no Faust event here
    return t


class ChangelogTable:
    """A table whose `table[key] = value` is a changelog write (recorded) into its store `data`, as in Faust."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.writes: list[tuple[str, Any]] = []

    def get(self, key: str) -> Any:
        return self.data.get(key)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes.append((key, value))
        self.data[key] = value


class Client:
    """The started aiokafka producer: records what it is handed, acknowledges at once."""

    def __init__(self) -> None:
        self.got: list[tuple[str, bytes | None, bytes | None, int]] = []

    async def send(self, topic: str, value: bytes | None, *, key: bytes | None, partition: int) -> asyncio.Future[Any]:
        self.got.append((topic, key, value, partition))
        ack = asyncio.get_running_loop().create_future()
        ack.set_result(len(self.got))
        return ack


def direct_table(app_id: str, client: Client | None, **kwargs: Any) -> Table:
    """A kernel `Table` "t" whose changelog records go straight to `client` (None: the producer not started yet)."""
    app = faust.App(app_id, store="memory://", value_serializer="json")  # as shell.Service declares it
    app.producer._producer = client  # type: ignore[attr-defined]  # Faust's started AIOKafkaProducer (None: not started yet)
    return Table(app, name="t", default=None, key_type=str, **kwargs)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


def record(key: str, value: Any, partition: int) -> Any:
    """A changelog event as Faust hands it to `apply_changelog_batch` (a tombstone when `value` is None)."""
    message = SimpleNamespace(value=None if value is None else b"raw", partition=partition, timestamp=1_700_000_000.0)
    return SimpleNamespace(key=key, value=value, message=message)
