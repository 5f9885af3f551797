"""The audit log read as sentences: who did what, one sentence per entry and kind of action.

Each kind written by ``audit.record`` (admin_ui/, api/, engine/) has a sentence here; an entry
of a kind without one (a newer platform, a legacy entry) still reads as a sentence naming its
kind and fields. The raw record stays beside it on the page.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Detail = Mapping[str, Any]


def _quoted(value: object) -> str:
    return f"\u201c{value}\u201d"


def _get(detail: Detail, field: str) -> str:
    value = detail.get(field)
    return "?" if value is None or value == "" else str(value)


def _customers(count: object) -> str:
    return "1 customer" if count == 1 else f"{count} customers"


def _publish(actor: str, d: Detail) -> str:
    what = d.get("citation") or d.get("file") or "a catalog file"
    parts = [
        f"{actor} published a new version of {what} effective from {_get(d, 'effective_from')} "
        f"(publication {_get(d, 'publication')}), notifying {_customers(d.get('customers', 0))} "
        f"on {_get(d, 'notified_on')}"
    ]
    parts.append(
        f"under {d['notice_clause']}"
        if d.get("notice_clause")
        else "at once (only to the customers' advantage: no notice needed)"
    )
    sentence = " ".join(parts)
    if d.get("ground"):
        sentence += f"; ground {d['ground']}"
    if d.get("reason"):
        sentence += f"; reason: {_quoted(d['reason'])}"
    return sentence + "."


def _subscribed(actor: str, d: Detail) -> str:
    events = d.get("events") or []
    kinds = ", ".join(map(str, events)) if isinstance(events, list) else str(events)
    return (
        f"{actor} subscribed {_get(d, 'url')} to webhooks ({kinds or 'no event types'}) "
        f"as subscription {_get(d, 'id')}, secret fingerprint {_get(d, 'secret_fingerprint')}."
    )


def _retried(actor: str, d: Detail) -> str:
    sentence = (
        f"{actor} sent the dead webhook message {_get(d, 'message')} again "
        f"(subscription {_get(d, 'subscription')})"
    )
    if d.get("last_error"):
        sentence += f"; it had failed with {_quoted(d['last_error'])}"
    return sentence + "."


SENTENCES: dict[str, Callable[[str, Detail], str]] = {
    "login": lambda actor, d: f"{actor} logged in.",
    "logout": lambda actor, d: f"{actor} logged out, ending all of their sessions.",
    "draft_created": lambda actor, d: (
        f"{actor} started draft {_get(d, 'draft')} of {_get(d, 'file')}."
    ),
    "draft_saved": lambda actor, d: f"{actor} saved draft {_get(d, 'draft')} of {_get(d, 'file')}.",
    "publish": _publish,
    "user_created": lambda actor, d: (
        f"{actor} created the login {_get(d, 'email')} with the role {_get(d, 'role')}."
    ),
    "user_disabled": lambda actor, d: (
        f"{actor} disabled the login {_get(d, 'email')}; its sessions ended."
    ),
    "user_enabled": lambda actor, d: f"{actor} enabled the login {_get(d, 'email')} again.",
    "user_role_changed": lambda actor, d: (
        f"{actor} gave {_get(d, 'email')} the role {_get(d, 'role')}; their sessions ended."
    ),
    "user_password_changed": lambda actor, d: (
        f"{actor} set a new password for {_get(d, 'email')}; their sessions ended."
    ),
    "token_created": lambda actor, d: (
        f"{actor} created the API token {_quoted(_get(d, 'name'))} with the role {_get(d, 'role')}"
        + (f", bound to the accounts {', '.join(d['accounts'])}." if d.get("accounts") else ".")
    ),
    "token_revoked": lambda actor, d: f"{actor} revoked the API token {_quoted(_get(d, 'name'))}.",
    "webhook_subscribed": _subscribed,
    "webhook_removed": lambda actor, d: (
        f"{actor} removed webhook subscription {_get(d, 'id')}; "
        "its undelivered messages were cancelled."
    ),
    "webhook_retried": _retried,
    "bank_statement_imported": lambda actor, d: (
        f"{actor} imported the bank file {_get(d, 'message')} {_get(d, 'message_id')}: "
        f"{_get(d, 'booked')} credits booked, {_get(d, 'queued')} queued for assignment."
    ),
    "bank_credit_assigned": lambda actor, d: (
        f"{actor} booked bank credit {_get(d, 'credit')} ({_get(d, 'amount')} EUR, entry "
        f"{_get(d, 'entry_reference')}) to account {_get(d, 'account')}"
        + (f" for invoice {d['invoice']}." if d.get("invoice") else ".")
    ),
    "document_archived": lambda actor, d: (
        f"{actor} archived {_get(d, 'kind').replace('_', ' ')} {_get(d, 'number')} as issued "
        f"(SHA-256 of the PDF {_get(d.get('sha256') or {}, 'pdf')})."
    ),
    "outbox_bounce": lambda actor, d: (
        f"{actor} recorded that message {_get(d, 'message')} {_get(d, 'message_id')} to account "
        f"{_get(d, 'account')} bounced: {_get(d, 'reason')}."
    ),
    "clock_advanced": lambda actor, d: (
        f"{actor} advanced the platform's clock to {_get(d, 'until')} for "
        + (f"account {_get(d, 'account')}" if d.get("account") else "every account")
        + " (billing clock advance)."
    ),
    "job_retried": lambda actor, d: (
        f"{actor} retried run {_get(d, 'run')} of the job {_get(d, 'job')}"
        + (f"; it had failed with {_quoted(d['error'])}." if d.get("error") else ".")
    ),
    "jobs_run_ahead": lambda actor, d: (
        f"{actor} ran every job due up to {_get(d, 'until')}, ahead of the platform's clock "
        "(billing jobs run-due --i-know)."
    ),
}


def _generic(actor: str, action: str, detail: Detail) -> str:
    fields = ", ".join(f"{name} {value}" for name, value in sorted(detail.items()))
    kind = action.replace("_", " ")
    return f"{actor} did {_quoted(kind)}" + (f" ({fields})." if fields else ".")


def sentence(entry: Mapping[str, Any]) -> str:
    """The entry (``actor``, ``action``, ``detail`` as a dict) as one English sentence."""
    actor, action = str(entry.get("actor", "?")), str(entry.get("action", "?"))
    detail = entry.get("detail")
    detail = detail if isinstance(detail, Mapping) else {"detail": detail}
    write = SENTENCES.get(action)
    try:
        return write(actor, detail) if write else _generic(actor, action, detail)
    except (KeyError, TypeError, ValueError):  # a malformed record still reads
        return _generic(actor, action, detail)
