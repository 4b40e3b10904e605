"""Inbox worker: `faust -A services.inbox.app worker` (docs/inbox.md).

The Faust shell only: settings, secrets, the read-model table and its three agents (referral documents
the notifier delivers to referrals.inbox.v1, receipts, the users' own acknowledgements), and the
pages, served by the worker's own aiohttp server (Faust web views): one process, the same health,
readiness and metrics pages, logging, tracing and dead letters as every worker. What a page does is
in web.py (pure); this file only turns aiohttp requests into `web.Request` and `Reply` into responses,
and produces the Acknowledgement of an action to the signed-in recipient's own ack topic.

One replica (deploy/k8s/base/inbox.yaml): the read model is a partitioned table, and the worker that
serves a page must hold every partition to list a recipient's referrals.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from referral_bus import topic_catalog, topics
from referral_bus.casecrypt import decrypt_personal
from referral_bus.casekeys import CaseKeyUnavailableError, case_paths
from referral_bus.clock import now_ms
from referral_bus.durable import DurableTable
from referral_bus.errors import RulesError
from referral_bus.expiry import Expiry
from referral_bus.kafka import tables_recovered
from referral_bus.secretfiles import Secrets
from referral_bus.settings import config_file
from referral_bus.shell import Service
from referral_domain.directory import file_hash, load_directory
from referral_domain.lifecycle import from_settings as load_lifecycle
from services.inbox.actions import transfer_targets
from services.inbox.errors import InboxError
from services.inbox.handlers import InboxHandler, SignOutHandler
from services.inbox.model import PACKED
from services.inbox.ratelimit import FailedSignins
from services.inbox.routes import register_pages
from services.inbox.sessions import Session, Sessions
from services.inbox.settings import InboxSettings
from services.inbox.signouts import SignOuts, record
from services.inbox.web import Inbox

settings = InboxSettings()
service = Service("inbox", settings, encodes=("Acknowledgement", "Disclosure"))
app = service.app
secrets = Secrets(settings.secrets_dir)
try:
    directory = load_directory(settings.directory_path)
    lifecycle = load_lifecycle()
    session_key = secrets.get("inbox-session-key")
    if not session_key or len(session_key) < 16:
        raise InboxError("the secret inbox-session-key (at least 16 characters) is not set: see docs/inbox.md")
except (InboxError, RulesError) as exc:
    sys.stderr.write(f"inbox: cannot start: {exc}\n")
    raise SystemExit(78) from None

users = frozenset(directory.inbox_users())
documents_topic = service.topic(topics.INBOX)
receipts_topic = service.topic(topics.RECEIPTS)
ack_topics = {r: service.topic(topics.acks_topic(r)) for r in sorted(users)}
disclosures_topic = service.topic(topics.DISCLOSURES)  # each view of a referral's page (docs/data-protection.md)
table = service.table("inbox", packed=PACKED)  # documents and histories held as text: rows the GC never walks
# signed-out sessions until their cookies would have expired (signouts.py): a copied cookie is refused too
signouts_topic = service.topic(topic_catalog.INBOX_SIGNOUTS)
signed_out = service.table("signouts", value_type=int, expiry=Expiry(settings.session_minutes * 60_000))
signouts = SignOuts(signed_out, recovered=lambda: tables_recovered(app))
service.add_readiness(lambda: None if tables_recovered(app) else "tables recovering")
keys = service.case_keys()  # documents are kept sealed (per-case sealing on); opened only to show a page


async def _open_doc(doc: dict[str, Any]) -> dict[str, Any]:
    """The document with its case's personal fields opened (withheld once erased, or while its key is late)."""
    try:
        case = await keys.open_copy(doc["case_id"], doc["case"])
    except CaseKeyUnavailableError:
        case = decrypt_personal(doc["case"], doc["case_id"], None, case_paths())
    return {**doc, "case": case}


handler = InboxHandler(
    DurableTable(table),
    service.codec,
    users,
    {topics.name(topics.acks_topic(r)): r for r in users},
    lifecycle,
)
inbox = Inbox(
    store=table,
    sessions=Sessions(session_key, settings.session_minutes),
    password_hash=lambda rid: secrets.get(f"inbox-password-{rid}") if rid in users else None,
    link_key=lambda: secrets.get("inbox-link-key"),
    lifecycle=lifecycle,
    limiter=FailedSignins(settings.signin_max_failures, settings.signin_window_seconds),
    transfer_targets=lambda rid: transfer_targets(lifecycle, directory, rid),
    now_ms=now_ms,
    monotonic=time.monotonic,
    profile_version=file_hash(config_file("profiles.yaml")),  # the file the notifier redacts with
    open_doc=_open_doc if keys.enabled else None,
    revoked=signouts.revoked,
)


async def _revoke(session: Session) -> None:
    signouts.remember(session.session_id, session.expires_s, now_ms() // 1000)  # refused here at once
    await service.send(signouts_topic, session.session_id.encode(), record(session.session_id, session.expires_s))


inbox.revoke = _revoke


async def _send_ack(recipient_id: str, case_id: str, value: bytes) -> None:
    await service.send(ack_topics[recipient_id], case_id.encode(), value)


async def _send_disclosure(case_id: str, value: bytes) -> None:
    await service.send(disclosures_topic, case_id.encode(), value)


register_pages(app, inbox, service.codec, _send_ack, settings, _send_disclosure)


signouts_agent = service.agent(
    signouts_topic,
    SignOutHandler(DurableTable(signed_out)).event,
    name=f"{__name__}.signouts_agent",
    expire=(signed_out,),
)


@app.agent(documents_topic)
async def documents_agent(stream):  # type: ignore[no-untyped-def]  # Faust agents take an untyped stream
    """Referral documents the notifier delivered; every failure is dead-lettered by run_guarded."""
    await service.run_guarded(stream, handler.document)


@app.agent(receipts_topic)
async def receipts_agent(stream):  # type: ignore[no-untyped-def]  # Faust agents take an untyped stream
    """State changes of the referrals in the inbox."""
    await service.run_guarded(stream, handler.receipt)


if users:  # a directory with no inbox or e-mail recipient has no ack topic to read (the pages still serve)

    @app.agent(service.topic(*(topics.acks_topic(r) for r in sorted(users))))
    async def acks_agent(stream):  # type: ignore[no-untyped-def]  # Faust agents take an untyped stream
        """The inbox users' own answers, for the history."""
        await service.run_guarded(stream, handler.ack)
