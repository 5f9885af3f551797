"""The OpenAPI 3.1 document of the API, generated from ``schemas/event.schema.json``.

The request bodies are the schema the engine validates with, in the flattened form
``engine.events.flat_event_schemas`` derives from it (one closed object per event type, the
form the engine's compiled validators use; a test holds it to the original). Nothing is copied
by hand.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from typing import Any

from engine.catalog import PROJECT_ROOT
from engine.events import FIRST_YEAR, LAST_YEAR, PLATFORM_ONLY_TYPES, flat_event_schemas

EVENT_PREFIX = "event."


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema_ref: str, description: str = "OK") -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema_ref}"}}},
    }


COMMON_ERRORS = {
    "400": _error("A bad or unknown query parameter, or a bad body; `field` says which."),
    "401": _error("No valid bearer token."),
    "403": _error("The token's role does not allow this."),
    "405": _error("Method not allowed."),
    "500": _error("Unexpected error; the message carries an id to look up in the log."),
}
BODY_ERRORS = {
    "400": _error("Not JSON, too deep, or not a valid event; `field` and `index` say where."),
    "413": _error("The request body is too large."),
    "415": _error("The body must be application/json."),
}
EVENT_ERRORS = {
    "403": _error(
        "The token's role does not allow this, or the event's type is one only the platform "
        "emits (`field` points at its type)."
    ),
    "409": _error(
        "The event id was used before for an event with different content; `field` points at "
        "the id (and `index` in a batch). Nothing was applied."
    ),
}
INVOICE_PARAMETER = {
    "name": "number",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[0-9]{4}-[0-9]{6}$"},
}
MONTH_PARAMETER = {
    "name": "month",
    "in": "query",
    "required": True,
    "schema": {"type": "string", "pattern": "^20[0-9]{2}-(0[1-9]|1[0-2])$"},
}
PDF = {
    "description": "PDF",
    "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
}
NO_ITEMISED_BILL = _error(
    "No itemised bill: not CLINQ Premium (CLINQ SD 2.5), or deactivated (AGB 5.5)."
)
ACCOUNT_PARAMETER = {
    "name": "account",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
}


QUOTE_DESCRIPTION = (
    "Applies the event to the account as it is now and returns its result without storing "
    "anything. A `plan.changed` event previews a plan change (Platform: plan-changes): for an "
    "upgrade the `plan_changed` effect with `changes` (`{parameter: {from, to}}`: monthly price, "
    "users, local numbers, free minutes, flat-rate zones, itemised bill) and the prorated "
    "`charge` effects (`prorated_from`, `prorated_to`, `days`, `month_days`); for a downgrade "
    "the `plan_change_scheduled` effect with its `effective_on` (the first of the next month), "
    "the local numbers kept and released and the customer's confirmation text. A refused "
    "change is a `rejected` result naming the reason and `Platform: plan-changes`."
)


@cache
def _platform_only_list() -> str:
    return "; ".join(f"`{t}` ({why})" for t, why in PLATFORM_ONLY_TYPES.items())


def openapi_document() -> dict[str, Any]:
    definitions = json.loads(
        (PROJECT_ROOT / "schemas/event.schema.json").read_text(encoding="utf-8")
    )["$defs"]
    schemas: dict[str, Any] = {"event.instant": copy.deepcopy(definitions["instant"])}
    for type_name, flat in flat_event_schemas().items():
        schemas[EVENT_PREFIX + type_name] = copy.deepcopy(flat)
    schemas["Event"] = {
        "description": "One account event: the envelope (id, type, account, at) and the fields "
        "of its type. Generated from schemas/event.schema.json. Instants and dates lie in the "
        f"years {FIRST_YEAR} to {LAST_YEAR}. Not accepted here (HTTP 403), because only the "
        "platform itself emits them: " + _platform_only_list() + ".",
        "oneOf": [
            {"$ref": f"#/components/schemas/{EVENT_PREFIX}{t}"}
            for t in flat_event_schemas()
            if t not in PLATFORM_ONLY_TYPES
        ],
    }
    schemas.update(copy.deepcopy(RESPONSE_SCHEMAS))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "CLINQ billing API",
            "version": "1.0.0",
            "description": (
                "Billing services send account events; the engine applies the terms in force at "
                "each event's instant. Every effect names its clause and terms version. Amounts "
                "are decimal strings in EUR. The same event id twice is applied once; the same "
                "id with different content is refused with 409 (one id, one content). A JSON "
                "object that names a key twice is refused with 400. Platform-only event types, "
                "refused with 403 from every token: " + _platform_only_list() + ". `clock` "
                "stays open to billing services (as POST /api/v1/clock)."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
        "paths": PATHS,
    }


RESPONSE_SCHEMAS: dict[str, Any] = {
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
                "maxItems": 10000,
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
            "account": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
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
}

PATHS: dict[str, Any] = {
    "/health": {
        "get": {
            "summary": "For load balancers: the process answers and the database is reachable",
            "security": [],
            "responses": {
                "200": _json("Health"),
                "400": _error("An unknown query parameter."),
                "405": _error("Method not allowed."),
                "503": _error("The database is not reachable."),
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This document",
            "responses": {
                "200": {
                    "description": "OpenAPI 3.1",
                    "content": {"application/json": {"schema": {"type": "object"}}},
                },
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/events": {
        "post": {
            "summary": "Apply one event, or a batch of up to 10,000 in order "
            "(all or nothing if one is malformed)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "oneOf": [
                                {"$ref": "#/components/schemas/Event"},
                                {"$ref": "#/components/schemas/EventBatch"},
                            ]
                        }
                    }
                },
            },
            "responses": {
                "200": {
                    "description": "The result of the event, or `results` of the batch in order",
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    {"$ref": "#/components/schemas/Result"},
                                    {"$ref": "#/components/schemas/Results"},
                                ]
                            }
                        }
                    },
                },
                **BODY_ERRORS,
                **COMMON_ERRORS,
                **EVENT_ERRORS,
            },
        }
    },
    "/api/v1/quote": {
        "post": {
            "summary": "The result an event would have now; nothing is stored",
            "description": QUOTE_DESCRIPTION,
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Event"}}},
            },
            "responses": {
                "200": _json("Result"),
                **BODY_ERRORS,
                **COMMON_ERRORS,
                **EVENT_ERRORS,
            },
        }
    },
    "/api/v1/clock": {
        "post": {
            "summary": "Fire the deadlines due up to `until` (all accounts, or one)",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ClockRequest"}}
                },
            },
            "responses": {"200": _json("Results"), **BODY_ERRORS, **COMMON_ERRORS},
        }
    },
    "/api/v1/accounts/{account}": {
        "get": {
            "summary": "An account: plan, balance, free minutes left, contract, pending deadlines",
            "parameters": [ACCOUNT_PARAMETER],
            "responses": {
                "200": _json("Account"),
                "404": _error("No such account."),
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/accounts/{account}/ledger": {
        "get": {
            "summary": "The account's ledger entries, oldest first, a page at a time",
            "parameters": [
                ACCOUNT_PARAMETER,
                {
                    "name": "after",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 0, "maximum": 2**62},
                },
                {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                },
            ],
            "responses": {
                "200": _json("LedgerPage"),
                "400": _error("A bad query parameter."),
                "404": _error("No such account."),
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/accounts/{account}/deadlines": {
        "get": {
            "summary": "Every deadline of the account, pending and settled",
            "parameters": [ACCOUNT_PARAMETER],
            "responses": {
                "200": _json("Deadlines"),
                "404": _error("No such account."),
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/accounts/{account}/invoices": {
        "get": {
            "summary": "The account's invoices, oldest first",
            "parameters": [ACCOUNT_PARAMETER],
            "responses": {
                "200": _json("Invoices"),
                "404": _error("No such account."),
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/invoices/{number}": {
        "get": {
            "summary": "One invoice with its items, VAT, credit and amount due",
            "parameters": [INVOICE_PARAMETER],
            "responses": {
                "200": _json("Invoice"),
                "404": _error("No such invoice."),
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/invoices/{number}.pdf": {
        "get": {
            "summary": "One invoice as PDF (AGB 4.3.1), in German",
            "parameters": [INVOICE_PARAMETER],
            "responses": {"200": PDF, "404": _error("No such invoice."), **COMMON_ERRORS},
        }
    },
    "/api/v1/invoices/{number}.xml": {
        "get": {
            "summary": "One invoice as a structured e-invoice (EN 16931): XRechnung 3.0 in CII "
            "(default) or UBL 2.1, or the Factur-X EN 16931 XML",
            "parameters": [
                INVOICE_PARAMETER,
                {
                    "name": "format",
                    "in": "query",
                    "required": False,
                    "schema": {
                        "type": "string",
                        "enum": ["xrechnung-cii", "xrechnung-ubl", "factur-x"],
                        "default": "xrechnung-cii",
                    },
                },
            ],
            "responses": {
                "200": {
                    "description": "XML",
                    "content": {"application/xml": {"schema": {"type": "string"}}},
                },
                "400": _error("An unknown format; `field` is `format`."),
                "404": _error("No such invoice."),
                "409": _error("The customer data on file do not make a valid e-invoice."),
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/sepa/collections": {
        "get": {
            "summary": "The SEPA direct debit file (pain.008.001.08) of a collection date "
            "(AGB 4.2.2); a finance token. The first fetch records the file and its "
            "collections; every later fetch returns the same file, and no invoice is ever in "
            "two files.",
            "parameters": [
                {
                    "name": "date",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "pattern": "^20[0-9]{2}-[0-9]{2}-[0-9]{2}$"},
                },
                {
                    "name": "scheme",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["CORE", "B2B"]},
                },
                {
                    "name": "created_at",
                    "in": "query",
                    "required": False,
                    "description": "When the file is made (an instant with offset); default: "
                    "the start of the last day it reaches the bank in time. Later than that "
                    "day is refused (409, the scheme's lead time).",
                    "schema": {"type": "string", "format": "date-time"},
                },
            ],
            "responses": {
                "200": {
                    "description": "pain.008.001.08",
                    "content": {"application/xml": {"schema": {"type": "string"}}},
                },
                "404": _error("No direct debits are due for collection on that date."),
                "409": _error(
                    "Too late for the scheme's lead time, or collections came after the "
                    "date's file was recorded; `field` says which."
                ),
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/accounts/{account}/evn": {
        "get": {
            "summary": "The itemised bill of a month (CLINQ Premium only, CLINQ SD 2.5; AGB 5.5)",
            "parameters": [ACCOUNT_PARAMETER, MONTH_PARAMETER],
            "responses": {
                "200": _json("ItemisedBill"),
                "404": _error("No such account."),
                "409": NO_ITEMISED_BILL,
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/accounts/{account}/evn.pdf": {
        "get": {
            "summary": "The itemised bill of a month as PDF",
            "parameters": [ACCOUNT_PARAMETER, MONTH_PARAMETER],
            "responses": {
                "200": PDF,
                "404": _error("No such account."),
                "409": NO_ITEMISED_BILL,
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/terms": {
        "get": {
            "summary": "The terms in force at an instant or date",
            "parameters": [
                {
                    "name": "at",
                    "in": "query",
                    "required": True,
                    "description": "A date (Europe/Berlin) or an RFC 3339 instant with offset",
                    "schema": {
                        "anyOf": [
                            {
                                "type": "string",
                                "format": "date",
                                "pattern": "^20[0-9]{2}-[0-9]{2}-[0-9]{2}$",
                            },
                            {"$ref": "#/components/schemas/event.instant"},
                        ]
                    },
                }
            ],
            "responses": {
                "200": _json("Terms"),
                "400": _error("A missing or bad `at`."),
                "404": _error("No terms in force then."),
                **COMMON_ERRORS,
            },
        }
    },
    "/api/v1/terms/{clause}": {
        "get": {
            "summary": "One clause's history, e.g. `AGB 4.2.3` (URL-encoded) or a plan id",
            "parameters": [
                {"name": "clause", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": _json("ClauseHistory"),
                "404": _error("No such clause."),
                **COMMON_ERRORS,
            },
        }
    },
}


# -- webhooks (issue 15) ------------------------------------------------------------------------

WEBHOOK_EVENT_TYPES = [
    "invoice.issued",
    "credit_note.issued",
    "direct_debit.requested",
    "direct_debit.returned",
    "service.blocked",
    "service.unblocked",
    "contract.ends",
    "terms.notified",
    "topup.requested",
]
_WEBHOOK_FIELDS = {
    "id": {"type": "integer"},
    "url": {"type": "string"},
    "events": {"type": "array", "items": {"enum": WEBHOOK_EVENT_TYPES}},
    "secret_fingerprint": {
        "type": "string",
        "description": "The first 12 hex digits of the secret's SHA-256 (the secret itself "
        "is shown once, in the answer to the POST)",
    },
    "created_by": {"type": "string"},
    "created_at": {"type": "string"},
}
RESPONSE_SCHEMAS.update(
    {
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
    }
)
_PORT = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
URL_PATTERN = f'^https?://[A-Za-z0-9.-]+(:{_PORT})?([/?][!-"$-?A-~]*)?$'
_QUAD = "[A-Za-z0-9+/]{4}"
SECRET_PATTERN = (
    f"^whsec_((?:{_QUAD}){{8,20}}([A-Za-z0-9+/]{{2}}==|[A-Za-z0-9+/]{{3}}=)?"
    f"|(?:{_QUAD}){{21}}([A-Za-z0-9+/]{{2}}==)?)$"
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
PATHS.update(
    {
        "/api/v1/webhooks": {
            "get": {
                "summary": "The active webhook subscriptions (a token with webhooks:manage, the "
                "billing-service role); never their secrets",
                "responses": {"200": _json("WebhookList"), **COMMON_ERRORS},
            },
            "post": {
                "summary": "Subscribe a URL to webhook event types. " + WEBHOOK_DELIVERY,
                "description": "The URL is http or https without credentials; a host on a "
                "loopback, private or link-local address is refused unless the operator allows "
                "it. Without `secret` one is generated; the answer shows it once.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["url", "events"],
                                "additionalProperties": False,
                                "properties": {
                                    "url": {
                                        "type": "string",
                                        "maxLength": 2000,
                                        "pattern": URL_PATTERN,
                                        "description": "http or https, no credentials, no "
                                        "fragment (IPv6 literal hosts are accepted as well)",
                                    },
                                    "events": {
                                        "type": "array",
                                        "minItems": 1,
                                        "items": {"enum": WEBHOOK_EVENT_TYPES},
                                    },
                                    "secret": {
                                        "type": "string",
                                        "description": "whsec_ and 24 to 64 bytes in "
                                        "base64 (Standard Webhooks)",
                                        "pattern": SECRET_PATTERN,
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "201": _json("WebhookCreated", "Subscribed; the secret is shown only now"),
                    **COMMON_ERRORS,
                    **BODY_ERRORS,
                    "403": _error(
                        "The token's role does not allow this, or the URL's host does not "
                        "resolve to public addresses only (`field`: `/url`)."
                    ),
                },
            },
        },
        "/api/v1/webhooks/{id}": {
            "delete": {
                "summary": "End a subscription; its undelivered messages are cancelled",
                "parameters": [
                    {
                        "name": "id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "integer", "minimum": 0},
                    }
                ],
                "responses": {
                    "204": {"description": "Removed"},
                    "404": _error("No active subscription with this id."),
                    **COMMON_ERRORS,
                },
            }
        },
    }
)


# --- credit notes (Platform: credit-notes; api/credit_notes.py) -------------------------------

CREDIT_NOTE_PARAMETER = {
    "name": "number",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Z]{1,8}-[0-9]{4}-[0-9]{6}$"},
}
RESPONSE_SCHEMAS.update(
    {
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
)
PATHS.update(
    {
        "/api/v1/accounts/{account}/credit-notes": {
            "get": {
                "summary": "The account's credit notes (Rechnungskorrekturen), in number order",
                "parameters": [ACCOUNT_PARAMETER],
                "responses": {
                    "200": _json("CreditNotes"),
                    "404": _error("No such account."),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/credit-notes/{number}": {
            "get": {
                "summary": "One credit note: amount, reason, clause and the invoice it corrects",
                "parameters": [CREDIT_NOTE_PARAMETER],
                "responses": {
                    "200": _json("CreditNote"),
                    "404": _error("No such credit note."),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/credit-notes/{number}.pdf": {
            "get": {
                "summary": "One credit note as PDF in German (Factur-X where the customer gets "
                "e-invoices)",
                "parameters": [CREDIT_NOTE_PARAMETER],
                "responses": {
                    "200": PDF,
                    "404": _error("No such credit note."),
                    **COMMON_ERRORS,
                },
            }
        },
        "/api/v1/credit-notes/{number}.xml": {
            "get": {
                "summary": "One credit note as a structured e-invoice (EN 16931, type 381): "
                "XRechnung 3.0 in CII (default) or UBL 2.1 CreditNote, or the Factur-X XML",
                "parameters": [
                    CREDIT_NOTE_PARAMETER,
                    {
                        "name": "format",
                        "in": "query",
                        "required": False,
                        "schema": {
                            "type": "string",
                            "enum": ["xrechnung-cii", "xrechnung-ubl", "factur-x"],
                            "default": "xrechnung-cii",
                        },
                    },
                ],
                "responses": {
                    "200": {
                        "description": "XML",
                        "content": {"application/xml": {"schema": {"type": "string"}}},
                    },
                    "400": _error("An unknown format; `field` is `format`."),
                    "404": _error("No such credit note."),
                    "409": _error("The customer data on file do not make a valid e-invoice."),
                    **COMMON_ERRORS,
                },
            }
        },
    }
)
