"""The component schemas of the OpenAPI document that are written here, not generated: the
answers of the API and the request bodies that are not events; an example of every event
type; the longer texts.

:func:`api.openapi.openapi_document` adds the generated event schemas (``event.<type>`` and
``Event``, from ``schemas/event.schema.json``) and the parts of these that the event schema
already says (the account pattern of ``ClockRequest``).
"""

from __future__ import annotations

import copy
from typing import Any

from api.common import MAX_BATCH
from engine.delivery.webhooks import EVENT_TYPES
from engine.events import PLATFORM_ONLY_TYPES

# The event types a webhook can subscribe to, in the order the delivery module lists them.
WEBHOOK_EVENT_TYPES = list(EVENT_TYPES)

_WEBHOOK_FIELDS = {
    "id": {"type": "integer"},
    "url": {"type": "string"},
    "events": {"type": "array", "items": {"enum": WEBHOOK_EVENT_TYPES}},
    "secret_fingerprint": {
        "type": "string",
        "description": "The first 12 hex digits of the secret's SHA-256 (the secret itself "
        "is shown once, in the answer to the POST)",
    },
    "owner": {
        "type": "string",
        "pattern": "^token:.+$",
        "description": "`token:NAME`: the token that made the subscription and alone manages "
        "it over the API (the operator's own are managed on the command line and never listed "
        "here)",
    },
    "created_by": {"type": "string"},
    "created_at": {"type": "string"},
}

# A webhook URL (http or https, a port from 0 to 65535) and a Standard Webhooks signing secret
# (whsec_ and 24 to 64 bytes in base64), as patterns a client can check before it subscribes.
_PORT = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
URL_PATTERN = f'^https?://[A-Za-z0-9.-]+(:{_PORT})?([/?][!-"$-?A-~]*)?$'
_QUAD = "[A-Za-z0-9+/]{4}"
SECRET_PATTERN = (
    f"^whsec_((?:{_QUAD}){{8,20}}([A-Za-z0-9+/]{{2}}==|[A-Za-z0-9+/]{{3}}=)?"
    f"|(?:{_QUAD}){{21}}([A-Za-z0-9+/]{{2}}==)?)$"
)

COMPONENT_SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["message"],
                "properties": {
                    "message": {
                        "type": "string",
                        "description": "What is wrong, in words (of a 400: its first fault)",
                    },
                    "field": {
                        "type": ["string", "null"],
                        "description": "JSON pointer of the fault",
                    },
                    "index": {"type": ["integer", "null"], "description": "Position in a batch"},
                    "errors": {
                        "type": "array",
                        "description": "A 400's every fault of the request at once (at most "
                        "100), the first of them in `message` and `field`; in a batch each "
                        "invalid event's, with its `index` and its field as `/events/<index>/...`",
                        "items": {
                            "type": "object",
                            "required": ["field", "message"],
                            "properties": {
                                "field": {"type": ["string", "null"]},
                                "message": {"type": "string"},
                                "index": {"type": "integer"},
                            },
                        },
                    },
                },
            }
        },
        "examples": [
            {
                "error": {
                    "message": "is required",
                    "field": "/user",
                    "index": None,
                    "errors": [
                        {"field": "/user", "message": "is required"},
                        {
                            "field": "/at",
                            "message": "must be an instant with its UTC offset, e.g. "
                            "2026-11-05T10:00:00+01:00, in the years 2000 to 2099",
                        },
                        {
                            "field": "/duration_s",
                            "message": "must be a whole number from 0 to 172800",
                        },
                    ],
                }
            }
        ],
    },
    "Effect": {
        "type": "object",
        "required": ["kind", "clause", "terms_version"],
        "properties": {
            "kind": {"type": "string"},
            "clause": {"type": "string"},
            "terms_version": {"type": ["string", "null"]},
            "amount": {"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{2}$"},
            "date": {"type": "string"},
        },
    },
    "Result": {
        "type": "object",
        "required": ["id", "status", "effects"],
        "properties": {
            "id": {"type": "string"},
            "status": {"enum": ["applied", "duplicate", "rejected", "conflict"]},
            "reason": {"type": "string"},
            "clause": {"type": "string"},
            "effects": {"type": "array", "items": {"$ref": "#/components/schemas/Effect"}},
        },
    },
    "QuoteResult": {
        "type": "object",
        "required": ["id", "status", "effects"],
        "properties": {
            "id": {"type": "string"},
            "status": {
                "enum": ["quoted", "duplicate", "rejected"],
                "description": "quoted: the effects the event would have now (nothing is "
                "stored); rejected: it would be refused under the terms (`reason`, `clause`); "
                "duplicate: an event of this id and content is stored already",
            },
            "reason": {"type": "string"},
            "clause": {"type": "string"},
            "effects": {"type": "array", "items": {"$ref": "#/components/schemas/Effect"}},
        },
    },
    "Results": {
        "type": "object",
        "required": ["results"],
        "properties": {
            "results": {"type": "array", "items": {"$ref": "#/components/schemas/Result"}}
        },
    },
    "EventBatch": {
        "type": "object",
        "required": ["events"],
        "additionalProperties": False,
        "properties": {
            "events": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_BATCH,
                "items": {"$ref": "#/components/schemas/Event"},
            }
        },
    },
    "ClockRequest": {
        "type": "object",
        "required": ["until"],
        "additionalProperties": False,
        "properties": {
            "until": {"$ref": "#/components/schemas/event.instant"},
            # "account": the event envelope's, added by openapi_document()
        },
    },
    "Account": {
        "type": "object",
        "required": ["id", "plan", "balance", "status", "free_minutes_left", "deadlines"],
        "properties": {
            "id": {"type": "string"},
            "plan": {"type": "string"},
            "customer_type": {"type": "string"},
            "billing_method": {"type": "string"},
            "status": {"type": "string"},
            "balance": {"type": "string"},
            "users": {"type": "array", "items": {"type": "string"}},
            "free_minutes_left": {"type": "object"},
            "contract": {"type": "object"},
            "deadlines": {"type": "array", "items": {"type": "object"}},
        },
    },
    "LedgerPage": {
        "type": "object",
        "required": ["entries", "next_after"],
        "properties": {
            "entries": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "event", "kind", "amount", "clause", "terms_version"],
                    "properties": {
                        "id": {"type": "integer"},
                        "event": {"type": "string"},
                        "kind": {"type": "string"},
                        "amount": {"type": "string"},
                        "clause": {"type": "string"},
                        "terms_version": {"type": "string"},
                        "at": {"type": "string"},
                        "detail": {"type": "object"},
                    },
                },
            },
            "next_after": {
                "type": ["integer", "null"],
                "description": "Pass as `after` for the next page",
            },
        },
    },
    "Deadlines": {
        "type": "object",
        "required": ["deadlines"],
        "properties": {"deadlines": {"type": "array", "items": {"type": "object"}}},
    },
    "Terms": {
        "type": "object",
        "required": ["terms_version", "date", "clauses"],
        "properties": {
            "terms_version": {"type": "string"},
            "date": {"type": "string"},
            "clauses": {"type": "array", "items": {"type": "object"}},
        },
    },
    "ClauseHistory": {
        "type": "object",
        "required": ["clause", "title", "file", "versions"],
        "properties": {
            "clause": {"type": "string"},
            "title": {"type": "string"},
            "file": {"type": "string"},
            "versions": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Invoice": {
        "type": "object",
        "required": ["number", "account", "kind", "issued_on", "amount", "open", "status"],
        "properties": {
            "number": {"type": "string"},
            "account": {"type": "string"},
            "kind": {"type": "string"},
            "period": {"type": ["string", "null"]},
            "issued_on": {"type": "string"},
            "due_on": {"type": "string"},
            "amount": {"type": "string"},
            "open": {"type": "string"},
            "status": {"type": "string"},
            "detail": {"type": "object"},
        },
    },
    "Invoices": {
        "type": "object",
        "required": ["invoices"],
        "properties": {
            "invoices": {"type": "array", "items": {"$ref": "#/components/schemas/Invoice"}}
        },
    },
    "InvoiceList": {
        "type": "object",
        "required": ["invoices", "next_after", "totals"],
        "properties": {
            "invoices": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": [
                        "number",
                        "account",
                        "issued_on",
                        "due_on",
                        "amount",
                        "open",
                        "status",
                    ],
                    "properties": {
                        "number": {"type": "string"},
                        "account": {"type": "string"},
                        "customer": {"type": ["string", "null"]},
                        "kind": {"type": "string"},
                        "period": {"type": ["string", "null"]},
                        "issued_on": {"type": "string"},
                        "due_on": {"type": "string"},
                        "amount": {"type": "string"},
                        "open": {"type": "string"},
                        "status": {"enum": ["open", "overdue", "in_default", "paid"]},
                        "default_on": {"type": ["string", "null"]},
                        "objection": {"type": ["string", "null"]},
                        "credited": {"type": "boolean"},
                        "credited_amount": {"type": "string"},
                        "credit_notes": {"type": "array", "items": {"type": "string"}},
                        "clause": {"type": "string"},
                    },
                },
            },
            "next_after": {
                "type": ["string", "null"],
                "description": "Pass as `after` for the next page; null on the last page",
            },
            "totals": {
                "type": "object",
                "required": ["count", "amount", "open"],
                "description": "Of every invoice the filters select, not only this page",
                "properties": {
                    "count": {"type": "integer"},
                    "amount": {"type": "string"},
                    "open": {"type": "string"},
                },
            },
        },
    },
    "ItemisedBill": {
        "type": "object",
        "required": ["account", "month", "numbers", "connections", "total"],
        "properties": {
            "account": {"type": "string"},
            "month": {"type": "string"},
            "numbers": {"enum": ["full", "shortened"]},
            "traffic_data_deleted": {"type": "boolean"},
            "connections": {"type": "array", "items": {"type": "object"}},
            "total": {"type": "string"},
            "period_start": {"type": "string", "format": "date"},
            "period_end": {"type": "string", "format": "date"},
            "customer": {"type": "object", "description": "Number, name and address"},
            "provider": {"type": "object", "description": "Name and address"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"enum": ["ok"]}, "database": {"type": "string"}},
    },
    "Webhook": {
        "type": "object",
        "required": list(_WEBHOOK_FIELDS),
        "properties": _WEBHOOK_FIELDS,
    },
    "WebhookCreated": {
        "type": "object",
        "required": [*_WEBHOOK_FIELDS, "secret"],
        "properties": {
            **_WEBHOOK_FIELDS,
            "secret": {
                "type": "string",
                "description": "The signing secret (whsec_...), shown only now",
            },
        },
    },
    "WebhookList": {
        "type": "object",
        "required": ["webhooks"],
        "properties": {
            "webhooks": {"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}
        },
    },
    "CreditNote": {
        "type": "object",
        "required": ["number", "account", "issued_on", "amount", "reason", "clause"],
        "properties": {
            "number": {"type": "string"},
            "account": {"type": "string"},
            "issued_on": {"type": "string"},
            "amount": {"type": "string"},
            "reason": {"enum": ["objection", "refund", "withdrawal_refund"]},
            "invoice": {"type": ["string", "null"]},
            "invoice_issued_on": {"type": ["string", "null"]},
            "clause": {"type": "string"},
            "terms_version": {"type": "string"},
            "detail": {"type": "object"},
        },
    },
    "CreditNotes": {
        "type": "object",
        "required": ["credit_notes"],
        "properties": {
            "credit_notes": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/CreditNote"},
            }
        },
    },
}


def _event(event_id: str, event_type: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"id": event_id, "type": event_type, "account": "acme", "at": at, **fields}


_CUSTOMER = {
    "name": "Acme Telefonie GmbH",
    "email": "buchhaltung@acme.example",
    "address": {
        "street": "Königsallee 1",
        "postal_code": "40212",
        "city": "Düsseldorf",
        "country": "DE",
    },
    "vat_id": "DE136695976",
    "input_tax_deduction": True,
}

# One example of every event type, shown with its schema in the reference (/api/v1/docs).
# Each is a valid event (tests/test_api_docs.py parses every one), of the account acme.
EVENT_EXAMPLES: dict[str, dict[str, Any]] = {
    example["type"]: example
    for example in (
        _event(
            "acme-opened",
            "account.opened",
            "2026-11-02T09:00:00+01:00",
            plan="clinq",
            customer_type="business",
            billing_method="prepay",
            country="DE",
            area_code="0211",
            customer=_CUSTOMER,
        ),
        _event("acme-user-anna", "user.added", "2026-11-02T09:05:00+01:00", user="anna"),
        _event("acme-user-anna-gone", "user.removed", "2026-11-28T17:00:00+01:00", user="anna"),
        _event(
            "call-2026-11-05-0001",
            "call",
            "2026-11-05T10:00:00+01:00",
            user="anna",
            to="+4921112345678",
            duration_s=185,
        ),
        _event("acme-topup-1", "credit.topped_up", "2026-11-03T08:30:00+01:00", amount="50.00"),
        _event(
            "acme-payment-1",
            "payment.received",
            "2026-12-04T11:00:00+01:00",
            amount="29.90",
            method="bank_transfer",
            reference="Rechnung 2026-000001",
        ),
        _event("clock-2026-12-01", "clock", "2026-12-01T06:00:00+01:00"),
        _event("acme-order", "order.received", "2026-11-01T12:00:00+01:00"),
        _event("acme-order-confirmed", "order.confirmed", "2026-11-01T12:05:00+01:00"),
        _event("acme-activated", "account.activated", "2026-11-02T08:55:00+01:00"),
        _event(
            "acme-termination",
            "termination.received",
            "2026-11-20T14:00:00+01:00",
            by="customer",
            channel="email",
        ),
        _event(
            "acme-withdrawal",
            "withdrawal.received",
            "2026-11-10T09:00:00+01:00",
            channel="letter",
            sent_on="2026-11-08",
        ),
        _event(
            "acme-objection-1",
            "objection.received",
            "2026-12-10T15:30:00+01:00",
            invoice="2026-000001",
            channel="email",
        ),
        _event(
            "acme-reminder-1", "reminder.sent", "2026-12-20T09:00:00+01:00", invoice="2026-000001"
        ),
        _event(
            "acme-return-1",
            "direct_debit.returned",
            "2026-12-15T10:00:00+01:00",
            amount="29.90",
            invoice="2026-000001",
            reason_code="AM04",
        ),
        _event("acme-mandate-revoked", "mandate.revoked", "2026-12-18T10:00:00+01:00"),
        _event(
            "acme-mandate-1",
            "mandate.granted",
            "2026-11-02T09:10:00+01:00",
            reference="ACME-0001",
            signed_on="2026-11-02",
            debtor_name="Acme Telefonie GmbH",
            iban="DE89370400440532013000",
            bic="COBADEFFXXX",
            scheme="CORE",
        ),
        _event(
            "acme-refund",
            "refund.requested",
            "2027-01-05T10:00:00+01:00",
            documents=["customer_number", "bank_or_card_account", "identity_card_copy"],
        ),
        _event(
            "acme-deletion",
            "data_deletion.requested",
            "2026-11-25T10:00:00+01:00",
            scope="traffic_data",
        ),
        _event("acme-login", "activity", "2026-11-06T08:00:00+01:00", kind="login"),
        _event(
            "acme-misuse",
            "misuse.detected",
            "2026-11-12T03:00:00+01:00",
            description="Hunderte Anrufe zu Premiumnummern in einer Nacht.",
            resolved=False,
        ),
        _event(
            "outage-2026-11-14",
            "outage",
            "2026-11-14T12:00:00+01:00",
            start="2026-11-14T09:00:00+01:00",
            end="2026-11-14T11:30:00+01:00",
            maintenance=False,
        ),
        _event(
            "publication-3-acme",
            "terms.notified",
            "2026-11-16T10:00:00+01:00",
            publication=3,
            clause="AGB 8.1",
            effective_on="2027-01-01",
            termination_clause="AGB 8.2",
            citation="AGB 4.2.3",
        ),
        _event(
            "publication-3-acme-sent",
            "notice.delivered",
            "2026-11-16T10:05:00+01:00",
            publication=3,
            channel="email",
        ),
        _event(
            "acme-updated",
            "account.updated",
            "2026-11-18T10:00:00+01:00",
            evn={"enabled": True, "shorten": True},
        ),
        _event(
            "acme-upgrade",
            "plan.changed",
            "2026-11-11T10:00:00+01:00",
            plan="clinq-premium",
        ),
    )
}


QUOTE_DESCRIPTION = (
    "Applies the event to the account as it is now and returns its result without storing "
    "anything: `status` is `quoted` (the effects it would have), `rejected` or `duplicate`. "
    "A `plan.changed` event previews a plan change (Platform: plan-changes): for an "
    "upgrade the `plan_changed` effect with `changes` (`{parameter: {from, to}}`: monthly price, "
    "users, local numbers, free minutes, flat-rate zones, itemised bill) and the prorated "
    "`charge` effects (`prorated_from`, `prorated_to`, `days`, `month_days`); for a downgrade "
    "the `plan_change_scheduled` effect with its `effective_on` (the first of the next month), "
    "the local numbers kept and released and the customer's confirmation text. A refused "
    "change is a `rejected` result naming the reason and `Platform: plan-changes`."
)
WEBHOOK_DELIVERY = (
    "Messages follow the Standard Webhooks specification: a POST with the headers "
    "`webhook-id` (stable per message: a receiver may see one twice and should ignore the "
    "repeat), `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature` "
    "(`v1,` and the base64 HMAC-SHA256 of `id.timestamp.body` with the secret after `whsec_`); "
    "the body is `{type, timestamp, data: {account, event: {id, type, at}, effect_index, "
    "effect}}` with amounts as decimal strings. A 2xx answer delivers a message; otherwise it "
    "is tried again with exponential backoff and, after the attempts of "
    "rules/platform/webhooks.yaml, is dead (the admin UI can retry it). Redirects are not "
    "followed. Event types: " + ", ".join(WEBHOOK_EVENT_TYPES) + "."
)


def request_examples(batch: bool) -> dict[str, Any]:
    """The example of every event type a billing service may send (and one batch), as the
    reference offers them to try."""
    examples: dict[str, Any] = {
        type_name: {"summary": f"A {type_name} event", "value": copy.deepcopy(example)}
        for type_name, example in EVENT_EXAMPLES.items()
        if type_name not in PLATFORM_ONLY_TYPES
    }
    if batch:
        examples["batch"] = {
            "summary": "A batch: applied in order, all or nothing",
            "value": {"events": [copy.deepcopy(EVENT_EXAMPLES[t]) for t in ("user.added", "call")]},
        }
    return examples
