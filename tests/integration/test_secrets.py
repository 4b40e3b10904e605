"""Secret values never show up where people look: worker logs, dead letters, webhook bodies.

The pipeline runs with known webhook secrets and ack tokens (mounted-Secret files) while one
recipient rejects every request (HTTP 401), so the error paths (failed deliveries, dead letters)
run too. Then every log line, every dead-letter record and every delivered body is searched for
each secret value, and the logs for the reports' personal data.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator

import pytest

from referral_bus import topics
from referral_bus.codec import Codec
from referral_devstack.reading import read_topic
from referral_devstack.workers import temp_workdir
from tests.support.harness import Stack, drain, find_secrets, generate, produce_stream, worker_logs
from tests.support.polling import fetch_until

pytestmark = [pytest.mark.kafka, pytest.mark.e2e]


@pytest.fixture
def stack(kafka: str, namespace: str) -> Iterator[Stack]:
    """A stack on the shared broker in this test's namespace; always torn down."""
    with temp_workdir("secrets-") as work:
        s = Stack(work=work, namespace=namespace, bootstrap=kafka)
        try:
            yield s
        finally:
            s.close_sync()


async def test_no_secret_in_logs_dead_letters_or_bodies(stack: Stack) -> None:
    await stack.start()
    assert stack.directory is not None
    stream = generate(60, stack.directory, seed=21, duplicate_ratio=0.0, invalid_ratio=0.1)
    refusing = collections.Counter(r for _, r in stream.expected).most_common(1)[0][0]
    stack.receiver.set_behaviour(refusing, lambda n: 401)
    await produce_stream(stack.bootstrap, stream.records, duration=2)
    others = {p for p in stream.expected if p[1] != refusing}
    assert await drain(stack, stream, 240, expected=others)
    n_refused = sum(1 for p in stream.expected if p[1] == refusing)
    codec = Codec()
    dl_topic = topics.name(topics.DEADLETTER)

    def refused_letters(rs: list) -> int:
        return sum(1 for r in rs if codec.decode(r.value, "DeadLetter")["stage"] == "notifier")

    raw = await fetch_until(
        lambda: read_topic(dl_topic, until=lambda rs: refused_letters(rs) >= n_refused, timeout=20),
        lambda rs: refused_letters(rs) >= n_refused,
        120,
        interval=0,
    )
    assert refused_letters(raw) >= n_refused, "the refused deliveries did not reach the dead-letter topic"

    secrets = {f"webhook-{k}": v for k, v in stack.secrets.items()}
    secrets |= {p.name: p.read_text().strip() for p in (stack.work / "secrets").glob("ack-token-*")}
    letters = {f"dead letter {i}": r.value for i, r in enumerate(raw)}
    letters |= {
        f"dead letter {i} (decoded)": repr(codec.decode(r.value, "DeadLetter")).encode() for i, r in enumerate(raw)
    }
    bodies = {f"delivery {d.idempotency_key}": d.body + repr(d.headers).encode() for d in stack.receiver.deliveries()}
    logs = worker_logs(stack)
    leaks = find_secrets(secrets, {**logs, **letters, **bodies})
    assert not leaks, leaks

    # personal data of the generated reports never appears in a log line
    pii = [b"SAMPLE victim ", b"fault-suite narrative", b"+84 900 "]
    in_logs = [f"{needle!r} in {name}" for name, blob in logs.items() for needle in pii if needle in blob]
    assert not in_logs, in_logs
