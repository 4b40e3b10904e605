"""Each worker's kept rows are held with no part the collector walks, as its app.py declares the table.

The rows modules' own tests write rows through a table declared with their `PACKED` fields (test_rows_untracked.py);
this checks the declaration in each app.py: the app imported in an interpreter of its own, where a row as its
handlers build it is written through the app's own table and recovered into it (tests/support/app_tables.py).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from referral_domain.lifecycle import from_settings
from services.inbox import model
from services.notifier import lifecycle
from services.routing import linked
from services.stats import aggregate
from services.stats.dimensions import Kinds
from tests.support.app_tables import declared, report, tracked_parts
from tests.support.inbox import NOW_MS, document
from tests.support.stats import AGENCIES, RECIPIENTS

POLICE = "vn-police-ha-noi"


def _inbox_entry() -> dict[str, Any]:
    entry = model.from_document(document("ref-1", POLICE), None)
    return model.apply_receipt(entry, {"status": "DELIVERED", "at": NOW_MS}, "RECEIVED")


def _referral_state() -> dict[str, Any]:
    referral = {"case": {"report": {"agency_id": "hotline-vn", "report_id": "rep-1"}}}
    fields = lifecycle.lifecycle_fields(referral, b"\xc3\x01referral", "police", NOW_MS)
    state = {"case_id": "case-1", "recipient_id": POLICE, "priority": "P1", "delivered_at": NOW_MS, **fields}
    ack = {"referral_id": "ref-1", "recipient_id": POLICE, "outcome": "ACCEPTED", "acknowledged_at": NOW_MS + 1}
    applied = lifecycle.apply(state, {**ack, "action_id": "a-1"}, from_settings(), kind_of=lambda rid: "police")
    assert isinstance(applied, lifecycle.Applied)  # a history of two steps, one action id
    return applied.entry


def _routed() -> dict[str, Any]:
    return linked.CaseState({POLICE: "ref-1", "vn-child-protection-ha-noi": "ref-2"}, "P2", 900).to_json()


def _facts() -> dict[str, Any]:
    facts: dict[str, dict[str, Any]] = {}
    decision = {"case_id": "case-1", "ack_sla_seconds": 900, "recipients": [{"recipient_id": POLICE}]}
    aggregate.Aggregator({}, facts, Kinds(AGENCIES, RECIPIENTS)).decision(decision, 0)  # before its case: waits
    return facts["case-1"]


# service → (its app module, the table it keeps rows in, the packed fields its rows module names, such a row)
APPS: dict[str, tuple[str, str, frozenset[str], Callable[[], dict[str, Any]]]] = {
    "inbox": ("services.inbox.app", "inbox", model.PACKED, _inbox_entry),
    "notifier": ("services.notifier.app", "referral_state", lifecycle.PACKED, _referral_state),
    "routing": ("services.routing.app", "routed", linked.PACKED, _routed),
    "stats": ("services.stats.app", "facts", aggregate.PACKED, _facts),
}


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], dict[str, Any]]]:
    """`report_of(service)`: its app's report, the four interpreters started at once (an import takes seconds)."""
    started = {}
    for service, (app_module, table, _, row) in APPS.items():
        work = tmp_path_factory.mktemp(service)
        env = {"REFERRAL_BUS_SECRET_INBOX_SESSION_KEY": "session-key-" + "x" * 20}
        env[f"{service.upper()}_DATA_DIR"] = str(work / "data")
        started[service] = (declared(app_module, {table: row()}, work, env), work)

    @functools.cache
    def report_of(service: str) -> dict[str, Any]:
        return report(*started[service])

    yield report_of
    for proc, _ in started.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("service", sorted(APPS))
def test_rows_are_meant_to_hold_containers(service: str) -> None:
    _, _, packed, row = APPS[service]
    value = row()
    assert packed and all(type(value[f]) in (list, dict) for f in packed)  # each packed field holds one
    assert gc.is_tracked(value)  # so unpacked, the collector would walk the row


@pytest.mark.parametrize("service", sorted(APPS))
def test_the_app_declares_its_table_with_the_rows_module_s_packed_fields(
    service: str, reports: Callable[[str], dict[str, Any]]
) -> None:
    _, table, packed, _ = APPS[service]
    declared_fields = reports(service)["packed"][table]
    assert declared_fields == sorted(packed), f"services/{service}/app.py: declare `{table}` with packed={packed}"


@pytest.mark.parametrize("service", sorted(APPS))
def test_a_row_written_or_recovered_through_the_app_s_table_is_untracked(
    service: str, reports: Callable[[str], dict[str, Any]]
) -> None:
    _, table, _, _ = APPS[service]
    tracked = reports(service)["tracked"][table]
    assert tracked == {"written": [], "recovered": []}, f"services/{service}/app.py `{table}`: tracked parts {tracked}"


def test_a_report_names_a_tracked_row_and_its_fields() -> None:
    assert tracked_parts({"a": [1], "b": "text", "c": {"d": [None]}}) == ["row", "a", "c"]
    assert tracked_parts({"a": "[1]", "b": 2, "c": None}) == []
