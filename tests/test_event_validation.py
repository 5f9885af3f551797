"""The compiled per-type validators accept exactly what the event schema accepts."""

from __future__ import annotations

import copy
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from billing.demo import month_of_events
from engine.catalog import PROJECT_ROOT
from engine.events import EventInvalid, _accepted_fast, event_validator, parse_event

AT = "2026-11-02T09:00:00+01:00"
BARE = ["order.confirmed", "account.activated", "mandate.revoked", "mandate.granted", "clock"]
SAMPLES = [
    *month_of_events("2026-11", accounts=5, calls=60, seed=3),
    *({"id": t, "type": t, "account": "a", "at": AT} for t in BARE),
    {"id": "act", "type": "activity", "account": "a", "at": AT, "kind": "login"},
    {"id": "top", "type": "credit.topped_up", "account": "a", "at": AT, "amount": "20"},
    {"id": "rm", "type": "user.removed", "account": "a", "at": AT, "user": "u1"},
    {
        "id": "up",
        "type": "account.updated",
        "account": "a",
        "at": AT,
        "customer": {
            "name": "Acme GmbH",
            "email": "billing@acme.example",
            "vat_id": "DE123456788",
            "input_tax_deduction": True,
            "address": {
                "street": "Kö 1",
                "postal_code": "40212",
                "city": "Düsseldorf",
                "country": "DE",
            },
        },
    },
    {
        "id": "tn",
        "type": "terms.notified",
        "account": "a",
        "at": AT,
        "publication": 1,
        "clause": "AGB 8.1",
        "effective_on": "2027-01-04",
        "termination_clause": "AGB 8.2",
        "citation": "AGB 4.2.3",
    },
    {
        "id": "nd",
        "type": "notice.delivered",
        "account": "a",
        "at": AT,
        "publication": 1,
        "channel": "email",
    },
    {"id": "o", "type": "order.received", "account": "a", "at": "2026-11-02T09:00:00+01:00"},
    {"id": "rem", "type": "reminder.sent", "account": "a", "at": AT, "invoice": "2026-000001"},
    {
        "id": "t",
        "type": "termination.received",
        "account": "a",
        "at": "2026-11-02T09:00:00+01:00",
        "by": "provider",
        "channel": "letter",
        "extraordinary": {"reason": "misuse"},
    },
    {
        "id": "w",
        "type": "withdrawal.received",
        "account": "a",
        "at": "2026-11-02T09:00:00+01:00",
        "channel": "email",
        "sent_on": "2026-11-01",
    },
    {
        "id": "j",
        "type": "objection.received",
        "account": "a",
        "at": "2026-11-02T09:00:00+01:00",
        "invoice": "2026-000001",
        "channel": "letter",
        "justified_amount": "5.00",
    },
    {
        "id": "r",
        "type": "direct_debit.returned",
        "account": "a",
        "at": "2026-11-02T09:00:00+01:00",
        "amount": "20.00",
        "proven_lower_damage": "3.00",
    },
    {
        "id": "m",
        "type": "misuse.detected",
        "account": "a",
        "at": "2026-11-02T09:00:00+01:00",
        "description": "resale",
        "resolved": False,
    },
    {
        "id": "f",
        "type": "refund.requested",
        "account": "a",
        "at": "2026-11-02T09:00:00+01:00",
        "documents": ["customer_number"],
    },
    {
        "id": "d",
        "type": "data_deletion.requested",
        "account": "a",
        "at": "2026-11-02T09:00:00+01:00",
        "scope": "account",
    },
    {
        "id": "u",
        "type": "outage",
        "account": "platform",
        "at": "2026-11-02T09:00:00+01:00",
        "start": "2026-11-02T08:00:00+01:00",
        "end": "2026-11-02T09:00:00+01:00",
        "maintenance": True,
    },
    {
        "id": "p",
        "type": "plan.changed",
        "account": "a",
        "at": "2026-11-11T10:00:00+01:00",
        "plan": "clinq",
        "effective": "2026-12-01",
    },
]
ODD_VALUES = [None, 0, -1, 1.5, True, "", "x", "9.80", "+49", [], {}, ["a"], {"reason": "misuse"}]


def test_every_event_type_has_a_sample_and_all_samples_are_valid():
    schema = json.loads((PROJECT_ROOT / "schemas/event.schema.json").read_text())
    assert {e["type"] for e in SAMPLES} == set(schema["properties"]["type"]["enum"])
    for event in SAMPLES:
        assert event_validator().is_valid(event), event
        parse_event(event)


@settings(max_examples=400, deadline=None)
@given(
    sample=st.sampled_from(SAMPLES),
    key=st.sampled_from(
        [
            "id",
            "type",
            "account",
            "at",
            "amount",
            "to",
            "duration_s",
            "user",
            "plan",
            "channel",
            "by",
            "extraordinary",
            "documents",
            "scope",
            "start",
            "colour",
            "description",
            "invoice",
            "month",
            "sent_on",
            "autoprepay",
            "evn",
        ]
    ),
    value=st.sampled_from(ODD_VALUES) | st.none(),
    remove=st.booleans(),
)
def test_the_fast_validator_agrees_with_the_schema(sample, key, value, remove):
    event = copy.deepcopy(sample)
    if remove:
        event.pop(key, None)
    else:
        event[key] = value
    reference = event_validator().is_valid(event)
    assert _accepted_fast(event) == reference, event
    if not reference:
        try:
            parse_event(event)
        except EventInvalid as exc:
            assert exc.message
        else:
            raise AssertionError(f"accepted {event}")
