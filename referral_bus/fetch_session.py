"""Incremental fetch sessions (Kafka KIP-227) under aiokafka's fetcher: a fetch names only what changed.

aiokafka asks for every assigned partition in every fetch and the broker answers for each (49 for intake and
the notifier), records or not: ~0.45 ms of a worker's CPU per fetch, and one fetch per report at 40/s
(bench/results/idle.md). Per connection, this keeps the broker's view of the fetch (partition → offset, max
bytes): a fetch then sends only the partitions whose offset changed or that are new, and forgets the ones
aiokafka no longer asks for (paused, records not yet consumed, unassigned). The broker answers only for
partitions with records, a changed high watermark or an error. aiokafka's fetcher still decides what to fetch
and reads the answer against its own full request; any session error starts a new session with a full fetch.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from aiokafka.conn import AIOKafkaConnection
from aiokafka.protocol.fetch import FetchRequest, FetchRequest_v11

INITIAL_EPOCH, NO_SESSION = 0, 0
MAX_EPOCH = 2**31 - 1  # the epoch after it is 1 (0 would ask for a new session)

Key = tuple[str, int]  # topic, partition
Params = tuple[Any, ...]  # the request's partition fields after the partition id


class FetchSession:
    """One connection's incremental fetch session: what the broker holds, the next epoch."""

    def __init__(self) -> None:
        self.session_id = NO_SESSION
        self.epoch = INITIAL_EPOCH
        self.held: dict[Key, Params] = {}  # the broker's view: the partitions of the session and their fields

    def reset(self) -> None:
        """Forget the session: the next fetch is a full one that asks for a new session."""
        self.session_id, self.epoch, self.held = NO_SESSION, INITIAL_EPOCH, {}

    def request(self, full: Any) -> tuple[Any, int, dict[Key, Params]]:
        """The fetch to send for aiokafka's full FetchRequest_v11 `full`: (request, its epoch, partitions it sets).

        Without a session: `full` itself, asking for one (epoch 0). With one: the partitions new or changed
        since the last fetch, and the ones no longer asked for as forgotten.
        """
        wanted: dict[Key, Params] = {
            (topic, fields[0]): tuple(fields[1:]) for topic, partitions in full.topics for fields in partitions
        }
        if self.session_id == NO_SESSION:
            return _with(full, NO_SESSION, INITIAL_EPOCH, full.topics, []), INITIAL_EPOCH, wanted
        held = self.held
        changed: dict[str, list[tuple[Any, ...]]] = {}
        for (topic, partition), params in wanted.items():
            if held.get((topic, partition)) != params:
                changed.setdefault(topic, []).append((partition, *params))
        forgotten: dict[str, list[int]] = {}
        for topic, partition in held.keys() - wanted.keys():
            forgotten.setdefault(topic, []).append(partition)
        epoch = self.epoch
        self.epoch = 1 if epoch >= MAX_EPOCH else epoch + 1
        self.held = wanted  # the broker's view once it takes this fetch (a lost answer: the next epoch fails)
        return _with(full, self.session_id, epoch, list(changed.items()), list(forgotten.items())), epoch, wanted

    def answered(self, epoch: int, wanted: dict[Key, Params], response: Any) -> None:
        """Take the broker's answer to the fetch of `epoch`: a new session's id, or a session error (reset)."""
        if response.error_code:
            self.reset()  # FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH, ...: start again in full
        elif epoch == INITIAL_EPOCH and self.session_id == NO_SESSION and response.session_id != NO_SESSION:
            self.session_id, self.epoch, self.held = response.session_id, 1, wanted


def _with(full: Any, session_id: int, epoch: int, topics: list[Any], forgotten: list[Any]) -> Any:
    """A FetchRequest_v11 like `full` with these session fields, partitions and forgotten partitions."""
    return FetchRequest_v11(
        full.replica_id,
        full.max_wait_time,
        full.min_bytes,
        full.max_bytes,
        full.isolation_level,
        session_id,
        epoch,
        topics,
        forgotten,
        full.rack_id,
    )


class _Prepared:
    """A request whose wire struct is already built (AIOKafkaConnection.send calls `prepare`)."""

    def __init__(self, built: Any) -> None:
        self.built = built

    def prepare(self, versions: Any) -> Any:
        """The built struct, whatever the versions."""
        return self.built


async def _answer(sent: Awaitable[Any], session: FetchSession, epoch: int, wanted: dict[Key, Params]) -> Any:
    """The broker's answer, after the session took it."""
    response = await sent
    session.answered(epoch, wanted, response)
    return response


def _session_send(original: Callable[..., Any]) -> Callable[..., Any]:
    """AIOKafkaConnection.send with each fetch made incremental within the connection's session."""

    @functools.wraps(original)
    def send(self: Any, request: Any, expect_response: bool = True) -> Any:
        if type(request) is not FetchRequest or not expect_response or self._writer is None:
            return original(self, request, expect_response)
        full = request.prepare(self._versions)
        if type(full) is not FetchRequest_v11 or full.forgotten_topics_data:
            return original(self, request, expect_response)
        session: FetchSession | None = self.__dict__.get("_rb_fetch_session")
        if session is None:
            session = self._rb_fetch_session = FetchSession()
        built, epoch, wanted = session.request(full)
        return _answer(original(self, _Prepared(built), expect_response), session, epoch, wanted)

    return send


_installed = False


def install() -> bool:
    """Make aiokafka's fetches incremental (idempotent); False when its connection or Fetch v11 changed."""
    global _installed
    if _installed:
        return True
    names = getattr(FetchRequest_v11.SCHEMA, "names", ())
    if "session_id" not in names or "forgotten_topics_data" not in names or not hasattr(AIOKafkaConnection, "send"):
        return False
    connection: Any = AIOKafkaConnection
    connection.send = _session_send(connection.send)
    _installed = True
    return True
