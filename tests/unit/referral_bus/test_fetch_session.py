"""Incremental fetch sessions (referral_bus/fetch_session.py): the broker's view always equals aiokafka's full fetch."""

from __future__ import annotations

from typing import Any

import pytest
from aiokafka.conn import AIOKafkaConnection
from aiokafka.protocol.fetch import FetchRequest, FetchRequest_v11, FetchResponse_v11
from aiokafka.protocol.metadata import MetadataRequest
from hypothesis import given, settings
from hypothesis import strategies as st

from referral_bus import faust_patches, fetch_session
from referral_bus.fetch_session import MAX_EPOCH, FetchSession
from tests.support.interpreter import run_python

TOPICS = ("a", "b", "c")
fetches = st.dictionaries(  # one full fetch: (topic, partition) → (fetch offset, max bytes)
    st.tuples(st.sampled_from(TOPICS), st.integers(0, 3)), st.tuples(st.integers(0, 5), st.sampled_from([1024, 2048]))
)
answers = st.sampled_from(["ok", "ok", "ok", "error", "lost"])  # lost: the fetch was cancelled, no answer read


def full_request(wanted: dict[tuple[str, int], tuple[int, int]]) -> Any:
    """aiokafka's full FetchRequest_v11 (no session) for `wanted`, as its builder makes it."""
    by_topic: dict[str, list[tuple[int, int, int]]] = {}
    for (topic, partition), (offset, max_bytes) in wanted.items():
        by_topic.setdefault(topic, []).append((partition, offset, max_bytes))
    versions = {FetchRequest.API_KEY: (11, 11)}
    return FetchRequest(1500, 1, 52428800, 0, list(by_topic.items())).prepare(versions)


class Broker:
    """The broker's side of KIP-227, as far as this client relies on it."""

    def __init__(self) -> None:
        self.sessions: dict[int, tuple[int, dict[tuple[str, int], tuple[Any, ...]]]] = {}  # id → (next epoch, view)

    def take(self, request: Any) -> Any:
        """Apply a fetch; the answer's top-level fields (no partitions: not what is tested here)."""
        partitions = {(t, p[0]): tuple(p[1:]) for t, ps in request.topics for p in ps}
        if request.session_epoch == 0:
            new = len(self.sessions) + 1
            self.sessions[new] = (1, partitions)
            return FetchResponse_v11(0, 0, new, [])
        expected, view = self.sessions.get(request.session_id, (None, {}))
        if expected != request.session_epoch:
            return FetchResponse_v11(0, 71, 0, [])  # INVALID_FETCH_SESSION_EPOCH
        view = {**view, **partitions}
        for topic, forgotten in request.forgotten_topics_data:
            for partition in forgotten:
                view.pop((topic, partition), None)
        self.sessions[request.session_id] = (expected + 1, view)
        return FetchResponse_v11(0, 0, request.session_id, [])

    def view(self, session_id: int) -> dict[tuple[str, int], tuple[Any, ...]]:
        """The partitions and fields the broker fetches for session `session_id`."""
        return self.sessions[session_id][1]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(fetches, answers), min_size=1, max_size=12))
def test_the_broker_fetches_exactly_what_aiokafka_asks_for(steps: list[tuple[dict[Any, Any], str]]) -> None:
    broker, session = Broker(), FetchSession()
    for wanted, answer in steps:
        full = full_request(wanted)
        sent, epoch, fields = session.request(full)
        response = broker.take(sent)
        if answer == "error":
            response = FetchResponse_v11(0, 70, 0, [])  # FETCH_SESSION_ID_NOT_FOUND (e.g. evicted)
            broker.sessions.pop(sent.session_id, None)
        if answer != "lost":
            session.answered(epoch, fields, response)
        if response.error_code == 0 and (sent.session_id or response.session_id):
            expected = {(t, p[0]): tuple(p[1:]) for t, ps in full.topics for p in ps}
            assert broker.view(sent.session_id or response.session_id) == expected
        if session.session_id:
            assert session.held == broker.view(session.session_id)


def test_an_unchanged_fetch_names_no_partition_and_a_moved_one_only_itself() -> None:
    broker, session = Broker(), FetchSession()
    wanted = {("a", p): (10 + p, 1024) for p in range(4)} | {("b", p): (0, 1024) for p in range(4)}
    first, epoch, fields = session.request(full_request(wanted))
    assert first.session_epoch == 0 and sum(len(ps) for _, ps in first.topics) == 8
    session.answered(epoch, fields, broker.take(first))
    same, _, _ = session.request(full_request(wanted))
    assert same.session_epoch == 1 and same.topics == [] and same.forgotten_topics_data == []
    moved = wanted | {("a", 2): (13, 1024)}
    del moved[("b", 3)]
    nxt, _, _ = session.request(full_request(moved))
    assert nxt.session_epoch == 2
    assert nxt.topics == [("a", [(2, -1, 13, -1, 1024)])] and nxt.forgotten_topics_data == [("b", [3])]


def test_a_session_error_starts_again_with_a_full_fetch() -> None:
    session = FetchSession()
    wanted = {("a", 0): (5, 1024)}
    sent, epoch, fields = session.request(full_request(wanted))
    session.answered(epoch, fields, FetchResponse_v11(0, 0, 42, []))
    sent, epoch, fields = session.request(full_request(wanted))
    assert (sent.session_id, sent.session_epoch) == (42, 1)
    session.answered(epoch, fields, FetchResponse_v11(0, 71, 0, []))
    again, _, _ = session.request(full_request(wanted))
    assert (again.session_id, again.session_epoch, again.topics) == (0, 0, [("a", [(0, -1, 5, -1, 1024)])])


def test_the_epoch_after_the_largest_is_one() -> None:
    session = FetchSession()
    session.session_id, session.epoch = 7, MAX_EPOCH
    assert session.request(full_request({}))[1] == MAX_EPOCH
    assert session.epoch == 1


def test_a_broker_without_a_session_slot_gets_full_fetches() -> None:
    session = FetchSession()
    wanted = {("a", 0): (5, 1024)}
    _, epoch, fields = session.request(full_request(wanted))
    session.answered(epoch, fields, FetchResponse_v11(0, 0, 0, []))  # session id 0: none created
    sent, _, _ = session.request(full_request(wanted))
    assert (sent.session_id, sent.session_epoch, len(sent.topics)) == (0, 0, 1)


class Connection:
    """The part of AIOKafkaConnection the wrapper reads; `original` records what would go on the wire."""

    def __init__(self) -> None:
        self._versions = {FetchRequest.API_KEY: (4, 11), MetadataRequest.API_KEY: (0, 12)}
        self._writer = object()
        self.sent: list[Any] = []


async def test_only_fetches_go_through_the_session() -> None:
    async def answer() -> Any:
        return FetchResponse_v11(0, 0, 9, [])

    def original(conn: Connection, request: Any, expect_response: bool = True) -> Any:
        conn.sent.append(request.prepare(conn._versions))
        return answer()

    send = fetch_session._session_send(original)
    conn = Connection()
    await send(conn, FetchRequest(1500, 1, 1 << 20, 0, [("a", [(0, 3, 1024)])]))
    await send(conn, FetchRequest(1500, 1, 1 << 20, 0, [("a", [(0, 3, 1024)])]))
    assert [(r.session_id, r.session_epoch, len(r.topics)) for r in conn.sent] == [(0, 0, 1), (9, 1, 0)]
    metadata = MetadataRequest(["a"])
    await send(conn, metadata)
    assert not isinstance(conn.sent[-1], FetchRequest_v11)


def test_the_workers_patches_install_it_when_asked() -> None:
    faust_patches.install(fetch_sessions=True)
    assert getattr(AIOKafkaConnection.send, "__wrapped__", None) is not None


SWITCH_PROBE = """
import tempfile
from pathlib import Path
from aiokafka.conn import AIOKafkaConnection
from referral_bus.settings import ServiceSettings
from referral_bus.shell import Service
Service("switch-probe", ServiceSettings(data_dir=Path(tempfile.mkdtemp()), web_port=16998))
print(hasattr(AIOKafkaConnection.send, "__wrapped__"))
"""


@pytest.mark.parametrize(("value", "installed"), [(None, "False"), ("true", "True"), ("false", "False")])
def test_a_worker_uses_sessions_only_when_kafka_fetch_sessions_is_true(value: str | None, installed: str) -> None:
    env = {} if value is None else {"KAFKA_FETCH_SESSIONS": value}
    assert run_python(SWITCH_PROBE, **env).stdout.strip().splitlines()[-1] == installed
