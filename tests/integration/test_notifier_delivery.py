"""Notifier over the real broker, a real HTTP receiver and a real SMTP server: retries, dead letters,
circuit breaker, and data minimisation on every channel.

Referrals are produced straight to the referrals topic (what routing would emit), so only the notifier
worker runs; the helpers here are shared with the other notifier tests.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest

from referral_bus import topics
from referral_devstack.reading import read_topic
from referral_devstack.receivers import MailReceiver, WebhookReceiver
from tests.support import notifier as nt
from tests.support.webhooks import doc_verifier

pytestmark = [pytest.mark.kafka]


@pytest.fixture
def receivers() -> Iterator[tuple[WebhookReceiver, MailReceiver]]:
    """A real HTTP receiver and a real SMTP server on free local ports."""
    web, mail = WebhookReceiver(), MailReceiver()
    mail.start()
    yield web, mail
    mail.stop()


def _texts_reaching(
    web: WebhookReceiver, mail: MailReceiver, partner: list[Any], recipient_ids: set[str]
) -> dict[str, str]:
    """Everything each restricted recipient received, as text, per recipient."""
    out: dict[str, str] = {rid: "" for rid in recipient_ids}
    for d in web.deliveries:
        if d.recipient_id in out:
            out[d.recipient_id] += d.body.decode() + json.dumps(d.headers)
    for m in mail.messages:
        rid = "mail-desk"  # the only e-mail recipient in these tests
        parts = [m.as_string()] + [p.get_payload(decode=True).decode() for p in m.walk() if not p.is_multipart()]
        out[rid] += "\n".join(parts)
    for rec in partner:
        r = json.loads(rec.value)
        out[r["recipient_id"]] += rec.value.decode("utf-8")
    return out


async def test_failures_end_as_the_policy_says_while_others_are_delivered(
    kafka: str, namespace: str, receivers: tuple[WebhookReceiver, MailReceiver]
) -> None:
    web, mail = receivers
    web.hang_seconds = 3
    down_calls = itertools.count()
    web.behaviour.update(
        {
            "flaky": lambda n: 503 if n <= 2 else 200,  # fails its first two attempts
            "slow": lambda n: 0,  # never answers: the client times out every time
            "refuses": lambda n: 422,  # a 4xx: not retryable
            "down": lambda n: 503 if next(down_calls) < 3 else 200,  # down for three calls, then back
        }
    )
    recipients = [
        nt.recipient("ok", nt.webhook(web, "ok")),
        nt.recipient("flaky", nt.webhook(web, "flaky")),
        nt.recipient("slow", nt.webhook(web, "slow", timeout_seconds=0.5)),
        nt.recipient("refuses", nt.webhook(web, "refuses")),
        nt.recipient("down", nt.webhook(web, "down")),
        nt.recipient("nosecret", nt.webhook(web, "nosecret")),
        nt.recipient(
            "mail-desk", {"type": "email", "to": ["desk@example.invalid"], "smtp_port": mail.port, "tls": "none"}
        ),
        nt.recipient("partner-x", {"type": "kafka"}, "convention_minimal"),
        nt.recipient("minimal-hook", nt.webhook(web, "minimal-hook"), "convention_minimal"),
    ]
    env = {
        "NOTIFIER_MAX_ATTEMPTS": "4",
        "NOTIFIER_BACKOFF_BASE_SECONDS": "0.2",
        "NOTIFIER_BACKOFF_MAX_SECONDS": "1",
        "NOTIFIER_BREAKER_FAILURE_THRESHOLD": "3",
        "NOTIFIER_BREAKER_RESET_SECONDS": "1",
    }
    async with nt.notifier_stack(web, namespace, kafka, recipients, env, prefix="notifier-") as stack:
        (stack.secrets / "webhook-nosecret").unlink()
        stack.start()
        refs = {
            name: nt.referral(name)
            for name in ("ok", "flaky", "slow", "refuses", "nosecret", "mail-desk", "partner-x", "minimal-hook")
        }
        down = [nt.referral("down"), nt.referral("down")]
        # the failing ones first, so the healthy ones queue behind them on the same partitions
        order = ["slow", "refuses", "flaky", "nosecret", "ok", "mail-desk", "partner-x", "minimal-hook"]
        await nt.send_referrals([refs[n] for n in order] + down)

        def settled(rs: list[dict[str, Any]]) -> bool:
            done = {"DELIVERED"}
            ok = all(
                done & set(nt.statuses(rs, refs[n]["referral_id"]))
                for n in ("ok", "flaky", "mail-desk", "partner-x", "minimal-hook")
            )
            ok = ok and all("DELIVERED" in nt.statuses(rs, d["referral_id"]) for d in down)
            final = {refs[n]["referral_id"] for n in ("slow", "refuses", "nosecret")}
            gave_up = {
                r["referral_id"]
                for r in rs
                if r["referral_id"] in final
                and r["status"] == "FAILED"
                and ("gave up" in (r["detail"] or "") or "not retryable" in (r["detail"] or ""))
            }
            return ok and gave_up == final

        rs = await nt.receipts(settled, timeout=150)
        assert settled(rs), stack.workers.tail("notifier", 60)

        # healthy recipients: delivered at the first attempt
        for name in ("ok", "mail-desk", "partner-x", "minimal-hook"):
            assert nt.statuses(rs, refs[name]["referral_id"]) == ["DELIVERED"], name
        # failing the first two attempts: FAILED, FAILED, then DELIVERED at attempt 3
        flaky = [r for r in rs if r["referral_id"] == refs["flaky"]["referral_id"]]
        assert [r["status"] for r in flaky] == ["FAILED", "FAILED", "DELIVERED"]
        assert [r["attempt"] for r in flaky] == [1, 2, 3]
        assert "HTTP 503" in (flaky[0]["detail"] or "")
        # timing out every time: retried up to max_attempts, then FAILED for good (breaker may pause it)
        slow = [r for r in rs if r["referral_id"] == refs["slow"]["referral_id"]]
        slow_failed = [r for r in slow if r["status"] == "FAILED"]
        assert len(slow_failed) == 4 and "timed out" in (slow_failed[0]["detail"] or "")
        assert "gave up after 4" in (slow_failed[-1]["detail"] or "")
        # a 4xx and a missing secret: one attempt, not retried
        for name, text in (("refuses", "HTTP 422"), ("nosecret", "no webhook secret")):
            only = [r for r in rs if r["referral_id"] == refs[name]["referral_id"]]
            assert [r["status"] for r in only] == ["FAILED"], name
            assert text in (only[0]["detail"] or "") and "not retryable" in (only[0]["detail"] or "")
        # the circuit breaker paused "down" after three failures and resumed it with a probe
        down_status = [r["status"] for r in rs if r["recipient_id"] == "down"]
        assert "PAUSED" in down_status and "RESUMED" in down_status, down_status
        assert down_status.count("DELIVERED") == 2

        # dead letters: the three that gave up, each with its last error and referral id
        dead = await read_topic(topics.name(topics.DEADLETTER), until=lambda r: len(r) >= 3, timeout=30)
        letters = {
            nt.CODEC.decode(d.value, "DeadLetter")["referral_id"]: nt.CODEC.decode(d.value, "DeadLetter") for d in dead
        }
        assert set(letters) == {refs[n]["referral_id"] for n in ("slow", "refuses", "nosecret")}
        assert "timed out" in letters[refs["slow"]["referral_id"]]["message"]
        assert letters[refs["refuses"]["referral_id"]]["reason"] == "delivery_failed"

        # each webhook delivery exactly once, idempotency key = referral id, signed: the verifier
        # of docs/webhooks.md accepts each request once (at the time it arrived) and not its replay
        keys = [d.idempotency_key for d in web.deliveries]
        assert len(keys) == len(set(keys))
        verify = doc_verifier()
        for d in web.deliveries:
            assert d.idempotency_key == d.json()["referral_id"]
            secret = (stack.secrets / f"webhook-{d.recipient_id}").read_text(encoding="utf-8").strip()
            assert verify(secret, d.headers, d.body, now=d.at_ms / 1000), d.recipient_id
            assert not verify(secret, d.headers, d.body, now=d.at_ms / 1000)

        # data minimisation on every channel
        partner = await read_topic(
            topics.name(topics.partner_topic("partner-x")), until=lambda r: len(r) >= 1, timeout=60
        )
        assert len(mail.messages) == 1 and len(partner) == 1
        texts = _texts_reaching(web, mail, partner, {"partner-x", "minimal-hook", "mail-desk"})
        for rid in ("partner-x", "minimal-hook"):
            assert texts[rid], rid
            leaked = {k for k, v in nt.PII.items() if v in texts[rid]}
            assert leaked == nt.CONVENTION_MINIMAL_ALLOWED, f"{rid} received {leaked}"
            assert "VN-HN" not in texts[rid]  # victim location is not convention_minimal
        leaked = [k for k, v in nt.PII.items() if v in texts["mail-desk"]]
        assert set(leaked) == nt.NEED_TO_KNOW_ALLOWED, leaked
        # what a 24/7 contact point needs to act is there
        minimal = next(d.json() for d in web.deliveries if d.recipient_id == "minimal-hook")
        report = minimal["case"]["report"]
        assert report["category"] == "SEXTORTION" and report["content_urls"] and report["hosting_country"] == "US"
        assert report["preservation_requested"] is True
        assert set(report.get("victim", {})) <= {"is_minor"}
