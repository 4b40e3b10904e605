"""The inbox's HTML pages; every value is escaped, every label comes from labels.yaml or the lifecycle file."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import quote

from referral_domain.lifecycle import Lifecycle
from services.inbox.actions import ASKED
from services.inbox.labels import LANGUAGES, Labels

BASE = "/inbox"
STYLE = """
body{font-family:system-ui,sans-serif;margin:0;background:#f4f6f8;color:#1d2630}
header{background:#1f4e79;color:#fff;padding:.6em 1.2em;display:flex;gap:1em;align-items:center}
header h1{font-size:1.2em;margin:0;flex:1} header a{color:#fff} main{padding:1em 1.2em;max-width:70em}
table{border-collapse:collapse;background:#fff;width:100%;margin:.5em 0 1em}
th,td{border:1px solid #d5dbe1;padding:.35em .6em;text-align:left;vertical-align:top}
th{background:#e9eef3} .P1{color:#b00020;font-weight:bold} .P2{color:#c25e00;font-weight:bold}
form.act{background:#fff;border:1px solid #d5dbe1;padding:.6em;margin:.4em 0}
.msg{background:#fff3cd;border:1px solid #e0c36a;padding:.6em} .err{background:#f8d7da;border-color:#d88}
button{padding:.35em 1em} label{display:block;margin:.3em 0}
"""


def fmt_time(ms: int) -> str:
    """Epoch milliseconds as `YYYY-MM-DD HH:MM UTC`."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ms / 1000))


def referral_path(referral_id: str) -> str:
    """The inbox address of one referral."""
    return f"{BASE}/referrals/{quote(referral_id, safe='')}"


def page(t: Labels, body: str, *, recipient_id: str | None = None, csrf: str | None = None, here: str = BASE) -> str:
    """The layout: header with the language switch (and the sign-out form when signed in), then `body`."""
    switch = " ".join(
        f'<a href="{BASE}/lang?set={code}&amp;next={quote(here, safe="")}" lang="{code}">{code.upper()}</a>'
        for code in LANGUAGES
    )
    who = ""
    if recipient_id is not None and csrf is not None:
        who = (
            f"<span>{escape(t('signed_in_as'))} <b id=who>{escape(recipient_id)}</b></span>"
            f'<form method=post action="{BASE}/signout"><input type=hidden name=csrf value="{escape(csrf)}">'
            f"<button>{escape(t('sign_out'))}</button></form>"
        )
    return (
        f'<!doctype html><html lang="{t.lang}"><head><meta charset=utf-8><title>{escape(t("title"))}</title>'
        f'<meta name=viewport content="width=device-width"><style>{STYLE}</style></head><body>'
        f'<header><h1>{escape(t("title"))}</h1>{who}<nav aria-label="{escape(t("language"))}">{switch}</nav></header>'
        f"<main>{body}</main></body></html>"
    )


def signin(t: Labels, csrf: str, *, error: str | None = None, next_path: str = "") -> str:
    """The sign-in form."""
    err = f'<p class="msg err" id=error>{escape(t(error))}</p>' if error else ""
    return page(
        t,
        f"<h2>{escape(t('sign_in'))}</h2>{err}"
        f'<form method=post action="{BASE}/signin" id=signin><input type=hidden name=csrf value="{escape(csrf)}">'
        f'<input type=hidden name=next value="{escape(next_path)}">'
        f"<label>{escape(t('recipient_id'))} <input name=recipient_id autocomplete=username required></label>"
        f"<label>{escape(t('password'))} <input type=password name=password autocomplete=current-password required>"
        f"</label><button>{escape(t('sign_in'))}</button></form>",
    )


def state_label(t: Labels, lifecycle: Lifecycle, state: str) -> str:
    """The label of a lifecycle state in the page's language (the state's name when the lifecycle lacks it)."""
    spec = lifecycle.spec.states.get(state)
    return t.pick(spec) if spec is not None else state


def listing(
    t: Labels, lifecycle: Lifecycle, entries: Sequence[Mapping[str, Any]], recipient_id: str, csrf: str, now_ms: int
) -> str:
    """The recipient's referrals, most urgent first."""
    if not entries:
        rows = f"<p id=empty>{escape(t('none'))}</p>"
    else:
        head = "".join(f"<th>{escape(t(k))}</th>" for k in ("referral", "priority", "due", "state", "received"))
        body = "".join(
            f'<tr class=referral data-id="{escape(e["referral_id"])}">'
            f'<td><a href="{referral_path(e["referral_id"])}">{escape(e["referral_id"])}</a></td>'
            f'<td class="{escape(e["priority"])}">{escape(e["priority"])}</td>'
            f"<td>{fmt_time(e['due_at'])}{' — ' + escape(t('overdue')) if _overdue(e, now_ms) else ''}</td>"
            f"<td class=state data-state={escape(e['state'])}>{escape(state_label(t, lifecycle, e['state']))}</td>"
            f"<td>{fmt_time(e['created_at'])}</td></tr>"
            for e in entries
        )
        rows = f"<table id=referrals><tr>{head}</tr>{body}</table>"
    return page(t, f"<h2>{escape(t('referrals'))}</h2>{rows}", recipient_id=recipient_id, csrf=csrf)


def _overdue(entry: Mapping[str, Any], now_ms: int) -> bool:
    return entry["state"] in ("DELIVERED", "RECEIVED", "REQUESTED") and entry["due_at"] < now_ms


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(value, dict):
        return [row for k, v in value.items() if k != "linked_reports" for row in _flatten(v, f"{prefix}{k}.")]
    if isinstance(value, list):
        return [(prefix.rstrip("."), ", ".join(json.dumps(v, ensure_ascii=False) for v in value))]
    name = prefix.rstrip(".")
    if name.endswith("_at") and isinstance(value, int) and not isinstance(value, bool):
        return [(name, fmt_time(value))]
    return [(name, "" if value is None else str(value))]


def _table(rows: list[tuple[str, str]], table_id: str) -> str:
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows)
    return f"<table id={table_id}>{cells}</table>"


def _choices(name: str, options: Mapping[str, str]) -> str:
    opts = "".join(f'<option value="{escape(code)}">{escape(text)}</option>' for code, text in options.items())
    return f"<select name={name} required>{opts}</select>"


def _action_form(t: Labels, action: str, rid: str, csrf: str, lifecycle: Lifecycle, targets: list[str]) -> str:
    spec = lifecycle.spec
    options = {
        "reason_code": ("reason", {c: t.pick(label) for c, label in spec.decline_reasons.items()}),
        "outcome_code": ("outcome", {c: t.pick(label) for c, label in spec.completion_outcomes.items()}),
        "transfer_to": ("transfer_to", {r: r for r in targets}),
    }
    field = ASKED.get(action)
    extra = ""
    if field is not None:
        label, choices = options[field]
        extra = f"<label>{escape(t(label))} {_choices(field, choices)}</label>"
    note = f"<label>{escape(t('note'))} <textarea name=note rows=2 maxlength=2000></textarea></label>"
    return (
        f'<form method=post class=act id="act-{action}" action="{referral_path(rid)}/act">'
        f'<input type=hidden name=csrf value="{escape(csrf)}"><input type=hidden name=action value="{action}">'
        f"{extra}{note if field else ''}<button>{escape(t.pick(spec.actions[action]))}</button></form>"
    )


def _history(t: Labels, entry: Mapping[str, Any]) -> str:
    """The receipts and the recipient's own answers, oldest first (the note only the recipient wrote)."""
    rows = []
    for h in entry["history"]:
        who = t("event_action") if h["kind"] == "action" else t("event_receipt")
        codes = [h.get(k) for k in ("reason_code", "outcome_code", "transfer_to") if h.get(k)]
        detail = " ".join(str(c) for c in codes)
        rows.append(
            f"<tr><td>{fmt_time(h['at'])}</td><td>{escape(who)}</td><td>{escape(h['status'])}</td>"
            f"<td>{escape(detail)}</td><td>{escape(h.get('note') or '')}</td></tr>"
        )
    return f"<table id=history>{''.join(rows)}</table>"


def detail(
    t: Labels,
    entry: Mapping[str, Any],
    actions: list[str],
    csrf: str,
    lifecycle: Lifecycle,
    targets: list[str],
    *,
    message: str | None = None,
) -> str:
    """One referral: routing facts, the redacted case, linked reports, history and the allowed actions."""
    doc, rid = entry["doc"], entry["referral_id"]
    facts = [
        (t("referral"), rid),
        (t("priority"), entry["priority"]),
        (t("state"), state_label(t, lifecycle, entry["state"])),
        (t("due"), fmt_time(entry["due_at"])),
        (t("received"), fmt_time(entry["created_at"])),
    ]
    case = doc.get("case") or {}
    linked = [_flatten(link) for link in case.get("linked_reports") or []]
    linked_html = "".join(_table(rows, f"linked-{i}") for i, rows in enumerate(linked)) or "<p>—</p>"
    forms = "".join(_action_form(t, a, rid, csrf, lifecycle, targets) for a in actions)
    note = f"<p class=msg id=message>{escape(t(message))}</p>" if message else ""
    body = (
        f'{note}<h2 id=referral data-case="{escape(entry["case_id"])}">{escape(t("referral"))} {escape(rid)}</h2>'
        f"{_table(facts, 'facts')}"
        f"<h3>{escape(t('actions'))}</h3>{forms or '<p>' + escape(t('nothing_to_do')) + '</p>'}"
        f"<h3>{escape(t('case'))}</h3>{_table(_flatten(case), 'case')}"
        f"<h3>{escape(t('linked_reports'))}</h3>{linked_html}"
        f"<h3>{escape(t('history'))}</h3>{_history(t, entry)}"
    )
    return page(t, body, recipient_id=entry["recipient_id"], csrf=csrf, here=referral_path(rid))


def problem(t: Labels, key: str, *, recipient_id: str | None = None, csrf: str | None = None) -> str:
    """An error page with one message."""
    return page(t, f'<p class="msg err" id=problem>{escape(t(key))}</p>', recipient_id=recipient_id, csrf=csrf)
