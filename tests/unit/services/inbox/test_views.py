"""Pages: every value escaped (hostile case data cannot inject markup), both languages render every page."""

from __future__ import annotations

import pytest

from referral_domain.lifecycle import Lifecycle
from services.inbox import views
from services.inbox.labels import LANGUAGES, Labels
from services.inbox.model import apply_ack, from_document
from tests.support.inbox import document

HOSTILE = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_page_renders_in_both_languages_with_hostile_values_escaped(lang: str, lifecycle: Lifecycle) -> None:
    t = Labels(lang)
    doc = document("ref-1", "p", linked_reports=[{"agency_id": HOSTILE, "report_id": "r"}])
    doc["case"]["report"]["narrative"] = HOSTILE
    entry = apply_ack(from_document(doc, None), {"acknowledged_at": 1, "outcome": "DECLINED", "note": HOSTILE})
    pages = [
        views.signin(t, "tok", error="signin_failed"),
        views.listing(t, lifecycle, [entry], HOSTILE, "tok", 0),
        views.detail(t, entry, lifecycle.allowed_actions("DELIVERED"), "tok", lifecycle, [HOSTILE], message="sent"),
        views.problem(t, "forbidden", recipient_id="p", csrf="tok"),
    ]
    for html in pages:
        assert "<script>" not in html and "<img" not in html
        assert f'lang="{lang}"' in html
    detail = pages[2]
    assert "&lt;script&gt;" in detail and detail.count('name=csrf value="tok"') >= 5
    for action in lifecycle.allowed_actions("DELIVERED"):
        assert t.pick(lifecycle.spec.actions[action]) in detail


def test_times_are_shown_as_dates() -> None:
    assert views.fmt_time(0) == "1970-01-01 00:00 UTC"
