"""`referral-bus deadletter list|replay` against a real intake worker: a rejected report is fixed and replayed."""

from __future__ import annotations

import asyncio

import pytest

from referral_bus import topics
from referral_bus.codec import Codec
from referral_cli.main import main as cli
from referral_devstack.workers import Workers, temp_workdir
from tests.support.intake import Message, produce, read_all, tally, wait_drained
from tests.support.reports import key_of, valid_report

pytestmark = [pytest.mark.kafka]


def test_list_then_replay_after_a_fix(kafka: str, namespace: str, capsys: pytest.CaptureFixture[str]) -> None:
    report = valid_report(narrative="n" * 2500)  # over the 2048 limit; its dead letter fits 2x (the producer)
    big = Message(
        key_of(report),
        Codec().encode("CaseReport", report),
        "oversized",
        report["report_id"],
        headers=[
            ("traceparent", b"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
            ("agency-batch", b"batch-7"),
        ],
    )
    junk = Message(b"junk-key", b"not avro at all", "undecodable")
    with temp_workdir("deadletter-") as work:
        workers = Workers(work, namespace, {"KAFKA_BOOTSTRAP_SERVERS": kafka, "KAFKA_MAX_MESSAGE_BYTES": "2048"})
        try:
            workers.start("intake")
            workers.wait_ready(names=["intake"], timeout=120)
            positions = asyncio.run(produce(namespace, kafka, [big, junk]))
            asyncio.run(wait_drained(namespace, kafka))

            assert cli(["deadletter", "list"]) == 0
            out = capsys.readouterr().out
            print(out)
            rows = out.splitlines()
            assert rows[0].startswith("DEAD LETTER ID") and "SOURCE" in rows[0] and "MESSAGE" in rows[0]
            assert rows[-1] == "2 of 2 dead letter(s)"
            assert any(" oversized " in r and f"@{positions[0][1]}" in r for r in rows)
            assert any(" undecodable " in r for r in rows)
            assert cli(["deadletter", "list", "--reason", "oversized"]) == 0
            out = capsys.readouterr().out
            assert out.splitlines()[-1] == "1 of 2 dead letter(s)" and "exceeds the limit of 2048" in out
            assert "n" * 50 not in out
            assert cli(["deadletter", "list", "--stage", "routing"]) == 0
            assert capsys.readouterr().out.splitlines()[-1] == "0 of 2 dead letter(s)"
            junk_id = next(r.split()[0] for r in rows if " undecodable " in r)

            # the fix: a larger message limit; then replay what was rejected for that reason
            workers.stop("intake")
            workers.start("intake", extra_env={"KAFKA_MAX_MESSAGE_BYTES": "16384"})
            workers.wait_ready(names=["intake"], timeout=120)
            assert cli(["deadletter", "replay", "--reason", "oversized", "--dry-run"]) == 0
            assert "1 dead letter(s) would be replayed" in capsys.readouterr().out
            assert cli(["deadletter", "replay", "--reason", "oversized"]) == 0
            assert "1 dead letter(s) replayed" in capsys.readouterr().out
            # junk stays junk: replaying it dead-letters it again, now with its replay count
            assert cli(["deadletter", "replay", "--id", junk_id]) == 0
            capsys.readouterr()
            asyncio.run(wait_drained(namespace, kafka))

            t = asyncio.run(tally(namespace, kafka))
            assert t.report_ids == {report["report_id"]}
            intake = asyncio.run(read_all(f"{namespace}.{topics.INTAKE}", kafka))
            replayed = [r for r in intake if r.value == big.value and (r.partition, r.offset) != positions[0]]
            assert len(replayed) == 1
            headers = dict(replayed[0].headers)
            assert replayed[0].key == big.key
            assert headers["agency-batch"] == b"batch-7"
            assert headers["referral-bus-replay-count"] == b"1"
            assert "traceparent" not in headers or headers["traceparent"] != big.headers[0][1]
            again = [d for d in t.dead_by_position.values() if d["reason"] == "undecodable"]
            assert sorted(d["replay_count"] for d in again) == [0, 1]
            assert cli(["deadletter", "replay", "--id", "no-such-id"]) == 1
            assert workers.procs["intake"].poll() is None
        finally:
            workers.stop_all()
