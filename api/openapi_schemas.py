"""The component schemas of the OpenAPI document that are written here, not generated: the
answers of the API and the request bodies that are not events.

:func:`api.openapi.openapi_document` adds the generated event schemas (``event.<type>`` and
``Event``, from ``schemas/event.schema.json``) and the parts of these that the event schema
already says (the account pattern of ``ClockRequest``).
"""

from __future__ import annotations

from typing import Any

from api.common import MAX_BATCH
from engine.delivery.webhooks import EVENT_TYPES

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
                    "message": {"type": "string"},
                    "field": {
                        "type": ["string", "null"],
                        "description": "JSON pointer of the fault",
                    },
                    "index": {"type": ["integer", "null"], "description": "Position in a batch"},
                },
            }
        },
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
